"""The install extras: one onnxruntime wheel per extra, and a torch-free GPU install that has every CUDA library."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

def extras() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]


def test_cpu_and_gpu_extras_name_one_onnxruntime_wheel_each():
    found = extras()
    assert [r for r in found["cpu"] if r.startswith("onnxruntime")] == ["onnxruntime>=1.20"]
    assert not any(r.startswith("onnxruntime") for r in found["gpu"] if not r.startswith("onnxruntime-gpu"))
    for name, requirements in found.items():
        wheels = {r.split("[")[0].split(">")[0].split("=")[0] for r in requirements if r.startswith("onnxruntime")}
        assert len(wheels) <= 1, f"extra {name} installs {wheels}, which break each other"


def test_gpu_extra_brings_cuda_13_cudnn_and_cublas():
    """onnxruntime-gpu's CUDA provider links libcublasLt/libcublas.so.13; its `cuda` extra does not bring them."""
    gpu = extras()["gpu"]
    wheel = next(r for r in gpu if r.startswith("onnxruntime-gpu"))
    assert wheel.startswith("onnxruntime-gpu[cuda,cudnn]>=1.31")  # the CUDA 13 builds, with their CUDA packages
    assert "nvidia-cublas>=13,<14" in gpu
