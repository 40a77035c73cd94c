"""What a request asks for and what it gets back: parameters checked against the model, images encoded.

    GET  /v1/sample.png?n=16&seed=3&label=7&truncation=0.8&nrow=4      -> a PNG grid
    GET  /v1/sample.png?n=8&seed=3&label=all                           -> n per class, one row per class
    GET  /v1/interpolate.png?a=3&b=4&steps=8&label=7&truncation=0.8    -> one row walking from seed a to b
    POST /v1/generate {"n": 16, "seed": 3, "labels": [1, 2, ...], "truncation": 0.8,
                       "format": "png" | "zip" | "npy" | "json", "nrow": 4}

A request's images are the same bytes as `genrt sample` with those options
(`--label all`, `--interpolate STEPS --seed A --to B`). Without a seed, one is drawn
and returned in the `X-Genrt-Seed` header, so any answer can be reproduced. Every
refusal is an InputError in genrt's words: a parameter given twice, a field of the
wrong JSON type, a number of hundreds of digits or a body nested past reason.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import zipfile
from dataclasses import dataclass

import numpy as np

import genrt.ext as ext
from genrt.errors import InputError
from genrt.files import png_bytes
from genrt.runtime.latents import interpolate_latents
from genrt.spec import MAX_SEED

FORMATS = {"png": "image/png", "zip": "application/zip", "npy": "application/octet-stream",
           "json": "application/json"}
MAX_REQUEST_BYTES = 1 << 28  # pixels of one request's images: 256 MB, the same cap as genrt sample's grids
MAX_DIGITS = 40  # of any number in a request: MAX_SEED has 20
MAX_STEPS = 256  # frames of one interpolation strip
QUERY_FIELDS = ("n", "seed", "label", "truncation", "nrow")
INTERPOLATE_FIELDS = ("a", "b", "steps", "label", "truncation")
JSON_FIELDS = ("n", "seed", "labels", "truncation", "format", "nrow")


@dataclass(frozen=True)
class SampleRequest:
    n: int  # images in the answer
    seed: int
    z: np.ndarray  # float32 n x latent_dim: what the graph is fed
    labels: np.ndarray | None  # n class indices (None for an unconditional model)
    nrow: int
    format: str = "png"


def from_query(pairs, g, max_images: int) -> SampleRequest:
    """A GET /sample.png query string (its (name, value) pairs) as a SampleRequest for Generator `g`."""
    query = _single(pairs, QUERY_FIELDS)
    label = _label(query.get("label"))
    fields = {name: _number(query[name], name) for name in ("n", "seed", "truncation", "nrow") if name in query}
    return _checked(g, max_images, labels=label, fmt="png", **fields)


def from_interpolate_query(pairs, g) -> SampleRequest:
    """A GET /interpolate.png query string as the one-row strip `genrt sample --interpolate STEPS --seed A --to B`
    draws: latents of seeds a and b (scaled by truncation), slerp between them; class 0 by default."""
    query = _single(pairs, INTERPOLATE_FIELDS)
    for name in ("a", "b"):
        if name not in query:
            raise InputError(f"{name} (the seed at the strip's {'start' if name == 'a' else 'end'}) is required")
    a, b = (_integer(_number(query[name], name), name, 0, MAX_SEED) for name in ("a", "b"))
    steps = _integer(_number(query.get("steps", "8"), "steps"), "steps", 2, MAX_STEPS)
    truncation = _truncation(_number(query.get("truncation", "1"), "truncation"))
    label = _label(query.get("label"))
    if label is None and g.contract.conditional:
        label = 0
    ends = g.latents(1, a, truncation)[0], g.latents(1, b, truncation)[0]
    z = interpolate_latents(*ends, steps)
    _check_size(g, steps)
    return SampleRequest(steps, a, z, g.label_array(label, steps), steps)


def from_json(body: bytes, g, max_images: int) -> SampleRequest:
    """A POST's JSON body as a SampleRequest for Generator `g`."""
    example = 'send an object such as {"n": 4, "seed": 0}'
    try:
        fields = json.loads(body or b"{}", parse_int=_json_int, parse_constant=_json_constant)
    except RecursionError:
        raise InputError(f"the body nests arrays or objects too deeply; {example}") from None
    except ValueError as exc:
        reason = exc.args[0] if isinstance(exc, InputError) else f"the body is not JSON ({_shown(exc)})"
        raise InputError(f"{reason}; {example}") from None
    if not isinstance(fields, dict):
        raise InputError(f"the body must be a JSON object; {example}")
    unknown = sorted(set(fields) - set(JSON_FIELDS))
    if unknown:
        raise InputError(f"unknown field {_shown(unknown[0])}; use {', '.join(JSON_FIELDS)}")
    labels = fields.pop("labels", None)
    fmt = fields.pop("format", "png")
    return _checked(g, max_images, labels=labels, fmt=fmt, **fields)


