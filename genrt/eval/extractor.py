"""The feature extractor genrt eval scores with: a classifier ONNX file written by `genrt export`.

Its graph takes `image` float32 [batch, C, H, W] in [0, 1] and gives `logits`
[batch, K] and `features` [batch, F] (the penultimate layer). genrt ships one
for the embedded digits (digits_classifier.onnx, README "Evaluation"); any file
with the same contract works. Scores are comparable only under the same
extractor, so its sha256 travels with every score.
"""

from __future__ import annotations

import importlib.resources
import os

import numpy as np

import genrt.ext as ext
from genrt.errors import InputError, ModelError
from genrt.files import file_sha256
from genrt.limits import metadata_json
from genrt.runtime.onnxfile import check_external_data
from genrt.runtime.session import open_session
from genrt.spec import KINDS

BUNDLED = "digits_classifier.onnx"


def bundled_extractor_path() -> str | None:
    resource = importlib.resources.files("genrt.eval").joinpath(BUNDLED)
    return str(resource) if resource.is_file() else None


class Extractor:
    """Features and class probabilities of uint8 images, from a genrt classifier ONNX file."""

    def __init__(self, path: str | None = None, threads: int | None = None):
        path = path or bundled_extractor_path()
        if path is None:
            raise InputError("no `extractor` given and this install has no bundled digits classifier")
        if not os.path.isfile(path):
            raise ModelError(f"extractor not found: {path}")
        check_external_data(path)
        self.session = open_session(path, threads=threads, name=f"the extractor {path}")
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get("genrt.kind") != KINDS["classifier"].file_kind:
            raise ModelError(f"{path} is not a genrt classifier (genrt.kind={meta.get('genrt.kind')!r}); make one with "
                             "genrt train classifier, then genrt export")
        self.path = path
        self.sha256 = file_sha256(path)
        self.image_shape = tuple(int(v) for v in meta["genrt.image_shape"].split(","))
        self.class_names = tuple(metadata_json(meta, "genrt.class_names", path, []))
        self.holdout_accuracy = float(meta.get("genrt.holdout_accuracy", "nan"))
        self.source = metadata_json(meta, "genrt.source", path, {})

    def describe(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "image_shape": list(self.image_shape),
                "holdout_accuracy": self.holdout_accuracy, "trained_on": self.source.get("dataset"),
                "data_digest": self.source.get("data_digest"), "split": self.source.get("split")}

    def __call__(self, images: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """(features N x F float32, class probabilities N x K float64) for uint8 N x H x W x C images."""
        if images.shape[1:] != (self.image_shape[1], self.image_shape[2], self.image_shape[0]):
            h, w, c = images.shape[1:]
            raise InputError(f"the extractor takes {'x'.join(map(str, self.image_shape))} (C x H x W) images, "
                             f"got {c}x{h}x{w}")
        features, probs = [], []
        for start in range(0, len(images), batch_size):
            x = ext.to_float(images[start : start + batch_size], value_range=(0.0, 1.0))  # N x C x H x W
            logits, feats = self.session.run(["logits", "features"], {"image": x})
            z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            probs.append(p / p.sum(axis=1, keepdims=True))
            features.append(feats)
        return np.concatenate(features), np.concatenate(probs)
