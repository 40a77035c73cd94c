"""`evaluate_dataset`: the scores of `genrt eval` for a data set that `genrt generate` wrote.

The shards are read in image order, a chunk at a time (each one's sha256 checked
against the manifest first), so memory holds one chunk of images and the features;
the intended class of each image comes from the manifest's label rule.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from genrt.data import SPLIT_RULE
from genrt.errors import InputError
from genrt.eval.core import CHUNK, MAX_SAMPLES, MIN_REFERENCE, SCHEMA, STABLE_REFERENCE, SmallSampleWarning, \
    real_data, real_features, score_features
from genrt.eval.extractor import Extractor
from genrt.generate.manifest import read_manifest
from genrt.generate.shards import read_shard, shard_sha256


def evaluate_dataset(folder: str, data: str = "digits", extractor: str | None = None, threads: int | None = None,
                     progress=None) -> dict:
    """Score the images of the data set in `folder`; returns the report dict (schema genrt.eval/1), the same
    as `evaluate` of its model with the data set's n and seed."""
    began = time.perf_counter()
    manifest, job = read_manifest(folder)
    shards = sorted(manifest["shards"], key=lambda s: s["start"])
    held = sum(s["count"] for s in shards)
    if held != job.n:
        raise InputError(f"{folder} holds {held:,} of its {job.n:,} images ({len(shards)} of {job.shard_count} "
                         "shards); run the same genrt generate command to finish it")
    if not MIN_REFERENCE <= job.n <= MAX_SAMPLES:
        raise InputError(f"{folder} holds {job.n:,} images; genrt eval scores {MIN_REFERENCE} to {MAX_SAMPLES:,}")
    ex = Extractor(extractor, threads)
    h, w, c = manifest["image_shape"]
    if (c, h, w) != ex.image_shape:
        raise InputError(f"{folder} holds {c}x{h}x{w} images but the extractor {ex.path} takes "
                         f"{'x'.join(map(str, ex.image_shape))}; pass an `extractor` trained on such images")
    _, holdout = real_data(data, (c, h, w))
    real_f, _ = real_features(holdout, ex)
    if job.n < STABLE_REFERENCE:
        warnings.warn(f"FID from {job.n} images is unstable and biased upward (use {STABLE_REFERENCE:,} or more); "
                      "compare it only with scores from as many images", SmallSampleWarning, stacklevel=2)
    features, probs = [], []
    for shard in shards:
        path = os.path.join(folder, shard["file"])
        if shard_sha256(path, job.format, shard["start"], shard["count"]) != shard["sha256"]:
            raise InputError(f"{path} is damaged or missing (its sha256 is not the manifest's); run the same genrt "
                             "generate command to redo it")
        for images in read_shard(path, job.format, shard["start"], shard["count"], CHUNK):
            f, p = ex(images)
            features.append(f)
            probs.append(p)
            if progress is not None:
                progress.update(len(images))
    labels = job.label_array(0, job.n)
    scores = score_features(real_f, np.concatenate(features), np.concatenate(probs), labels, job.classes, job.seed)
    return {
        "schema": SCHEMA,
        "model": {"path": folder, "sha256": job.model_sha256, "kind": f"data set of a {job.kind}",
                  "dataset": manifest["job"]},
        "extractor": ex.describe(),
        "data": {"source": data, "part": "holdout", "images": len(holdout.images), "digest": holdout.digest(),
                 "split": SPLIT_RULE},
        "n": job.n,
        "seed": job.seed,
        "metrics": scores,
        "seconds": round(time.perf_counter() - began, 1),
    }