def _checked(g, max_images: int, n=16, seed=None, labels=None, truncation=1.0, nrow=8, fmt="png") -> SampleRequest:
    n = _integer(n, "n", 1, max_images)
    seed = secrets.randbits(63) if seed is None else _integer(seed, "seed", 0, MAX_SEED)
    truncation = _truncation(truncation)
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {_shown(fmt)}")
    nrow = _integer(nrow, "nrow", 1, 4096)
    if labels == "all":  # n per class, one row per class: every row draws the same n latents
        classes = g.contract.num_classes
        if not g.contract.conditional or not classes:
            raise InputError("label all needs a class-conditional model with known classes; this one has none")
        if n * classes > max_images:
            raise InputError(f"label all draws n images per class: {n} x {classes} classes = {n * classes:,} images; "
                             f"this server takes at most {max_images:,} per request: ask for fewer")
        _check_size(g, n * classes)
        z = np.tile(g.latents(n, seed, truncation), (classes, 1))
        label_array = np.repeat(np.arange(classes), n).astype(g.contract.label_dtype)
        return SampleRequest(n * classes, seed, z, label_array, n, fmt)
    if isinstance(labels, list) and not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in labels):
        raise InputError("labels must be class indices or names")
    if labels is not None and not isinstance(labels, (int, str, list)) or isinstance(labels, bool):
        raise InputError(f"labels must be a class index or name, or a list of n of them, got {_shown(labels)}")
    _check_size(g, n)
    label_array = g.label_array(labels, n)  # refuses classes the model does not have, and a list of the wrong length
    return SampleRequest(n, seed, g.latents(n, seed, truncation), label_array, nrow, fmt)


def encode(request: SampleRequest, images: np.ndarray) -> bytes:
    """The response body for uint8 N x H x W x C `images` in the request's format."""
    if request.format == "png":
        return png_bytes(ext.make_grid(images, nrow=request.nrow))
    if request.format == "npy":
        buffer = io.BytesIO()
        np.save(buffer, images, allow_pickle=False)
        return buffer.getvalue()
    if request.format == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
            for i, image in enumerate(images):
                archive.writestr(f"seed{request.seed}_{i:04d}.png", png_bytes(image))
        return buffer.getvalue()
    return json.dumps({"seed": request.seed, "n": request.n, "shape": list(images.shape[1:]),
                       "images": [base64.b64encode(png_bytes(image)).decode("ascii") for image in images]}).encode()


def _check_size(g, n: int) -> None:
    c, h, w = g.image_shape
    if n * c * h * w > MAX_REQUEST_BYTES:
        raise InputError(f"{n} images of {h}x{w}x{c} take {n * c * h * w / 1e6:,.0f} MB; one request may take "
                         f"{MAX_REQUEST_BYTES / 1e6:.0f} MB: ask for fewer")


def _single(pairs, fields: tuple[str, ...]) -> dict[str, str]:
    """The query's (name, value) pairs as a dict: every name known and given once."""
    query: dict[str, str] = {}
    for name, value in pairs:
        if name not in fields:
            raise InputError(f"unknown parameter {_shown(name)}; use {', '.join(fields)}")
        if name in query:
            raise InputError(f"parameter {name} is given twice; give it once")
        query[name] = value
    return query


def _label(text: str | None):
    if text is not None and re.fullmatch(r"-?[0-9]{1,%d}" % MAX_DIGITS, text):  # ASCII digits only: int("²") fails
        return int(text)
    return text


def _truncation(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InputError(f"truncation must be a number in (0, 1] (1 = off), got {_shown(value)}")
    return float(value)


def _number(text: str, name: str):
    if len(text) > MAX_DIGITS:
        raise InputError(f"{name} has {len(text):,} characters; numbers here have at most {MAX_DIGITS}")
    try:
        return float(text) if name == "truncation" else int(text)
    except ValueError:
        raise InputError(f"{name} must be a number, got {_shown(text)}") from None


def _integer(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high:,}, got {_shown(value)}")
    return value


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise InputError(f"a number in the body has {len(text.lstrip('-')):,} digits; numbers here have at most "
                         f"{MAX_DIGITS}")
    return int(text)


def _json_constant(name: str):
    raise InputError(f"the body holds {name}, which JSON does not allow")


def _shown(value, limit: int = 60) -> str:
    """repr(value) cut to `limit` characters: an answer never echoes a whole hostile value."""
    text = repr(value) if not isinstance(value, Exception) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
