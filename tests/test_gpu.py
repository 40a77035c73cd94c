"""The CUDA path for real: needs onnxruntime-gpu with a usable CUDA provider (and for training, PyTorch on CUDA).

Every test here is marked `gpu`; conftest.py skips them, with the probe's reason, on a
machine where the CUDA provider cannot run a convolution. On an NVIDIA machine run
`python -m pytest -m gpu -q` (see README "GPU").
"""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import genrt.ext as ext
from genrt.runtime import Generator
from genrt.runtime.environment import default_model_path

pytestmark = pytest.mark.gpu
CUDA = "CUDAExecutionProvider"


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "genrt.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def dcgan64(tmp_path_factory):
    """A 64x64 DCGAN trained a few AMP steps on the GPU, then exported (and verified on CPU) by genrt export."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    root = tmp_path_factory.mktemp("dcgan64")
    run = cli("train", "dcgan", "--data", "fake:512", "--size", "64", "--channels", "3", "--steps", "20",
              "--batch-size", "64", "--device", "cuda", "--out", root / "run", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    exported = cli("export", root / "run", "-o", root / "dcgan64.onnx", "--fp16")
    assert exported.returncode == 0, exported.stderr[-2000:]
    return root


def test_cuda_runs_without_torch_loading_the_libraries():
    """Fix 1: genrt preloads pip's CUDA and cuDNN libraries itself; torch is never imported."""
    code = ("import sys; from genrt.runtime import Generator, default_model_path; "
            "g = Generator(default_model_path(), device='cuda'); g.sample(8, seed=0); "
            "print(g.providers[0], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [CUDA, "False"]


def test_info_says_cuda_ran_a_convolution():
    out = cli("info")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if CUDA in line)
    assert "ConvTranspose" in line


@pytest.mark.parametrize("batch", [1, 7, 64, 256])
def test_cpu_and_cuda_images_agree_within_one_level(batch):
    cpu = Generator(default_model_path(), device="cpu").sample(batch, seed=3)
    gpu = Generator(default_model_path(), device="cuda")
    assert gpu.providers[0] == CUDA
    images = gpu.sample(batch, seed=3)
    assert images.shape == cpu.shape and images.dtype == np.uint8
    assert np.abs(images.astype(int) - cpu).max() <= 1


def test_float_images_stay_on_the_device_until_they_are_uint8(dcgan64):
    """Fix 7: a plain export on CUDA converts on the GPU (to_uint8.onnx); the bytes match genrt.ext's conversion."""
    g = Generator(dcgan64 / "dcgan64.onnx", device="cuda")
    assert g._converter is not None and not g.uint8_output
    raw = g.decode(g.latents(16, seed=1), raw=True)
    np.testing.assert_array_equal(g.sample(16, seed=1), ext.to_uint8(raw, g.contract.output_range))


def test_graph_uint8_output_on_cuda(dcgan64, tmp_path):
    """The optimizer's in-graph image_u8 head, timed and verified on CUDA, used by the runtime there."""
    out = cli("optimize", dcgan64 / "dcgan64.onnx", "-o", tmp_path / "u8.onnx", "--uint8-output", "--device", "cuda")
    assert out.returncode == 0, out.stderr[-2000:]
    g = Generator(tmp_path / "u8.onnx", device="cuda")
    assert g.uint8_output and g._converter is None
    cpu = Generator(dcgan64 / "dcgan64.onnx", device="cpu").sample(32, seed=2)
    assert np.abs(g.sample(32, seed=2).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("batch", [1, 8, 64])
def test_cuda_graphs_replay_the_same_images(dcgan64, batch):
    plain = Generator(dcgan64 / "dcgan64.onnx", device="cuda")
    graphs = Generator(dcgan64 / "dcgan64.onnx", device="cuda", cuda_graph=True)
    expected = plain.sample(batch, seed=batch)
    for _ in range(3):  # capture, then replays with new latents copied into the graph's buffers
        np.testing.assert_array_equal(graphs.sample(batch, seed=batch), expected)
    assert not np.array_equal(graphs.sample(batch, seed=batch + 1), expected)


def test_cuda_graphs_are_safe_to_share_between_threads(dcgan64):
    g = Generator(dcgan64 / "dcgan64.onnx", device="cuda", cuda_graph=True)
    expected = {s: g.sample(8, seed=s) for s in range(6)}
    got = {}

    def work(seed):
        for _ in range(5):
            got[seed] = g.sample(8, seed=seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, images in expected.items():
        np.testing.assert_array_equal(got[seed], images)


def test_fp16_variant_on_cuda(dcgan64):
    fp32 = Generator(dcgan64 / "dcgan64.onnx", device="cpu").sample(64, seed=4)
    half = Generator(dcgan64 / "dcgan64.fp16.onnx", device="cuda")
    assert half.providers[0] == CUDA
    from genrt.spec import TOLERANCES

    assert np.abs(half.sample(64, seed=4).astype(int) - fp32).max() <= TOLERANCES["fp16"].levels


def test_export_verifies_on_cuda_with_tf32_off(dcgan64):
    """Fix 11: the same 1e-4 budget as on CPU holds on CUDA once TF32 is off."""
    from genrt.export.graph import inference_model, trace_batch
    from genrt.export.verify import verify
    from genrt.train.checkpoint import load_checkpoint

    ck = load_checkpoint(dcgan64 / "run")
    report = verify(str(dcgan64 / "dcgan64.onnx"), inference_model(ck), ck.model_config,
                    trace_batch=trace_batch(ck.model_config), providers=[CUDA, "CPUExecutionProvider"])
    assert report.providers[0] == CUDA


def test_bench_on_cuda_reports_host_and_device_baselines(dcgan64, tmp_path):
    """Fix 8 and 10: both bare targets, a real GPU memory peak, and CUDA graphs through the CLI."""
    report = tmp_path / "bench.json"
    out = cli("bench", dcgan64 / "dcgan64.onnx", "--device", "cuda", "--batch", "1,64", "--iters", "20",
              "--compare", "onnxruntime", "--compare", f"torch:{dcgan64 / 'run'}", "--cuda-graph", "--json", report)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["environment"]["provider"] == CUDA and data["environment"]["gpu"]["name"]
    targets = {(r["target"], r["batch"]) for r in data["results"]}
    assert {("genrt", 64), ("onnxruntime", 64), ("onnxruntime-device", 64), ("torch", 64)} <= targets
    assert all(r["peak_device_mb"] > 0 for r in data["results"])


def test_amp_training_steps_are_finite(dcgan64):
    rows = [json.loads(line) for line in (dcgan64 / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r["event"] == "step"]
    assert steps and all(np.isfinite([r["d_loss"], r["g_loss"]]).all() for r in steps)
    config = json.loads((dcgan64 / "run" / "config.json").read_text())
    assert config["train"]["amp"] is True


def test_tensorrt_says_what_is_missing_or_runs(tmp_path):
    import onnxruntime

    if "TensorrtExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime-gpu build has no TensorRT provider")
    from genrt.runtime.gpu import load_tensorrt

    missing = load_tensorrt()
    out = cli("sample", "--device", "tensorrt", "-n", "4", "-o", tmp_path / "grid.png")
    if missing:
        assert out.returncode == 2
        assert out.stderr.startswith("genrt: error: ") and "libnvinfer.so.10" in out.stderr
        assert "tensorrt-cu13-libs" in out.stderr and not (tmp_path / "grid.png").exists()
    else:
        assert out.returncode == 0, out.stderr
        assert (tmp_path / "grid.png").stat().st_size > 0
