"""The onnxruntime module, imported in one place: an import failure names the extra to install (or the
clashing wheels), and onnxruntime's many-line errors are cut to their first line for genrt's messages."""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from genrt.errors import DependencyError

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
    "pip install 'genrt[cpu]' (CPU) or pip install 'genrt[gpu]' (NVIDIA, CUDA 13 + cuDNN 9)"
)


def import_onnxruntime() -> ModuleType:
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


def onnxruntime_errors(ort: ModuleType) -> tuple[type[Exception], ...]:
    """The exception types onnxruntime raises for a model it cannot load or run (Fail, InvalidArgument, ...)."""
    state = getattr(getattr(ort, "capi", None), "onnxruntime_pybind11_state", None)
    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)) if state else ()


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
