"""genrt optimize: each rewrite keeps the graph's outputs, the search and the files keep their promises."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx_models import build_generator, build_upsampler

import genrt.optimize.core as optimize_core
import genrt.optimize.select as optimize_select
from genrt.cli import main
from genrt.errors import VerificationError
from genrt.optimize import optimize_model
from genrt.optimize.onnxgraph import OnnxGraph
from genrt.optimize.batchnorm import fold_batchnorm
from genrt.optimize.passes import LayerChoice, Plan, apply_plan, strided_layers, untouched_layers
from genrt.optimize.subpixel import fits, phase_conv
from genrt.runtime import Generator, default_model_path
from genrt.runtime.session import open_session

# (kernel, stride, pad, output_padding): stride x upsampling, where the sub-pixel identities hold
EXACT = [(4, 2, 1, 0), (2, 2, 0, 0), (3, 2, 1, 1), (5, 2, 2, 1), (6, 3, 2, 1), (8, 4, 2, 0)]


def run(model, batch=3, seed=0, labels=0):
    session = open_session(model.SerializeToString(), spinning=False)
    rng = np.random.default_rng(seed)
    feed = {"z": rng.standard_normal((batch, session.get_inputs()[0].shape[1]), dtype=np.float32)}
    if labels:
        feed["label"] = rng.integers(0, labels, batch)
    return session.run(None, feed)[0]


def conv_transpose_1d_matrix(length, kernel, stride, pad, extra):
    """The ConvTranspose of one channel as a dense matrix (out x in): the test's own oracle."""
    out = (length - 1) * stride + kernel - 2 * pad + extra
    taps = np.zeros((out, length, kernel))
    for i in range(length):
        for k in range(kernel):
            o = i * stride + k - pad
            if 0 <= o < out:
                taps[o, i, k] = 1
    return taps


@settings(max_examples=40)
@given(variant=st.sampled_from(EXACT), in_factor=st.sampled_from([1, 2]), length=st.integers(1, 4),
       channels=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**16))
def test_phase_conv_equals_conv_transpose(variant, in_factor, length, channels, seed):
    """The phase-domain convolution, run with plain numpy loops, gives the ConvTranspose's output."""
    kernel, stride, pad, extra = variant
    c_in, c_out = channels
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c_in, c_out, kernel, kernel))
    x = rng.standard_normal((c_in, in_factor * length, in_factor * length))
    t = conv_transpose_1d_matrix(in_factor * length, kernel, stride, pad, extra)
    expected = np.einsum("hik,wjl,cij,cokl->ohw", t, t, x, w)
    pc = phase_conv(w, None, (stride, stride), (pad,) * 4, in_factor)
    f = in_factor * stride
    u = x.reshape(c_in, length, in_factor, length, in_factor).transpose(2, 4, 0, 1, 3).reshape(-1, length, length)
    top, left, bottom, right = pc.pads
    padded = np.pad(u, ((0, 0), (top, bottom), (left, right)))
    kh, kw = pc.weight.shape[2:]
    y = np.zeros((pc.weight.shape[0], length, length))
    for dy in range(kh):
        for dx in range(kw):
            y += np.einsum("oc,chw->ohw", pc.weight[:, :, dy, dx], padded[:, dy:dy + length, dx:dx + length])
    got = y.reshape(f, f, c_out, length, length).transpose(2, 3, 0, 4, 1).reshape(c_out, f * length, f * length)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fits_only_exact_upsampling():
    assert fits((4, 4), (2, 2), (1, 1, 1, 1), (0, 0))
    assert not fits((3, 3), (2, 2), (0, 0, 0, 0), (0, 0))  # 2L + 1 rows
    assert not fits((4, 4), (2, 2), (1, 1, 1, 1), (0, 0), dilations=(2, 2))
    assert not fits((4, 4), (2, 2), (1, 1, 1, 1), (0, 0), group=2)
    assert not fits((4, 4), (1, 1), (1, 1, 1, 1), (0, 0))  # stride 1: nothing to split
    assert not fits((4, 6), (2, 3), (1, 2, 1, 2), (0, 1))  # exact on each axis, but one block size serves both


FORMS = [("single", False), ("phases", False), ("keep", False)]
SECOND = [("keep", False), ("single", False), ("phases", False), ("single", True), ("split", True)]


