"""What genrt's parts agree on, in one torch-free and numpy-free place: choices and tolerances.

The command line offers these choices without importing the libraries that act on
them (`genrt --help` stays fast and torch-free), and the libraries check against
the same tuples.

A file genrt writes (an export, an optimized graph, a reduced-precision variant) is
compared with its reference on the same seeded inputs; `TOLERANCES` says how close
each precision must be.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_KINDS = ("dcgan", "cgan", "vae", "classifier")  # what `genrt train` builds
GAN_LOSSES = ("nonsaturating", "lsgan", "hinge", "wgan-gp")
TRAIN_DEVICES = ("auto", "cpu", "cuda")  # PyTorch devices
RUNTIME_DEVICES = ("auto", "cpu", "cuda", "tensorrt")  # where a Generator's session runs
OPTIMIZE_DEVICES = ("cpu", "cuda")  # where `genrt optimize` times its candidates

# The model files: every file genrt writes says `genrt.format`; the runtime refuses a format it does not know.
CONTRACT_FORMAT = "1"
READABLE_FORMATS = ("1",)
FILE_KINDS = {"dcgan": "gan", "cgan": "cgan", "vae": "vae", "classifier": "classifier"}  # training kind -> genrt.kind


@dataclass(frozen=True)
class Tolerance:
    """Largest allowed |file - reference| (float, in the image's value range) and uint8 level difference."""

    atol: float
    levels: int
    mean_atol: float | None = None  # int8: bounds on the mean error
    p999_atol: float | None = None  # and on the 99.9th percentile of the error


# fp16: half precision keeps ~3 decimal digits, on outputs in [-1, 1] (bundled model: max 5e-3, 1 level).
# int8: 8-bit activations put single pixels far off while the image as a whole stays close
# (bundled model: worst pixel 0.73 of the range 2, 99.9th percentile 0.21, mean 0.0054), so the
# bounds that matter are on the mean and the 99.9th percentile; the worst-pixel bound only
# catches a broken file. Quality as a classifier sees it: genrt eval.
TOLERANCES = {
    "fp32": Tolerance(atol=1e-4, levels=1),
    "fp16": Tolerance(atol=1e-2, levels=2),
    "int8": Tolerance(atol=1.0, levels=128, mean_atol=0.02, p999_atol=0.3),
}
