"""`evaluate`: the quality of a generator ONNX file against held-out real images, on the runtime alone.

    generator.onnx --Generator.sample--> n uint8 images (labels cycling through the classes)
    real data --genrt.data.split--> the held-out part (the classifier never trained on it)
    both --Extractor--> features (penultimate layer) and class probabilities
        -> FID, KID (+ standard error), Inception-Score-style score, precision / recall (k = 3),
           and for a conditional model the classifier's accuracy on each class's samples

The real side's features are cached in $GENRT_CACHE/eval (~/.cache/genrt/eval),
keyed by the data digest and the extractor's sha256. `evaluate_real` scores the
training part of the real data the same way: the real-vs-real baseline.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import warnings

import numpy as np

from genrt.data import SPLIT_RULE, Dataset, load_dataset, split
from genrt.errors import InputError
from genrt.eval import metrics
from genrt.eval.extractor import Extractor
from genrt.files import atomic_write, cache_dir, file_sha256
from genrt.limits import metadata_json
from genrt.runtime.generator import Generator

SCHEMA = "genrt.eval/1"
CHUNK = 500  # images per generator call and progress step
MAX_SAMPLES = 1_000_000  # the features of every sample stay in memory: 128 float64 each, 1 GB
MIN_REFERENCE = 10  # held-out images: FID needs a covariance
STABLE_REFERENCE = 1_000  # below this (a few per feature dimension), FID moves by whole points between draws


class TrainedOnHoldoutWarning(UserWarning):
    """The model saw the held-out images in training: its scores against them are optimistic."""


def _trained_on(metadata: dict) -> str | None:
    """The `data` a genrt model was trained on, as its metadata records it ("digits (train)" for a train split)."""
    source = metadata_json(metadata, "genrt.source", "the model", {})
    return source.get("dataset") if isinstance(source, dict) else None


class SmallSampleWarning(UserWarning):
    """Scores from so few images that they are unstable: compare them only with scores of the same sizes."""


def real_features(data: Dataset, extractor: Extractor) -> tuple[np.ndarray, np.ndarray]:
    """(features, probabilities) of `data`'s images, from the cache when this data and extractor were seen before."""
    key = hashlib.sha256(f"{data.digest()}/{extractor.sha256}/{data.source}".encode()).hexdigest()[:24]
    path = cache_dir("eval", f"real-{key}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as cached:
                return cached["features"], cached["probs"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed and replaced
    features, probs = extractor(np.ascontiguousarray(data.images.transpose(0, 2, 3, 1)))
    try:
        os.makedirs(cache_dir("eval"), exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, features=features, probs=probs)
        with atomic_write(path) as f:
            f.write(buffer.getvalue())
    except OSError:
        pass  # an unwritable cache costs time, not correctness
    return features, probs


def real_data(spec: str, image_shape) -> tuple[Dataset, Dataset]:
    """(train part, held-out part) of `data`, checked to hold C x H x W images of `image_shape`."""
    data = load_dataset(spec)
    if data.image_shape != tuple(image_shape):
        raise InputError(f"`data` {spec!r} has {'x'.join(map(str, data.image_shape))} images, the generator makes "
                         f"{'x'.join(map(str, image_shape))}; evaluate against data of the same shape")
    holdout = split(data, "holdout")
    if len(holdout.images) < MIN_REFERENCE:
        raise InputError(f"`data` {spec!r} holds out {len(holdout.images)} of its {len(data.images)} images as the "
                         f"reference ({SPLIT_RULE}); scores need at least {MIN_REFERENCE}: use more data")
    if len(holdout.images) < STABLE_REFERENCE:
        warnings.warn(f"FID against {len(holdout.images)} held-out images is unstable (use data that holds out at "
                      f"least {STABLE_REFERENCE:,}); compare it only with scores against the same images",
                      SmallSampleWarning, stacklevel=3)
    return split(data, "train"), holdout


def score_features(real_f, fake_f, fake_p, labels, num_classes, seed) -> dict:
    """The report's metrics for generated features and probabilities (with their intended `labels`, if any)."""
    kid_mean, kid_se, kid_std = metrics.kid(real_f, fake_f, seed=seed)
    is_mean, is_std = metrics.inception_score(fake_p, seed=seed)
    precision, recall = metrics.precision_recall(real_f, fake_f, seed=seed)
    scores = {"fid": metrics.fid(real_f, fake_f), "kid": kid_mean, "kid_se": kid_se, "kid_std": kid_std,
              "inception_score": is_mean, "inception_score_std": is_std, "precision": precision, "recall": recall}
    if labels is not None:
        predicted = fake_p.argmax(axis=1)
        scores["class_accuracy"] = float((predicted == labels).mean())
        scores["per_class_accuracy"] = [float((predicted[labels == k] == k).mean()) for k in range(num_classes)]
    return scores


def evaluate(model: str, data: str = "digits", n: int = 10000, seed: int = 0, extractor: str | None = None,
             device: str = "cpu", threads: int | None = None, progress=None) -> dict:
    """Score the generator ONNX file `model`; returns the report dict (schema genrt.eval/1)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 10 <= n <= MAX_SAMPLES:
        raise InputError(f"`n` must be from 10 (FID needs a covariance) to {MAX_SAMPLES:,} (the features of every "
                         f"sample stay in memory), got {n!r}")
    began = time.perf_counter()
    ex = Extractor(extractor, threads)
    g = Generator(model, device=device, threads=threads, batch_size=CHUNK)
    c = g.contract
    if tuple(c.image_shape) != ex.image_shape:
        raise InputError(f"{model} makes {'x'.join(map(str, c.image_shape))} images but the extractor {ex.path} "
                         f"takes {'x'.join(map(str, ex.image_shape))}; pass an `extractor` trained on such images")
    _, holdout = real_data(data, c.image_shape)
    if _trained_on(c.metadata) == data:
        warnings.warn(f"{model} was trained on all of `data` {data!r}, the held-out images it is scored against "
                      "included, so its scores are optimistic; train it with genrt train --split train (the default)",
                      TrainedOnHoldoutWarning, stacklevel=2)
    real_f, _ = real_features(holdout, ex)
    if c.conditional and not c.num_classes:
        raise InputError(f"{model} is conditional with an unknown number of classes; genrt eval cannot balance them")
    if n < STABLE_REFERENCE:
        warnings.warn(f"FID from {n} samples is unstable and biased upward (use `n` {STABLE_REFERENCE:,} or more); "
                      "compare it only with scores from the same n", SmallSampleWarning, stacklevel=2)
    labels = g.default_labels(n)
    z = g.latents(n, seed=seed)
    features, probs = [], []
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        images = g.decode(z[start:stop], None if labels is None else labels[start:stop])
        f, p = ex(images)
        features.append(f)
        probs.append(p)
        if progress is not None:
            progress.update(stop - start)
    scores = score_features(real_f, np.concatenate(features), np.concatenate(probs), labels, c.num_classes, seed)
    return {
        "schema": SCHEMA,
        "model": {"path": model, "sha256": file_sha256(model), "kind": c.kind,
                  "precision": c.metadata.get("genrt.precision", "unknown"), "provider": g.providers[0]},
        "extractor": ex.describe(),
        "data": {"source": data, "part": "holdout", "images": len(holdout.images), "digest": holdout.digest(),
                 "split": SPLIT_RULE},
        "n": n,
        "seed": seed,
        "metrics": scores,
        "seconds": round(time.perf_counter() - began, 1),
    }


def evaluate_real(data: str = "digits", extractor: str | None = None, seed: int = 0, threads: int | None = None) -> dict:
    """The real-vs-real baseline: the training part of `data` scored against its held-out part."""
    ex = Extractor(extractor, threads)
    train_part, holdout = real_data(data, ex.image_shape)
    real_f, _ = real_features(holdout, ex)
    fake_f, fake_p = real_features(train_part, ex)
    scores = score_features(real_f, fake_f, fake_p, train_part.labels, train_part.num_classes, seed)
    return {"schema": SCHEMA, "model": {"path": f"real images: {train_part.source}", "kind": "real"},
            "extractor": ex.describe(),
            "data": {"source": data, "part": "holdout", "images": len(holdout.images), "digest": holdout.digest(),
                     "split": SPLIT_RULE},
            "n": len(train_part.images), "seed": seed, "metrics": scores}