@settings(max_examples=40)
@given(first=st.sampled_from(FORMS), second=st.sampled_from(SECOND), variants=st.tuples(*[st.sampled_from(EXACT)] * 2),
       widths=st.tuples(st.integers(1, 5), st.integers(1, 4), st.sampled_from([1, 3])), bias=st.booleans(),
       start_kernel=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_every_form_keeps_the_output(first, second, variants, widths, bias, start_kernel, seed):
    """Any valid choice of forms for two strided layers computes what the original graph computes."""
    (k1, s1, p1, e1), (k2, s2, p2, e2) = variants
    layers = [(widths[1], k1, s1, p1, e1, bias), (widths[2], k2, s2, p2, e2, bias)]
    model = build_upsampler(layers, start=(widths[0], start_kernel), seed=seed)
    names = [n.name for n in strided_layers(OnnxGraph(model))]
    assert len(names) == 2
    if second[1] and (first[0] == "keep" or (second[0] == "split" and first[0] != "phases")):
        second = ("keep", False)
    plan = Plan(layers={names[0]: LayerChoice(*first), names[1]: LayerChoice(*second)})
    rewritten = apply_plan(model, plan)
    onnx.checker.check_model(rewritten, full_check=True)
    expected = run(model)
    np.testing.assert_allclose(run(rewritten), expected, atol=1e-5)
    kinds = [n.op_type for n in rewritten.graph.node]
    assert kinds.count("ConvTranspose") == 1 + [first[0], second[0]].count("keep")
    if second[1]:
        assert kinds.count("DepthToSpace") == 1  # the fused pair needs one interleave, not two


@pytest.mark.parametrize("reshape", [False, True])
@pytest.mark.parametrize("num_classes, fold", [(0, False), (4, False), (4, True)])
@pytest.mark.parametrize("start", [(5, 4), (3, 1), (2, 7)])
def test_dense_first_layer_keeps_the_output(reshape, num_classes, fold, start):
    model = build_upsampler([(2, 4, 2, 1, 0, True)], start=start, num_classes=num_classes, reshape=reshape)
    rewritten = apply_plan(model, Plan(dense=True, fold_labels=fold))
    kinds = [n.op_type for n in rewritten.graph.node]
    assert "Gemm" in kinds and kinds.count("ConvTranspose") == 1
    assert ("Concat" in kinds) == (num_classes and not fold)  # the fold removes z's concatenation
    assert kinds.index("Relu") < kinds.index("Reshape")  # the activation fuses into the Gemm
    np.testing.assert_allclose(run(rewritten, labels=num_classes), run(model, labels=num_classes), atol=1e-5)


def test_batchnorm_folds_into_the_convolutions():
    model = build_upsampler([(4, 4, 2, 1, 0, False), (3, 4, 2, 1, 0, True)], batchnorm=True)
    g = OnnxGraph(onnx.ModelProto.FromString(model.SerializeToString()))
    assert fold_batchnorm(g) == 2
    g.finish()
    assert "BatchNormalization" not in [n.op_type for n in g.graph.node]
    np.testing.assert_allclose(run(g.model), run(model), atol=1e-5)


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def test_unsupported_layers_are_left_and_reported(tmp_path):
    """A ConvTranspose the identities do not cover stays as it is, with the reason in the report."""
    model = build_upsampler([(3, 4, 2, 1, 0, True), (1, 3, 2, 0, 0, True)])  # the last one makes 2L + 1 rows
    src = save(model, tmp_path / "odd.onnx")
    result = optimize_model(src, tmp_path / "odd.opt.onnx", batch_sizes=(2,), rounds=1, log=lambda m: None)
    (name,) = result.untouched
    assert "not exactly stride x the input" in result.untouched[name]
    optimized = onnx.load(str(tmp_path / "odd.opt.onnx"))
    assert name in [n.name for n in optimized.graph.node if n.op_type == "ConvTranspose"]
    assert untouched_layers(OnnxGraph(optimized))[name] == result.untouched[name]


def images(path, n=16, seed=3):
    return Generator(path, device="cpu").sample(n, seed=seed)


def assert_same_images(a, b):
    assert a.shape == b.shape
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


def test_bundled_model_optimizes_and_samples_the_same_images(tmp_path):
    out = tmp_path / "fast.onnx"
    result = optimize_model(default_model_path(), out, batch_sizes=(1, 64), rounds=2, log=lambda m: None)
    assert max(result.parity.values()) <= 1e-5 and sorted(result.parity) == [1, 7, 64, 256]
    assert_same_images(images(str(out)), images(default_model_path()))
    before, after = (Generator(p, device="cpu").contract for p in (default_model_path(), str(out)))
    assert after.metadata["genrt.class_names"] == before.metadata["genrt.class_names"]
    assert (after.kind, after.num_classes, after.image_shape) == (before.kind, before.num_classes, before.image_shape)
    record = json.loads(after.metadata["genrt.optimized"])
    assert record["batch_sizes"] == [1, 64] and record["kept"] == result.kept
    assert set(record["optimized_ms"]) == {"1", "64"}


@pytest.mark.parametrize("dynamo", [False, True])
def test_foreign_pytorch_exports_optimize_and_sample(tmp_path, dynamo):
    """The pytorch/examples DCGAN shape, exported by plain torch.onnx.export (both exporters), no genrt metadata."""
    torch = pytest.importorskip("torch")
    import warnings

    from torch import nn

    class Netg(nn.Module):
        def __init__(self, nz=16, ngf=8):
            super().__init__()
            self.nz = nz
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Tanh())

        def forward(self, z):
            return self.main(z.view(-1, self.nz, 1, 1))

    torch.manual_seed(0)
    net = Netg().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    src = str(tmp_path / "netg.onnx")
    kwargs = ({"dynamic_shapes": ({0: torch.export.Dim("batch", min=1)},)} if dynamo
              else {"dynamic_axes": {"z": {0: "batch"}, "image": {0: "batch"}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(3, 16),), src, dynamo=dynamo, input_names=["z"], output_names=["image"],
                          **kwargs)
    out = str(tmp_path / "netg.opt.onnx")
    result = optimize_model(src, out, batch_sizes=(4,), rounds=1, log=lambda m: None)
    assert "BatchNormalization" not in [n.op_type for n in onnx.load(out).graph.node] or result.kept == "original"
    assert_same_images(images(out), images(src))
    assert Generator(out, device="cpu").contract.assumptions == Generator(src, device="cpu").contract.assumptions


def test_failed_verification_keeps_nothing(tmp_path, monkeypatch):
    src = save(build_upsampler([(3, 4, 2, 1, 0, True)]), tmp_path / "m.onnx")
    monkeypatch.setattr(optimize_core, "ATOL", -1.0)  # no graph, rewritten or not, passes a negative tolerance
    out = tmp_path / "m.opt.onnx"
    with pytest.raises(VerificationError, match="max \\|optimized - original\\|"):
        optimize_model(src, out, batch_sizes=(2,), rounds=1, log=lambda m: None)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]  # no output, no staging folder


