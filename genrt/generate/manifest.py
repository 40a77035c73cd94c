"""A generated data set's manifest: what the job is, which shards are whole, and the checks of both.

    DIR/manifest.json
      schema        "genrt.generate/1"
      job           what decides the bytes: model (its sha256, kind, classes), seed, n,
                    format, labels, truncation, shard_size, the latent rule
      image_shape   [H, W, C] of every image
      genrt_version the release that wrote it (for the record; not part of the job)
      shards        [{"file", "start", "count", "sha256"}], start = index of its first image

Shard k holds images k*shard_size .. min(n, (k+1)*shard_size) - 1, as one .npy array
(count x H x W x C uint8) or a folder of PNGs named by image index. A shard is listed
only after it is whole (shards.py writes it atomically first), and the manifest is
rewritten atomically after each one, so a crash or a kill leaves a manifest that
lists whole shards only. Labels: null (an unconditional model), "cycle" (image i has
class i mod classes, genrt's default) or one class index for every image.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

import genrt
from genrt.errors import InputError, OutputError
from genrt.files import atomic_write

SCHEMA = "genrt.generate/1"
MANIFEST = "manifest.json"
LATENT_RULE = "philox4x64-box-muller/1"  # genrt.runtime.latents; a new rule gets a new name


@dataclass(frozen=True)
class Job:
    """The parameters that decide a data set's bytes: two runs with equal Jobs write identical shards."""

    model_sha256: str
    kind: str
    classes: int
    seed: int
    n: int
    format: str
    labels: str | int | None
    truncation: float
    shard_size: int
    latents: str = LATENT_RULE

    @property
    def shard_count(self) -> int:
        return -(-self.n // self.shard_size)

    def shard(self, k: int) -> tuple[str, int, int]:
        """(file name, start, count) of shard k."""
        start = k * self.shard_size
        name = f"shard-{k:06d}" + (".npy" if self.format == "npy" else "")
        return name, start, min(self.shard_size, self.n - start)

    def label_array(self, start: int, stop: int) -> np.ndarray | None:
        """The class of images start..stop-1 (None for an unconditional model), as the data set's rule gives it."""
        if self.labels is None:
            return None
        if self.labels == "cycle":
            return np.arange(start, stop, dtype=np.int64) % self.classes
        return np.full(stop - start, int(self.labels), dtype=np.int64)


def differences(listed: Job, wanted: Job) -> list[str]:
    """What differs between the job a folder holds and the one asked for, as `name listed, not wanted`."""
    a, b = asdict(listed), asdict(wanted)
    names = {"model_sha256": "model (sha256)", "shard_size": "shard size", "latents": "latent rule"}
    return [f"{names.get(k, k)} {_short(a[k])}, not {_short(b[k])}" for k in a if a[k] != b[k]]


def _short(value) -> str:
    return value[:16] if isinstance(value, str) and len(value) == 64 else json.dumps(value)


def write_manifest(folder: str, job: Job, image_shape, shards: list[dict], model_path: str) -> dict:
    """Write DIR/manifest.json atomically (shards in image order); returns what it wrote."""
    manifest = {
        "schema": SCHEMA,
        "job": asdict(job),
        "model": {"path": model_path, "sha256": job.model_sha256},
        "image_shape": [int(d) for d in image_shape],
        "genrt_version": genrt.__version__,
        "shards": sorted(shards, key=lambda s: s["start"]),
    }
    with atomic_write(os.path.join(folder, MANIFEST)) as f:
        f.write(json.dumps(manifest, indent=1).encode())
    return manifest


def read_manifest(folder: str) -> tuple[dict, Job]:
    """(the manifest dict, its Job) of the data set in `folder`; InputError naming what is wrong with it."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, "rb") as f:
            text = f.read(64 << 20)
        manifest = json.loads(text)
    except FileNotFoundError:
        raise InputError(f"{folder} holds no {MANIFEST}: not a data set of genrt generate") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{path} cannot be read as JSON ({type(exc).__name__}); it is damaged: move the folder "
                         "away and generate it again") from None
    try:
        if manifest.get("schema") != SCHEMA:
            raise ValueError(f"schema {manifest.get('schema')!r}, not {SCHEMA!r}")
        job = Job(**manifest["job"])
        shape = manifest["image_shape"]
        if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"image_shape {shape!r}")
        for shard in manifest["shards"]:
            if set(shard) != {"file", "start", "count", "sha256"}:
                raise ValueError(f"shard entry {shard!r}")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path} is not a manifest genrt can read ({exc}); move the folder away and generate it "
                         "again") from None
    return manifest, job


def check_folder(folder: str, ignore: tuple[str, ...] = ()) -> bool:
    """True if `folder` holds a manifest; False if it is new or empty (but for `ignore`); OutputError otherwise."""
    if os.path.isfile(os.path.join(folder, MANIFEST)):
        return True
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"`out` {folder} is a file; give a folder for the data set")
    if os.path.isdir(folder) and set(os.listdir(folder)) - set(ignore):
        raise OutputError(f"`out` {folder} is not empty and holds no {MANIFEST}, so it is not a data set of genrt "
                          "generate; give a new or empty folder")
    return False
