"""What `genrt bench` says about the machine: CPU model, GPU name and driver, memory in use.

Host memory is the process's peak resident set size (getrusage). GPU facts and
device memory come from NVML (libnvidia-ml.so, which ships with the NVIDIA
driver), loaded with ctypes when present: no extra Python package, and nothing
at all on a machine without an NVIDIA driver.

Device memory is what NVML reports in use on the whole GPU (other processes
included), polled every few milliseconds while the targets run (`MemoryPoller`):
the peak seen, not a reading at two moments. The GPU is the one onnxruntime's
device 0 is: found by its PCI bus id from the CUDA runtime when that is loaded,
else from CUDA_VISIBLE_DEVICES (a UUID, or an index, which matches NVML's only in
PCI order: CUDA_DEVICE_ORDER=PCI_BUS_ID, or a single GPU).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import sys
import threading


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "avx512_bf16")  # what int8 and bf16 kernels use


def cpu_features() -> str:
    """Which of INT8_FEATURES this CPU reports (Linux's /proc/cpuinfo flags), as "a, b; no c, d"."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return "flags unknown"
    have = [x for x in INT8_FEATURES if x in flags]
    missing = [x for x in INT8_FEATURES if x not in flags]
    if not have:
        return "none of " + ", ".join(INT8_FEATURES)
    return ", ".join(have) + (f"; no {', '.join(missing)}" if missing else "")


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

    def handle(self, selector: tuple):
        """The device handle for ("pci", bus id) | ("uuid", text) | ("index", n), or None."""
        kind, value = selector
        handle = ctypes.c_void_p()
        if kind == "pci":
            status = self.lib.nvmlDeviceGetHandleByPciBusId_v2(value.encode(), ctypes.byref(handle))
        elif kind == "uuid":
            status = self.lib.nvmlDeviceGetHandleByUUID(value.encode(), ctypes.byref(handle))
        else:
            status = self.lib.nvmlDeviceGetHandleByIndex_v2(int(value), ctypes.byref(handle))
        return handle if status == 0 else None

    def gpu(self, selector: tuple) -> dict | None:
        handle = self.handle(selector)
        if handle is None:
            return None
        name, driver = ctypes.create_string_buffer(96), ctypes.create_string_buffer(80)
        self.lib.nvmlDeviceGetName(handle, name, 96)
        self.lib.nvmlSystemGetDriverVersion(driver, 80)
        return {"name": name.value.decode(), "driver": driver.value.decode(), "found_by": SELECTOR_NAMES[selector[0]],
                "id": str(selector[1])}

    def used_mb(self, handle) -> float | None:
        memory = _Memory()
        if handle is None or self.lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != 0:
            return None
        return memory.used / 1e6


SELECTOR_NAMES = {"pci": "PCI bus id from the CUDA runtime", "uuid": "UUID in CUDA_VISIBLE_DEVICES",
                  "index": "index in CUDA_VISIBLE_DEVICES (NVML order)"}


def cuda_device_selector(environ=os.environ, pci_bus_id: str | None = None) -> tuple:
    """How to find onnxruntime's device 0 in NVML: its PCI bus id when known, else CUDA_VISIBLE_DEVICES's first entry.

    An index there counts in CUDA's order, which is NVML's (PCI) order only with
    CUDA_DEVICE_ORDER=PCI_BUS_ID; it is used as is otherwise, the best guess left.
    """
    if pci_bus_id:
        return ("pci", pci_bus_id)
    first = environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return ("uuid", first)
    return ("index", int(first) if first.isdigit() else 0)


def cuda_pci_bus_id(device: int = 0) -> str | None:
    """The PCI bus id of CUDA device `device` from the CUDA runtime onnxruntime loaded (None when none is loaded)."""
    for name in ("libcudart.so.13", "libcudart.so.12"):
        try:
            # RTLD_NOLOAD: only a runtime already in the process (the one onnxruntime's provider loaded).
            cudart = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 0) | os.RTLD_LAZY)
        except OSError:
            continue
        text = ctypes.create_string_buffer(64)
        if cudart.cudaDeviceGetPCIBusId(text, 64, device) == 0:
            return text.value.decode()
    return None


class MemoryPoller:
    """In a thread, reads a GPU's memory in use every `interval` seconds; `peak_mb` is the highest reading."""

    def __init__(self, nvml: NVML, handle, interval: float = 0.005):
        self.nvml, self.handle, self.interval = nvml, handle, interval
        self.peak_mb = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="genrt-nvml", daemon=True)

    def _poll(self):
        while True:
            used = self.nvml.used_mb(self.handle)
            if used is not None and (self.peak_mb is None or used > self.peak_mb):
                self.peak_mb = used
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