def test_cli_optimize_json_report(tmp_path, capsys):
    src = save(build_upsampler([(3, 4, 2, 1, 0, True)], num_classes=3), tmp_path / "c.onnx")
    out = tmp_path / "c.opt.onnx"
    assert main(["optimize", src, "-o", str(out), "--batch", "1,4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and report["batch_sizes"] == [1, 4]
    assert set(report["speedup"]) == {"1", "4"} and report["kept"] in ("optimized", "original")
    assert all(v <= 1e-5 for v in report["parity_max_abs"].values())
    assert report["candidates"] and all("ms" in c for c in report["candidates"])


@pytest.mark.parametrize("case", ["not a generator", "existing output", "output under a file", "batch 0",
                                  "not .onnx", "missing model", "same file"])
def test_cli_optimize_bad_input_is_one_line(tmp_path, capsys, case):
    src = save(build_upsampler([(3, 4, 2, 1, 0, True)]), tmp_path / "m.onnx")
    out = tmp_path / "out.onnx"
    args = ["optimize", src, "-o", str(out)]
    if case == "not a generator":
        bad = onnx.helper.make_model(onnx.helper.make_graph(
            [onnx.helper.make_node("Identity", ["x"], ["y"])], "id",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])]))
        args[1] = save(bad, tmp_path / "identity.onnx")
    elif case == "existing output":
        out.write_bytes(b"keep me")
    elif case == "output under a file":
        (tmp_path / "file").write_text("x")
        args[3] = str(tmp_path / "file" / "out.onnx")
    elif case == "batch 0":
        args += ["--batch", "0"]
    elif case == "not .onnx":
        args[3] = str(tmp_path / "out.bin")
    elif case == "missing model":
        args[1] = str(tmp_path / "nope.onnx")
    elif case == "same file":
        args[3] = src
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genrt: error: "), err
    if case == "existing output":
        assert out.read_bytes() == b"keep me"
    assert not list(tmp_path.glob(".genrt-staging-*"))


