"""What onnxruntime this machine has, and which execution providers really work here.

`onnxruntime.get_available_providers()` lists what a wheel was *built* with; a
CUDA provider listed there can still fall back to CPU at session creation when
the CUDA or cuDNN libraries or the GPU are missing. `probe_providers()` opens a
tiny bundled identity model (`probe.onnx`) with each provider and reads back
`get_providers()`, which is the only reliable answer.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
from dataclasses import dataclass

from genrt.errors import DependencyError, ModelError

# Distributions that all install the same `onnxruntime` module; two at once break each other.
ONNXRUNTIME_WHEELS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-qnn",
)

INSTALL_HINT = (
    "install one onnxruntime wheel through genrt's extras: "
    "pip install 'genrt[cpu]' (CPU) or pip install 'genrt[gpu]' (NVIDIA CUDA 12/13 + cuDNN 9)"
)


def import_onnxruntime():
    """Return the onnxruntime module, or raise DependencyError naming the extra to install."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        wheels = installed_onnxruntime_wheels()
        if len(wheels) > 1:
            raise DependencyError(
                f"onnxruntime fails to import ({exc}) and several onnxruntime wheels are installed "
                f"({', '.join(wheels)}), which break each other; uninstall all of them, then {INSTALL_HINT}"
            ) from exc
        raise DependencyError(f"onnxruntime is not importable ({exc}); {INSTALL_HINT}") from exc


def first_line(exc: BaseException) -> str:
    """The first line of an onnxruntime error (its messages run to many lines), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def installed_onnxruntime_wheels() -> list[str]:
    """Names (with versions) of the installed distributions that provide `onnxruntime`."""
    found = []
    for name in ONNXRUNTIME_WHEELS:
        try:
            found.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


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


def probe_providers(ort=None) -> list[ProviderStatus]:
    """Try each provider the wheel lists (and the ones genrt uses) on the bundled identity model."""
    ort = ort or import_onnxruntime()
    available = ort.get_available_providers()
    model = _probe_model_bytes()
    names = list(KNOWN_PROVIDERS) + [p for p in available if p not in KNOWN_PROVIDERS]
    statuses = []
    for name in names:
        if name not in available:
            statuses.append(ProviderStatus(name, False, "not in this onnxruntime build" + _build_hint(name)))
            continue
        statuses.append(_try_provider(model, name))
    return statuses


def _build_hint(name: str) -> str:
    if name in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        return " (a CPU wheel; for NVIDIA GPUs: pip install 'genrt[gpu]' instead of 'genrt[cpu]')"
    return ""


def _try_provider(model: bytes, name: str) -> ProviderStatus:
    from genrt.runtime.session import open_session  # session.py imports this module

    try:
        session = open_session(model, [name], name="the probe model")
    except ModelError as exc:
        return ProviderStatus(name, False, f"session creation failed: {first_line(exc.__cause__ or exc)}")
    got = session.get_providers()
    if name in got:
        return ProviderStatus(name, True, "usable")
    return ProviderStatus(
        name,
        False,
        f"listed by the wheel but the session fell back to {', '.join(got)} "
        "(no GPU, or CUDA/cuDNN libraries missing from the library path)",
    )
