"""`SampleImages`: genrt's images as a Ray Data `map_batches` step, for pipelines of your own.

    import ray
    from genrt.generate import SampleImages

    images = ray.data.range(1_000_000).map_batches(
        SampleImages, fn_constructor_kwargs={"model": "g.onnx", "seed": 0},
        concurrency=8, num_cpus=1, batch_size=1024)
    images.write_parquet("/shared/digits")          # or write_numpy(..., column="image")

Each actor opens one Generator; a batch's "id" column (image indices) gains "image"
(uint8 H x W x C) and, for a conditional model, "label". Image i is row i of
`genrt sample -n N --seed S -o x.npy`, however Ray cuts the rows into batches.
No Ray import here: the class is plain Python that Ray instantiates on its workers.
"""

from __future__ import annotations

import numpy as np

from genrt.errors import InputError
from genrt.runtime.generator import Generator


class SampleImages:
    """Callable class for `ray.data.Dataset.map_batches` over image indices (a column "id")."""

    def __init__(self, model: str | None = None, seed: int = 0, labels=None, truncation: float = 1.0,
                 device: str = "auto", threads: int | None = 1, batch_size: int = 64):
        from genrt.runtime import default_model_path

        self.generator = Generator(model or default_model_path(), device=device, threads=threads,
                                   batch_size=batch_size, spinning=False)
        self.seed, self.labels, self.truncation = seed, labels, truncation

    def __call__(self, batch: dict) -> dict:
        ids = np.asarray(batch["id"], dtype=np.int64)
        if ids.ndim != 1 or len(ids) == 0 or ids.min() < 0:
            raise InputError("SampleImages needs a column \"id\" of image indices >= 0, as ray.data.range(n) makes")
        order = np.argsort(ids, kind="stable")
        images = np.empty((len(ids), *self._shape()), dtype=np.uint8)
        runs = np.flatnonzero(np.diff(ids[order]) != 1) + 1  # contiguous runs of indices: one draw each
        for run in np.split(order, runs):
            first = int(ids[run[0]])
            images[run] = self.generator.sample(len(run), self.seed, self.labels, self.truncation, start=first)
        out = {**batch, "image": images}
        g = self.generator
        if g.contract.conditional:
            out["label"] = g.label_array(self.labels, 1).repeat(len(ids)) if self.labels is not None else \
                ids % g.contract.num_classes
        return out

    def _shape(self) -> tuple[int, int, int]:
        if self.generator.image_shape is None:
            self.generator.sample(1, self.seed)
        c, h, w = self.generator.image_shape
        return h, w, c