def test_optimize_never_imports_torch(tmp_path):
    src = save(build_upsampler([(3, 4, 2, 1, 0, True)], batchnorm=True), tmp_path / "m.onnx")
    probe = ("import sys, genrt.cli; rc = genrt.cli.main(['optimize', sys.argv[1], '-o', sys.argv[2], "
             "'--batch', '2']); print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, src, str(tmp_path / "o.onnx")], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr


def test_a_plain_matmul_generator_is_kept_as_it_is(tmp_path):
    """Nothing to rewrite: the original graph is written back, verified, with the record saying so."""
    src = str(build_generator(tmp_path / "mm.onnx"))
    result = optimize_model(src, tmp_path / "mm.opt.onnx", batch_sizes=(1,), rounds=1, log=lambda m: None)
    assert result.plan in ({}, {"dense_first_layer": False, "fold_labels": False, "layers": {}})
    kinds = [n.op_type for n in onnx.load(str(tmp_path / "mm.opt.onnx")).graph.node]
    assert kinds == [n.op_type for n in onnx.load(src).graph.node]


def test_int8_variant_stays_within_its_budget(tmp_path):
    """--int8 writes NAME.int8.onnx: convolutions quantized, the dense layer in float, error within the budget."""
    from genrt.spec import TOLERANCES

    src = save(build_upsampler([(8, 4, 2, 1, 0, True), (3, 4, 2, 1, 0, True)], start=(16, 4), num_classes=4,
                               latent_dim=8), tmp_path / "c.onnx")
    out = tmp_path / "c.opt.onnx"
    result = optimize_model(src, out, batch_sizes=(8,), rounds=1, int8=True, calibration=128, log=lambda m: None)
    int8 = tmp_path / "c.opt.int8.onnx"
    quantized = onnx.load(str(int8))
    kinds = [n.op_type for n in quantized.graph.node]
    assert "QuantizeLinear" in kinds and "DequantizeLinear" in kinds
    dense = [n for n in quantized.graph.node if n.op_type in ("Gemm", "MatMul")]  # none if the ConvT won the timing
    assert all(not n.input[0].endswith("DequantizeLinear_Output") for n in dense)
    meta = {p.key: p.value for p in quantized.metadata_props}
    assert meta["genrt.precision"] == "int8" and meta["genrt.kind"] == "cgan"
    chosen = result.int8["candidates"][result.int8["choice"]]["errors"]
    shuffles = {k: c["channels_last_shuffles"] for k, c in result.int8["candidates"].items()}
    assert shuffles["every layer as phases, all convolutions"] == 2  # layout.py, on the CPU provider
    budget = TOLERANCES["int8"]
    assert chosen["mean"] <= budget.mean_atol and chosen["p999"] <= budget.p999_atol
    z = np.random.default_rng(5).standard_normal((32, 8), dtype=np.float32)
    a = Generator(str(int8), device="cpu").decode(z, labels=1, raw=True)
    b = Generator(src, device="cpu").decode(z, labels=1, raw=True)
    assert np.abs(a - b).mean() <= budget.mean_atol
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.onnx", "c.opt.int8.onnx", "c.opt.onnx"]


def identity_generator(pixels=12, shape=(3, 2, 2)):
    """z [N, pixels] reshaped to the image: the test sets every pixel value itself."""
    from onnx import TensorProto, helper, numpy_helper

    reshape = numpy_helper.from_array(np.array([-1, *shape], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["z", "shape"], ["image"])], "identity",
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", pixels])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", *shape])],
                              initializer=[reshape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


SPECIAL = [float("nan"), float("inf"), float("-inf"), 3e38, -3e38, -0.0, 0.0]


@settings(max_examples=60)
@given(value_range=st.sampled_from([(-1.0, 1.0), (0.0, 1.0), (-3.3, 7.1), (0.5, 0.5001)]),
       levels=st.lists(st.integers(-5, 260), min_size=12, max_size=12),
       noise=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=12, max_size=12),
       special=st.lists(st.sampled_from(SPECIAL), min_size=12, max_size=12))
