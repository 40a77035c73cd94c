"""Shard files of a generated data set: written whole or not at all, hashed as written, checked, read back.

An .npy shard is one count x H x W x C uint8 array, written to a hidden temporary file
and renamed into place; its sha256 is the file's. A PNG shard is a folder of
`{index:010d}.png` files (index = the image's index in the data set), written in a
hidden staging folder and renamed into place; its sha256 is that of its files' bytes
concatenated in index order. Either is hashed while it is written, never read back
for it. A leftover temporary name (a worker killed mid-write) starts with `.shard-`
and is removed by the next run (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from typing import Iterable, Iterator

import numpy as np

from genrt.errors import OutputError
from genrt.files import file_sha256, png_bytes
from genrt.npyfile import save_npy_batches

LEFTOVER_PREFIX = ".shard-"


def write_shard(folder: str, name: str, fmt: str, start: int, count: int, batches: Iterable[np.ndarray]) -> str:
    """Write the `count` images of `batches` (uint8 N x H x W x C) as shard `name`; returns its sha256."""
    if fmt == "npy":
        return save_npy_batches(os.path.join(folder, name), count, batches, overwrite=True)
    return _write_png_folder(os.path.join(folder, name), start, count, batches)


def _write_png_folder(path: str, start: int, count: int, batches: Iterable[np.ndarray]) -> str:
    folder, base = os.path.split(path)
    staging = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
    digest, index = hashlib.sha256(), start
    try:
        os.mkdir(staging)
        for batch in batches:
            for image in batch:
                data = png_bytes(image)
                digest.update(data)
                with open(os.path.join(staging, png_name(index)), "xb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                index += 1
        if index - start != count:
            raise OutputError(f"cannot write {path}: {index - start} images arrived for {count}")
        if os.path.lexists(path):  # a damaged shard being redone: it is not listed, so nothing refers to it
            remove_path(path)
        os.rename(staging, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return digest.hexdigest()


def shard_bytes(path: str) -> int:
    """The disk space a shard takes: its file's, or the sum of its PNG files' (whole blocks where the OS says)."""
    if not os.path.isdir(path):
        return _allocated(os.stat(path))
    with os.scandir(path) as entries:
        return sum(_allocated(entry.stat()) for entry in entries if entry.is_file())


def _allocated(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)  # 512-byte units on POSIX; a small file still takes a whole block
    return max(st.st_size, blocks * 512) if blocks is not None else st.st_size


def png_name(index: int) -> str:
    return f"{index:010d}.png"


def shard_sha256(path: str, fmt: str, start: int, count: int) -> str | None:
    """The sha256 of the shard at `path` as write_shard defines it, or None if it is missing or not whole."""
    try:
        if fmt == "npy":
            if not os.path.isfile(path) or os.path.islink(path):
                return None
            return file_sha256(path)
        expected = [png_name(i) for i in range(start, start + count)]
        if os.path.islink(path) or not os.path.isdir(path) or sorted(os.listdir(path)) != expected:
            return None
        digest = hashlib.sha256()
        for name in expected:
            with open(os.path.join(path, name), "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def read_shard(path: str, fmt: str, start: int, count: int, rows: int) -> Iterator[np.ndarray]:
    """The shard's images as uint8 N x H x W x C arrays of at most `rows` images, read as they are consumed."""
    if fmt == "npy":
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        for first in range(0, count, rows):
            yield np.ascontiguousarray(array[first: first + rows])
        return
    from PIL import Image

    for first in range(start, start + count, rows):
        images = []
        for index in range(first, min(first + rows, start + count)):
            with Image.open(os.path.join(path, png_name(index))) as image:
                pixels = np.asarray(image)
            images.append(pixels[:, :, None] if pixels.ndim == 2 else pixels)
        yield np.stack(images)


def remove_path(path: str) -> None:
    """Remove a shard or leftover at `path`: a folder with what it holds, a file or link as itself (OSError as
    os.unlink raises it)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def remove_leftovers(folder: str) -> None:
    """Remove temporary files and folders that killed writers left in `folder`."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(LEFTOVER_PREFIX) and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    remove_path(entry.path)
