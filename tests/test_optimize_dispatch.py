"""One graph with a plan per range of batch sizes (genrt/optimize/dispatch.py), run by real onnxruntime sessions."""

import numpy as np
import onnx
import pytest
from onnx_models import build_upsampler

from genrt.errors import InputError
from genrt.optimize.batchnorm import fold_batchnorm
from genrt.optimize.dispatch import by_batch, range_starts
from genrt.optimize.onnxgraph import OnnxGraph
from genrt.optimize.passes import LayerChoice, Plan, apply_plan, strided_layers
from genrt.runtime import Generator

LAYERS = [(6, 4, 2, 1, 0, False), (3, 4, 2, 1, 0, True)]


def test_a_batch_size_between_two_takes_the_plan_of_the_nearer_on_a_log_scale():
    assert range_starts([1, 8, 64]) == [3, 23]  # sqrt(8) = 2.8, sqrt(512) = 22.6
    assert range_starts([4, 16]) == [9]  # 8 is as near to 4 as to 16: it stays with 4
    assert range_starts([5]) == []


def plans(num_classes=0):
    model = build_upsampler(LAYERS, num_classes=num_classes, batchnorm=True)
    graph = OnnxGraph(model)
    fold_batchnorm(graph)
    graph.finish()
    names = [n.name for n in strided_layers(OnnxGraph(model))]
    phased = Plan(True, num_classes > 0, {name: LayerChoice("phases") for name in names})
    return model, apply_plan(model, Plan()), apply_plan(model, phased)


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("num_classes", [0, 4])
def test_each_range_runs_its_own_graph_and_the_file_reads_as_the_original(tmp_path, num_classes):
    model, kept, phased = plans(num_classes)
    dispatch = by_batch([(1, kept), (3, phased), (23, kept)])
    onnx.checker.check_model(dispatch, full_check=True)
    assert [n.op_type for n in dispatch.graph.node] == ["Shape", "Gather", "Less", "If"]
    paths = {name: save(m, tmp_path / f"{name}.onnx") for name, m in
             {"original": model, "kept": kept, "phased": phased, "dispatch": dispatch}.items()}
    generators = {name: Generator(path, device="cpu") for name, path in paths.items()}
    assert generators["dispatch"].contract.image_shape == generators["original"].contract.image_shape
    for batch, branch in [(1, "kept"), (2, "kept"), (3, "phased"), (22, "phased"), (23, "kept"), (64, "kept")]:
        z = np.random.default_rng(batch).standard_normal((batch, 6), dtype=np.float32)
        labels = np.arange(batch) % 4 if num_classes else None
        got = generators["dispatch"].decode(z, labels=labels, raw=True)
        assert np.array_equal(got, generators[branch].decode(z, labels=labels, raw=True))  # the branch, bit for bit
        np.testing.assert_allclose(got, generators["original"].decode(z, labels=labels, raw=True), atol=1e-5)
    assert generators["dispatch"].sample(5, seed=0).shape[0] == 5


def test_one_range_is_the_graph_itself():
    _, kept, _ = plans()
    assert by_batch([(1, kept)]) is kept


def test_a_plan_per_batch_range_is_refused_as_a_training_start(tmp_path):
    """--init-generator maps a plain export's layers back onto torch; a dispatch graph has none at the top."""
    from genrt.train.warmstart import _weights

    _, kept, phased = plans()
    path = save(by_batch([(1, kept), (3, phased)]), tmp_path / "d.onnx")
    with pytest.raises(InputError, match="is an optimized graph \\(it has If\\)"):
        _weights(path, onnx.load(path))


def test_int8_takes_a_graph_per_batch_range_where_another_candidate_is_faster_there(tmp_path):
    """Candidates with the output layer in float are the fastest at batch 1 and the slowest at 8 and 64 (by cost)."""
    from test_optimize import CostTimer, branch_for

    from genrt.files import Staging
    from genrt.optimize.int8 import int8_graphs, int8_variant
    from genrt.runtime.contract import read_contract
    from genrt.runtime.session import open_session

    model = build_upsampler([(8, 4, 2, 1, 0, True), (3, 4, 2, 1, 0, True)], start=(16, 4), num_classes=4,
                            latent_dim=8)
    src = save(model, tmp_path / "c.onnx")
    session = open_session(src, ["CPUExecutionProvider"], name=src)
    contract = read_contract(session, src)

    def output_in_float(m):  # the layer that writes the image reads float weights, not a DequantizeLinear's
        producers = {o: n for n in m.graph.node for o in n.output}
        node = producers[m.graph.output[0].name]
        while node.op_type not in ("Conv", "ConvTranspose"):
            node = producers[node.input[0]]
        return node.input[1] not in producers

    def cost(m, batch):
        if not any(n.op_type == "QuantizeLinear" for n in m.graph.node):
            return 1.0  # the fp32 file
        return (0.4 if batch == 1 else 0.5) if output_in_float(m) else (0.5 if batch == 1 else 0.4)

    timer = CostTimer(cost)
    timer.providers, timer.threads = ["CPUExecutionProvider"], 1
    logged = []
    with Staging(str(tmp_path)) as stage:
        graphs = int8_graphs(model, [Plan()])
        int8 = tmp_path / "c.int8.onnx"
        report = int8_variant(onnx, graphs, src, str(int8), stage, session, contract, timer, 64, None, logged.append)
        assert report["choice"].startswith("by batch (from 1: ") and "; from 3: " in report["choice"]
        written = onnx.load(str(int8))
    assert [n.op_type for n in written.graph.node] == ["Shape", "Gather", "Less", "If"]
    assert output_in_float(branch_for(written, 2)) and not output_in_float(branch_for(written, 3))
    assert any("one int8 graph per batch range (from batch 1, 3): kept" in line for line in logged)
    z = np.random.default_rng(0).standard_normal((5, 8), dtype=np.float32)
    labels = np.arange(5) % 4
    exact = Generator(src, device="cpu").decode(z, labels=labels, raw=True)
    got = Generator(str(int8), device="cpu").decode(z, labels=labels, raw=True)
    assert np.abs(got - exact).mean() < 0.02
