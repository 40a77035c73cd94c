"""Parity: an exported file's outputs against the PyTorch module's, on the same seeded inputs.

A generator or decoder is compared image by image: |onnx - torch| within the
tolerance's atol (and, for int8, its mean and 99.9th-percentile bounds), and the uint8
images genrt.ext makes from both within `levels` grey levels; the largest difference
is named. A classifier is compared on logits and features relative to their scale,
and must predict the same classes. Each batch size adds a BatchParity to the report
and every failure to report.problems.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genrt.errors import ModelError
from genrt.export.report import BatchParity, VerificationReport
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.runtime.session import open_session
from genrt.spec import KINDS

if TYPE_CHECKING:
    from genrt.train.models import ModelConfig

# The PyTorch module an export is checked against: tensors in, a tensor (or a tuple of them) out.
Reference = Callable[..., Any]


def parity_inputs(cfg: ModelConfig, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs as genrt's runtime draws them: z ~ N(0, 1) float32, labels uniform over the classes."""
    rng = np.random.default_rng([seed, batch])
    feed: dict[str, np.ndarray] = {"z": rng.standard_normal((batch, cfg.latent_dim), dtype=np.float32)}
    if cfg.num_classes:
        feed["label"] = rng.integers(0, cfg.num_classes, batch, dtype=np.int64)
    return feed


def check_parity(session: Any, quiet: Any, reference: Reference, cfg: ModelConfig, report: VerificationReport,
                 batch_sizes: Iterable[int], seed: int) -> None:
    """Run `session` (from open_parity_session) beside `reference` at each batch size; fill `report` (see the
    module docstring)."""
    check = _image_parity if KINDS[cfg.kind].draws_images else _classifier_parity
    for batch in batch_sizes:
        check(session, quiet, reference, cfg, report, batch, seed)


def open_parity_session(path: str, report: VerificationReport, providers: Sequence[str | tuple[str, dict[str, Any]]]
                        ) -> tuple[Any, Any]:
    """(session, run options) for the file on `providers`, or (None, None) with the reason added to
    report.problems."""
    quiet = import_onnxruntime().RunOptions()
    quiet.log_severity_level = 4  # failures are reported by verify, not logged
    try:
        session = open_session(path, providers, name="the file")
    except ModelError as exc:  # onnxruntime refusing the file is a finding, not a crash
        report.problems.append(str(exc))
        return None, None
    report.providers = session.get_providers()
    return session, quiet


def _run(session: Any, outputs: list[str], feed: dict[str, np.ndarray], quiet: Any, report: VerificationReport,
         batch: int) -> tuple[list[np.ndarray], float] | None:
    """(outputs, milliseconds), or None with onnxruntime's failure added to report.problems."""
    start = time.perf_counter()
    try:
        got = session.run(outputs, feed, quiet)
    except Exception as exc:  # onnxruntime raises its own exception types
        report.problems.append(f"batch {batch}: onnxruntime fails: {first_line(exc)}")
        return None
    return got, (time.perf_counter() - start) * 1e3


def _image_parity(session: Any, quiet: Any, reference: Reference, cfg: ModelConfig, report: VerificationReport,
                  batch: int, seed: int) -> None:
    import torch

    import genrt.ext

    value_range = KINDS[cfg.kind].output_range or (-1.0, 1.0)  # every kind that draws images states its range
    tol = report.tolerance
    feed = parity_inputs(cfg, batch, seed)
    with torch.no_grad():
        expected = reference(*(torch.from_numpy(feed[k]) for k in feed)).numpy()
    ran = _run(session, ["image"], feed, quiet, report, batch)
    if ran is None:
        return
    (got,), onnx_ms = ran
    if got.shape != expected.shape:
        report.problems.append(f"batch {batch}: onnxruntime gives shape {list(got.shape)}, PyTorch "
                               f"{list(expected.shape)}")
        return
    bad_torch, bad_onnx = int((~np.isfinite(expected)).sum()), int((~np.isfinite(got)).sum())
    if bad_torch or bad_onnx:  # no parity to measure: the weights (or the graph) make NaN or Inf
        report.problems.append(f"batch {batch}: the output has non-finite values (PyTorch {bad_torch}, onnxruntime "
                               f"{bad_onnx} of {got.size}); the checkpoint's weights are broken, or the graph is")
        return
    diff = np.abs(got.astype(np.float32) - expected)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    levels = np.abs(genrt.ext.to_uint8(got.astype(np.float32), value_range).astype(np.int16)
                    - genrt.ext.to_uint8(expected, value_range).astype(np.int16))
    p = BatchParity(batch, float(diff.max()), float(diff.mean()), float(np.percentile(diff, 99.9)),
                    onnx_ms, worst, int(levels.max()))
    report.parity.append(p)
    if p.max_abs > tol.atol:
        report.problems.append(f"batch {batch}: max |onnx - torch| = {p.max_abs:.3g} at image {worst[0]} "
                               f"(c, y, x = {worst[1:]}) > atol {tol.atol:g}")
    if tol.mean_atol is not None and p.mean_abs > tol.mean_atol:
        report.problems.append(f"batch {batch}: mean |onnx - torch| = {p.mean_abs:.3g} > {tol.mean_atol:g}")
    if tol.p999_atol is not None and p.p999_abs > tol.p999_atol:
        report.problems.append(f"batch {batch}: 99.9th percentile of |onnx - torch| = {p.p999_abs:.3g} > "
                               f"{tol.p999_atol:g}")
    if int(levels.max()) > tol.levels:
        report.problems.append(f"batch {batch}: uint8 images differ by up to {p.max_levels} levels "
                               f"(allowed {tol.levels})")


def _classifier_parity(session: Any, quiet: Any, reference: Reference, cfg: ModelConfig, report: VerificationReport,
                       batch: int, seed: int) -> None:
    """Logits and features on random images in [0, 1]: |diff| <= atol * max(1, |PyTorch| max), same classes."""
    import torch

    images = np.random.default_rng([seed, batch]).random((batch, *cfg.image_shape), dtype=np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in reference(torch.from_numpy(images))]
    ran = _run(session, ["logits", "features"], {"image": images}, quiet, report, batch)
    if ran is None:
        return
    got, onnx_ms = ran
    diffs = []
    for name, a, b in zip(("logits", "features"), got, expected):
        diff = np.abs(a - b) / max(1.0, float(np.abs(b).max()))
        diffs.append(diff.ravel())
        if diff.max() > report.tolerance.atol:
            report.problems.append(f"batch {batch}: {name} differ by {diff.max():.3g} (relative to their "
                                   f"largest value) > atol {report.tolerance.atol:g}")
    if not np.array_equal(got[0].argmax(1), expected[0].argmax(1)):
        report.problems.append(f"batch {batch}: onnxruntime and PyTorch predict different classes")
    every = np.concatenate(diffs)
    report.parity.append(BatchParity(batch, float(every.max()), float(every.mean()),
                                     float(np.percentile(every, 99.9)), onnx_ms))
