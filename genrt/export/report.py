"""What verification found: each batch's parity figures (`BatchParity`) and the whole `VerificationReport`.

parity.py fills a report batch by batch; verify.py adds the checker's, the signature's
and the contract's problems and raises VerificationError when there are any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genrt.spec import Tolerance


@dataclass
class BatchParity:
    batch: int
    max_abs: float  # images: |onnx - torch|; classifier: relative to the largest PyTorch value
    mean_abs: float
    p999_abs: float  # 99.9th percentile
    onnx_ms: float
    worst: tuple[int, ...] | None = None  # images: (image, channel, y, x) of the largest difference
    max_levels: int | None = None  # images: largest uint8 difference after post-processing


@dataclass
class VerificationReport:
    precision: str
    tolerance: Tolerance
    providers: list[str]
    parity: list[BatchParity] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    images: bool = True  # False for a classifier: parity on logits and features, relative to their scale

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.parity:
            return f"{self.precision}: no parity figures"
        worst = max(self.parity, key=lambda p: p.max_abs)
        sizes = "/".join(str(p.batch) for p in self.parity)
        if not self.images:
            return (f"{self.precision}: batch {sizes}, logits and features within {worst.max_abs:.2e} of PyTorch "
                    f"(relative, atol {self.tolerance.atol:g}), same predicted classes, on {self.providers[0]}")
        return (f"{self.precision}: batch {sizes}, max |onnx - torch| {worst.max_abs:.2e} (atol "
                f"{self.tolerance.atol:g}), max uint8 difference {max(p.max_levels or 0 for p in self.parity)} "
                f"(allowed {self.tolerance.levels}) on {self.providers[0]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "providers": self.providers,
            "atol": self.tolerance.atol,
            "levels": self.tolerance.levels,
            "batches": [
                {"batch": p.batch, "max_abs": float(f"{p.max_abs:.3g}"), "mean_abs": float(f"{p.mean_abs:.3g}"),
                 "p999_abs": float(f"{p.p999_abs:.3g}"), **({"max_levels": p.max_levels} if self.images else {})}
                for p in self.parity
            ],
        }
