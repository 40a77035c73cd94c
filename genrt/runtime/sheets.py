"""Contact sheets: which latents and labels go where in a grid of samples.

`genrt sample` lays out three kinds of sheet, all as uint8 N x H x W x C images in
row-major order plus the number of columns:

- plain: n samples from one seed, `columns` per row;
- one row per class (`--label all`): the same `per_class` latents in every row, so
  a column shows one latent drawn as each class (the usual cGAN figure);
- interpolation (`--interpolate STEPS`): each row walks from one seeded latent to
  the next, `steps` images per row.
"""

from __future__ import annotations

import numpy as np

from genrt.errors import InputError
from genrt.runtime.generator import Generator
from genrt.runtime.latents import interpolate_latents


def plain_sheet(g: Generator, n: int, seed, labels=None, truncation=1.0, batch_size=None, columns=8):
    """n images from `seed`, with `columns` per row."""
    return g.sample(n, seed, labels, truncation, batch_size), columns


def class_sheet(g: Generator, per_class: int, seed, truncation=1.0, batch_size=None):
    """One row per class; every row uses the same `per_class` latents."""
    classes = g.contract.num_classes
    if not g.contract.conditional:
        raise InputError(f"--label all needs a class-conditional model; {g.path} is unconditional")
    if not classes:
        raise InputError(f"{g.path} does not say how many classes it has, so --label all cannot list them")
    z = np.tile(g.latents(per_class, seed, truncation), (classes, 1))
    labels = np.repeat(np.arange(classes), per_class)
    return g.decode(z, labels, batch_size=batch_size), per_class


def interpolation_sheet(
    g: Generator, rows: int, steps: int, seed, labels=None, truncation=1.0, batch_size=None, mode="slerp"
):
    """`rows` rows of `steps` images, row r walking from latent r to latent r + 1 of `seed`.

    Labels: None (conditional models: row r is class r mod K), one label for every
    row, or "all" (one row per class, all walking the same path).
    """
    if labels == "all":
        if not g.contract.num_classes:
            raise InputError(f"--label all needs a class-conditional model with known classes; {g.path} has none")
        rows = g.contract.num_classes
        ends = np.repeat(g.latents(2, seed, truncation)[None], rows, axis=0)
        row_labels = list(range(rows))
    else:
        z = g.latents(rows + 1, seed, truncation)
        ends = np.stack([z[:-1], z[1:]], axis=1)
        if labels is not None or not g.contract.conditional:
            row_labels = [labels] * rows
        else:
            row_labels = [r % max(g.contract.num_classes, 1) for r in range(rows)]
    path = np.concatenate([interpolate_latents(a, b, steps, mode) for a, b in ends])
    per_image = None if row_labels[0] is None else [label for label in row_labels for _ in range(steps)]
    return g.decode(path, per_image, batch_size=batch_size), steps
