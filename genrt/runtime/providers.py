"""Where sessions run: `providers_for(device)` (the one rule from a device to execution providers, used by the
runtime, optimize and export's verification), a Generator's session, and the GPU's uint8 conversion session.

A GPU provider is used only after genrt's probe ran a convolution on it
(environment.probe_provider). `device="auto"` falls back to CPU; where a GPU was
expected (the onnxruntime build has a CUDA provider) it says why with a
ProviderFallbackWarning, and with a CPU wheel it runs on CPU quietly, as asked for by
installing one. `cuda` and `tensorrt` are refused instead, in one line. TensorRT gets an engine cache keyed by the file's content and a batch profile.
"""

from __future__ import annotations

import importlib.resources
import os
import warnings
from types import ModuleType
from typing import Any

from genrt.errors import InputError, ModelError
from genrt.runtime import gpu
from genrt.runtime.contract import Contract
from genrt.runtime.environment import gpu_problem
from genrt.runtime.ort import import_onnxruntime
from genrt.runtime.gpu import CUDA_PROVIDER, GPU_PROVIDERS, TENSORRT_PROVIDER
from genrt.runtime.onnxfile import check_external_data, graph_inputs
from genrt.runtime.session import open_session


class ProviderFallbackWarning(RuntimeWarning):
    """device="auto" on an onnxruntime build with a GPU provider, and the session runs on CPU instead."""


def providers_for(device: str, exact: bool = False, cuda_graph: bool = False) -> list[str | tuple[str, dict[str, Any]]]:
    """The execution providers of a session on `device` ("cpu", or "cuda" with CPU after it for the nodes CUDA
    lacks). `exact`: TF32 off, so that a comparison with CPU float32 measures the graph, not TF32 (verification).
    InputError when `cuda` is asked for and genrt's probe found no usable GPU."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device != "cuda":
        raise InputError(f"device must be cpu or cuda here, got {device!r}")
    why = gpu_problem(CUDA_PROVIDER, import_onnxruntime())
    if why is not None:
        raise InputError(f"`device` cuda: {why}; use `device` cpu")
    return gpu.cuda_providers(exact=exact, cuda_graph=cuda_graph)


def open_generator_session(path: str, device: str, threads: int | None, spinning: bool, cuda_graph: bool,
                           batch_size: int) -> Any:
    """A Generator's session on the best usable provider for `device`: a GPU one only after the probe ran a
    convolution on it (environment.probe_provider); `auto` falls back to CPU, with a ProviderFallbackWarning
    where the build has a GPU provider.
    On TensorRT, `batch_size` is the largest batch of its optimization profile."""
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    wants_gpu = device in ("auto", "cuda", "tensorrt")
    why = gpu_problem(CUDA_PROVIDER, ort) if wants_gpu else None
    if why is not None:
        if device != "auto":
            raise InputError(f"device='{device}' requested but {why}; use device='cpu' or 'auto'")
        if CUDA_PROVIDER in available:  # a GPU build: a GPU was expected
            warnings.warn(f"genrt: running {path} on CPU: {why}", ProviderFallbackWarning, stacklevel=3)
    if cuda_graph and (device == "cpu" or why is not None or device == "tensorrt"):
        where = "TensorRT" if device == "tensorrt" else "CPU"
        raise InputError(f"`cuda_graph` needs the CUDA provider (device cuda or auto on a usable GPU); this "
                         f"session would run on {where}")
    providers: list[str | tuple[str, dict[str, Any]]] = []
    if device == "tensorrt":
        providers.append((TENSORRT_PROVIDER, _tensorrt_options(path, ort, available, batch_size)))
    providers += providers_for("cuda" if wants_gpu and why is None else "cpu", cuda_graph=cuda_graph)
    session = open_session(path, providers, threads=threads, spinning=spinning)
    got = session.get_providers()
    if device == "tensorrt" and TENSORRT_PROVIDER not in got:
        raise InputError("device='tensorrt' requested but the TensorRT provider did not start; run `genrt info`, "
                         "or use device='cuda'")
    if wants_gpu and why is None and CUDA_PROVIDER not in got:  # the probe ran, this model did not get the GPU
        raise ModelError(f"{path}: the CUDA provider passed genrt's probe but this session fell back to "
                         f"{', '.join(got)}; run `genrt info`")
    return session


def _tensorrt_options(path: str, ort: ModuleType, available: list[str], batch_size: int) -> dict[str, Any]:
    """TensorRT's options for this file (gpu.tensorrt_options), or InputError saying what is missing."""
    if TENSORRT_PROVIDER not in available:
        raise InputError("device='tensorrt' requested but this onnxruntime build has no TensorRT provider "
                         "(install genrt[gpu]); use device='cuda' or 'auto'")
    missing = gpu.load_tensorrt()
    if missing:
        raise InputError(f"device='tensorrt' requested but TensorRT 10 libraries were not found "
                         f"({', '.join(missing)}): {gpu.TENSORRT_HINT}; or use device='cuda'")
    inputs = graph_inputs(path)
    profile = gpu.batch_profile(inputs, max_batch=batch_size, opt_batch=batch_size)
    options = gpu.tensorrt_options(path, check_external_data(path), profile)
    os.makedirs(options["trt_engine_cache_path"], exist_ok=True)
    return options


def uint8_converter(providers: tuple[str, ...], contract: Contract, uint8_output: bool) -> Any:
    """On a GPU, a session of genrt's to_uint8 graph that converts float images where they are (None elsewhere).

    Used when the model has no `image_u8` output of its own: the float images then
    never cross to the host, only their uint8 bytes do (4x fewer), and the CPU
    converts nothing. float16 outputs keep the host path (they cross at 2 bytes a value).
    """
    c = contract
    if providers[0] not in GPU_PROVIDERS or uint8_output or c.image_shape is None or c.image_float16:
        return None
    graph = importlib.resources.files("genrt.runtime").joinpath("to_uint8.onnx").read_bytes()
    return open_session(graph, gpu.cuda_providers(),
                        name="genrt's uint8 conversion graph")
