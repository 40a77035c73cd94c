"""`Generator`: one onnxruntime session serving one generator ONNX file. No torch, ever.

    from genrt.runtime import Generator
    g = Generator("model.onnx")                 # device="auto": CUDA when usable, else CPU (with a warning)
    images = g.sample(64, seed=0)               # uint8 N x H x W x C
    grid = genrt.ext.make_grid(images, nrow=8)  # uint8 H' x W' x C

Reproducibility: image i of a seed has latent row i of that seed (latents.py: Philox
counters and Box-Muller), whatever the batch size, the call that drew it or `start`
(sample(n, seed, start=s) is images s..s+n-1 of the seed). Truncation scales z toward 0
(`z * truncation`; 1.0 = off). One Generator may be shared between threads:
onnxruntime sessions are thread-safe and every reused buffer is per thread.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import threading
import warnings
from numbers import Integral

import numpy as np

import genrt.ext as ext
from genrt.errors import GenrtError, InputError, ModelError, OutputError
from genrt.ext.reference import range_params
from genrt.runtime import gpu
from genrt.runtime.contract import Contract, read_contract
from genrt.runtime.environment import first_line, gpu_problem, import_onnxruntime
from genrt.runtime.gpu import CUDA_PROVIDER, GPU_PROVIDERS, TENSORRT_PROVIDER
from genrt.runtime.latents import check_seed, fresh_seed, interpolate_latents, latent_chunks, latent_rows
from genrt.runtime.onnxfile import check_digest, check_external_data, graph_inputs
from genrt.runtime.session import check_threads, open_session
from genrt.spec import RUNTIME_DEVICES
from genrt.threads import prefer_passive_openmp_wait

UINT8_OUTPUT = "image_u8"  # genrt optimize --uint8-output: the images as uint8 N x H x W x C, converted in the graph
# The three places a batch's images can come from (see Generator._run).
HOST_FLOAT, GRAPH_U8, DEVICE_U8 = "image", UINT8_OUTPUT, "device_u8"


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
        cuda_graph: bool = False,
    ):
        """`spinning=False` stops onnxruntime's idle threads from busy-waiting: for hosts that run other work
        (or another session) on the same cores, at some cost in latency for small batches.

        `cuda_graph=True` (CUDA provider only) replays one captured CUDA graph per batch
        size instead of launching each kernel: less CPU time per call, which matters for
        small batches. Calls are then serialized, as a graph replays fixed buffers.
        On TensorRT, batches are at most `batch_size` images (its optimization profile).
        """
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
        self._ort = ort = import_onnxruntime()
        self.session = self._open_session(ort, device, threads, spinning, cuda_graph)
        self.providers = tuple(self.session.get_providers())
        self.cuda_graph = bool(cuda_graph)
        self.contract: Contract = read_contract(self.session, self.path, latent_dim, output_range,
                                                metadata_checked=bool(self.digest_checked))
        self.uint8_output = self._uint8_output_pays()
        self._converter = self._device_converter()
        self._max_batch = self.batch_size if self.providers[0] == TENSORRT_PROVIDER else None
        self._local = threading.local()
        self._graphs: dict[tuple, _DeviceBuffers] = {}  # with cuda_graph: one set of device buffers per graph
        self._graph_lock = threading.Lock()
        self._seen_shape = None
        self._default_label_arrays: dict[int, np.ndarray] = {}  # read-only, by n; a few batch sizes at most

    # ------------------------------------------------------------ session

    def _open_session(self, ort, device, threads, spinning, cuda_graph):
        """The session on the best usable provider for `device`: a GPU one only after the probe ran a convolution
        on it (environment.probe_provider); `auto` falls back to CPU with a ProviderFallbackWarning."""
        available = ort.get_available_providers()
        wants_gpu = device in ("auto", "cuda", "tensorrt")
        why = gpu_problem(CUDA_PROVIDER, ort) if wants_gpu else None
        if why is not None:
            if device != "auto":
                raise InputError(f"device='{device}' requested but {why}; use device='cpu' or 'auto'")
            warnings.warn(f"genrt: running {self.path} on CPU: {why}", ProviderFallbackWarning, stacklevel=3)
        if cuda_graph and (device == "cpu" or why is not None or device == "tensorrt"):
            where = "TensorRT" if device == "tensorrt" else "CPU"
            raise InputError(f"`cuda_graph` needs the CUDA provider (device cuda or auto on a usable GPU); this "
                             f"session would run on {where}")
        providers = []
        if device == "tensorrt":
            providers.append((TENSORRT_PROVIDER, self._tensorrt_options(ort, available)))
        if wants_gpu and why is None:
            providers.append((CUDA_PROVIDER, gpu.cuda_options(cuda_graph=cuda_graph)))
        providers.append("CPUExecutionProvider")
        session = open_session(self.path, providers, threads=threads, spinning=spinning)
        got = session.get_providers()
        if device == "tensorrt" and TENSORRT_PROVIDER not in got:
            raise InputError("device='tensorrt' requested but the TensorRT provider did not start; run `genrt info`, "
                             "or use device='cuda'")
        if wants_gpu and why is None and CUDA_PROVIDER not in got:  # the probe ran, this model did not get the GPU
            raise ModelError(f"{self.path}: the CUDA provider passed genrt's probe but this session fell back to "
                             f"{', '.join(got)}; run `genrt info`")
        return session

    def _tensorrt_options(self, ort, available) -> dict:
        """TensorRT's options for this file (gpu.tensorrt_options), or InputError saying what is missing."""
        if TENSORRT_PROVIDER not in available:
            raise InputError("device='tensorrt' requested but this onnxruntime build has no TensorRT provider "
                             "(install genrt[gpu]); use device='cuda' or 'auto'")
        missing = gpu.load_tensorrt()
        if missing:
            raise InputError(f"device='tensorrt' requested but TensorRT 10 libraries were not found "
                             f"({', '.join(missing)}): {gpu.TENSORRT_HINT}; or use device='cuda'")
        inputs = graph_inputs(self.path)
        profile = gpu.batch_profile(inputs, max_batch=self.batch_size, opt_batch=self.batch_size)
        options = gpu.tensorrt_options(self.path, check_external_data(self.path), profile)
        os.makedirs(options["trt_engine_cache_path"], exist_ok=True)
        return options

    def _device_converter(self):
        """On a GPU, a session of genrt's to_uint8 graph that converts float images where they are (None elsewhere).

        Used when the model has no `image_u8` output of its own: the float images then
        never cross to the host, only their uint8 bytes do (4x fewer), and the CPU
        converts nothing. float16 outputs keep the host path (they cross at 2 bytes a value).
        """
        c = self.contract
        if self.providers[0] not in GPU_PROVIDERS or self.uint8_output or c.image_shape is None or c.image_float16:
            return None
        graph = importlib.resources.files("genrt.runtime").joinpath("to_uint8.onnx").read_bytes()
        return open_session(graph, [(CUDA_PROVIDER, gpu.cuda_options()), "CPUExecutionProvider"],
                            name="genrt's uint8 conversion graph")

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

    def latents(self, n: int, seed: int | None = None, truncation: float = 1.0, start: int = 0) -> np.ndarray:
        """float32 n x latent_dim standard normal latents of images start..start+n-1 of `seed`, scaled by
        `truncation` (seed=None: a fresh seed from the OS's entropy)."""
        n = _check_sampling(n, seed, truncation, start)
        try:
            z = latent_rows(fresh_seed() if seed is None else seed, start, start + n, self.latent_dim)
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
        step = self.contract.fixed_batch or min(step, self._max_batch or step)
        output = HOST_FLOAT if raw else GRAPH_U8 if self.uint8_output else DEVICE_U8 if self._converter else HOST_FLOAT
        chunks = []
        for start in range(0, len(z), step):
            stop = start + step
            batch_z, batch_labels = z[start:stop], None if label_array is None else label_array[start:stop]
            if len(batch_z) < step and self.contract.fixed_batch:
                batch_z, batch_labels = _pad(batch_z, step), None if batch_labels is None else _pad(batch_labels, step)
            out = self._run(batch_z, batch_labels, output)[: len(z) - start]
            chunks.append(out.copy() if raw or output != HOST_FLOAT else ext.to_uint8(out, self.contract.output_range))
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def sample(self, n: int, seed: int | None = None, labels=None, truncation: float = 1.0, batch_size=None,
               start: int = 0):
        """uint8 N x H x W x C images start..start+n-1 of `seed` (the same images whatever the batch size).

        Default labels cycle with the image's index (image i is class i mod K)."""
        z = self.latents(n, seed, truncation, start)
        if labels is None and start and self.contract.conditional:  # decode's default labels count from 0
            labels = self._label_source(None, n, start)(start, start + n)
        return self.decode(z, labels, batch_size=batch_size)

    def sample_batches(self, n: int, seed: int | None = None, labels=None, truncation: float = 1.0,
                       batch_size=None, start: int = 0):
        """sample(n, seed, labels, truncation, start=start) as uint8 batches of at most `batch_size` images, drawn
        as they are consumed: they concatenate to sample()'s images, and memory stays bounded by one batch."""
        n = _check_sampling(n, seed, truncation, start)  # checked now, not at the first batch
        step = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
        seed = fresh_seed() if seed is None else seed
        return self._batches(n, seed, truncation, step, self._label_source(labels, n, start), start)

    def _batches(self, n, seed, truncation, step, labels_of, start):
        chunks = latent_chunks(seed, start, start + n, self.latent_dim, step)
        for first, z in zip(range(start, start + n, step), chunks):
            if truncation != 1.0:
                z *= np.float32(truncation)
            yield self.decode(z, labels_of(first, first + len(z)), batch_size=step)

    def _label_source(self, labels, n: int, start: int = 0):
        """(first, stop) -> the labels of images first..stop-1 (indices of the seed's images, from `start`),
        without holding n of them for the default or one label."""
        c = self.contract
        if not c.conditional or (labels is not None and not isinstance(labels, (str, Integral))):
            array = self._labels(labels, n)  # None, or the caller's n labels (already in memory)
            return lambda first, stop: None if array is None else array[first - start: stop - start]
        if labels is None:
            self.default_labels(1)  # refuses a model with an unknown number of classes
            return lambda first, stop: np.arange(first, stop, dtype=c.label_dtype) % c.num_classes
        index = self._labels(labels, 1)[0]
        return lambda first, stop: np.full(stop - first, index, dtype=c.label_dtype)

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

    def _run(self, z: np.ndarray, labels, output: str = HOST_FLOAT) -> np.ndarray:
        """One batch through the session, into reused buffers; what comes back depends on `output`:

        HOST_FLOAT  the float `image` (N x C x H x W) on the host
        GRAPH_U8    the graph's own `image_u8` (N x H x W x C)
        DEVICE_U8   `image` converted to uint8 N x H x W x C on the GPU by genrt's to_uint8 graph
        """
        c = self.contract
        try:
            if c.image_shape is None:  # output shape unknown until the first run
                feed = {c.latent_name: z.astype(np.float16) if c.latent_float16 else z}
                if labels is not None:
                    feed[c.label_name] = labels
                plain = gpu.graph_run_options(self._ort, gpu.NO_GRAPH) if self.cuda_graph else None
                out = self.session.run([c.image_name], feed, plain)[0]
                self._seen_shape = tuple(out.shape[1:])
                return out
            if self.cuda_graph:
                with self._graph_lock:
                    return self._graph_buffers(len(z), output).run(z, labels)
            return self._bound_buffers(len(z), output).run(z, labels)
        except GenrtError:
            raise
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
        if self.cuda_graph:
            return ModelError(f"{self.path} failed on a batch of {n} with CUDA graphs ({cause}); graphs need every "
                              "node on the CUDA provider: run without `cuda_graph`")
        return ModelError(f"{self.path} failed on a batch of {n} in onnxruntime: {cause}")

    def _bound_buffers(self, n: int, output: str):
        """This thread's buffers for a batch of n, bound once to an IO binding.

        Made again only when n or the output changes. Binding fresh arrays on every call
        cost 20 us, 9% of a batch-1 run of the bundled model; copying into bound ones costs 1.
        """
        io = getattr(self._local, "io", None)
        if io is None or io.key != (n, output):
            if output == DEVICE_U8:
                io = _DeviceBuffers(self._ort, self.session, self.contract, n, output, self._converter)
            else:
                io = _BoundBuffers(self.session, self.contract, n, output)
            self._local.io = io
        return io

    def _graph_buffers(self, n: int, output: str) -> _DeviceBuffers:
        """The device buffers of CUDA graph (n, output), shared by all threads (callers hold _graph_lock)."""
        key = (n, output)
        io = self._graphs.get(key)
        if io is None:
            io = _DeviceBuffers(self._ort, self.session, self.contract, n, output, self._converter,
                                graph_id=len(self._graphs) + 1)
            self._graphs[key] = io
        return io


