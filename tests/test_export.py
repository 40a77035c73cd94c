"""genrt export on real (tiny) checkpoints: each kind, verification, variants, Triton, errors, a second ONNX runtime."""

import json
import os
import pickle

import numpy as np
import onnx
import pytest
import torch
from google.protobuf import text_format
from onnx import helper, numpy_helper
from triton_config import ModelConfig as TritonModelConfig

from genrt import ext
from genrt.cli import main
from genrt.errors import ModelError
from genrt.export import TOLERANCES, VerificationError, export_checkpoint, verify
from genrt.export import graph as export_graph
from genrt.export.triton import MAX_QUEUE_DELAY_US
from genrt.export.parity import parity_inputs
from genrt.export.verify import batch_constants
from genrt.files import file_sha256
from genrt.runtime import Generator
from genrt.train import TrainConfig, build_models, load_checkpoint, train
from genrt.train.checkpoint import save_checkpoint
from genrt.train.models import ModelConfig

TINY = {"data": "fake:48", "batch_size": 16, "ngf": 8, "ndf": 8, "latent_dim": 16, "log_every": 1}
SETTINGS = {  # kind -> extra training settings; one RGB model among them
    "dcgan": {"size": 32, "channels": 3},
    "cgan": {},
    "vae": {},
}


def quiet(message):
    pass