def test_image_u8_is_bit_exact_with_genrt_ext(value_range, levels, noise, special):
    """image_u8 equals genrt.ext.to_uint8 of the float output: half-way values, NaN, +-Inf, huge values."""
    import genrt.ext as ext
    from genrt.optimize.uint8 import add_uint8_output

    model = identity_generator()
    add_uint8_output(model, "image", (3, 2, 2), value_range)
    onnx.checker.check_model(model, full_check=True)
    lo, span = np.float32(value_range[0]), np.float32(value_range[1]) - np.float32(value_range[0])
    halfway = (np.array(levels, np.float32) - np.float32(0.5)) / np.float32(255) * span + lo  # t lands on .5 steps
    z = np.stack([halfway, np.array(noise, np.float32), np.array(special, np.float32)]).astype(np.float32)
    image, u8 = open_session(model.SerializeToString()).run(None, {"z": z})
    assert u8.dtype == np.uint8 and u8.shape == (3, 2, 2, 3)
    np.testing.assert_array_equal(u8, ext.to_uint8(image, value_range))


def test_uint8_output_is_verified_measured_and_used_by_the_runtime(tmp_path):
    src = save(build_upsampler([(3, 4, 2, 1, 0, True)], num_classes=3), tmp_path / "m.onnx")
    out = tmp_path / "m.opt.onnx"
    result = optimize_model(src, out, batch_sizes=(1, 4), rounds=2, uint8_output=True, log=lambda m: None)
    record = result.uint8_output
    assert record["provider"] == "CPUExecutionProvider" and set(record["ms"]) == {"1", "4"}
    assert record["faster"] in (True, False) and record["output_range"] == [-1.0, 1.0]
    outputs = [o.name for o in onnx.load(str(out)).graph.output]
    assert outputs == ["image", "image_u8"]
    g = Generator(str(out), device="cpu")
    assert g.uint8_output == record["faster"]  # on the CPU, the runtime follows the measurement
    assert Generator(str(out), device="cpu", output_range=(0, 1)).uint8_output is False  # another conversion
    in_graph, with_ext = Generator(str(out), device="cpu"), Generator(str(out), device="cpu")
    in_graph.uint8_output, with_ext.uint8_output = True, False
    z = in_graph.latents(9, seed=4)
    np.testing.assert_array_equal(in_graph.decode(z, batch_size=4), with_ext.decode(z, batch_size=4))
    assert in_graph.decode(z, raw=True).shape == (9, 3, 6, 6)  # raw still gives the float images


@pytest.mark.parametrize("fold", [False, True])
def test_int8_keeps_the_dense_layer_and_its_inputs_in_float(tmp_path, fold):
    """No QuantizeLinear/DequantizeLinear anywhere between z (and the label) and the dense layer."""
    from genrt.optimize.quantize import calibration_feeds, float_layers, quantize_qdq

    model = apply_plan(build_upsampler([(3, 4, 2, 1, 0, True)], num_classes=4),
                       Plan(dense=True, fold_labels=fold, layers={}))
    src = save(model, tmp_path / "dense.onnx")
    contract = Generator(src, device="cpu").contract
    quantize_qdq(src, str(tmp_path / "q.onnx"), calibration_feeds(contract, 64), float_layers(model))
    quantized = onnx.load(str(tmp_path / "q.onnx"))
    producers = {o: n for n in quantized.graph.node for o in n.output}
    (gemm,) = [n for n in quantized.graph.node if n.op_type == "Gemm"]
    stack, seen = list(gemm.input), set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), node.name
        stack += list(node.input)
    assert "QuantizeLinear" in [n.op_type for n in quantized.graph.node]  # the convolution after it is int8


