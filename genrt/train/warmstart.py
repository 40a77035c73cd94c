"""Start a run's generator from an exported genrt generator: `genrt train --init-generator MODEL.onnx`.

A plain export (`genrt export --no-optimize`) holds the generator's weights with each batch norm folded
into the ConvTranspose before it: W' = W g / s and b' = b - m g / s per output channel. The fold loses
g, m and s, but not the layer's function, and that is what training needs back:

    load W' into the ConvTranspose; measure the mean m' and variance v' of W' x per channel on seeded inputs;
    give the batch norm running statistics (m', v'), scale sqrt(v' + eps) and shift b' + m'.

In evaluation the layer is then x -> W' x + b', exactly the exported one. In training the batch norm
divides by each batch's own statistics, which are close to (m', v'), so the first steps start from the
exported generator too. The embedding table and the output layer are copied as they are. The result is
checked against the file with onnxruntime before training starts.

Optimized graphs (sub-pixel convolutions, a Gemm first layer, int8, a plan per batch range) do not map
back onto the torch layers and are refused: export the checkpoint's generator with --no-optimize (the
bundled model's plain export is benchmarks/models/cgan_digits_plain.onnx).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from genrt.errors import InputError
from genrt.files import file_sha256
from genrt.spec import KINDS
from genrt.train.ema import STANDING_BATCHES, seeded_inputs
from genrt.train.models import ModelConfig

TOLERANCE = 1e-4  # the largest difference from the file's images, in the [-1, 1] output range
CHECK_BATCH = 16
PLAIN_EXPORT = "export the generator with `genrt export RUN -o MODEL.onnx --no-optimize`"


@torch.no_grad()
def init_generator(generator: nn.Module, path: str, cfg: ModelConfig) -> str:
    """Load the generator in `path` (a plain genrt export of a `cfg`-shaped generator) into `generator`, batch
    norms restored as the module docstring says; returns the file's sha256. InputError names what does not fit."""
    model = _read(path)
    _check_contract(path, {p.key: p.value for p in model.metadata_props}, cfg)
    tables, layers = _weights(path, model)
    convs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    if len(layers) != len(convs) or (generator.embed is None) != (not tables):
        raise InputError(f"--init-generator {path} has {len(layers)} ConvTranspose layers and {len(tables)} label "
                         f"tables where this run's generator has {len(convs)} and "
                         f"{0 if generator.embed is None else 1}; {PLAIN_EXPORT}")
    if generator.embed is not None:
        _copy(path, "embed.weight", generator.embed.weight, tables[0])
    norms = _norm_after(generator)
    for index, (conv, (weight, bias)) in enumerate(zip(convs, layers)):
        _copy(path, f"ConvTranspose {index} weight", conv.weight, weight)
        norm = norms.get(conv)
        if norm is None:
            _copy(path, f"ConvTranspose {index} bias", conv.bias, bias)
        else:
            norm.reset_running_stats()  # mean 0, variance 1: the layer computes W'x + b' while it is measured
            norm.weight.copy_(torch.full_like(norm.weight, float(np.sqrt(1.0 + norm.eps))))
            _copy(path, f"ConvTranspose {index} bias", norm.bias, bias)
    _restore_norms(generator, norms, cfg)
    _check_images(path, generator, cfg)
    return file_sha256(path)


def _read(path: str):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(path)
    except OSError as e:
        raise InputError(f"cannot read --init-generator {path}: {e.strerror or e}; pass a generator ONNX file "
                         "genrt exported") from None
    except DecodeError:
        raise InputError(f"--init-generator {path} is not an ONNX file; pass a generator ONNX file genrt "
                         "exported") from None


def _check_contract(path: str, metadata: dict, cfg: ModelConfig) -> None:
    """The file's genrt metadata against the run: the same kind, latent size, classes and image shape."""
    if "genrt.kind" not in metadata:
        raise InputError(f"--init-generator {path} has no genrt metadata; {PLAIN_EXPORT}")
    expected = {"genrt.kind": (KINDS[cfg.kind].file_kind, "the genrt train kind that made the file"),
                "genrt.latent_dim": (str(cfg.latent_dim), f"--latent-dim {metadata.get('genrt.latent_dim')}"),
                "genrt.num_classes": (str(cfg.num_classes), "data with as many classes"),
                "genrt.image_shape": (",".join(map(str, cfg.image_shape)), "--size/--channels to match")}
    for key, (want, fix) in expected.items():
        if metadata.get(key) != want:
            raise InputError(f"--init-generator {path} has {key} {metadata.get(key)!r} but this run makes {want!r}; "
                             f"use {fix}")