def fresh_checkpoint(folder, kind: str, **extra) -> str:
    """A checkpoint of freshly initialised (untrained) networks, as genrt train would lay it out."""
    config = TrainConfig(model=kind, out=str(folder), **{**TINY, **extra})
    size, channels = extra.get("size", 28), extra.get("channels", 1)
    cfg = ModelConfig(kind=kind, image_shape=(channels, size, size), latent_dim=config.latent_dim,
                      num_classes=10 if kind == "cgan" else 0, ngf=config.ngf, ndf=config.ndf)
    torch.manual_seed(0)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "checkpoint.safetensors")
    state = {"epoch": 0, "step": 0, "step_in_epoch": 0, "elapsed": 0.0}
    data = {"source": "fake:48", "digest": "0" * 16, "images": 48, "image_shape": [channels, size, size],
            "class_names": [f"class{i}" for i in range(10)] if kind == "cgan" else []}
    save_checkpoint(path, config, cfg, build_models(cfg), {}, {}, state, data)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{(kind, "fresh" | "trained"): checkpoint path}."""
    root = tmp_path_factory.mktemp("checkpoints")
    found = {}
    for kind, extra in SETTINGS.items():
        found[kind, "fresh"] = fresh_checkpoint(root / f"{kind}-fresh", kind, **extra)
        config = TrainConfig(model=kind, out=str(root / f"{kind}-trained"), steps=3, **{**TINY, **extra})
        found[kind, "trained"] = train(config, progress=False, log=quiet)["checkpoint"]
    return found


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory):
    """The trained cgan exported with every variant and a Triton repository: (result, folder)."""
    folder = tmp_path_factory.mktemp("exported")
    result = export_checkpoint(checkpoints["cgan", "trained"], str(folder / "cgan.onnx"), fp16=True, int8=True,
                               triton_repo=str(folder / "triton"), log=quiet)
    return result, folder


def torch_images(checkpoint, feed) -> np.ndarray:
    module = export_graph.inference_model(load_checkpoint(checkpoint))
    with torch.no_grad():
        return module(*(torch.from_numpy(feed[k]) for k in feed)).numpy()


def run_cli(*args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("state", ["fresh", "trained"])
@pytest.mark.parametrize("kind", list(SETTINGS))
def test_export_each_kind(checkpoints, tmp_path, kind, state):
    checkpoint = checkpoints[kind, state]
    out = tmp_path / "model.onnx"
    result = export_checkpoint(checkpoint, str(out), batch_sizes=(1, 7, 64, 512), log=quiet)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]  # no staging folder left behind
    report = result.reports["fp32"]
    assert [p.batch for p in report.parity] == [1, 7, 64, 512]
    assert all(p.max_abs <= 1e-4 and p.max_levels <= 1 for p in report.parity)

    cfg = load_checkpoint(checkpoint).model_config
    g = Generator(str(out), device="cpu")
    c = g.contract
    assert (c.kind, c.latent_dim, c.num_classes, c.image_shape) == (
        {"dcgan": "gan"}.get(kind, kind), cfg.latent_dim, cfg.num_classes, cfg.image_shape)
    assert c.output_range == ((0.0, 1.0) if kind == "vae" else (-1.0, 1.0))
    assert c.assumptions == ()
    # The runtime's images equal PyTorch's after the same post-processing, at an odd batch size.
    feed = parity_inputs(cfg, 5, seed=3)
    images = g.decode(feed["z"], feed.get("label"))
    expected = ext.to_uint8(torch_images(checkpoint, feed), c.output_range)
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1

    model = onnx.load(str(out))
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.input, *model.graph.output]}
    assert shapes["z"] == ["batch", cfg.latent_dim]
    assert shapes["image"] == ["batch", *cfg.image_shape]
    assert ("label" in shapes) == (kind == "cgan")
    assert not any(node.metadata_props for g in subgraphs(model.graph) for node in g.node)  # no local paths


def test_metadata_round_trips_into_genrt_info(exported, checkpoints, capsys):
    result, folder = exported
    status, out, _ = run_cli("info", folder / "cgan.onnx", "--json", capsys=capsys)
    assert status == 0
    report = json.loads(out)
    ck = load_checkpoint(checkpoints["cgan", "trained"])
    assert report["kind"] == "cgan" and report["format"] == "1"
    assert report["latent"] == {"name": "z", "dim": 16, "dtype": "float32"}
    assert report["class_names"] == [str(i) for i in range(10)]
    assert report["image"]["shape"] == [1, 28, 28] and report["output_range"] == [-1.0, 1.0]
    assert report["source"]["dataset"] == "fake:48 (train)"  # the train split: the held-out part stays unseen
    assert report["source"]["steps"] == 3
    assert report["source"]["weights"] == "ema"  # the averaged generator (train/ema.py) by default
    assert report["source"]["config_digest"] == ck.train_config.digest()
    assert report["source"]["checkpoint_sha256"] == file_sha256(ck.path)
    assert report["assumptions"] == []
    status, out, _ = run_cli("info", folder / "cgan.onnx", capsys=capsys)
    assert "kind       cgan (genrt format 1, fp32)" in out


def subgraphs(graph) -> list:
    """`graph` and every graph nested in its nodes' attributes (an If's branches)."""
    found = [graph]
    for node in graph.node:
        for attribute in node.attribute:
            for g in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                found += subgraphs(g)
    return found


def test_variants_are_verified_with_their_own_tolerances(exported):
    result, folder = exported
    assert set(result.files) == {"fp32", "fp16", "int8"}
    assert result.files["fp16"].endswith("cgan.fp16.onnx") and result.files["int8"].endswith("cgan.int8.onnx")
    for precision in ("fp16", "int8"):
        tol = TOLERANCES[precision]
        parity = result.reports[precision].parity
        assert [p.batch for p in parity] == [1, 7, 64, 256]
        assert all(p.max_abs <= tol.atol and p.max_levels <= tol.levels for p in parity)
        g = Generator(result.files[precision], device="cpu")
        assert g.contract.metadata["genrt.precision"] == precision
        assert g.sample(4, seed=0, labels=3).shape == (4, 28, 28, 1)
    half = onnx.load(result.files["fp16"])
    assert {t.data_type for t in half.graph.initializer if t.name.endswith("weight")} == {onnx.TensorProto.FLOAT16}
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    graphs = subgraphs(onnx.load(result.files["int8"]).graph)  # with a graph per batch range, its branches too
    nodes = [n for g in graphs for n in g.node]
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in nodes}
    inits = {t.name: numpy_helper.to_array(t) for g in graphs for t in g.initializer}
    weights = [n for n in nodes if n.op_type == "DequantizeLinear" and n.input[0] in inits
               and inits[n.input[0]].dtype == np.int8 and inits[n.input[0]].ndim == 4]
    assert weights  # every convolution's weights in int8, one scale per output channel (axis 0 Conv, 1 ConvTranspose)
    for node in weights:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        consumer = next(n for n in nodes if node.output[0] in n.input)
        assert axis == {"Conv": 0, "ConvTranspose": 1}[consumer.op_type]
        assert inits[node.input[1]].shape == (inits[node.input[0]].shape[axis],)


def test_triton_repository(exported):
    result, folder = exported
    repo = folder / "triton" / "cgan"
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")) == ["1", "1/model.onnx", "config.pbtxt"]
    assert (repo / "1" / "model.onnx").read_bytes() == (folder / "cgan.onnx").read_bytes()
    config = text_format.Parse((repo / "config.pbtxt").read_text(), TritonModelConfig())
    assert config.name == "cgan" and config.backend == "onnxruntime" and config.max_batch_size == 256
    inputs = {i.name: i for i in config.input}
    assert list(inputs["z"].dims) == [16] and inputs["z"].data_type == 11  # TYPE_FP32
    assert list(inputs["label"].dims) == [1] and inputs["label"].data_type == 9  # TYPE_INT64
    assert inputs["label"].HasField("reshape") and list(inputs["label"].reshape.shape) == []
    (image,) = config.output
    assert image.name == "image" and list(image.dims) == [1, 28, 28] and image.data_type == 11
    assert list(config.dynamic_batching.preferred_batch_size) == [16, 64]
    assert config.dynamic_batching.max_queue_delay_microseconds == MAX_QUEUE_DELAY_US  # a setting, not a timing


@pytest.mark.parametrize("kind", list(SETTINGS))
def test_onnx_reference_evaluator_agrees(checkpoints, tmp_path, kind):
    """A second ONNX implementation (onnx.reference) gives onnxruntime's outputs: standard ONNX, no ORT quirks."""
    from onnx.reference import ReferenceEvaluator

    path = str(tmp_path / "model.onnx")
    export_checkpoint(checkpoints[kind, "trained"], path, log=quiet)
    cfg = load_checkpoint(checkpoints[kind, "trained"]).model_config
    feed = parity_inputs(cfg, 3, seed=5)
    (reference,) = ReferenceEvaluator(path).run(None, feed)
    g = Generator(path, device="cpu")
    (ours,) = g.session.run(None, feed)
    np.testing.assert_allclose(reference, ours, rtol=0, atol=1e-4)
    np.testing.assert_allclose(reference, torch_images(checkpoints[kind, "trained"], feed), rtol=0, atol=1e-4)


