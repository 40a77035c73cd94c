"""The generator contract: what a model file takes and gives, read from metadata or inferred.

genrt's exporter writes `genrt.*` metadata (see DESIGN.md, "The model contract").
A model exported by someone else still works when its signature is unambiguous:
one float input [N, D] (the latent), an optional integer input [N] (the label) and
a 4-D float output [N, C, H, W]. What genrt had to assume is listed in
`Contract.assumptions`, and the caller's overrides win over both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import genrt
import genrt.ext as ext
from genrt.errors import GenrtError, InputError, ModelError
from genrt.limits import (MAX_BATCH, MAX_CLASSES, MAX_IMAGE_SIDE, MAX_IMAGE_VALUES, MAX_LATENT_DIM, check_model_size,
                          metadata_json)
from genrt.runtime.onnxfile import label_table_rows
from genrt.spec import READABLE_FORMATS

FLOAT_TYPES = ("tensor(float)", "tensor(float16)")
INT_TYPES = ("tensor(int64)", "tensor(int32)")
IMAGE_CHANNELS = (1, 3, 4)


@dataclass(frozen=True)
class Contract:
    """How to drive one generator graph."""

    latent_name: str
    latent_dim: int
    image_name: str
    image_shape: tuple[int, ...] | None  # (C, H, W) when known before the first run
    output_range: tuple[float, float]
    kind: str = "unknown"  # gan | cgan | vae | unknown
    label_name: str | None = None
    label_dtype: str | None = None  # "int64" | "int32"
    num_classes: int = 0  # 0: unconditional, or unknown for a foreign conditional model
    class_names: tuple[str, ...] = ()
    latent_float16: bool = False
    image_float16: bool = False
    fixed_batch: int | None = None  # the graph takes exactly this many images per run (None: any number)
    metadata: dict[str, str] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    @property
    def conditional(self) -> bool:
        return self.label_name is not None


def read_contract(session: Any, path: str, latent_dim: int | None = None, output_range: Sequence[float] | None = None,
                  metadata_checked: bool = False) -> Contract:
    """Build the contract of an onnxruntime session's graph, or raise ModelError saying why it is no generator.

    `metadata_checked`: the file's digest matched, so its metadata was written with
    this graph and its class count need not be checked against the graph's tables.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    meta = dict(session.get_modelmeta().custom_metadata_map)
    assumptions: list[str] = []
    file_format = meta.get("genrt.format")
    if file_format is not None and file_format not in READABLE_FORMATS:
        raise ModelError(f"{path} is in genrt model format {file_format!r}; this genrt {genrt.__version__} reads format "
                         f"{', '.join(READABLE_FORMATS)}: upgrade genrt (pip install -U genrt), or export the model again")

    floats = [i for i in inputs if i.type in FLOAT_TYPES and len(i.shape) == 2]
    ints = [i for i in inputs if i.type in INT_TYPES and len(i.shape) == 1]
    images = [o for o in outputs if o.type in FLOAT_TYPES and len(o.shape) == 4]
    if len(floats) != 1 or len(ints) > 1 or len(floats) + len(ints) != len(inputs) or not images:
        found_in = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs) or "none"
        found_out = ", ".join(f"{o.name}: {o.type} {o.shape}" for o in outputs) or "none"
        raise ModelError(
            f"{path} is not a generator: expected one float input [N, latent] (plus an optional integer "
            f"label input [N]) and a 4-D float output [N, C, H, W]; found inputs {found_in}; outputs {found_out}"
        )
    z, label = floats[0], ints[0] if ints else None
    image = _image_output(images, path, assumptions)
    fixed_batch = _fixed_batch(z, label, image, path)
    if fixed_batch is not None:
        assumptions.append(f"runs batches of exactly {fixed_batch} (the graph fixes its batch dimension); "
                           "a last, shorter batch is padded")

    graph_dim = _int_or_none(z.shape[1])
    meta_dim = _meta_int(meta, "genrt.latent_dim", path, minimum=1)
    if latent_dim is not None:
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise InputError(f"`latent_dim` must be a positive integer, got {latent_dim!r}")
        if graph_dim is not None and latent_dim != graph_dim:
            raise InputError(f"`latent_dim` {latent_dim} contradicts {path}: its input '{z.name}' takes {graph_dim} "
                             "values; leave it out")
    if meta_dim is not None and graph_dim is not None and meta_dim != graph_dim:
        raise ModelError(f"{path}: its metadata says genrt.latent_dim={meta_dim} but its input '{z.name}' takes "
                         f"{graph_dim} values; export the model again")
    dim = latent_dim or meta_dim or graph_dim
    if dim is None:
        raise ModelError(
            f"{path}: the latent size of input '{z.name}' is symbolic ({z.shape}); pass latent_dim (--latent-dim)"
        )
    if latent_dim is None and meta_dim is None:
        assumptions.append(f"latent size {dim} from the shape of input '{z.name}'")

    if output_range is not None:
        value_range = _range(output_range, lambda: InputError(
            f"`output_range` must be two finite numbers lo < hi, got {output_range!r}"))
    elif "genrt.output_range" in meta:
        text = meta["genrt.output_range"]
        value_range = _range(text.split(","), lambda: ModelError(
            f"{path}: its metadata genrt.output_range={text!r} is not two finite numbers LO,HI with LO < HI; export "
            "the model again, or pass output_range (--range LO,HI)"))
    else:
        value_range = (-1.0, 1.0)
        assumptions.append("output range -1,1 (a tanh generator); for a sigmoid one pass output_range=(0, 1) (--range 0,1)")

    graph_shape = _static_shape(image.shape[1:])
    shape = _meta_shape(meta, path) or graph_shape
    if shape is not None and graph_shape is not None and shape != graph_shape:
        raise ModelError(f"{path}: its metadata says genrt.image_shape={','.join(map(str, shape))} but its output "
                         f"'{image.name}' is {','.join(map(str, graph_shape))}; export the model again")
    if shape is not None and shape[0] not in IMAGE_CHANNELS:
        raise ModelError(f"{path}: its output '{image.name}' has {shape[0]} channels; genrt makes images of 1, 3 or 4")
    num_classes = _class_count(meta, label, path, metadata_checked, assumptions)
    _check_sizes(path, fixed_batch, dim, shape, num_classes)
    class_names = _meta_class_names(meta, path, num_classes)
    if "genrt.kind" not in meta:
        assumptions.append("no genrt metadata: a model exported outside genrt")
    return Contract(
        latent_name=z.name,
        latent_dim=dim,
        image_name=image.name,
        image_shape=shape,
        output_range=value_range,
        kind=meta.get("genrt.kind", "unknown"),
        label_name=label.name if label is not None else None,
        label_dtype=label.type[len("tensor(") : -1] if label is not None else None,
        num_classes=num_classes,
        class_names=class_names,
        latent_float16=z.type == "tensor(float16)",
        image_float16=image.type == "tensor(float16)",
        fixed_batch=fixed_batch,
        metadata=meta,
        assumptions=tuple(assumptions),
    )


