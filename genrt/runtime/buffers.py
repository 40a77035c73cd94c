"""A Generator's reused buffers: what one session run reads its inputs from and writes its images into.

- `BoundBuffers`: host arrays for one batch size, bound by address to an IO binding once;
  a run copies the latents in and reads the images out, with nothing allocated or bound.
- `DeviceBuffers`: the output kept on the GPU, converted there to uint8 (DEVICE_U8) or copied
  back as it is, and with CUDA graphs the inputs on the device too, at fixed addresses.

Where a batch's images come from (`output`):
  HOST_FLOAT  the float `image` (N x C x H x W) on the host
  GRAPH_U8    the graph's own `image_u8` (N x H x W x C), which genrt optimize --uint8-output adds
  DEVICE_U8   `image` converted to uint8 N x H x W x C on the GPU by genrt's to_uint8 graph
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from genrt.ext.reference import range_params
from genrt.runtime import gpu
from genrt.runtime.contract import Contract

UINT8_OUTPUT = "image_u8"  # genrt optimize --uint8-output: the images as uint8 N x H x W x C, converted in the graph
HOST_FLOAT, GRAPH_U8, DEVICE_U8 = "image", UINT8_OUTPUT, "device_u8"


class BoundBuffers:
    """Host arrays for one batch size, bound by address to one onnxruntime IO binding (inputs and the output)."""

    def __init__(self, session: Any, contract: Contract, n: int, output: str):
        c = contract
        self.key, self.session = (n, output), session
        self.binding = session.io_binding()
        self.latents = bind_host(self.binding, c.latent_name, (n, c.latent_dim), latent_dtype(c))
        self.labels = bind_labels(self.binding, c, n)
        name, dtype, shape = output_spec(c, n, output)
        self.output = np.empty(shape, dtype=dtype)
        self.binding.bind_output(name, "cpu", 0, dtype, list(shape), self.output.ctypes.data)

    def run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        self.latents[...] = z  # cast to float16 here when the graph takes float16
        if labels is not None and self.labels is not None:
            self.labels[...] = labels
        # No RunOptions here: passing any adds a fixed cost to every call that small batches feel; the session's
        # own log level (open_session) already keeps onnxruntime's error lines off the terminal.
        self.session.run_with_iobinding(self.binding)
        return self.output


class DeviceBuffers:
    """A batch size's output kept on the GPU: converted there to uint8 (DEVICE_U8), or copied back as it is.

    With `graph_id` (a session opened with CUDA graphs) the inputs live on the device
    too, at the fixed addresses the graph replays; each call copies the latents into them.
    `device` is onnxruntime's name for where the buffers live ("cpu" runs the same steps in tests).
    """

    def __init__(self, ort: ModuleType, session: Any, contract: Contract, n: int, output: str, converter: Any,
                 graph_id: int | None = None, device: str = "cuda"):
        c = contract
        self.key, self.session, self.converter = (n, output), session, converter
        self.binding = session.io_binding()
        self.run_options = gpu.graph_run_options(ort, graph_id) if graph_id else None
        self.latent_dtype, self.label_dtype = latent_dtype(c), c.label_dtype
        self.latents: Any  # an OrtValue on the device with CUDA graphs, else a host array
        self.labels: Any
        if graph_id:
            self.latents = ort.OrtValue.ortvalue_from_shape_and_type([n, c.latent_dim], latent_dtype(c), device, 0)
            self.binding.bind_ortvalue_input(c.latent_name, self.latents)
            self.labels = (ort.OrtValue.ortvalue_from_shape_and_type([n], np.dtype(c.label_dtype), device, 0)
                           if c.conditional else None)
            if self.labels is not None:
                self.binding.bind_ortvalue_input(c.label_name, self.labels)
        else:
            self.latents = bind_host(self.binding, c.latent_name, (n, c.latent_dim), latent_dtype(c))
            self.labels = bind_labels(self.binding, c, n)
        name, dtype, shape = output_spec(c, n, HOST_FLOAT if output == DEVICE_U8 else output)
        self.device_output = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), dtype, device, 0)
        self.binding.bind_ortvalue_output(name, self.device_output)
        self.output: np.ndarray | None = None
        if output == DEVICE_U8:
            self.convert = converter.io_binding()
            self.convert.bind_ortvalue_input("image", self.device_output)
            lo, span = range_params(c.output_range)
            self.range = [bind_host(self.convert, key, (1,), np.float32) for key in ("lo", "span")]
            self.range[0][0], self.range[1][0] = lo, span
            _, _, shape = output_spec(c, n, GRAPH_U8)
            self.output = np.empty(shape, dtype=np.uint8)
            self.convert.bind_output("image_u8", "cpu", 0, np.uint8, list(shape), self.output.ctypes.data)

    def run(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
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
            host: np.ndarray = self.device_output.numpy()
            return host
        self.converter.run_with_iobinding(self.convert)
        return self.output


def latent_dtype(c: Contract) -> type[np.floating[Any]]:
    return np.float16 if c.latent_float16 else np.float32


def output_spec(c: Contract, n: int, output: str) -> tuple[str, type[np.generic], tuple[int, ...]]:
    """(output name, dtype, shape) of a batch of n: the float `image` N x C x H x W, or `image_u8` N x H x W x C."""
    if c.image_shape is None:
        raise ValueError("a model's buffers are made once its image shape is known (after its first run)")
    if output == GRAPH_U8:
        ch, h, w = c.image_shape
        return UINT8_OUTPUT, np.uint8, (n, h, w, ch)
    return c.image_name, np.float16 if c.image_float16 else np.float32, (n, *c.image_shape)


def bind_host(binding: Any, name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """A host array bound by address as input `name`: what is written into it is what the next run reads."""
    array = np.empty(shape, dtype=dtype)
    binding.bind_input(name, "cpu", 0, array.dtype, list(shape), array.ctypes.data)
    return array


def bind_labels(binding: Any, c: Contract, n: int) -> np.ndarray | None:
    """The label input of a conditional model as a bound host array of n labels (bind_host); None when unconditional."""
    if c.label_name is None or c.label_dtype is None:
        return None
    return bind_host(binding, c.label_name, (n,), c.label_dtype)