def _bake_batch(model, batch: int):
    """A copy of `model` whose output goes through Reshape([batch, -1]) and back: a batch size baked in."""
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    graph = broken.graph
    old = graph.output[0].name
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = "raw_image"
    c, h, w = (d.dim_value for d in graph.output[0].type.tensor_type.shape.dim[1:])
    graph.initializer.extend([numpy_helper.from_array(np.array([batch, -1], np.int64), "flat_shape"),
                              numpy_helper.from_array(np.array([batch, c, h, w], np.int64), "image_shape")])
    graph.node.extend([helper.make_node("Reshape", ["raw_image", "flat_shape"], ["flat"], name="bake_flat"),
                       helper.make_node("Reshape", ["flat", "image_shape"], [old], name="bake_image")])
    return broken


def test_a_baked_in_batch_size_is_caught(checkpoints, tmp_path):
    ck = load_checkpoint(checkpoints["cgan", "trained"])
    module = export_graph.inference_model(ck)
    good, batch = export_graph.to_onnx(module, ck.model_config)
    assert batch_constants(good, batch) == []
    path = str(tmp_path / "broken.onnx")
    onnx.save(_bake_batch(good, batch), path)
    assert len(batch_constants(onnx.load(path), batch)) == 2
    with pytest.raises(VerificationError) as caught:
        verify(path, module, ck.model_config, batch)
    message = str(caught.value)
    assert f"batch size {batch} baked into the graph: initializer 'flat_shape' = [{batch}, -1] (used by Reshape" in message
    assert "batch 7" in message and "batch 1:" in message  # parity fails at other sizes, each reported
    assert "\n" not in message


