"""Embedding genrt.runtime in an app: one Generator, opened once, serving two jobs.

    python examples/embed_generator.py --user alice -o alice.png        # the same picture for alice, always
    python examples/embed_generator.py --dataset 10000 -o digits.npy   # a labelled dataset, in bounded memory

Standard library, numpy and genrt.runtime only (no torch, no web framework); for
HTTP, run `genrt serve` instead. A Generator is thread-safe: an app opens it once
(it costs a session, about 10 ms here) and shares it.
"""

from __future__ import annotations

import argparse
import hashlib

import numpy as np

from genrt.files import png_bytes
from genrt.npyfile import save_npy_batches
from genrt.runtime import Generator, default_model_path


def avatar_png(g: Generator, user: str, truncation: float = 0.7) -> bytes:
    """A PNG drawn for `user`: the seed and the class come from a hash of the name, so it never changes."""
    digest = hashlib.sha256(user.encode()).digest()
    seed = int.from_bytes(digest[:8], "little")
    label = digest[8] % g.contract.num_classes if g.contract.conditional else None
    image = g.sample(1, seed=seed, labels=label, truncation=truncation)[0]
    return png_bytes(image)


def write_dataset(g: Generator, n: int, path: str, seed: int = 0) -> np.ndarray:
    """n images (classes cycling 0..K-1) into one .npy file, a batch in memory at a time; returns their labels."""
    save_npy_batches(path, n, g.sample_batches(n, seed=seed), overwrite=True)
    labels = g.label_array(None, n)
    return labels if labels is not None else np.zeros(0, dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=default_model_path())
    parser.add_argument("--user", help="draw this user's picture")
    parser.add_argument("--dataset", type=int, help="write this many images as .npy")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    g = Generator(args.model, device="cpu")
    if args.user:
        with open(args.output, "wb") as f:
            f.write(avatar_png(g, args.user))
    else:
        labels = write_dataset(g, args.dataset, args.output)
        print(f"wrote {args.output}: {args.dataset} images, classes {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
