"""One .npy file written from batches of images as they arrive: one batch in memory at a time, all or nothing.

The header is the one `np.save` writes for the whole array (its shape known from the
count and the first batch), so the file loads with `np.load` like any other; its
sha256 is computed as the bytes are written, not by reading the file again.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from typing import IO

import numpy as np

from genrt.errors import OutputError
from genrt.files import Path, atomic_write
from genrt.limits import check_disk


def save_npy_batches(path: Path, count: int, batches: Iterable[np.ndarray], overwrite: bool) -> str:
    """Write `count` uint8 images that arrive in `batches` as one count x H x W x C .npy file, one batch in memory at
    a time; all or nothing. The image shape is the first batch's. Returns the file's sha256, hashed as written."""
    arriving = iter(batches)
    first = next(arriving, None)
    if first is None:
        raise OutputError(f"cannot write {path}: no images arrived")
    check_disk(path, count * first[0].nbytes, "ask for fewer images or free some space")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
              "shape": (int(count), *(int(d) for d in first.shape[1:]))}
    with atomic_write(path, overwrite) as f:
        out = HashingWriter(f)
        np.lib.format.write_array_header_1_0(out, header)  # the header np.save writes for this array
        written = 0
        for batch in itertools.chain([first], arriving):
            if batch.shape[1:] != first.shape[1:]:
                raise OutputError(f"cannot write {path}: images of shape {batch.shape[1:]} after {first.shape[1:]}")
            out.write(np.ascontiguousarray(batch, dtype=np.uint8).data.cast("B"))
            written += len(batch)
        if written != count:
            raise OutputError(f"cannot write {path}: {written} images arrived for {count}")
    return out.sha256.hexdigest()


class HashingWriter:
    """A binary file that hashes what is written to it (`sha256`), so a file's digest costs no second read."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.sha256 = f, hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        self.sha256.update(data)
        self.f.write(data)
