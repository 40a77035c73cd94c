"""What onnxruntime this machine has, and which execution providers really work here.

`onnxruntime.get_available_providers()` lists what a wheel was *built* with; a
CUDA provider listed there can still fall back to CPU at session creation when
the CUDA libraries or the GPU are missing, and a missing cuDNN shows only when a
convolution runs. `probe_providers()` loads the GPU libraries (gpu.py), opens the
bundled probe model (`probe.onnx`: Gemm, ConvTranspose, Tanh) with each provider,
reads back `get_providers()` and runs it, comparing the result with CPU's: a
provider is usable when it ran a convolution right, and only then.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from genrt.errors import ModelError
from genrt.runtime.gpu import (
    CUDA_HINT,
    CUDA_PROVIDER,
    GPU_PROVIDERS,
    TENSORRT_HINT,
    TENSORRT_PROVIDER,
    cuda_options,
    load_tensorrt,
    preload_cuda,
)
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.runtime.session import open_session

@dataclass(frozen=True)
class ProviderStatus:
    """One execution provider: listed by the wheel, and whether a session really got it."""

    name: str
    usable: bool
    detail: str


# The providers genrt knows how to use, best first. CPU is always last.
KNOWN_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


DEFAULT_MODEL = "default.onnx"


def default_model_path() -> str | None:
    """Path of the model bundled with genrt (a digits cGAN), or None in an install without one."""
    resource = importlib.resources.files("genrt.runtime").joinpath(DEFAULT_MODEL)
    return str(resource) if resource.is_file() else None


def _probe_model_bytes() -> bytes:
    return importlib.resources.files("genrt.runtime").joinpath("probe.onnx").read_bytes()


PROBE_INPUT = np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(1, 8)
PROBE_ATOL = 1e-2  # TF32 and fp16 accumulation stay far inside this; a wrong kernel does not


def probe_providers(ort: ModuleType | None = None) -> list[ProviderStatus]:
    """Try each provider the wheel lists (and the ones genrt uses) on the bundled probe model."""
    ort = ort or import_onnxruntime()
    available = ort.get_available_providers()
    names = list(KNOWN_PROVIDERS) + [p for p in available if p not in KNOWN_PROVIDERS]
    return [probe_provider(name, ort) if name in available
            else ProviderStatus(name, False, "not in this onnxruntime build" + _build_hint(name)) for name in names]


def gpu_problem(name: str, ort: ModuleType) -> str | None:
    """Why provider `name` cannot run genrt's models here (None: it can); probed once per process."""
    if name not in ort.get_available_providers():
        return f"this onnxruntime build has no {name.removesuffix('ExecutionProvider')} provider{_build_hint(name)}"
    status = probe_provider(name, ort)
    return None if status.usable else status.detail


def _build_hint(name: str) -> str:
    if name in GPU_PROVIDERS:
        return " (a CPU wheel; for NVIDIA GPUs: pip install 'genrt[gpu]' instead of 'genrt[cpu]')"
    return ""


@functools.cache
def probe_provider(name: str, ort: ModuleType) -> ProviderStatus:
    """Provider `name` on the probe model: did the session get it, and did it compute what CPU computes."""
    missing = list(preload_cuda(ort)) if name in GPU_PROVIDERS else []
    if name == TENSORRT_PROVIDER:
        absent = load_tensorrt()
        if absent:
            return ProviderStatus(name, False, f"TensorRT 10 libraries not found ({', '.join(absent)}); "
                                               f"{TENSORRT_HINT}")
    missing_note = f"; libraries that did not load: {', '.join(missing)} ({CUDA_HINT})" if missing else ""
    options = {CUDA_PROVIDER: cuda_options(), TENSORRT_PROVIDER: {}}.get(name)
    model = _probe_model_bytes()
    try:
        session = open_session(model, [(name, options) if options is not None else name], name="the probe model")
    except ModelError as exc:
        return ProviderStatus(name, False, f"session creation failed: {first_line(exc.__cause__ or exc)}"
                                           f"{missing_note}")
    got = session.get_providers()
    if name not in got:
        return ProviderStatus(name, False, f"listed by the wheel but the session fell back to {', '.join(got)} "
                                           f"(no GPU, or CUDA libraries missing){missing_note}")
    try:
        result = session.run(None, {"x": PROBE_INPUT})[0]
    except Exception as exc:  # cuDNN or cuBLAS missing or broken: onnxruntime's Fail at the first kernel
        return ProviderStatus(name, False, f"the session started but its first convolution failed: "
                                           f"{first_line(exc)}{missing_note or ' (cuDNN 9 missing or broken?)'}")
    reference = result if name == "CPUExecutionProvider" else _cpu_probe_output()
    worst = float(np.max(np.abs(result - reference))) if result.shape == reference.shape else float("inf")
    if not worst <= PROBE_ATOL:
        return ProviderStatus(name, False, f"ran the probe model but computed wrong values (max difference "
                                           f"{worst:.3g} from CPU); check the GPU driver")
    if name not in KNOWN_PROVIDERS:  # Azure and the like: the session gets them, the convolution runs elsewhere
        return ProviderStatus(name, True, "the session gets it (genrt does not use it)")
    return ProviderStatus(name, True, "usable (ran a ConvTranspose)")


@functools.cache
def _cpu_probe_output() -> np.ndarray:
    session = open_session(_probe_model_bytes(), ["CPUExecutionProvider"], name="the probe model")
    output: np.ndarray = session.run(None, {"x": PROBE_INPUT})[0]
    return output
