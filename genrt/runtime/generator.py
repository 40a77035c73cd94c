"""`Generator`: one onnxruntime session serving one generator ONNX file. No torch, ever.

    from genrt.runtime import Generator
    g = Generator("model.onnx")                 # device="auto": CUDA when usable, else CPU (with a warning)
    images = g.sample(64, seed=0)               # uint8 N x H x W x C
    grid = genrt.ext.make_grid(images, nrow=8)  # uint8 H' x W' x C

Reproducibility: latents come from numpy.random.default_rng(seed).standard_normal
((n, latent_dim), float32), one stream for the whole request (sample draws it at
once, sample_batches a batch at a time), so images do not depend on batch size. Truncation scales z toward 0
(`z * truncation`; 1.0 = off). One Generator may be shared between threads:
onnxruntime sessions are thread-safe and every reused buffer is per thread.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from numbers import Integral

import numpy as np

import genrt.ext as ext
from genrt.errors import GenrtError, InputError, ModelError, OutputError
from genrt.files import cache_dir
from genrt.runtime.contract import Contract, read_contract
from genrt.runtime.environment import first_line, import_onnxruntime
from genrt.runtime.latents import interpolate_latents, standard_normal, standard_normal_rows
from genrt.runtime.onnxfile import check_external_data, check_digest
from genrt.runtime.session import check_threads, open_session
from genrt.spec import RUNTIME_DEVICES
from genrt.threads import prefer_passive_openmp_wait

UINT8_OUTPUT = "image_u8"  # genrt optimize --uint8-output: the images as uint8 N x H x W x C, converted in the graph
# Heuristic cuDNN algorithm choice: the default exhaustive search costs seconds on the first run.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "1"}
GPU_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def tensorrt_options() -> dict:
    """TensorRT provider options: engines and timing caches kept in $GENRT_CACHE/tensorrt (~/.cache/genrt).

    Building an engine takes seconds to minutes; the cache makes every session
    after the first for the same model, shapes and GPU start in milliseconds.
    """
    cache = cache_dir("tensorrt")
    return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": cache, "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": cache}


class ProviderFallbackWarning(RuntimeWarning):
    """device="auto" asked for a GPU provider and the session runs on CPU instead."""


class Generator:
    """Samples images from a generator (or VAE decoder) ONNX file."""

    def __init__(
        self,
        path,
        device: str = "auto",
        threads: int | None = None,
        latent_dim: int | None = None,
        output_range=None,
        batch_size: int = 64,
        spinning: bool = True,
    ):
        """`spinning=False` stops onnxruntime's idle threads from busy-waiting: for hosts that run other work
        (or another session) on the same cores, at some cost in latency for small batches."""
        self.path = os.fspath(path)
        if device not in RUNTIME_DEVICES:
            raise InputError(f"device must be one of {', '.join(RUNTIME_DEVICES)}, got {device!r}")
        check_threads(threads)
        self.batch_size = _positive_int(batch_size, "batch_size")
        if not os.path.isfile(self.path):
            raise ModelError(f"model file not found: {self.path}")
        check_external_data(self.path)
        self.digest_checked = check_digest(self.path)  # None: the file carries no digest
        prefer_passive_openmp_wait()
        ort = import_onnxruntime()
        self.session = self._open_session(ort, device, threads, spinning)
        self.providers = tuple(self.session.get_providers())
        self.contract: Contract = read_contract(self.session, self.path, latent_dim, output_range,
                                                metadata_checked=bool(self.digest_checked))
        self.uint8_output = self._uint8_output_pays()
        self._local = threading.local()
        self._seen_shape = None
        self._default_label_arrays: dict[int, np.ndarray] = {}  # read-only, by n; a few batch sizes at most

    # ------------------------------------------------------------ session

    def _open_session(self, ort, device, threads, spinning):
        available = ort.get_available_providers()
        wants_gpu = device in ("auto", "cuda", "tensorrt")
        providers = []
        if device == "tensorrt" and "TensorrtExecutionProvider" in available:
            os.makedirs(tensorrt_options()["trt_engine_cache_path"], exist_ok=True)
            providers.append(("TensorrtExecutionProvider", tensorrt_options()))
        if wants_gpu and "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", CUDA_OPTIONS))
        providers.append("CPUExecutionProvider")
        session = open_session(self.path, providers, threads=threads, spinning=spinning)
        if wants_gpu and "CUDAExecutionProvider" not in session.get_providers():
            why = (
                "this onnxruntime build has no CUDA provider (a CPU wheel; install genrt[gpu] instead of genrt[cpu])"
                if "CUDAExecutionProvider" not in available
                else "the CUDA provider did not start (no GPU, or CUDA/cuDNN libraries missing); run `genrt info`"
            )
            if device in GPU_PROVIDERS:
                raise InputError(f"device='{device}' requested but {why}; use device='cpu' or 'auto'")
            warnings.warn(f"genrt: running {self.path} on CPU: {why}", ProviderFallbackWarning, stacklevel=3)
        elif device == "tensorrt" and "TensorrtExecutionProvider" not in session.get_providers():
            why = ("this onnxruntime build has no TensorRT provider" if "TensorrtExecutionProvider" not in available
                   else "the TensorRT provider did not start (TensorRT libraries missing?); run `genrt info`")
            raise InputError(f"device='tensorrt' requested but {why}; use device='cuda' or 'auto'")
        return session

    def _uint8_output_pays(self) -> bool:
        """True when the graph has genrt optimize's `image_u8` output and it is the faster path here.

        On a GPU it moves 4x fewer bytes to the host and takes the conversion off the
        CPU. On a CPU it is used where `genrt optimize --uint8-output` measured it faster
        than genrt.ext (metadata genrt.uint8_output), and only for the range it was built for.
        """
        c = self.contract
        outputs = {o.name: o for o in self.session.get_outputs()}
        u8 = outputs.get(UINT8_OUTPUT)
        if u8 is None or u8.type != "tensor(uint8)" or len(u8.shape) != 4 or c.image_shape is None:
            return False
        try:
            record = json.loads(c.metadata.get("genrt.uint8_output", "{}"))
        except ValueError:
            return False
        if [float(v) for v in record.get("output_range", [])] != list(c.output_range):
            return False  # an --range override asks for another conversion than the graph's
        if self.providers[0] != "CPUExecutionProvider":
            return True
        return record.get("provider") == "CPUExecutionProvider" and bool(record.get("faster"))

    # ------------------------------------------------------------ latents and labels

    @property
    def latent_dim(self) -> int:
        return self.contract.latent_dim

    @property
    def image_shape(self) -> tuple | None:
        """(C, H, W) of the images: from the contract, or for a model that does not state it, from its first run."""
        return self.contract.image_shape or self._seen_shape

    def latents(self, n: int, seed: int | None = None, truncation: float = 1.0) -> np.ndarray:
        """float32 n x latent_dim standard normal latents for `seed`, scaled by `truncation`."""
        n = _check_sampling(n, seed, truncation)
        try:
            z = standard_normal((n, self.latent_dim), seed)
        except MemoryError:
            raise OutputError(f"{n:,} latents of {self.latent_dim} values do not fit in memory; draw fewer, or stream "
                              "the images with sample_batches(n, seed)") from None
        if truncation != 1.0:
            z *= np.float32(truncation)
        return z

    def default_labels(self, n: int) -> np.ndarray | None:
        """The labels used when none are given: 0, 1, ..., K-1, 0, 1, ... (None for an unconditional model)."""
        c = self.contract
        if not c.conditional:
            return None
        if not c.num_classes:
            raise InputError(f"{self.path} is conditional with an unknown number of classes; pass `labels`")
        return np.arange(n, dtype=c.label_dtype) % c.num_classes

    def label_array(self, labels, n: int) -> np.ndarray | None:
        """The labels `sample(n, labels=labels)` feeds the graph: indices in its integer dtype (None when unconditional).

        `labels` is None (the default labels), one class index or name for every image,
        or n of them; InputError for a class the model does not have.
        """
        return self._labels(labels, _positive_int(n, "n"))

    def _labels(self, labels, n: int) -> np.ndarray | None:
        """Labels as the graph's integer array: by index or class name, one or n of them."""
        c = self.contract
        if not c.conditional:
            if labels is not None:
                raise InputError(f"{self.path} is unconditional; do not pass labels")
            return None
        if labels is None:
            return self._default_label_array(n)
        values = [labels] if isinstance(labels, (str, Integral)) else list(np.asarray(labels).reshape(-1))
        indices = [self._label_index(v) for v in values]
        if len(indices) == 1:
            indices = indices * n
        if len(indices) != n:
            raise InputError(f"labels: expected 1 or {n} labels, got {len(indices)}")
        return np.asarray(indices, dtype=c.label_dtype)

    def _default_label_array(self, n: int) -> np.ndarray:
        """default_labels(n), read-only and kept for the few batch sizes an app runs (3% of a batch-1 sample)."""
        array = self._default_label_arrays.get(n)
        if array is None:
            array = self.default_labels(n)
            array.flags.writeable = False
            if len(self._default_label_arrays) < 8:
                self._default_label_arrays[n] = array
        return array

    def _label_index(self, value) -> int:
        c = self.contract
        if isinstance(value, (str, np.str_)):
            if value not in c.class_names:
                known = ", ".join(c.class_names) or "none (this model has no class names)"
                raise InputError(f"label {value!r} is not a class of this model; known classes: {known}")
            return c.class_names.index(value)
        if not isinstance(value, (Integral, np.integer)):
            raise InputError(f"labels must be class indices or names, got {value!r}")
        if value < 0 or (c.num_classes and value >= c.num_classes):
            raise InputError(f"label {int(value)} is out of range: this model has classes 0..{c.num_classes - 1}")
        return int(value)

    # ------------------------------------------------------------ running

    def decode(self, z, labels=None, raw: bool = False, batch_size: int | None = None) -> np.ndarray:
        """Images for latents `z` (float32 n x latent_dim): uint8 N x H x W x C, or float N x C x H x W if raw."""
        z = self._check_latents(z)
        label_array = self._labels(labels, len(z))
        step = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
        step = self.contract.fixed_batch or step
        in_graph = self.uint8_output and not raw
        chunks = []
        for start in range(0, len(z), step):
            stop = start + step
            batch_z, batch_labels = z[start:stop], None if label_array is None else label_array[start:stop]
            if len(batch_z) < step and self.contract.fixed_batch:
                batch_z, batch_labels = _pad(batch_z, step), None if batch_labels is None else _pad(batch_labels, step)
            out = self._run(batch_z, batch_labels, in_graph)[: len(z) - start]
            chunks.append(out.copy() if raw or in_graph else ext.to_uint8(out, self.contract.output_range))
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def sample(self, n: int, seed: int | None = None, labels=None, truncation: float = 1.0, batch_size=None):
        """uint8 N x H x W x C images from `seed` (the same images whatever the batch size)."""
        return self.decode(self.latents(n, seed, truncation), labels, batch_size=batch_size)

    def sample_batches(self, n: int, seed: int | None = None, labels=None, truncation: float = 1.0,
                       batch_size=None):
        """sample(n, seed, labels, truncation) as uint8 batches of at most `batch_size` images, drawn as they are
        consumed: they concatenate to sample()'s images, and memory stays bounded by one batch whatever n."""
        n = _check_sampling(n, seed, truncation)  # checked now, not at the first batch
        step = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
        return self._batches(n, seed, truncation, step, self._label_source(labels, n))

    def _batches(self, n, seed, truncation, step, labels_of):
        start = 0
        for z in standard_normal_rows(n, self.latent_dim, seed, step):
            if truncation != 1.0:
                z *= np.float32(truncation)
            yield self.decode(z, labels_of(start, start + len(z)), batch_size=step)
            start += len(z)

    def _label_source(self, labels, n: int):
        """(start, stop) -> the labels of images start..stop, without holding n of them for the default or one label."""
        c = self.contract
        if not c.conditional or (labels is not None and not isinstance(labels, (str, Integral))):
            array = self._labels(labels, n)  # None, or the caller's n labels (already in memory)
            return lambda start, stop: None if array is None else array[start:stop]
        if labels is None:
            self.default_labels(1)  # refuses a model with an unknown number of classes
            return lambda start, stop: np.arange(start, stop, dtype=c.label_dtype) % c.num_classes
        index = self._labels(labels, 1)[0]
        return lambda start, stop: np.full(stop - start, index, dtype=c.label_dtype)

    def interpolate(
        self, a, b, steps: int = 8, mode: str = "slerp", labels=None, raw: bool = False, batch_size=None
    ) -> np.ndarray:
        """Images along the path from latent `a` to latent `b` (ends included), `steps` of them.

        `a` and `b` are latent vectors (float32, shape (latent_dim,)) or integer seeds,
        a seed standing for `latents(1, seed)[0]`. `mode` is "slerp" (along the great
        circle, the usual choice for Gaussian latents) or "lerp" (a straight line).
        """
        path = interpolate_latents(self._endpoint(a, "a"), self._endpoint(b, "b"), steps, mode)
        return self.decode(path, labels, raw=raw, batch_size=batch_size)

    def _endpoint(self, value, name: str) -> np.ndarray:
        if isinstance(value, (Integral, np.integer)) and not isinstance(value, bool):
            return self.latents(1, seed=int(value))[0]
        if not isinstance(value, np.ndarray) or value.shape != (self.latent_dim,):
            found = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise InputError(f"{name} must be a seed or a latent vector of shape ({self.latent_dim},), got {found}")
        return value.astype(np.float32, copy=False)

    def _check_latents(self, z) -> np.ndarray:
        if not isinstance(z, np.ndarray) or z.dtype != np.float32:
            found = z.dtype if isinstance(z, np.ndarray) else type(z).__name__
            raise InputError(f"z must be a float32 numpy array of shape (n, {self.latent_dim}), got {found}")
        if z.ndim != 2 or z.shape[1] != self.latent_dim or z.shape[0] == 0:
            raise InputError(f"z must have shape (n >= 1, {self.latent_dim}), got {z.shape}")
        return np.ascontiguousarray(z)

    def _run(self, z: np.ndarray, labels, uint8: bool = False) -> np.ndarray:
        """One batch through the session, into this thread's reused output buffer.

        The float `image` (N x C x H x W), or with `uint8` the graph's `image_u8` (N x H x W x C).
        """
        c = self.contract
        try:
            if c.image_shape is None:  # output shape unknown until the first run
                feed = {c.latent_name: z.astype(np.float16) if c.latent_float16 else z}
                if labels is not None:
                    feed[c.label_name] = labels
                out = self.session.run([c.image_name], feed)[0]
                self._seen_shape = tuple(out.shape[1:])
                return out
            io = self._bound_buffers(len(z), uint8)
            io.latents[...] = z  # cast to float16 here when the graph takes float16
            if labels is not None:
                io.labels[...] = labels
            # No RunOptions here: passing any costs 57 us a call (a quarter of a batch-1 run); the session's
            # own log level (open_session) already keeps onnxruntime's error lines off the terminal.
            self.session.run_with_iobinding(io.binding)
            return io.output
        except Exception as exc:  # onnxruntime's Fail, InvalidArgument, RuntimeException, allocation failures
            raise self._run_failure(exc, len(z), labels) from exc

    def _run_failure(self, exc: Exception, n: int, labels) -> GenrtError:
        """A failed session run as one line: the model's fault (ModelError), or a label it has no class for."""
        cause = first_line(exc)
        if labels is not None and not self.contract.num_classes and "out of" in cause and "bound" in cause:
            return InputError(f"{self.path} failed on labels {sorted(set(labels.tolist()))[:10]}, probably outside "
                              f"its classes (it does not say how many it has): {cause}")
        if isinstance(exc, MemoryError) or "alloc" in cause.lower():
            return OutputError(f"out of memory running a batch of {n} through {self.path}; lower `batch_size`")
        return ModelError(f"{self.path} failed on a batch of {n} in onnxruntime: {cause}")

    def _bound_buffers(self, n: int, uint8: bool) -> _BoundBuffers:
        """This thread's input and output arrays for a batch of n, bound once to an IO binding.

        Made again only when n or the output changes. Binding fresh arrays on every call
        cost 20 us, 9% of a batch-1 run of the bundled model; copying into bound ones costs 1.
        """
        io = getattr(self._local, "io", None)
        if io is None or io.key != (n, uint8):
            io = self._local.io = _BoundBuffers(self.session, self.contract, n, uint8)
        return io


