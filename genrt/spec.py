"""What genrt's parts agree on, in one torch-free and numpy-free place: model kinds, choices, tolerances.

`KINDS` says what each model kind is to every part: training builds it, export names its
graph inputs and outputs and writes its metadata, verification checks them, the
optimizer and the reduced-precision variants take only kinds that draw images. Code
asks a kind what it is (`KINDS[kind].draws_images`), never which kind it is.

The command line offers these choices without importing the libraries that act on
them (`genrt --help` stays fast and torch-free), and the libraries check against
the same tuples.

A file genrt writes (an export, an optimized graph, a reduced-precision variant) is
compared with its reference on the same seeded inputs; `TOLERANCES` says how close
each precision must be.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One model kind: what `genrt train KIND` builds and what its exported file holds."""

    name: str  # the training kind: genrt train NAME
    file_kind: str  # genrt.kind in the exported file
    part: str  # what export writes: the "generator", the VAE's "decoder", the classifier "network"
    inputs: tuple[str, ...]  # graph inputs, batch first: z [N, latent_dim], label [N] int64, image [N, C, H, W]
    outputs: tuple[str, ...]  # graph outputs: image [N, C, H, W]; or logits [N, classes], features [N, F]
    output_range: tuple[float, float] | None  # the value range of `image` (tanh or sigmoid); None: no image out
    conditional: bool = False  # takes a class label beside z (training needs labelled data with 2+ classes)
    loop: str = "generator"  # the training loop: "generator" (train/loop.py) or "classifier" (train/classifier.py)

    @property
    def draws_images(self) -> bool:
        """A generator or decoder: genrt.runtime.Generator samples it; optimize, fp16/int8 and Triton apply."""
        return self.output_range is not None


KINDS = {
    "dcgan": Kind("dcgan", "gan", "generator", ("z",), ("image",), (-1.0, 1.0)),
    "cgan": Kind("cgan", "cgan", "generator", ("z", "label"), ("image",), (-1.0, 1.0), conditional=True),
    "vae": Kind("vae", "vae", "decoder", ("z",), ("image",), (0.0, 1.0)),
    "classifier": Kind("classifier", "classifier", "network", ("image",), ("logits", "features"), None,
                       loop="classifier"),
}
MODEL_KINDS = tuple(KINDS)  # what `genrt train` builds
GAN_LOSSES = ("nonsaturating", "lsgan", "hinge", "wgan-gp")
TRAIN_DEVICES = ("auto", "cpu", "cuda")  # PyTorch devices
D_NORMS = ("auto", "batch", "none", "spectral")  # a GAN discriminator's normalisation; auto: by the loss
AUGMENTS = ("translation", "cutout", "color")  # differentiable augmentations (genrt.train.recipe)
RUNTIME_DEVICES = ("auto", "cpu", "cuda", "tensorrt")  # where a Generator's session runs
OPTIMIZE_DEVICES = ("cpu", "cuda")  # where `genrt optimize` times its candidates
MAX_SEED = (1 << 64) - 1  # seeds are 0..MAX_SEED everywhere: the 64-bit key of the latents' Philox stream

# The model files: every file genrt writes says `genrt.format`; the runtime refuses a format it does not know.
CONTRACT_FORMAT = "1"
READABLE_FORMATS = ("1",)


def range_text(value_range: tuple[float, float]) -> str:
    """genrt.output_range as written in metadata: "-1,1", "0,1"."""
    return ",".join(f"{v:g}" for v in value_range)


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
