"""genrt bench on real models: report fields, statistics, compare targets, files, errors."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from onnx_models import build_generator
from PIL import Image

from genrt.bench import BenchConfig, latency_stats
from genrt.bench.core import _time_targets
from genrt.bench.report import CSV_COLUMNS
from genrt.bench.stats import FIELDS
from genrt.cli import main
from genrt.files import file_sha256


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return str(build_generator(root / "cgan.onnx", latent_dim=8, image_shape=(1, 6, 5), num_classes=4,
                               class_names=list("abcd")))


def run_cli(*args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_report_files_hold_every_field_for_every_batch(model, tmp_path, capsys):
    j, c, p = tmp_path / "bench.json", tmp_path / "bench.csv", tmp_path / "bench.png"
    status, out, err = run_cli("bench", model, "--device", "cpu", "--batch", "1,3,8", "--iters", "6", "--warmup",
                               "1", "--compare", "onnxruntime", "--json", j, "--csv", c, "--plot", p, "--raw",
                               capsys=capsys)
    assert status == 0, err
    assert "genrt takes" in out and "latents" in out and "PNG grid" in out

    report = json.loads(j.read_text())
    assert report["schema"] == "genrt.bench/1"
    env = report["environment"]
    for key in ("genrt", "onnxruntime", "numpy", "provider", "providers", "cpu", "logical_cpus", "threads", "ext"):
        assert env[key] not in (None, "", []), key
    assert env["provider"] == "CPUExecutionProvider" and env["gpu"] is None
    assert report["model"]["sha256"] == file_sha256(model) and report["model"]["kind"] == "cgan"
    assert report["phases"]["session_create_ms"] > 0 and report["phases"]["first_run_ms"] > 0
    rows = report["results"]
    assert [(r["target"], r["batch"]) for r in rows] == [(t, b) for b in (1, 3, 8) for t in ("genrt", "onnxruntime")]
    for row in rows:
        assert row["iters"] == 6 and len(row["raw_ms"]) == 6
        assert set(row["latency_ms"]) == set(FIELDS)
        assert row["latency_ms"]["min"] <= row["latency_ms"]["p50"] <= row["latency_ms"]["max"]
        assert row["images_per_s"] == pytest.approx(row["batch"] / row["latency_ms"]["mean"] * 1e3)
        assert row["peak_host_mb"] > 0 and row["peak_device_mb"] is None
        if row["target"] == "genrt":
            assert set(row["stages_ms"]) == {"latents", "inference", "to_uint8", "png_grid"}
            assert all(v > 0 for v in row["stages_ms"].values())
        else:
            assert row["genrt_time_ratio"] > 0

    table = list(csv.DictReader(io.StringIO(c.read_text())))
    assert list(table[0]) == CSV_COLUMNS and len(table) == 6
    for line, row in zip(table, rows):
        assert (line["target"], int(line["batch"])) == (row["target"], row["batch"])
        assert float(line["p99_ms"]) == pytest.approx(row["latency_ms"]["p99"])
        assert (line["latents_ms"] != "") == (row["target"] == "genrt")

    with Image.open(p) as picture:
        assert picture.format == "PNG" and picture.size[0] > 500


def test_percentiles_are_numpys(model, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert run_cli("bench", model, "--device", "cpu", "--batch", "2", "--iters", "25", "--warmup", "0", "--raw",
                   "--json", out, capsys=capsys)[0] == 0
    (row,) = json.loads(out.read_text())["results"]
    raw = np.array(row["raw_ms"])
    expected = {"mean": raw.mean(), "std": raw.std(), "min": raw.min(), "max": raw.max(),
                **{f"p{q}": np.percentile(raw, q) for q in (50, 90, 95, 99)}}
    for key, value in expected.items():
        assert row["latency_ms"][key] == pytest.approx(value, rel=1e-9), key


def test_latency_stats_on_known_values():
    stats = latency_stats(np.arange(1, 101) / 1e3)  # 1 .. 100 ms
    assert stats["min"] == 1 and stats["max"] == 100 and stats["mean"] == 50.5
    assert stats["p50"] == 50.5 and stats["p90"] == pytest.approx(90.1) and stats["p99"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        latency_stats([])


def test_targets_take_turns_in_a_seeded_order_round_by_round():
    """Each round calls every target once, in an order shuffled each round (genrt.timing), the same every run."""
    def run():
        calls = []
        targets = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": lambda: calls.append("c")}
        samples, device_peak = _time_targets(targets, BenchConfig(model="unused.onnx", iters=12, warmup=0), None,
                                             None, 0)
        assert {k: len(v) for k, v in samples.items()} == {"a": 12, "b": 12, "c": 12} and device_peak is None
        return calls

    calls = run()
    rounds = [tuple(calls[i : i + 3]) for i in range(0, len(calls), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds) and len(set(rounds)) > 1
    assert run() == calls


def test_compare_with_pytorch_eager(tmp_path, capsys):
    pytest.importorskip("torch")
    from genrt.export import export_checkpoint
    from genrt.train import TrainConfig, train

    config = TrainConfig(model="cgan", data="fake:32", batch_size=16, ngf=8, ndf=8, latent_dim=16, steps=2,
                         out=str(tmp_path / "run"))
    checkpoint = train(config, progress=False, log=lambda m: None)["checkpoint"]
    path = str(tmp_path / "m.onnx")
    export_checkpoint(checkpoint, path, log=lambda m: None)
    out = tmp_path / "b.json"
    status, text, err = run_cli("bench", path, "--device", "cpu", "--batch", "1,4", "--iters", "3", "--warmup", "1",
                                "--compare", "onnxruntime", "--compare", f"torch:{checkpoint}", "--json", out,
                                capsys=capsys)
    assert status == 0, err
    rows = json.loads(out.read_text())["results"]
    assert [(r["target"], r["batch"]) for r in rows] == [(t, b) for b in (1, 4) for t in ("genrt", "onnxruntime",
                                                                                          "torch")]
    assert all(r["genrt_time_ratio"] > 0 for r in rows if r["target"] != "genrt")
    assert "x faster" in text

    other = TrainConfig(model="cgan", data="fake:32", batch_size=16, ngf=8, ndf=8, latent_dim=12, steps=1,
                        out=str(tmp_path / "other"))
    mismatched = train(other, progress=False, log=lambda m: None)["checkpoint"]
    status, _, err = run_cli("bench", path, "--device", "cpu", "--iters", "1", "--compare", f"torch:{mismatched}",
                             capsys=capsys)
    assert status == 2 and "is not the one in" in err and len(err.strip().splitlines()) == 1


def test_variant_selects_the_sibling_file(model, tmp_path, capsys):
    main_file = tmp_path / "g.onnx"
    main_file.write_bytes(open(model, "rb").read())
    (tmp_path / "g.fp16.onnx").write_bytes(open(model, "rb").read())
    out = tmp_path / "b.json"
    assert run_cli("bench", main_file, "--variant", "fp16", "--device", "cpu", "--batch", "1", "--iters", "2",
                   "--json", out, capsys=capsys)[0] == 0
    assert json.loads(out.read_text())["model"]["path"].endswith("g.fp16.onnx")


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "--batch sizes must be at least 1"),
    (["--batch", "1,x"], "--batch must be comma-separated integers"),
    (["--device", "tpu"], "Invalid value for '--device'"),
    (["--device", "cuda"], "device='cuda' requested but"),
    (["--iters", "3", "--seconds", "1"], "give --iters or --seconds, not both"),
    (["--iters", "0"], "--iters must be from 1 to 1,000,000, got 0"),
    (["--compare", "tensorflow"], "--compare 'tensorflow': use onnxruntime, onnxruntime:OTHER.onnx or torch:CHECKPOINT"),
    (["--cuda-graph", "--compare", "onnxruntime"], "--cuda-graph needs the CUDA provider"),
    (["--variant", "int8"], "--variant int8:"),
    (["--plot", "latency.jpg"], "the file name must end with .png"),
    (["MISSING"], "model file not found"),
])
def test_bad_arguments_are_one_line_exit_2(model, tmp_path, capsys, monkeypatch, args, message):
    import onnxruntime

    if args[:2] == ["--device", "cuda"] and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine's wheel has CUDA")
    monkeypatch.chdir(tmp_path)
    target = [str(tmp_path / "missing.onnx")] if args == ["MISSING"] else [model, *args]
    status, out, err = run_cli("bench", *target, "--iters", "1", "--json", "r.json", capsys=capsys) if (
        "--iters" not in args and "--seconds" not in args) else run_cli("bench", *target, "--json", "r.json",
                                                                        capsys=capsys)
    assert status == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("genrt: error: ") and message in last
    assert list(tmp_path.iterdir()) == []


def test_bench_never_imports_torch(model):
    code = ("import sys; from genrt.cli import main; "
            f"status = main(['bench', {model!r}, '--device', 'cpu', '--batch', '1', '--iters', '2', "
            "'--compare', 'onnxruntime']); "
            "assert status == 0; assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_compare_with_another_file_of_the_same_generator(model, tmp_path, capsys):
    """--compare onnxruntime:OTHER.onnx times a bare run of another file (the plain export) beside genrt."""
    out = tmp_path / "b.json"
    status, text, err = run_cli("bench", model, "--device", "cpu", "--batch", "1,4", "--iters", "4", "--warmup", "1",
                                "--compare", f"onnxruntime:{model}", "--json", out, capsys=capsys)
    assert status == 0, err
    rows = json.loads(out.read_text())["results"]
    targets = ("genrt", "onnxruntime:cgan.onnx")
    assert [(r["target"], r["batch"]) for r in rows] == [(t, b) for b in (1, 4) for t in targets]
    assert all(r["genrt_time_ratio"] > 0 for r in rows if r["target"] != "genrt")
    assert "onnxruntime:cgan.onnx" in text and "faster" in text
    other = build_generator(tmp_path / "other.onnx", latent_dim=5)
    status, _, err = run_cli("bench", model, "--device", "cpu", "--compare", f"onnxruntime:{other}", "--iters", "1",
                             capsys=capsys)
    assert status == 2 and err.startswith("genrt: error: --compare onnxruntime:") and "same generator" in err
    status, _, err = run_cli("bench", model, "--device", "cpu", "--compare", f"onnxruntime:{tmp_path / 'nope.onnx'}",
                             capsys=capsys)
    assert status == 2 and "not found" in err


def test_bare_targets_feed_a_float16_latent_graph_its_own_dtype(tmp_path, capsys):
    """A graph whose latent input is float16 (a Cast to float32 inside): the bare targets feed it float16."""
    import onnx
    from onnx import TensorProto, helper

    plain = onnx.load(build_generator(tmp_path / "plain.onnx", latent_dim=8, image_shape=(1, 4, 4)))
    z = plain.graph.input[0]
    half_name = "z16"
    plain.graph.node.insert(0, helper.make_node("Cast", [half_name], [z.name], to=TensorProto.FLOAT))
    dims = [d.dim_param or d.dim_value for d in z.type.tensor_type.shape.dim]
    plain.graph.input[0].CopyFrom(helper.make_tensor_value_info(half_name, TensorProto.FLOAT16, dims))
    del plain.metadata_props[:]  # a foreign file: the contract is read from the signature
    path = tmp_path / "half_latent.onnx"
    onnx.save(plain, path)
    status, out, err = run_cli("bench", path, "--device", "cpu", "--batch", "2", "--iters", "3", "--warmup", "1",
                               "--compare", "onnxruntime", "--compare", f"onnxruntime:{tmp_path / 'plain.onnx'}",
                               capsys=capsys)
    assert status == 0, err
    assert "onnxruntime:plain.onnx" in out and "genrt takes" in out


def test_a_target_failing_mid_run_is_one_line():
    from genrt.bench.core import _call
    from genrt.errors import ModelError

    def broken():
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : graph replay failed\nstack trace line")

    with pytest.raises(ModelError, match=r"^benchmark target onnxruntime-device failed: \[ONNXRuntimeError\].*replay "
                                         r"failed$"):
        _call("onnxruntime-device", broken)


def test_the_cpu_features_line_names_each_int8_feature_once_as_present_or_missing():
    from genrt.bench.system import INT8_FEATURES, cpu_features

    with open("/proc/cpuinfo") as f:
        flags = next(set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags"))
    line = cpu_features()
    have, _, missing = line.partition("; no ")
    named = [x for part in (have, missing) for x in part.split(", ") if x]
    if not any(x in flags for x in INT8_FEATURES):
        assert line.startswith("none of ")
    else:
        assert sorted(named) == sorted(INT8_FEATURES)
        assert all((x in flags) == (x in have.split(", ")) for x in INT8_FEATURES)