class _BoundBuffers:
    """Arrays for one batch size, bound by address to one onnxruntime IO binding (inputs and the output)."""

    def __init__(self, session, contract: Contract, n: int, uint8: bool):
        c = contract
        self.key = (n, uint8)
        self.binding = session.io_binding()
        self.latents = self._bind(c.latent_name, (n, c.latent_dim), np.float16 if c.latent_float16 else np.float32)
        self.labels = self._bind(c.label_name, (n,), c.label_dtype) if c.conditional else None
        if uint8:
            name, dtype, (ch, h, w) = UINT8_OUTPUT, np.uint8, c.image_shape
            shape = (n, h, w, ch)
        else:
            name, dtype, shape = c.image_name, np.float16 if c.image_float16 else np.float32, (n, *c.image_shape)
        self.output = np.empty(shape, dtype=dtype)
        self.binding.bind_output(name, "cpu", 0, dtype, list(shape), self.output.ctypes.data)

    def _bind(self, name: str, shape: tuple, dtype) -> np.ndarray:
        array = np.empty(shape, dtype=dtype)
        self.binding.bind_input(name, "cpu", 0, array.dtype, list(shape), array.ctypes.data)
        return array


def _pad(rows: np.ndarray, n: int) -> np.ndarray:
    """`rows` followed by copies of its first row, n in all: a full batch for a graph with a fixed batch size."""
    return np.concatenate([rows, np.repeat(rows[:1], n - len(rows), axis=0)])


def _check_sampling(n, seed, truncation) -> int:
    n = _positive_int(n, "n")
    if not (isinstance(truncation, (int, float)) and 0.0 < truncation <= 1.0):
        raise InputError(f"truncation must be in (0, 1] (1.0 = off), got {truncation!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
        raise InputError(f"seed must be a non-negative integer or None, got {seed!r}")
    return n


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