def _weights(path: str, model) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray | None]]]:
    """The label tables (Gather data) and the (weight, bias) of each ConvTranspose, in graph order."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    tables = [values[n.input[0]] for n in model.graph.node if n.op_type == "Gather" and n.input[0] in values]
    layers = []
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul", "QLinearConv", "DepthToSpace", "If"):
            raise InputError(f"--init-generator {path} is an optimized graph (it has {node.op_type}); {PLAIN_EXPORT}")
        if node.op_type == "ConvTranspose":
            names = list(node.input[1:3])
            if any(name and name not in values for name in names):
                raise InputError(f"--init-generator {path}: ConvTranspose {node.name!r} computes its weights; "
                                 f"{PLAIN_EXPORT}")
            layers.append((values[names[0]], values[names[1]] if len(names) > 1 and names[1] else None))
    return tables, layers


def _copy(path: str, what: str, target: torch.Tensor | None, value: np.ndarray | None) -> None:
    shape = None if value is None else tuple(value.shape)
    if target is None or value is None or tuple(target.shape) != shape:
        have = None if target is None else tuple(target.shape)
        raise InputError(f"--init-generator {path}: {what} is {shape} but this run's generator has {have}; "
                         "train with the file's widths (--ngf) and latent size")
    target.copy_(torch.from_numpy(np.array(value)).to(target.dtype))


def _norm_after(generator: nn.Module) -> dict[nn.Module, nn.BatchNorm2d]:
    """Each ConvTranspose that a batch norm follows -> that batch norm."""
    children = list(generator.net)
    return {a: b for a, b in itertools.pairwise(children)
            if isinstance(a, nn.ConvTranspose2d) and isinstance(b, nn.BatchNorm2d)}


def _restore_norms(generator: nn.Module, norms: dict[nn.Module, nn.BatchNorm2d], cfg: ModelConfig) -> None:
    """Measure each folded layer's output statistics (in evaluation, where the layers compute the exported
    function) and give them to its batch norm."""
    sums: dict[nn.Module, list] = {conv: [0.0, 0.0, 0] for conv in norms}  # per channel: sum, sum of squares, count

    def record(conv, _inputs, out):
        x = out.double().transpose(0, 1).reshape(out.shape[1], -1)  # channels x values
        totals = sums[conv]
        totals[0], totals[1], totals[2] = totals[0] + x.sum(1), totals[1] + (x * x).sum(1), totals[2] + x.shape[1]

    hooks = [conv.register_forward_hook(record) for conv in norms]
    generator.eval()
    for z, label in seeded_inputs(cfg.latent_dim, cfg.num_classes, STANDING_BATCHES):
        generator(z, label)
    for hook in hooks:
        hook.remove()
    for conv, norm in norms.items():
        total, squares, count = sums[conv]
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0)
        norm.running_mean.copy_(mean.float())
        norm.running_var.copy_(var.float())
        norm.weight.copy_(torch.sqrt(var + norm.eps).float())
        norm.bias.add_(mean.float())
    generator.train()


def _check_images(path: str, generator: nn.Module, cfg: ModelConfig) -> None:
    """The loaded generator (in evaluation) against the file's own images, run by onnxruntime."""
    from genrt.runtime.session import open_session

    z, label = next(seeded_inputs(cfg.latent_dim, cfg.num_classes, 1, seed=1))
    z, label = z[:CHECK_BATCH], None if label is None else label[:CHECK_BATCH]
    session = open_session(path, name=f"the --init-generator file {path}")
    feeds = {"z": z.numpy()} | ({} if label is None else {"label": label.numpy()})
    expected = session.run(["image"], feeds)[0]
    generator.eval()
    got = generator(z, label).numpy()
    generator.train()
    worst = float(np.abs(got - expected).max())
    if not worst <= TOLERANCE:
        raise InputError(f"--init-generator {path}: the loaded generator differs from the file's images by "
                         f"{worst:.3g} (more than {TOLERANCE:g}); {PLAIN_EXPORT}")
