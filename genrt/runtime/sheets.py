"""Contact sheets: which latents and labels go where in a grid of samples.

`genrt sample` lays out three kinds of sheet, all as uint8 N x H x W x C images in
row-major order with a number of columns:

- plain: n samples from one seed, `columns` per row;
- one row per class (`--label all`): the same `per_class` latents in every row, so
  a column shows one latent drawn as each class (the usual cGAN figure);
- interpolation (`--interpolate STEPS`): each row walks from one seeded latent to
  the next, `steps` images per row (`--to SEED`: one row, from the first latent of
  the seed to the first latent of SEED).

A `Sheet` makes its images as batches of at most `batch_size`, drawn as they are
consumed, so a sheet written to a folder or an .npy file needs one batch of memory
whatever its size; `images()` concatenates them for a grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from genrt.errors import InputError
from genrt.runtime.generator import Generator
from genrt.runtime.labels import Labels
from genrt.runtime.latents import interpolate_latents, latent_chunks


@dataclass(frozen=True)
class Sheet:
    count: int  # images
    columns: int
    make: Callable[[int], Iterator[np.ndarray]]  # batch size -> uint8 batches, in row-major order

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        return self.make(batch_size)

    def images(self, batch_size: int) -> np.ndarray:
        parts = list(self.batches(batch_size))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def plain_sheet(g: Generator, n: int, seed: int, labels: Labels = None, truncation: float = 1.0,
                columns: int = 8) -> Sheet:
    """n images from `seed`, with `columns` per row."""
    g.sample_batches(n, seed, labels, truncation)  # checks the arguments now, not at the first batch
    return Sheet(n, columns, lambda step: g.sample_batches(n, seed, labels, truncation, batch_size=step))


def class_sheet(g: Generator, per_class: int, seed: int, truncation: float = 1.0) -> Sheet:
    """One row per class; every row uses the same `per_class` latents."""
    classes = g.contract.num_classes
    if not g.contract.conditional:
        raise InputError(f"--label all needs a class-conditional model; {g.path} is unconditional")
    if not classes:
        raise InputError(f"{g.path} does not say how many classes it has, so --label all cannot list them")
    g.latents(1, seed, truncation)  # checks seed and truncation now

    def make(step: int) -> Iterator[np.ndarray]:
        for label in range(classes):
            for z in _scaled(latent_chunks(seed, 0, per_class, g.latent_dim, step), truncation):
                yield g.decode(z, label, batch_size=step)

    return Sheet(classes * per_class, per_class, make)


def interpolation_sheet(g: Generator, rows: int, steps: int, seed: int, labels: Labels = None,
                        truncation: float = 1.0, mode: str = "slerp", to: int | None = None) -> Sheet:
    """`rows` rows of `steps` images, row r walking from latent r to latent r + 1 of `seed`.

    With `to` (a seed), one row walking from the first latent of `seed` to the first
    latent of `to` instead (what genrt serve's /interpolate.png draws). Labels: None
    (conditional models: row r is class r mod K), one label for every row, or "all"
    (one row per class, all walking the same path).
    """
    interpolate_latents(np.zeros(1), np.zeros(1), steps, mode, 0, 1)  # checks steps and mode now
    g.latents(1, seed, truncation)
    if to is not None:
        pair = (g.latents(1, seed, truncation)[0], g.latents(1, to, truncation)[0])
        rows = 1
    if labels == "all":
        if not g.contract.num_classes:
            raise InputError(f"--label all needs a class-conditional model with known classes; {g.path} has none")
        rows = g.contract.num_classes
        if to is None:
            pair = tuple(g.latents(2, seed, truncation))

        def ends() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            return itertools.repeat(pair, rows)

        def row_label(r: int) -> Labels:
            return r
    else:
        def ends() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            if to is not None:
                return iter([pair])
            return _pairs(_scaled(latent_chunks(seed, 0, rows + 1, g.latent_dim, 4096), truncation))

        def row_label(r: int) -> Labels:
            if labels is not None or not g.contract.conditional:
                return labels
            return r % max(g.contract.num_classes, 1)

    def make(step: int) -> Iterator[np.ndarray]:
        for r, (a, b) in enumerate(ends()):
            for start in range(0, steps, step):
                path = interpolate_latents(a, b, steps, mode, start, min(start + step, steps))
                yield g.decode(path, row_label(r), batch_size=step)

    return Sheet(rows * steps, steps, make)


def _scaled(chunks: Iterable[np.ndarray], truncation: float) -> Iterator[np.ndarray]:
    for z in chunks:
        if truncation != 1.0:
            z *= np.float32(truncation)
        yield z


def _pairs(chunks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive latents (z[r], z[r + 1]) from chunks of rows."""
    previous: np.ndarray | None = None
    for z in chunks:
        for row in z:
            if previous is not None:
                yield previous, row
            previous = row

