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

Beside it: providers.py (where the session runs), labels.py, latents.py, buffers.py (each run's buffers).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

import genrt.ext as ext
from genrt.errors import GenrtError, InputError, ModelError, OutputError
from genrt.limits import check_fits, integer, metadata_json, positive_int
from genrt.runtime import gpu
from genrt.runtime.buffers import DEVICE_U8, GRAPH_U8, HOST_FLOAT, UINT8_OUTPUT, BoundBuffers, DeviceBuffers
from genrt.runtime.contract import Contract, read_contract
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.runtime.gpu import TENSORRT_PROVIDER
from genrt.runtime.labels import ClassLabels, Labels
from genrt.runtime.latents import check_sampling, fresh_seed, interpolate_latents, latent_chunks, latent_rows
from genrt.runtime.onnxfile import check_model_file
from genrt.runtime.providers import open_generator_session, uint8_converter
from genrt.runtime.session import check_threads
from genrt.spec import RUNTIME_DEVICES


class Generator:
    """Samples images from a generator (or VAE decoder) ONNX file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "auto",
        threads: int | None = None,
        latent_dim: int | None = None,
        output_range: Sequence[float] | None = None,
        batch_size: int = 64,
        spinning: bool = True,
        cuda_graph: bool = False,
    ) -> None:
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
        self.batch_size = positive_int(batch_size, "batch_size")
        self.digest_checked = check_model_file(self.path)  # None: the file carries no digest
        self._ort = import_onnxruntime()
        self.session = open_generator_session(self.path, device, threads, spinning, cuda_graph, self.batch_size)
        self.providers = tuple(self.session.get_providers())
        self.cuda_graph = bool(cuda_graph)
        self.contract: Contract = read_contract(self.session, self.path, latent_dim, output_range,
                                                metadata_checked=bool(self.digest_checked))
        self.uint8_output = self._uint8_output_pays()
        self._converter = uint8_converter(self.providers, self.contract, self.uint8_output)
        self.classes = ClassLabels(self.contract, self.path)
        self._max_batch = self.batch_size if self.providers[0] == TENSORRT_PROVIDER else None
        self._local = threading.local()
        self._graphs: dict[tuple[int, str], DeviceBuffers] = {}  # with cuda_graph: one set of device buffers per graph
        self._graph_lock = threading.Lock()
        self._seen_shape: tuple[int, ...] | None = None

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
        record = metadata_json(c.metadata, "genrt.uint8_output", self.path, {})
        if not isinstance(record, dict) or record.get("output_range") != list(c.output_range):
            return False  # an --range override asks for another conversion than the graph's
        if self.providers[0] != "CPUExecutionProvider":
            return True
        return record.get("provider") == "CPUExecutionProvider" and bool(record.get("faster"))

    # ------------------------------------------------------------ latents and labels

    @property
    def latent_dim(self) -> int:
        return self.contract.latent_dim

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """(C, H, W) of the images: from the contract, or for a model that does not state it, from its first run."""
        return self.contract.image_shape or self._seen_shape

    def latents(self, n: int, seed: int | None = None, truncation: float = 1.0, start: int = 0) -> np.ndarray:
        """float32 n x latent_dim standard normal latents of images start..start+n-1 of `seed`, scaled by
        `truncation` (seed=None: a fresh seed from the OS's entropy)."""
        n = check_sampling(n, seed, truncation, start)
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
        return self.classes.defaults(n)

    def label_array(self, labels: Labels, n: int) -> np.ndarray | None:
        """The labels `sample(n, labels=labels)` feeds the graph: indices in its integer dtype (None when unconditional).

        `labels` is None (the default labels), one class index or name for every image,
        or n of them; InputError for a class the model does not have.
        """
        return self.classes.array(labels, positive_int(n, "n"))

    # ------------------------------------------------------------ running

    def decode(self, z: np.ndarray, labels: Labels = None, raw: bool = False, batch_size: int | None = None
               ) -> np.ndarray:
        """Images for latents `z` (float32 n x latent_dim): uint8 N x H x W x C, or float N x C x H x W if raw."""
        z = self._check_latents(z)
        label_array = self.classes.array(labels, len(z))
        step = self.batch_size if batch_size is None else positive_int(batch_size, "batch_size")
        step = self.contract.fixed_batch or min(step, self._max_batch or step)
        self._check_memory(len(z), step, raw)
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

    def _check_memory(self, n: int, step: int, raw: bool) -> None:
        """InputError before a run whose buffers (a batch's latents and float images, n images out) cannot fit."""
        values, batch = int(np.prod(self.image_shape or (0,))), min(n, step)
        check_fits(batch * (self.latent_dim + values) * 4 + n * values * (4 if raw else 1), f"{n:,} images of "
                   f"{values:,} values in batches of {batch:,}", "ask for fewer images or a smaller batch_size, or "
                   "stream them with sample_batches")

    def sample(self, n: int, seed: int | None = None, labels: Labels = None, truncation: float = 1.0,
               batch_size: int | None = None, start: int = 0) -> np.ndarray:
        """uint8 N x H x W x C images start..start+n-1 of `seed` (the same images whatever the batch size).

        Default labels cycle with the image's index (image i is class i mod K)."""
        z = self.latents(n, seed, truncation, start)
        if labels is None and start and self.contract.conditional:  # decode's default labels count from 0
            labels = self.classes.source(None, n, start)(start, start + n)
        return self.decode(z, labels, batch_size=batch_size)

    def sample_batches(self, n: int, seed: int | None = None, labels: Labels = None, truncation: float = 1.0,
                       batch_size: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
        """sample(n, seed, labels, truncation, start=start) as uint8 batches of at most `batch_size` images, drawn
        as they are consumed: they concatenate to sample()'s images, and memory stays bounded by one batch."""
        n = check_sampling(n, seed, truncation, start)  # checked now, not at the first batch
        step = self.batch_size if batch_size is None else positive_int(batch_size, "batch_size")
        seed = fresh_seed() if seed is None else seed
        return self._batches(n, seed, truncation, step, self.classes.source(labels, n, start), start)

    def _batches(self, n: int, seed: int, truncation: float, step: int,
                 labels_of: Callable[[int, int], np.ndarray | None], start: int) -> Iterator[np.ndarray]:
        chunks = latent_chunks(seed, start, start + n, self.latent_dim, step)
        for first, z in zip(range(start, start + n, step), chunks):
            if truncation != 1.0:
                z *= np.float32(truncation)
            yield self.decode(z, labels_of(first, first + len(z)), batch_size=step)

    def interpolate(
        self, a: int | np.ndarray, b: int | np.ndarray, steps: int = 8, mode: str = "slerp", labels: Labels = None,
        raw: bool = False, batch_size: int | None = None
    ) -> np.ndarray:
        """Images along the path from latent `a` to latent `b` (ends included), `steps` of them.

        `a` and `b` are latent vectors (float32, shape (latent_dim,)) or integer seeds,
        a seed standing for `latents(1, seed)[0]`. `mode` is "slerp" (along the great
        circle, the usual choice for Gaussian latents) or "lerp" (a straight line).
        """
        path = interpolate_latents(self._endpoint(a, "a"), self._endpoint(b, "b"), steps, mode)
        return self.decode(path, labels, raw=raw, batch_size=batch_size)

    def _endpoint(self, value: object, name: str) -> np.ndarray:
        seed = integer(value)
        if seed is not None:
            row: np.ndarray = self.latents(1, seed=seed)[0]
            return row
        if not isinstance(value, np.ndarray) or value.shape != (self.latent_dim,):
            found = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise InputError(f"{name} must be a seed or a latent vector of shape ({self.latent_dim},), got {found}")
        return value.astype(np.float32, copy=False)

    def _check_latents(self, z: object) -> np.ndarray:
        if not isinstance(z, np.ndarray) or z.dtype != np.float32:
            found = z.dtype if isinstance(z, np.ndarray) else type(z).__name__
            raise InputError(f"z must be a float32 numpy array of shape (n, {self.latent_dim}), got {found}")
        if z.ndim != 2 or z.shape[1] != self.latent_dim or z.shape[0] == 0:
            raise InputError(f"z must have shape (n >= 1, {self.latent_dim}), got {z.shape}")
        return np.ascontiguousarray(z)

    def _run(self, z: np.ndarray, labels: np.ndarray | None, output: str = HOST_FLOAT) -> np.ndarray:
        """One batch through the session, into reused buffers; `output` says which images come back (buffers.py)."""
        c = self.contract
        try:
            if c.image_shape is None:  # output shape unknown until the first run
                feed = {c.latent_name: z.astype(np.float16) if c.latent_float16 else z}
                if labels is not None and c.label_name is not None:
                    feed[c.label_name] = labels
                plain = gpu.graph_run_options(self._ort, gpu.NO_GRAPH) if self.cuda_graph else None
                out: np.ndarray = self.session.run([c.image_name], feed, plain)[0]
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

    def _run_failure(self, exc: Exception, n: int, labels: np.ndarray | None) -> GenrtError:
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

    def _bound_buffers(self, n: int, output: str) -> BoundBuffers | DeviceBuffers:
        """This thread's buffers for a batch of n, bound once to an IO binding.

        Made again only when n or the output changes: binding fresh arrays on every call costs far more
        than copying into bound ones, a cost a batch-1 run feels.
        """
        io: BoundBuffers | DeviceBuffers | None = getattr(self._local, "io", None)
        if io is None or io.key != (n, output):
            if output == DEVICE_U8:
                io = DeviceBuffers(self._ort, self.session, self.contract, n, output, self._converter)
            else:
                io = BoundBuffers(self.session, self.contract, n, output)
            self._local.io = io
        return io

    def _graph_buffers(self, n: int, output: str) -> DeviceBuffers:
        """The device buffers of CUDA graph (n, output), shared by all threads (callers hold _graph_lock)."""
        key = (n, output)
        io = self._graphs.get(key)
        if io is None:
            io = DeviceBuffers(self._ort, self.session, self.contract, n, output, self._converter,
                                graph_id=len(self._graphs) + 1)
            self._graphs[key] = io
        return io



def _pad(rows: np.ndarray, n: int) -> np.ndarray:
    """`rows` followed by copies of its first row, n in all: a full batch for a graph with a fixed batch size."""
    return np.concatenate([rows, np.repeat(rows[:1], n - len(rows), axis=0)])
