"""What genrt bench times, besides genrt itself: each target is a function that runs one batch.

    genrt_target              Generator.sample(batch, seed): latents, inference, uint8 images on the host
    onnxruntime_target        a bare session.run on the Generator's own session with precomputed host
                              inputs, float images back on the host: what a user writes by hand
    onnxruntime_device_target on a GPU, a bare run with inputs and outputs bound on the device (nothing
                              crosses to the host; optionally a CUDA graph): the provider's floor
    file_target               a bare run of another ONNX file of the same generator (the by-hand path)
    torch_target              PyTorch eager from the training checkpoint (torch_eager.py)
"""

from __future__ import annotations

import numpy as np

from genrt.errors import InputError, ModelError
from genrt.runtime import gpu
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.runtime.generator import Generator

# The bare device target's CUDA graph for batch b has id BARE_GRAPH_IDS + b; genrt's own graphs count from 1.
BARE_GRAPH_IDS = 100_000


def genrt_target(g: Generator, batch: int):
    return lambda: g.sample(batch, seed=0)


def feed_for(g: Generator, batch: int) -> dict:
    """The inputs genrt feeds for sample(batch, seed=0), in the graph's own dtypes."""
    c = g.contract
    z = g.latents(batch, seed=0)
    feed = {c.latent_name: z.astype(np.float16) if c.latent_float16 else z}
    if c.conditional:
        feed[c.label_name] = g.default_labels(batch)
    return feed


def onnxruntime_target(g: Generator, batch: int):
    """A bare run on g's own session (a second session would bring its own competing thread pool), host I/O;
    on a CUDA-graph session, a plain run (graphs need device inputs)."""
    feed, names = feed_for(g, batch), [g.contract.image_name]
    options = gpu.graph_run_options(import_onnxruntime(), gpu.NO_GRAPH) if g.cuda_graph else None
    return lambda: g.session.run(names, feed, options)


def onnxruntime_device_target(g: Generator, batch: int):
    """A bare run with inputs and output bound on the GPU; with g.cuda_graph, a replay of its own CUDA graph."""
    if g.providers[0] == "CPUExecutionProvider":
        raise InputError("the device-bound onnxruntime target needs a GPU provider; this session runs on CPU")
    ort = import_onnxruntime()
    c = g.contract
    binding = g.session.io_binding()
    inputs = {name: ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0) for name, value in feed_for(g, batch).items()}
    for name, value in inputs.items():
        binding.bind_ortvalue_input(name, value)
    dtype = np.float16 if c.image_float16 else np.float32  # preallocated: a graph replays fixed addresses
    output = ort.OrtValue.ortvalue_from_shape_and_type([batch, *c.image_shape], dtype, "cuda", 0)
    binding.bind_ortvalue_output(c.image_name, output)
    options = gpu.graph_run_options(ort, BARE_GRAPH_IDS + batch) if g.cuda_graph else None
    try:
        g.session.run_with_iobinding(binding, options)  # with a CUDA graph, this run captures it
    except Exception as exc:
        what = "capturing a CUDA graph" if g.cuda_graph else "a device-bound run"
        raise ModelError(f"{g.path}: {what} of batch {batch} failed: {first_line(exc)}") from exc
    keep = (inputs, output)  # the device buffers live as long as the target

    def run():
        g.session.run_with_iobinding(binding, options)
        return keep

    return run


def file_session(path: str, g: Generator, threads: int | None):
    """(session, contract) for another ONNX file of the same generator, bare, on g's provider, spinning off."""
    from genrt.runtime.contract import read_contract
    from genrt.runtime.session import open_session

    session = open_session(path, g.providers, threads=threads, spinning=False, name=path)
    contract = read_contract(session, path)
    c = g.contract
    if (contract.latent_dim, contract.conditional) != (c.latent_dim, c.conditional):
        raise InputError(f"`compare` onnxruntime:{path} takes latent size {contract.latent_dim}"
                         f"{' and labels' if contract.conditional else ''}; {g.path} takes {c.latent_dim}"
                         f"{' and labels' if c.conditional else ''}: compare files of the same generator")
    return session, contract


def file_target(session, contract, g: Generator, batch: int):
    """A bare session.run of the other file on the same latents (and labels): the by-hand path."""
    feed = feed_for(g, batch)
    z = feed[g.contract.latent_name]
    renamed = {contract.latent_name: z.astype(np.float16 if contract.latent_float16 else np.float32)}
    if contract.conditional:
        renamed[contract.label_name] = feed[g.contract.label_name].astype(contract.label_dtype)
    return lambda: session.run(None, renamed)


def torch_target(checkpoint: str, g: Generator, threads: int | None):
    from genrt.bench.torch_eager import eager_target

    return eager_target(checkpoint, g, threads)