class _BoundBuffers:
    """Host arrays for one batch size, bound by address to one onnxruntime IO binding (inputs and the output)."""

    def __init__(self, session, contract: Contract, n: int, output: str):
        c = contract
        self.key, self.session = (n, output), session
        self.binding = session.io_binding()
        self.latents = _bind_host(self.binding, c.latent_name, (n, c.latent_dim), _latent_dtype(c))
        self.labels = _bind_host(self.binding, c.label_name, (n,), c.label_dtype) if c.conditional else None
        name, dtype, shape = _output_spec(c, n, output)
        self.output = np.empty(shape, dtype=dtype)
        self.binding.bind_output(name, "cpu", 0, dtype, list(shape), self.output.ctypes.data)

    def run(self, z, labels) -> np.ndarray:
        self.latents[...] = z  # cast to float16 here when the graph takes float16
        if labels is not None:
            self.labels[...] = labels
        # No RunOptions here: passing any costs 57 us a call (a quarter of a batch-1 run); the session's
        # own log level (open_session) already keeps onnxruntime's error lines off the terminal.
        self.session.run_with_iobinding(self.binding)
        return self.output


class _DeviceBuffers:
    """A batch size's output kept on the GPU: converted there to uint8 (DEVICE_U8), or copied back as it is.

    With `graph_id` (a session opened with CUDA graphs) the inputs live on the device
    too, at the fixed addresses the graph replays; each call copies the latents into them.
    `device` is onnxruntime's name for where the buffers live ("cpu" runs the same steps in tests).
    """

    def __init__(self, ort, session, contract: Contract, n: int, output: str, converter, graph_id: int | None = None,
                 device: str = "cuda"):
        c = contract
        self.key, self.session, self.converter = (n, output), session, converter
        self.binding = session.io_binding()
        self.run_options = gpu.graph_run_options(ort, graph_id) if graph_id else None
        self.latent_dtype, self.label_dtype = _latent_dtype(c), c.label_dtype
        if graph_id:
            self.latents = ort.OrtValue.ortvalue_from_shape_and_type([n, c.latent_dim], _latent_dtype(c), device, 0)
            self.binding.bind_ortvalue_input(c.latent_name, self.latents)
            self.labels = (ort.OrtValue.ortvalue_from_shape_and_type([n], np.dtype(c.label_dtype), device, 0)
                           if c.conditional else None)
            if self.labels is not None:
                self.binding.bind_ortvalue_input(c.label_name, self.labels)
        else:
            self.latents = _bind_host(self.binding, c.latent_name, (n, c.latent_dim), _latent_dtype(c))
            self.labels = _bind_host(self.binding, c.label_name, (n,), c.label_dtype) if c.conditional else None
        name, dtype, shape = _output_spec(c, n, HOST_FLOAT if output == DEVICE_U8 else output)
        self.device_output = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), dtype, device, 0)
        self.binding.bind_ortvalue_output(name, self.device_output)
        self.output = None
        if output == DEVICE_U8:
            self.convert = converter.io_binding()
            self.convert.bind_ortvalue_input("image", self.device_output)
            lo, span = range_params(c.output_range)
            self.range = [_bind_host(self.convert, key, (1,), np.float32) for key in ("lo", "span")]
            self.range[0][0], self.range[1][0] = lo, span
            _, _, shape = _output_spec(c, n, GRAPH_U8)
            self.output = np.empty(shape, dtype=np.uint8)
            self.convert.bind_output("image_u8", "cpu", 0, np.uint8, list(shape), self.output.ctypes.data)

    def run(self, z, labels) -> np.ndarray:
        if self.run_options is not None:
            self.latents.update_inplace(np.ascontiguousarray(z, dtype=self.latent_dtype))
            if labels is not None:
                self.labels.update_inplace(np.ascontiguousarray(labels, dtype=self.label_dtype))
            self.session.run_with_iobinding(self.binding, self.run_options)
        else:
            self.latents[...] = z
            if labels is not None:
                self.labels[...] = labels
            self.session.run_with_iobinding(self.binding)
        if self.output is None:
            return self.device_output.numpy()
        self.converter.run_with_iobinding(self.convert)
        return self.output


