"""Loading an image folder for training: the loader genrt had (one process, full decode, in memory) against
genrt.imagefolder (a process pool, reduced-scale JPEG decoding, a memory-mapped cache), first load and cached.

    python benchmarks/folder_load.py [--images 20000] [--source-size 128] [--size 64] [--repeats 3]

Writes a folder of --images JPEGs (--source-size square, smooth synthetic pictures in
10 classes) into a temporary folder, then times, each --repeats times (medians):

  before      the previous loader: PIL open, convert, bicubic resize and crop, one file at
              a time in this process, stacked in memory
  first load  genrt.imagefolder.load_folder with an empty cache: JPEGs decoded at a reduced
              DCT scale by a pool (one worker per CPU), written to the cache as a memory map
  cached      load_folder again: the memory map opened, and every byte read once (as the
              first epoch of training would)

and prints each time and the ratios to `before`. The cache lives in a temporary
$GENRT_CACHE, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

from genrt.imagefolder import list_images


def write_folder(root: str, count: int, size: int) -> None:
    """`count` smooth JPEGs (gradients and a disc whose place and colour depend on the class), like photos compress."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        label = i % 10
        folder = os.path.join(root, f"class{label}")
        os.makedirs(folder, exist_ok=True)
        cy, cx, r = 0.3 + 0.04 * label, 0.7 - 0.04 * label, 0.15 + 0.1 * rng.random()
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)[..., None]
        base = np.stack([xx, yy, 1 - xx], axis=-1) * rng.uniform(120, 255, 3)
        picture = np.where(disc, rng.uniform(0, 255, 3), base) + rng.normal(0, 6, (size, size, 3))
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i:06d}.jpg"),
                                                                       quality=90)


def previous_loader(root: str, size: int) -> np.ndarray:
    """What genrt.data did before genrt.imagefolder: one process, every file decoded in full, in memory."""
    files, _, _ = list_images(root)
    images = []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            scale = size / min(w, h)
            image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                                 Image.Resampling.BICUBIC)
            w, h = image.size
            left, top = (w - size) // 2, (h - size) // 2
            images.append(np.asarray(image.crop((left, top, left + size, top + size))))
    return np.stack(images).transpose(0, 3, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--source-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="genrt-folder-bench-")
    os.environ["GENRT_CACHE"] = os.path.join(work, "cache")
    from genrt.imagefolder import load_folder  # after GENRT_CACHE is set

    try:
        root = os.path.join(work, "images")
        began = time.perf_counter()
        write_folder(root, args.images, args.source_size)
        print(f"{args.images:,} JPEGs of {args.source_size}x{args.source_size} written in "
              f"{time.perf_counter() - began:.0f} s; loading them at {args.size}x{args.size}, {os.cpu_count()} CPUs, "
              f"medians of {args.repeats}")
        times = {"before": [], "first load": [], "cached": []}
        for _ in range(args.repeats):
            began = time.perf_counter()
            reference = previous_loader(root, args.size)
            times["before"].append(time.perf_counter() - began)
            shutil.rmtree(os.environ["GENRT_CACHE"], ignore_errors=True)
            began = time.perf_counter()
            first = load_folder(root, args.size)[0]
            times["first load"].append(time.perf_counter() - began)
            began = time.perf_counter()
            cached = load_folder(root, args.size)[0]
            checksum = int(cached.sum(dtype=np.uint64))  # every byte read once
            times["cached"].append(time.perf_counter() - began)
            assert checksum == int(first.sum(dtype=np.uint64))
        difference = np.abs(first.astype(np.int16) - reference.astype(np.int16))
        before = statistics.median(times["before"])
        for name, values in times.items():
            t = statistics.median(values)
            print(f"  {name:<11}{t:8.2f} s  {before / t:6.1f}x faster than before")
        print(f"pixels against the previous loader (reduced-scale JPEG decoding): mean |difference| "
              f"{difference.mean():.2f} levels, {np.mean(difference > 2) * 100:.2f}% differ by more than 2")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