def test_int8_concat_inputs_share_the_concat_scale(tmp_path):
    """Phase outputs feeding a Concat are quantized with its scale, so QLinearConcat copies; the error does not grow."""
    from genrt.optimize.quantize import calibration_feeds, float_layers, quantize_qdq, share_concat_scales

    base = build_upsampler([(8, 4, 2, 1, 0, True), (3, 4, 2, 1, 0, True)], start=(16, 4), latent_dim=8)
    first, second = strided_layers(OnnxGraph(base))
    layers = {first.name: LayerChoice("phases"), second.name: LayerChoice("single", fuse=True)}
    src = save(apply_plan(base, Plan(dense=True, fold_labels=False, layers=layers)), tmp_path / "p.onnx")
    feeds = calibration_feeds(Generator(src, device="cpu").contract, 128)
    quantize_qdq(src, str(tmp_path / "q.onnx"), feeds, float_layers(onnx.load(src)))
    shared = onnx.load(str(tmp_path / "q.onnx"))
    producers = {o: n for n in shared.graph.node for o in n.output}
    consumers = {i: n for n in shared.graph.node for i in n.input}
    (concat,) = [n for n in shared.graph.node if n.op_type == "Concat"]
    after = consumers[concat.output[0]]
    assert after.op_type == "QuantizeLinear" and len(concat.input) == 4
    for name in concat.input:
        dequantize = producers[name]
        assert dequantize.op_type == "DequantizeLinear" and dequantize.input[1:] == after.input[1:]
        assert producers[dequantize.input[0]].input[1:] == after.input[1:]
    assert share_concat_scales(shared) == 0  # already shared: nothing left to change
    onnx.checker.check_model(shared)

    z = np.random.default_rng(9).standard_normal((64, 8), dtype=np.float32)
    exact = Generator(src, device="cpu").decode(z, raw=True)
    got = Generator(str(tmp_path / "q.onnx"), device="cpu").decode(z, raw=True)
    assert np.abs(got - exact).mean() <= 4e-3


