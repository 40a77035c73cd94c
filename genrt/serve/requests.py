"""What a request asks for and what it gets back: parameters checked against the model, images encoded.

    GET  /v1/sample.png?n=16&seed=3&label=7&truncation=0.8&nrow=4      -> a PNG grid
    POST /v1/generate {"n": 16, "seed": 3, "labels": [1, 2, ...], "truncation": 0.8,
                       "format": "png" | "zip" | "npy" | "json", "nrow": 4}

A request's images are `Generator.sample(n, seed, labels, truncation)`: the same
bytes as `genrt sample` with those options. Without a seed, one is drawn and
returned in the `X-Genrt-Seed` header, so any answer can be reproduced.
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
from genrt.spec import MAX_SEED

FORMATS = {"png": "image/png", "zip": "application/zip", "npy": "application/octet-stream",
           "json": "application/json"}
MAX_REQUEST_BYTES = 1 << 28  # pixels of one request's images: 256 MB, the same cap as genrt sample's grids
QUERY_FIELDS = ("n", "seed", "label", "truncation", "nrow")
JSON_FIELDS = ("n", "seed", "labels", "truncation", "format", "nrow")


@dataclass(frozen=True)
class SampleRequest:
    n: int
    seed: int
    labels: np.ndarray | None  # what the graph is fed: n class indices (None for an unconditional model)
    truncation: float
    nrow: int
    format: str = "png"


def from_query(query, g, max_images: int) -> SampleRequest:
    """A GET's query string (a mapping of str to str) as a SampleRequest for Generator `g`."""
    unknown = sorted(set(query) - set(QUERY_FIELDS))
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r}; use {', '.join(QUERY_FIELDS)}")
    label = query.get("label")
    if label is not None and re.fullmatch(r"-?[0-9]+", label):  # ASCII digits only: int("²") fails
        label = int(label)
    fields = {name: _number(query[name], name) for name in ("n", "seed", "truncation", "nrow") if name in query}
    return _checked(g, max_images, labels=label, fmt="png", **fields)


def from_json(body: bytes, g, max_images: int) -> SampleRequest:
    """A POST's JSON body as a SampleRequest for Generator `g`."""
    try:
        fields = json.loads(body or b"{}")
    except ValueError as exc:
        raise InputError(f"the body is not JSON ({exc}); send an object such as {{\"n\": 4, \"seed\": 0}}") from None
    if not isinstance(fields, dict):
        raise InputError("the body must be a JSON object such as {\"n\": 4, \"seed\": 0}")
    unknown = sorted(set(fields) - set(JSON_FIELDS))
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}; use {', '.join(JSON_FIELDS)}")
    labels = fields.pop("labels", None)
    fmt = fields.pop("format", "png")
    return _checked(g, max_images, labels=labels, fmt=fmt, **fields)


def _checked(g, max_images: int, n=16, seed=None, labels=None, truncation=1.0, nrow=8, fmt="png") -> SampleRequest:
    n = _integer(n, "n", 1, max_images)
    c, h, w = g.image_shape
    if n * c * h * w > MAX_REQUEST_BYTES:
        raise InputError(f"{n} images of {h}x{w}x{c} take {n * c * h * w / 1e6:,.0f} MB; one request may take "
                         f"{MAX_REQUEST_BYTES / 1e6:.0f} MB: ask for fewer")
    seed = secrets.randbits(63) if seed is None else _integer(seed, "seed", 0, MAX_SEED)
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 < truncation <= 1:
        raise InputError(f"truncation must be a number in (0, 1] (1 = off), got {truncation!r}")
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(labels, list) and not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in labels):
        raise InputError("labels must be class indices or names")
    if isinstance(labels, (bool, float, dict)):
        raise InputError(f"labels must be a class index or name, or a list of n of them, got {labels!r}")
    label_array = g.label_array(labels, n)  # refuses classes the model does not have, and a list of the wrong length
    return SampleRequest(n, seed, label_array, float(truncation), _integer(nrow, "nrow", 1, 4096), fmt)


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


def _number(text: str, name: str):
    try:
        return float(text) if name == "truncation" else int(text)
    except ValueError:
        raise InputError(f"{name} must be a number, got {text!r}") from None


def _integer(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high:,}, got {value!r}")
    return value
