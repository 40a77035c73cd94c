"""What `genrt bench` says about the machine: CPU model, GPU name and driver, memory in use.

Host memory is the process's peak resident set size (getrusage). GPU facts and
device memory come from NVML (libnvidia-ml.so, which ships with the NVIDIA
driver), loaded with ctypes when present: no extra Python package, and nothing
at all on a machine without an NVIDIA driver.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import sys


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_host_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class NVML:
    """The few NVML calls genrt needs; `NVML.open()` returns None without an NVIDIA driver."""

    def __init__(self, lib):
        self.lib = lib

    @classmethod
    def open(cls) -> NVML | None:
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
            if lib.nvmlInit_v2() != 0:
                return None
        except (OSError, AttributeError):
            return None
        return cls(lib)

    def _handle(self, index: int):
        handle = ctypes.c_void_p()
        if self.lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
            return None
        return handle

    def gpu(self, index: int = 0) -> dict | None:
        handle = self._handle(index)
        if handle is None:
            return None
        name, driver = ctypes.create_string_buffer(96), ctypes.create_string_buffer(80)
        self.lib.nvmlDeviceGetName(handle, name, 96)
        self.lib.nvmlSystemGetDriverVersion(driver, 80)
        return {"name": name.value.decode(), "driver": driver.value.decode(), "index": index}

    def used_mb(self, index: int = 0) -> float | None:
        handle, memory = self._handle(index), _Memory()
        if handle is None or self.lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != 0:
            return None
        return memory.used / 1e6


def device_index() -> int:
    """The GPU onnxruntime uses (device_id 0 of the visible devices)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else 0