def _latent_dtype(c: Contract):
    return np.float16 if c.latent_float16 else np.float32


def _output_spec(c: Contract, n: int, output: str) -> tuple[str, type, tuple]:
    """(output name, dtype, shape) of a batch of n: the float `image` N x C x H x W, or `image_u8` N x H x W x C."""
    if output == GRAPH_U8:
        ch, h, w = c.image_shape
        return UINT8_OUTPUT, np.uint8, (n, h, w, ch)
    return c.image_name, np.float16 if c.image_float16 else np.float32, (n, *c.image_shape)


def _bind_host(binding, name: str, shape: tuple, dtype) -> np.ndarray:
    """A host array bound by address as input `name`: what is written into it is what the next run reads."""
    array = np.empty(shape, dtype=dtype)
    binding.bind_input(name, "cpu", 0, array.dtype, list(shape), array.ctypes.data)
    return array


def _pad(rows: np.ndarray, n: int) -> np.ndarray:
    """`rows` followed by copies of its first row, n in all: a full batch for a graph with a fixed batch size."""
    return np.concatenate([rows, np.repeat(rows[:1], n - len(rows), axis=0)])


def _check_sampling(n, seed, truncation, start: int = 0) -> int:
    n = _positive_int(n, "n")
    if not (isinstance(truncation, (int, float)) and 0.0 < truncation <= 1.0):
        raise InputError(f"truncation must be in (0, 1] (1.0 = off), got {truncation!r}")
    if seed is not None:
        check_seed(seed)
    if isinstance(start, bool) or not isinstance(start, Integral) or start < 0:
        raise InputError(f"`start` must be a non-negative integer (the index of the first image), got {start!r}")
    return n


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