def test_a_fixed_batch_dimension_is_caught(checkpoints, tmp_path):
    ck = load_checkpoint(checkpoints["dcgan", "trained"])
    module = export_graph.inference_model(ck)
    model, batch = export_graph.to_onnx(module, ck.model_config)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    path = str(tmp_path / "fixed.onnx")
    onnx.save(model, path)
    with pytest.raises(VerificationError, match=r"z's first dimension is fixed at \d+; it must be symbolic"):
        verify(path, module, ck.model_config, batch)


def test_a_metadata_typo_fails_verification(checkpoints, tmp_path, monkeypatch):
    real = export_graph.contract_metadata

    def typo(checkpoint, precision="fp32", ema=True):
        meta = real(checkpoint, precision, ema)
        meta["genrt.num_clases"] = meta.pop("genrt.num_classes")
        return meta

    monkeypatch.setattr(export_graph, "contract_metadata", typo)
    # The runtime still finds the 10 classes (the label's table has 10 rows), but as an assumption: a failure.
    with pytest.raises(VerificationError, match=r"the runtime reads assumptions \(\"10 classes, the rows of the table"):
        export_checkpoint(checkpoints["cgan", "trained"], str(tmp_path / "m.onnx"), optimize=False, log=quiet)
    assert os.listdir(tmp_path) == []


def test_failed_verification_keeps_nothing(checkpoints, tmp_path, monkeypatch, capsys):
    real = export_graph.to_onnx

    def broken_to_onnx(module, cfg, opset=18):
        model, batch = real(module, cfg, opset)
        return _bake_batch(model, batch), batch

    monkeypatch.setattr(export_graph, "to_onnx", broken_to_onnx)
    old = tmp_path / "model.onnx"
    old.write_bytes(b"the previous file")
    status, out, err = run_cli("export", checkpoints["cgan", "trained"], "-o", old, "--overwrite", "--fp16",
                               "--triton-repo", tmp_path / "triton", capsys=capsys)
    assert status == 1
    assert err.startswith("genrt: error: fp32 export failed verification, nothing kept: batch size")
    assert len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"] and old.read_bytes() == b"the previous file"


@pytest.mark.parametrize("case", ["existing Triton model", "external data"])
def test_triton_conflicts_are_refused_before_anything_is_written(checkpoints, tmp_path, capsys, case):
    repo = tmp_path / "triton"
    args = ["export", checkpoints["cgan", "trained"], "-o", tmp_path / "out" / "cgan.onnx", "--triton-repo", repo]
    if case == "existing Triton model":
        (repo / "cgan").mkdir(parents=True)
        (repo / "cgan" / "config.pbtxt").write_text("the previous config")
        message = "config.pbtxt already exists; pass --overwrite to replace the Triton model 'cgan'"
    else:
        args.append("--external-data")
        message = "--triton-repo needs the weights inside the ONNX file; leave out --external-data"
    status, _, err = run_cli(*args, capsys=capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    if case == "existing Triton model":
        assert os.listdir(repo / "cgan") == ["config.pbtxt"]
        assert (repo / "cgan" / "config.pbtxt").read_text() == "the previous config"


def test_external_data_stays_next_to_the_model(checkpoints, tmp_path):
    out = tmp_path / "big.onnx"
    export_checkpoint(checkpoints["vae", "trained"], str(out), external_data=True, log=quiet)
    assert sorted(os.listdir(tmp_path)) == ["big.onnx", "big.onnx.data"]
    model = onnx.load(str(out), load_external_data=False)
    locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"big.onnx.data"}
    assert {p.key: p.value for p in model.metadata_props}["genrt.sha256"] == "none"  # no digest, on purpose
    g = Generator(str(out), device="cpu")
    assert g.digest_checked is None and g.sample(2, seed=0).shape == (2, 28, 28, 1)