PRECISIONS = ("fp32", "fp16", "int8")


def variant_path(path: str, precision: str) -> str:
    """Where genrt export puts a model's variants: model.onnx -> model.fp16.onnx, model.int8.onnx."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    stem = path[: -len(".onnx")] if path.endswith(".onnx") else path
    return path if precision == "fp32" else f"{stem}.{precision}.onnx"


def _image_output(images: list[Any], path: str, assumptions: list[str]) -> Any:
    """The output that holds the images: the only 4-D float output, or the one named `image` among several."""
    if len(images) == 1:
        return images[0]
    named = [o for o in images if o.name == "image"]
    if named:
        return named[0]
    assumptions.append(f"images from output '{images[0].name}', the first of the 4-D float outputs "
                       f"{', '.join(repr(o.name) for o in images)}")
    return images[0]


def _fixed_batch(z: Any, label: Any, image: Any, path: str) -> int | None:
    """The batch size a graph fixes on its inputs and output (None when the batch dimension is symbolic)."""
    stated = (_int_or_none(arg.shape[0]) for arg in (z, label, image) if arg is not None)
    sizes = {size for size in stated if size is not None}
    if len(sizes) > 1:
        raise ModelError(f"{path} fixes different batch sizes on its inputs and output ({sorted(sizes)}); export it "
                         "with one batch dimension, best a dynamic one")
    return sizes.pop() if sizes else None


def _check_sizes(path: str, fixed_batch: int | None, latent_dim: int, shape: tuple[int, ...] | None,
                 num_classes: int) -> None:
    """ModelError when a size the graph or its metadata states is past genrt.limits (a damaged or hostile file)."""
    if fixed_batch is not None:
        check_model_size(fixed_batch, MAX_BATCH, "the batch size its graph fixes", path)
    check_model_size(latent_dim, MAX_LATENT_DIM, "the latent size", path)
    check_model_size(num_classes, MAX_CLASSES, "the class count", path)
    if shape is not None:
        check_model_size(max(shape[1:]), MAX_IMAGE_SIDE, "the image side", path)
        check_model_size(shape[0] * shape[1] * shape[2], MAX_IMAGE_VALUES, "the image's value count (C x H x W)", path)


def _class_count(meta: dict[str, str], label: Any, path: str, metadata_checked: bool, assumptions: list[str]) -> int:
    """How many classes a model has: from its metadata, checked against the label tables of its graph unless the
    digest vouches for it, or else inferred from those tables; 0 when unconditional or unknown."""
    stated = _meta_int(meta, "genrt.num_classes", path, minimum=0)
    if label is None:
        if stated:
            raise ModelError(f"{path}: its metadata says genrt.num_classes={stated} but the graph has no label input; "
                             "export the model again")
        return 0
    if stated == 0:
        raise ModelError(f"{path}: its metadata says genrt.num_classes=0 but the graph has a label input "
                         f"'{label.name}'; export the model again")
    if stated is not None and metadata_checked:
        return stated
    rows = label_table_rows(path, label.name)
    if stated is not None:
        if rows and rows != {stated}:
            raise ModelError(f"{path}: its metadata says genrt.num_classes={stated} but its label input "
                             f"'{label.name}' indexes a table of {min(rows)} rows; export the model again")
        return stated
    if len(rows) == 1:
        count = rows.pop()
        assumptions.append(f"{count} classes, the rows of the table that label input '{label.name}' indexes")
        return count
    assumptions.append(f"conditional model with an unknown number of classes (label input '{label.name}')")
    return 0


def _int_or_none(value: object) -> int | None:
    """A dimension or metadata value as an int; None for a symbolic dimension or text that is no integer."""
    if not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _static_shape(dims: Sequence[int | str | None]) -> tuple[int, ...] | None:
    sizes = tuple(d for d in dims if isinstance(d, int) and d > 0)
    return sizes if len(sizes) == len(dims) else None


def _meta_int(meta: dict[str, str], key: str, path: str, minimum: int) -> int | None:
    """An integer metadata value, or None when absent; ModelError when it is not an integer >= minimum."""
    if key not in meta:
        return None
    value = _int_or_none(meta[key])
    if value is None or value < minimum:
        raise ModelError(f"{path}: its metadata {key}={meta[key]!r} is not an integer >= {minimum}; export the model again")
    return value


def _meta_shape(meta: dict[str, str], path: str) -> tuple[int, ...] | None:
    text = meta.get("genrt.image_shape")
    if not text:
        return None
    parts = text.split(",")
    values = tuple(v for v in map(_int_or_none, parts) if v is not None and v >= 1)
    if len(parts) != 3 or len(values) != 3:
        raise ModelError(f"{path}: its metadata genrt.image_shape={text!r} is not C,H,W (three positive integers); "
                         "export the model again")
    return values


def _meta_class_names(meta: dict[str, str], path: str, num_classes: int) -> tuple[str, ...]:
    text = meta.get("genrt.class_names")
    if not text:
        return ()
    names = metadata_json(meta, "genrt.class_names", path)
    if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
        raise ModelError(f"{path}: its metadata genrt.class_names is not a JSON list of names; export the model again")
    if num_classes and len(names) != num_classes:
        raise ModelError(f"{path}: its metadata lists {len(names)} class names for {num_classes} classes; export the "
                         "model again")
    return tuple(str(n) for n in names)


def _range(values: Iterable[Any], error: Callable[[], GenrtError]) -> tuple[float, float]:
    """(lo, hi) as floats when genrt.ext can convert images in that range (ext.check_range), else raise error()."""
    try:
        lo, hi = (float(v) for v in values)
        ext.check_range((lo, hi))
    except (TypeError, ValueError):
        raise error() from None
    return lo, hi
