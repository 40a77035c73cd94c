"""genrt.optimize: make a generator ONNX file faster than the plain export, verified. onnx + numpy, never torch.

- `optimize_model(MODEL, OUT, batch_sizes=(1, 8, 64), device="cpu")` (core.py): the whole path,
  `genrt optimize` from Python; a file is written only after it passed verification.
- passes.py: the rewrites (batch norm folding, the dense first layer, sub-pixel convolutions);
  subpixel.py: the identities behind them; select.py: choosing rewrites by timing them (timer.py);
  dispatch.py: one graph with a plan per batch range.

Needs the `onnx` package (`pip install 'genrt[optimize]'`); onnxruntime verifies and times.
"""

from genrt.optimize.core import DEFAULT_BATCHES, OptimizeResult, optimize_model

__all__ = ["DEFAULT_BATCHES", "OptimizeResult", "optimize_model"]