def test_cli_export_then_sample(checkpoints, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, _ = run_cli("export", checkpoints["cgan", "trained"], "-o", "exports/digits.onnx", capsys=capsys)
    assert status == 0
    assert "verified fp32: batch 1/7/64/256" in out and "wrote exports/digits.onnx" in out
    status, out, _ = run_cli("sample", "exports/digits.onnx", "--label", "all", "-n", "4", "-o", "grid.png",
                             capsys=capsys)
    assert status == 0 and "40 images 28x28x1" in out
    status, out, _ = run_cli("export", checkpoints["cgan", "trained"], "-o", "exports/digits.onnx", "--json",
                             "--overwrite", capsys=capsys)
    report = json.loads(out)
    assert report["verification"]["fp32"]["batches"][-1]["batch"] == 256
    assert report["files"]["fp32"]["bytes"] == os.path.getsize("exports/digits.onnx")


def test_the_averaged_generator_is_exported_unless_no_ema(checkpoints, tmp_path, capsys):
    checkpoint = checkpoints["cgan", "trained"]
    assert run_cli("export", checkpoint, "-o", tmp_path / "ema.onnx", "--no-optimize", capsys=capsys)[0] == 0
    assert run_cli("export", checkpoint, "-o", tmp_path / "raw.onnx", "--no-optimize", "--no-ema", capsys=capsys)[0] == 0
    ema, raw = (Generator(str(tmp_path / f"{name}.onnx"), device="cpu") for name in ("ema", "raw"))
    assert json.loads(ema.contract.metadata["genrt.source"])["weights"] == "ema"
    assert json.loads(raw.contract.metadata["genrt.source"])["weights"] == "raw"
    assert not np.array_equal(ema.sample(4, seed=0), raw.sample(4, seed=0))
    ck = load_checkpoint(checkpoint)
    module = export_graph.inference_model(ck, ema=False)
    torch.testing.assert_close(module.state_dict()["net.0.weight"], ck.module_state("generator")["net.0.weight"])


def _checkpoint_with_model_config(path, **model_config):
    from safetensors.torch import save_file

    meta = {"genrt.checkpoint": "1", "train_config": json.dumps(TrainConfig().to_dict()),
            "model_config": json.dumps({"kind": "dcgan", "image_shape": [1, 28, 28], **model_config}),
            "state": "{}", "data": "{}"}
    save_file({"model.generator.w": torch.zeros(1)}, str(path), metadata=meta)


def _checkpoint_of_unknown_kind(path):
    _checkpoint_with_model_config(path, kind="unet")


@pytest.mark.parametrize("change, message", [
    ({"latent_dim": -5}, "latent_dim must be a positive integer, got -5"),
    ({"image_shape": [2, 28, 28]}, "image_shape must be C, S, S with C in 1, 3, 4, got [2, 28, 28]"),
    ({"image_shape": [1, 0]}, "image_shape must be C, S, S"),
    ({"num_classes": "ten"}, "num_classes must be an integer >= 0, got 'ten'"),
    ({"ngf": 1e9}, "ngf must be a positive integer"),
    ({"norm": "layer"}, "norm must be one of batch, none, spectral"),
])
def test_a_checkpoint_with_impossible_model_config_values_is_refused(tmp_path, capsys, change, message):
    path = tmp_path / "bad.safetensors"
    _checkpoint_with_model_config(path, **change)
    status, _, err = run_cli("export", path, "-o", tmp_path / "out.onnx", capsys=capsys)
    assert status == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("genrt: error: ") and message in err, err
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors"]


@pytest.mark.parametrize("case", ["missing", "pickle", "unknown kind", "not onnx", "unwritable", "exists",
                                  "opset", "atol"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(checkpoints, tmp_path, capsys, case):
    checkpoint, out, extra = checkpoints["dcgan", "trained"], tmp_path / "out" / "model.onnx", []
    expected = {
        "missing": "checkpoint not found",
        "pickle": "is not a genrt checkpoint",
        "unknown kind": "'unet' model; genrt export knows dcgan, cgan, vae",
        "not onnx": "the file name must end with .onnx",
        "unwritable": "cannot create the folder",
        "exists": "already exists; pass --overwrite",
        "opset": "--opset 11 is not supported",
        "atol": "--atol must be positive",
    }[case]
    if case == "missing":
        checkpoint = tmp_path / "nowhere.safetensors"
    elif case == "pickle":
        checkpoint = tmp_path / "pickled.safetensors"
        checkpoint.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif case == "unknown kind":
        checkpoint = tmp_path / "unet.safetensors"
        _checkpoint_of_unknown_kind(checkpoint)
    elif case == "not onnx":
        out = tmp_path / "model.pt"
    elif case == "unwritable":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "model.onnx"
    elif case == "exists":
        out.parent.mkdir()
        out.write_text("keep me")
    elif case == "opset":
        extra = ["--opset", "11"]
    elif case == "atol":
        extra = ["--atol", "0"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    status, _, err = run_cli("export", checkpoint, "-o", out, *extra, capsys=capsys)
    assert status == 2, err
    assert err.startswith("genrt: error: ") and expected in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_library_error_types(checkpoints, tmp_path):
    with pytest.raises(ModelError):
        export_checkpoint(tmp_path / "missing", str(tmp_path / "m.onnx"), log=quiet)


def test_export_optimizes_by_default_and_no_optimize_keeps_the_plain_graph(exported, checkpoints, tmp_path, capsys):
    result, folder = exported
    record = json.loads(Generator(result.files["fp32"], device="cpu").contract.metadata["genrt.optimized"])
    assert record["kept"] == result.optimized["kept"] and record["batch_sizes"] == [1, 8, 64]
    assert result.reports["fp32"].parity and all(p.max_abs <= 1e-4 for p in result.reports["fp32"].parity)
    plain = tmp_path / "plain.onnx"
    status, _, _ = run_cli("export", checkpoints["cgan", "trained"], "-o", plain, "--no-optimize", capsys=capsys)
    assert status == 0
    model = onnx.load(str(plain))
    assert "genrt.optimized" not in {p.key for p in model.metadata_props}
    assert [n.op_type for n in model.graph.node].count("ConvTranspose") == 3


def test_a_generator_that_outputs_nan_fails_verification(tmp_path, capsys):
    """Broken weights are a verification failure (exit 1, one line with the batch and the counts), not a crash."""
    config = TrainConfig(model="dcgan", out=str(tmp_path / "run"), **TINY)
    cfg = ModelConfig(kind="dcgan", image_shape=(1, 28, 28), latent_dim=config.latent_dim, ngf=config.ngf,
                      ndf=config.ndf)
    models = build_models(cfg)
    with torch.no_grad():
        next(models["generator"].parameters()).fill_(float("nan"))
    os.makedirs(config.out)
    path = os.path.join(config.out, "checkpoint.safetensors")
    data = {"source": "fake:48", "digest": "0" * 16, "images": 48, "image_shape": [1, 28, 28], "class_names": []}
    save_checkpoint(path, config, cfg, models, {}, {}, {"epoch": 0, "step": 0, "step_in_epoch": 0, "elapsed": 0.0},
                    data)
    status, _, err = run_cli("export", path, "-o", tmp_path / "out" / "nan.onnx", capsys=capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "batch 1: the output has non-finite values (PyTorch 784, onnxruntime 784 of 784)" in err
    assert not (tmp_path / "out").exists()
