"""What genrt bench times, besides genrt itself: each target is a function that runs one batch.

    genrt_target          Generator.sample(batch, seed): latents, inference, uint8 images
    onnxruntime_target    a bare run on the Generator's own session and precomputed inputs
                          (on CUDA: inputs and outputs bound on the device; optionally a CUDA graph)
    file_target           a bare run of another ONNX file of the same generator (the by-hand path)
    torch_target          PyTorch eager from the training checkpoint (torch_eager.py)
"""

from __future__ import annotations

import numpy as np

from genrt.errors import InputError
from genrt.runtime.environment import import_onnxruntime
from genrt.runtime.generator import Generator


def genrt_target(g: Generator, batch: int):
    return lambda: g.sample(batch, seed=0)


def feed_for(g: Generator, batch: int) -> dict:
    c = g.contract
    feed = {c.latent_name: g.latents(batch, seed=0)}
    if c.conditional:
        feed[c.label_name] = g.default_labels(batch)
    return feed


def onnxruntime_target(g: Generator, batch: int, cuda_graph: bool):
    """A bare run on g's own session (a second session would bring its own competing thread pool)."""
    feed = feed_for(g, batch)
    provider = g.providers[0]
    if provider == "CPUExecutionProvider":
        if cuda_graph:
            raise InputError("`cuda_graph` needs the CUDA provider; this session runs on CPU")
        return lambda: g.session.run(None, feed)
    ort = import_onnxruntime()
    session = _cuda_graph_session(g) if cuda_graph else g.session
    binding = session.io_binding()
    device_inputs = {name: ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0) for name, value in feed.items()}
    for name, value in device_inputs.items():
        binding.bind_ortvalue_input(name, value)
    c = g.contract
    if cuda_graph:  # a graph replays fixed addresses: preallocate the output on the device
        dtype = np.float16 if c.image_float16 else np.float32
        output = ort.OrtValue.ortvalue_from_shape_and_type([batch, *c.image_shape], dtype, "cuda", 0)
        binding.bind_ortvalue_output(c.image_name, output)
    else:
        binding.bind_output(c.image_name, "cuda", 0)
    session.run_with_iobinding(binding)  # with a CUDA graph, this run captures it
    return lambda: session.run_with_iobinding(binding)


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
    renamed = {contract.latent_name: feed[g.contract.latent_name]}
    if contract.conditional:
        renamed[contract.label_name] = feed[g.contract.label_name].astype(contract.label_dtype)
    return lambda: session.run(None, renamed)


def _cuda_graph_session(g: Generator):
    from genrt.runtime.generator import CUDA_OPTIONS

    if g.providers[0] != "CUDAExecutionProvider":
        raise InputError(f"`cuda_graph` needs the CUDA provider; this session runs on {g.providers[0]}")
    from genrt.runtime.session import open_session

    return open_session(g.path, [("CUDAExecutionProvider", {**CUDA_OPTIONS, "enable_cuda_graph": "1"}),
                                 "CPUExecutionProvider"])


def torch_target(checkpoint: str, g: Generator, threads: int | None):
    from genrt.bench.torch_eager import eager_target

    return eager_target(checkpoint, g, threads)
