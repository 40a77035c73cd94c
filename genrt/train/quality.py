"""Quality while training (`eval_every`): FID and class accuracy of the generator, scored as `genrt eval` scores.

The generator (the averaged one when the run keeps an average, with its standing
batch-norm statistics, as it is exported) draws `eval_samples` images from the
latents `genrt eval` draws at seed 0 (genrt.runtime.latents) with the labels cycling
through the classes; the images go to uint8 as the exported graph writes them, and
genrt.eval's extractor and metrics (onnxruntime + numpy) score them against the
held-out part of the run's data. So a score logged at step t is the score
`genrt eval --n eval_samples` gives the checkpoint exported at step t, up to the
float rounding of torch against onnxruntime.
"""

from __future__ import annotations

import numpy as np
import torch

import genrt.ext as ext
from genrt.errors import InputError
from genrt.runtime.latents import latent_rows

CHUNK = 500  # images per forward pass


class QualityProbe:
    """Scores a torch generator against the held-out images of `data` (an InputError when it cannot)."""

    def __init__(self, data: str, image_shape, num_classes: int, latent_dim: int, samples: int, value_range,
                 extractor: str | None = None):
        from genrt.eval import metrics
        from genrt.eval.core import real_data, real_features
        from genrt.eval.extractor import Extractor

        self.extractor = Extractor(extractor)
        if tuple(image_shape) != self.extractor.image_shape:
            raise InputError(f"`eval_every`: the run makes {'x'.join(map(str, image_shape))} images, the extractor "
                             f"{self.extractor.path} takes {'x'.join(map(str, self.extractor.image_shape))}; pass "
                             "`eval_extractor`, a classifier trained on such images (genrt train classifier)")
        _, holdout = real_data(data, image_shape)
        self.real_features, _ = real_features(holdout, self.extractor)
        self.metrics, self.value_range = metrics, value_range
        self.z = torch.from_numpy(latent_rows(0, 0, samples, latent_dim))
        self.labels = torch.arange(samples) % num_classes if num_classes else None

    @torch.no_grad()
    def score(self, generator: torch.nn.Module, device: torch.device) -> dict:
        """{"fid", "class_accuracy" (conditional models)} of `generator` (z[, label] -> image), in eval mode."""
        was_training = generator.training
        generator.eval()
        features, probs = [], []
        try:
            for start in range(0, len(self.z), CHUNK):
                z = self.z[start : start + CHUNK].to(device)
                y = None if self.labels is None else self.labels[start : start + CHUNK].to(device)
                images = (generator(z, y) if y is not None else generator(z)).float().cpu().numpy()
                f, p = self.extractor(ext.to_uint8(np.ascontiguousarray(images), value_range=self.value_range))
                features.append(f)
                probs.append(p)
        finally:
            generator.train(was_training)
        scores = {"fid": round(self.metrics.fid(self.real_features, np.concatenate(features)), 3)}
        if self.labels is not None:
            predicted = np.concatenate(probs).argmax(axis=1)
            scores["class_accuracy"] = round(float((predicted == self.labels.numpy()).mean()), 5)
        return scores