@pytest.mark.parametrize("last", ["phases", "keep"])
def test_int8_depth_to_space_moves_bytes_not_floats(tmp_path, last):
    """Each DepthToSpace reads the uint8 tensor (no DequantizeLinear before it); the images stay the same."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from genrt.optimize.quantize import calibration_feeds, depth_to_space_in_uint8

    base = build_upsampler([(8, 4, 2, 1, 0, True), (4, 4, 2, 1, 0, True), (3, 4, 2, 1, 0, True)], start=(16, 4),
                           latent_dim=8)
    first, second, third = strided_layers(OnnxGraph(base))
    layers = {first.name: LayerChoice("phases"), second.name: LayerChoice("phases"), third.name: LayerChoice(last)}
    src = save(apply_plan(base, Plan(dense=False, layers=layers)), tmp_path / "p.onnx")
    feeds = iter(calibration_feeds(Generator(src, device="cpu").contract, 128))

    class Batches(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    plain = str(tmp_path / "q.onnx")
    quantize_static(src, plain, Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    moved = onnx.load(plain)
    assert depth_to_space_in_uint8(moved) == 2
    onnx.checker.check_model(moved)
    producers = {o: n for n in moved.graph.node for o in n.output}
    image = moved.graph.output[0].name  # a DepthToSpace that writes the image stays in float
    for node in (n for n in moved.graph.node if n.op_type == "DepthToSpace" and n.output[0] != image):
        assert producers[node.input[0]].op_type != "DequantizeLinear"
    z = np.random.default_rng(9).standard_normal((64, 8), dtype=np.float32)
    before = Generator(plain, device="cpu").decode(z, raw=True)
    after = Generator(save(moved, tmp_path / "moved.onnx"), device="cpu").decode(z, raw=True)
    exact = Generator(src, device="cpu").decode(z, raw=True)
    assert np.abs(after - exact).mean() <= np.abs(before - exact).mean() + 1e-6


class CostTimer(optimize_select.Timer):
    """A Timer whose times come from `cost(model, batch)` instead of a clock: the search's logic, deterministically.

    Every call is recorded, so a test can check that the plan returned is the best one timed.
    """

    def __init__(self, cost, batches=(1, 8, 64), rounds=3):
        self.feeds, self.rounds, self.cost, self.calls = {b: {} for b in batches}, rounds, cost, []
        self.progress = lambda: None

    def time(self, candidates, rounds=None, race=True, batches=None):
        batches = batches or tuple(self.feeds)
        times = {"original": {b: 1.0 for b in batches}}
        for name, data in candidates.items():
            model = onnx.load_from_string(data)
            times[name] = {b: self.cost(branch_for(model, b), b) for b in batches}
        self.calls.append(times)
        return times


def branch_for(model, batch):
    """The graph that runs at `batch` in a model with a plan per batch range (dispatch.py), as a model of its own."""
    graph = model.graph
    consts = {t.name: int(onnx.numpy_helper.to_array(t)) for t in graph.initializer if not t.dims}
    while any(n.op_type == "If" for n in graph.node):
        choose = next(n for n in graph.node if n.op_type == "If")
        test = next(n for n in graph.node if n.output[0] == choose.input[0])
        branches = {a.name: a.g for a in choose.attribute}
        graph = branches["then_branch" if batch < consts[test.input[1]] else "else_branch"]
    found = onnx.ModelProto()
    found.graph.CopyFrom(graph)
    return found


def phase_convs(model, layer):
    return sum(n.op_type == "Conv" and f"{layer}_phase" in n.name for n in model.graph.node)


UPSAMPLER = [(6, 4, 2, 1, 0, False), (4, 4, 2, 1, 0, False), (1, 4, 2, 1, 0, False)]


def rewritten(m):
    return sum(n.op_type == "DepthToSpace" for n in m.graph.node) > 0


def test_each_batch_size_gets_the_plan_fastest_at_it():
    """Rewriting pays 40% at batch 8 and 64 and costs 10% at batch 1: batch 1 keeps the original graph, in one If."""
    model = build_upsampler(UPSAMPLER)
    fold_batchnorm(OnnxGraph(model))
    tuning = optimize_select.choose_plan(model, CostTimer(lambda m, b: (1.1 if b == 1 else 0.6) if rewritten(m) else 1))
    assert not tuning.original_wins and [start for start, _ in tuning.ranges] == [1, 3]
    assert not tuning.ranges[0][1].rewrites and tuning.plan.rewrites
    assert tuning.final["chosen"] == {1: 1.0, 8: 0.6, 64: 0.6}
    assert [r["from_batch"] for r in tuning.describe()["by_batch"]] == [1, 3]
    assert set(tuning.reasons) == {1, 8, 64}
    assert set(tuning.reasons[1]) == {"dense first layer", *(n.name for n in strided_layers(OnnxGraph(model)))}
    dispatch = tuning.apply(model)
    assert [n.op_type for n in dispatch.graph.node] == ["Shape", "Gather", "Less", "If"]
    assert not rewritten(branch_for(dispatch, 2)) and rewritten(branch_for(dispatch, 3))


def test_a_plan_per_batch_range_is_kept_only_where_it_pays():
    """Rewriting costs 2% at batch 1: not worth a second copy of the weights, so one plan serves every batch."""
    model = build_upsampler(UPSAMPLER)
    fold_batchnorm(OnnxGraph(model))
    timer = CostTimer(lambda m, b: (1.02 if b == 1 else 0.6) if rewritten(m) else 1)
    tuning = optimize_select.choose_plan(model, timer)
    assert len(tuning.ranges) == 1 and tuning.plan.rewrites
    assert tuning.final["chosen"][1] == pytest.approx(1.02) and tuning.final["chosen"][64] == pytest.approx(0.6)
    assert "by_batch" not in tuning.describe()


def test_the_search_finds_a_combination_no_single_change_reaches_and_returns_the_best_it_timed():
    """Every layer in "phases" is fast only all together; any one layer alone is slower than the original."""
    model = build_upsampler(UPSAMPLER)
    layers = [n.name for n in strided_layers(OnnxGraph(model))]

    def cost(m, batch):
        phased = sum(phase_convs(m, name) > 1 for name in layers)
        return 0.5 if phased == len(layers) else 1.0 + 0.1 * phased

    timer = CostTimer(cost)
    tuning = optimize_select.choose_plan(model, timer)
    assert all(tuning.plan.layers[name].form == "phases" for name in layers)
    final = timer.calls[-1]
    best = min(optimize_select.score(t, final["original"]) for t in final.values())
    assert optimize_select.score(tuning.final["chosen"], tuning.final["original"]) == best
    assert all("phases" in tuning.reasons[b][name] for name in layers for b in (1, 8, 64))


def test_when_every_plan_is_slower_the_original_graph_wins():
    model = build_upsampler(UPSAMPLER)
    tuning = optimize_select.choose_plan(model, CostTimer(lambda m, batch: 1.2 if batch == 1 else 1.01))
    assert tuning.original_wins
