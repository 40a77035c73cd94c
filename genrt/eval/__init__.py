"""genrt.eval: the quality of a generator ONNX file, on the runtime alone (onnxruntime + numpy, no torch).

- `evaluate(model, data="digits", n=10000)` (core.py): FID, KID, Inception-Score-style score,
  precision / recall and class accuracy against the held-out part of the real data.
- `evaluate_real(data)` (core.py): the same scores for real training images (the baseline).
- `evaluate_dataset(folder)` (dataset.py): the same scores for a data set of genrt generate.
- `Extractor` (extractor.py): features and class probabilities from a genrt classifier ONNX file;
  genrt ships one for the embedded digits (digits_classifier.onnx).
- metrics.py: the metric formulas on arrays.
"""

from genrt.eval.core import SCHEMA, SmallSampleWarning, TrainedOnHoldoutWarning, evaluate, evaluate_real
from genrt.eval.dataset import evaluate_dataset
from genrt.eval.extractor import Extractor, bundled_extractor_path

__all__ = ["SCHEMA", "Extractor", "SmallSampleWarning", "TrainedOnHoldoutWarning", "bundled_extractor_path", "evaluate", "evaluate_dataset", "evaluate_real"]
