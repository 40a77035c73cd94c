"""int8 sub-pixel shuffles written channels-last (genrt.optimize.layout), on real onnxruntime sessions."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx_models import build_upsampler

from genrt.optimize.layout import channels_last_shuffles
from genrt.optimize.onnxgraph import OnnxGraph
from genrt.optimize.passes import LayerChoice, Plan, apply_plan, strided_layers
from genrt.optimize.quantize import calibration_feeds, float_layers, output_layers, quantize_qdq
from genrt.runtime import Generator


def phase_graph(last="keep"):
    """Three upsampling layers: two as phase convolutions (a DepthToSpace after each), the last `last`."""
    base = build_upsampler([(8, 4, 2, 1, 0, True), (4, 4, 2, 1, 0, True), (3, 4, 2, 1, 0, True)], start=(16, 4),
                           latent_dim=8)
    first, second, third = strided_layers(OnnxGraph(base))
    layers = {first.name: LayerChoice("phases"), second.name: LayerChoice("phases"), third.name: LayerChoice(last)}
    return apply_plan(base, Plan(dense=False, layers=layers))


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def images(path, n=64):
    z = np.random.default_rng(9).standard_normal((n, 8), dtype=np.float32)
    return Generator(str(path), device="cpu").decode(z, raw=True)


def ops_onnxruntime_runs(path, tmp_path) -> list[str]:
    """The op types of the graph onnxruntime's CPU provider runs for `path`, after its own optimizations."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "ran.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(str(tmp_path / "ran.onnx")).graph.node]


def test_the_channels_last_shuffle_is_depth_to_space_and_saves_layout_passes_in_int8(tmp_path):
    model = phase_graph()
    exclude = float_layers(model) + output_layers(model)
    shuffled, rewritten = channels_last_shuffles(model, exclude)
    assert rewritten == 2 and "DepthToSpace" not in [n.op_type for n in shuffled.graph.node]
    onnx.checker.check_model(shuffled)
    src, alt = save(model, tmp_path / "d2s.onnx"), save(shuffled, tmp_path / "nhwc.onnx")
    assert np.array_equal(images(src), images(alt))  # the same bytes moved to the same places

    feeds = calibration_feeds(Generator(src, device="cpu").contract, 128)
    quantize_qdq(src, str(tmp_path / "q_d2s.onnx"), feeds, exclude)
    quantize_qdq(alt, str(tmp_path / "q_nhwc.onnx"), feeds, exclude)
    assert np.abs(images(tmp_path / "q_d2s.onnx") - images(tmp_path / "q_nhwc.onnx")).max() <= 1e-6
    before = ops_onnxruntime_runs(tmp_path / "q_d2s.onnx", tmp_path)
    after = ops_onnxruntime_runs(tmp_path / "q_nhwc.onnx", tmp_path)
    moves = ("Transpose", "DepthToSpace")
    assert before.count("DepthToSpace") == 2 and "DepthToSpace" not in after
    # Between two integer convolutions a DepthToSpace and its two layout Transposes become one Transpose; before
    # the float output layer, DepthToSpace and one layout Transpose become two Transposes.
    assert sum(map(after.count, moves)) == sum(map(before.count, moves)) - 2
    assert after.count("QLinearConv") == before.count("QLinearConv") == 8  # the convolutions stay integer


def test_a_shuffle_after_float_convolutions_stays_depth_to_space():
    model = phase_graph(last="phases")  # the third layer's phases write the image, through a third DepthToSpace
    everything_quantized, rewritten = channels_last_shuffles(model, float_layers(model))
    assert rewritten == 3
    output_in_float, rewritten = channels_last_shuffles(model, float_layers(model) + output_layers(model))
    assert rewritten == 2  # the last shuffle's input comes from float convolutions: its Transposes would stay
    kinds = [n.op_type for n in output_in_float.graph.node]
    assert kinds.count("DepthToSpace") == 1
    plain, rewritten = channels_last_shuffles(model, [n.name for n in model.graph.node])
    assert rewritten == 0 and [n.op_type for n in plain.graph.node].count("DepthToSpace") == 3
