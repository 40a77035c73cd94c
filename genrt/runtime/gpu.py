"""What a GPU session needs before and around it: the CUDA and TensorRT libraries, and provider options.

Libraries. onnxruntime-gpu links CUDA libraries (libcublasLt.so.13, libcublas.so.13,
libcurand.so.10, libcudart.so.13) and loads cuDNN 9 at run time. pip's `nvidia-*`
packages put them in site-packages, where the dynamic loader never looks; `import
torch` happens to load them, but genrt's runtime never imports torch. So before the
first CUDA session genrt calls `onnxruntime.preload_dlls()` once (`preload_cuda`),
keeping its printed complaints and turning them into the names of what is missing.
TensorRT's provider needs TensorRT 10 (`libnvinfer.so.10`, `libnvonnxparser.so.10`);
`load_tensorrt` loads them from pip's `tensorrt_libs` package or the loader's path.

Options, one place for each rule:
- CUDA: heuristic cuDNN algorithm choice (the exhaustive search costs seconds at the
  first run); `tf32=False` for verification, because TF32 matmuls and convolutions
  differ from CPU float32 by about 1e-3, above export verification's 1e-4.
- TensorRT: engines cached per model *content* (onnxruntime's engine id hashes names
  and versions, not weights, so two models of one architecture would share an
  engine), and one optimization profile from batch 1 to the largest batch in use,
  so a new batch size does not rebuild the engine.
- CUDA graphs: one session, one graph per batch size, chosen per run by `gpu_graph_id`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import io
import os
import re
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from genrt.files import cache_dir, file_sha256

CUDA_PROVIDER, TENSORRT_PROVIDER = "CUDAExecutionProvider", "TensorrtExecutionProvider"
GPU_PROVIDERS = (TENSORRT_PROVIDER, CUDA_PROVIDER)
# {input name: (min shape, opt shape, max shape)}: a TensorRT optimization profile.
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10")
TENSORRT_HINT = ("install TensorRT 10 for CUDA 13: pip install 'tensorrt-cu13-libs>=10.13,<11' (onnxruntime-gpu's "
                 "TensorRT provider is built against TensorRT 10), or put NVIDIA's TensorRT 10 libraries on "
                 "LD_LIBRARY_PATH")
CUDA_HINT = "install them with pip install 'genrt[gpu]' (CUDA 13 and cuDNN 9 from pip; NVIDIA driver 580 or newer)"


@functools.cache
def preload_cuda(ort: ModuleType) -> tuple[str, ...]:
    """Load the CUDA and cuDNN libraries onnxruntime-gpu needs, once per process; the names that failed to load.

    A CPU wheel of onnxruntime needs nothing and returns (). onnxruntime prints each
    failure ("Failed to load NAME: why") to stdout, where it would mix with what genrt
    writes there (a PNG on `-o -`); the text is kept and the names are returned instead.
    """
    if CUDA_PROVIDER not in ort.get_available_providers() or not hasattr(ort, "preload_dlls"):
        return ()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            ort.preload_dlls(cuda=True, cudnn=True, msvc=False)
        except Exception as exc:  # a RuntimeError for a missing directory, OSError from ctypes
            text = str(exc).strip()
            return (f"onnxruntime.preload_dlls failed: {text.splitlines()[0] if text else type(exc).__name__}",)
    return tuple(os.path.basename(name) for name in re.findall(r"Failed to load (\S+?):", printed.getvalue()))


def load_tensorrt() -> list[str]:
    """Load TensorRT 10's libraries (pip's `tensorrt_libs` folder first, then the loader's path); the ones missing."""
    folders = []
    spec = importlib.util.find_spec("tensorrt_libs")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        folders = list(spec.submodule_search_locations)
    missing = []
    for name in TENSORRT_LIBRARIES:
        paths = [os.path.join(folder, name) for folder in folders]
        candidates = [p for p in paths if os.path.isfile(p)] + [name]
        if not any(_loads(candidate) for candidate in candidates):
            missing.append(name)
    return missing


def _loads(library: str) -> bool:
    try:
        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def cuda_options(tf32: bool = True, cuda_graph: bool = False) -> dict[str, str]:
    """CUDA provider options: heuristic cuDNN algorithms; TF32 off for verification; CUDA graphs on request."""
    options = {"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "1"}
    if not tf32:
        options["use_tf32"] = "0"
    if cuda_graph:
        options["enable_cuda_graph"] = "1"
    return options


def cuda_providers(exact: bool = False, cuda_graph: bool = False) -> list[str | tuple[str, dict[str, Any]]]:
    """The CUDA provider with CPU after it for the nodes CUDA lacks; `exact` turns TF32 off (cuda_options)."""
    return [(CUDA_PROVIDER, cuda_options(tf32=not exact, cuda_graph=cuda_graph)), "CPUExecutionProvider"]


def model_key(path: str, external: Sequence[str] = ()) -> str:
    """16 hex digits of the sha256 of the model file and its external-data files: a content key, not a name."""
    digest = hashlib.sha256(file_sha256(path).encode())
    folder = os.path.dirname(os.path.abspath(path))
    for location in sorted(set(external)):
        digest.update(location.encode() + b"\0" + file_sha256(os.path.join(folder, location)).encode())
    return digest.hexdigest()[:16]


def tensorrt_options(path: str, external: Sequence[str], profile: Profile | None) -> dict[str, str]:
    """TensorRT provider options: engine and timing caches in $GENRT_CACHE/tensorrt/<model key>, and `profile`.

    `profile` is {input name: (min shape, opt shape, max shape)} for the inputs with a
    dynamic batch, or None for a graph whose shapes are all fixed.
    """
    cache = cache_dir("tensorrt", model_key(path, external))
    options = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": cache,
               "trt_timing_cache_enable": "True", "trt_timing_cache_path": cache}
    if profile:
        for index, key in enumerate(("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")):
            options[key] = ",".join(f"{name}:{'x'.join(str(d) for d in shapes[index])}"
                                    for name, shapes in profile.items())
    return options


def batch_profile(inputs: Iterable[tuple[str, Sequence[int | str | None]]], max_batch: int,
                  opt_batch: int) -> Profile | None:
    """{name: (min, opt, max) shapes} for graph inputs (name, dims) whose only dynamic dimension is the first.

    None when no input has a dynamic batch (TensorRT then needs no profile) or when
    another dimension is dynamic too (genrt cannot know its range; TensorRT's own
    shape handling applies).
    """
    profile: Profile = {}
    for name, dims in inputs:
        if not dims or isinstance(dims[0], int):
            continue
        rest = tuple(d for d in dims[1:] if isinstance(d, int) and d > 0)
        if len(rest) != len(dims) - 1:
            return None
        profile[name] = ((1, *rest), (opt_batch, *rest), (max_batch, *rest))
    return profile or None


NO_GRAPH = -1  # a run of a CUDA-graph session that neither captures nor replays (host inputs allowed)


def graph_run_options(ort: ModuleType, graph_id: int) -> Any:
    """RunOptions that replay (or on its first use capture) CUDA graph `graph_id` of a session opened with
    cuda_options(cuda_graph=True); one graph per batch size, because a graph replays fixed shapes and addresses.
    NO_GRAPH runs that session plainly."""
    if graph_id < 1 and graph_id != NO_GRAPH:
        raise ValueError("CUDA graph ids start at 1 (onnxruntime reserves 0; -1 is a plain run)")
    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", str(graph_id))
    return options
