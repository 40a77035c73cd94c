"""Image folders as uint8 arrays: decoded in parallel once, then read from a cache (numpy and Pillow only).

    images, labels, class_names, cache = load_folder(root, size, channels)

1. The PNG and JPEG files under `root`, sorted; sub-folders are classes.
2. The cache key: the sha256 of every file's relative path, byte size and modification
   time, with `size`, `channels` and DECODER (the decoding rules). Adding, removing
   or changing a file, or asking for another size, gives another key.
3. A hit: $GENRT_CACHE/folders/KEY.npy (~/.cache/genrt) opened as a memory map,
   N x C x H x W uint8. Nothing is decoded and nothing is read until it is used, so
   a dataset larger than memory trains from the page cache.
4. A miss: a process pool decodes the files in chunks (one image at a time in
   memory per worker), into a memory map at a temporary name in the cache folder,
   renamed to KEY.npy only when complete, so the cache is never half-written.

Decoding: each file converted to L (grey) or RGB, then with `size` resized so its
short side is `size` and centre-cropped. A JPEG is first decoded at the smallest
DCT scale (1/2, 1/4 or 1/8) that keeps it at least `size` on each side: libjpeg's
scaled inverse DCT, a low-pass reduction, at a fraction of a full decode's cost.
The rest of the way is Pillow's antialiased bicubic resize. How far its pixels are from a
full decode and bicubic resize is measured by benchmarks/folder_load.py (quoted in the README).
The same rule serves training and evaluation.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import tempfile
import warnings

import numpy as np

from genrt.errors import InputError
from genrt.limits import MAX_IMAGE_VALUES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DECODER = "pillow-bicubic-draft1-v1"  # part of the cache key: change it when the decoding rules change
CHUNK = 64  # files per task of the pool
POOL_MIN_FILES = 256  # fewer files are decoded in this process (a pool costs more to start)


def list_images(root: str) -> tuple[list[str], list[int], tuple[str, ...]]:
    """(files, labels, class names): sub-folders of `root` are classes, or `root` itself holds unlabelled images."""
    subfolders = sorted(d for d in _names(root, root) if os.path.isdir(os.path.join(root, d)))
    groups = [os.path.join(root, d) for d in subfolders] or [root]
    files, labels = [], []
    for label, folder in enumerate(groups):
        for name in sorted(_names(folder, root)):
            if name.lower().endswith(IMAGE_SUFFIXES):
                path = os.path.join(folder, name)
                if not os.path.isfile(path):  # a FIFO would block the reader, a dangling link cannot be read
                    raise InputError(f"`data` {root}: {path} is not a regular file (a broken link, a pipe or a "
                                     "device); remove it or give the folder of the images it stands for")
                files.append(path)
                labels.append(label)
    if not files:
        raise InputError(f"`data` {root}: no PNG or JPEG images found (looked in the folder and its sub-folders)")
    return files, labels, tuple(subfolders)


def cache_key(root: str, files: list[str], size: int | None, channels: int | None) -> str:
    h = hashlib.sha256(f"{DECODER}\n{size}\n{channels}\n".encode())
    for path in files:
        st = os.stat(path)
        h.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def load_folder(root: str, size: int | None = None, channels: int | None = None, workers: int | None = None,
                cache: bool = True, progress: bool = False):
    """(images N x C x H x W uint8, labels or None, class names, the cache file or None); see the module docstring.

    `workers`: processes that decode (default: one per CPU, at most 8; 1 decodes here).
    `cache=False` decodes into memory and writes nothing.
    """
    from genrt.files import cache_dir

    files, labels, class_names = list_images(root)
    label_array = np.asarray(labels, np.int64) if class_names else None
    path = os.path.join(cache_dir("folders"), cache_key(root, files, size, channels) + ".npy") if cache else None
    if path and os.path.isfile(path):
        try:
            images = np.load(path, mmap_mode="c")  # copy-on-write: writable for torch, the file never changes
            if images.dtype == np.uint8 and images.ndim == 4 and len(images) == len(files):
                return images, label_array, class_names, path
        except (OSError, ValueError):
            pass  # a damaged cache file is decoded again and replaced
    first = decode(files[0], size, channels, root)
    shape = (len(files), *first.shape)
    try:
        images, temp = _allocate(path, shape)
    except OSError:  # an unwritable cache folder: decode into memory
        images, temp, path = np.empty(shape, np.uint8), None, None
    try:
        images[0] = first
        _decode_all(files[1:], size, channels, root, images[1:], workers, progress)
        if temp is not None:
            images.flush()
            del images
            os.replace(temp, path)
            return np.load(path, mmap_mode="c"), label_array, class_names, path
    except BaseException:
        if temp is not None:
            os.unlink(temp)
        raise
    return images, label_array, class_names, None


def take_rows(images: np.ndarray, index: np.ndarray, path: str) -> np.ndarray:
    """images[index] as a memory map at `path` (made once, atomically, a slice at a time), opened copy-on-write."""
    if os.path.isfile(path):
        try:
            part = np.load(path, mmap_mode="c")
            if part.shape == (len(index), *images.shape[1:]):
                return part
        except (OSError, ValueError):
            pass  # damaged or stale: made again
    try:
        part, temp = _allocate(path, (len(index), *images.shape[1:]))
    except OSError:  # an unwritable cache folder
        return images[index]
    try:
        for start in range(0, len(index), 4096):
            part[start : start + 4096] = images[index[start : start + 4096]]
        part.flush()
        del part
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    return np.load(path, mmap_mode="c")


def _names(folder: str, root: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError as exc:  # a link loop, a folder without read permission
        raise InputError(f"`data` {root}: cannot list {folder} ({exc.strerror or exc})") from None


def decode(path: str, size: int | None, channels: int | None, root: str = "") -> np.ndarray:
    """One image file as uint8 C x H x W: converted (L or RGB), resized and centre-cropped to `size` when given."""
    from PIL import Image, UnidentifiedImageError

    mode = {1: "L", 3: "RGB"}.get(channels or 0)
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: the check below refuses such images
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            if width * height * len(image.getbands()) > MAX_IMAGE_VALUES:  # from the header, before decoding
                raise InputError(f"`data` {root or os.path.dirname(path)}: {path} is {width:,}x{height:,}, past "
                                 f"genrt's limit of {MAX_IMAGE_VALUES:,} values an image; shrink it first")
            if size and image.format == "JPEG":
                image.draft(mode or image.mode, (size, size))  # decode at a reduced DCT scale, still >= size
            image = image.convert(mode or ("L" if image.mode in ("L", "LA", "I", "1") else "RGB"))
            if size:
                image = resize_crop(image, size)
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise InputError(f"`data` {root or os.path.dirname(path)}: cannot read {path} as an image ({exc})") from exc
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def resize_crop(image, size: int):
    """Resize a Pillow image so its short side is `size` (antialiased bicubic), then centre-crop size x size."""
    from PIL import Image

    w, h = image.size
    scale = size / min(w, h)
    target = (max(size, round(w * scale)), max(size, round(h * scale)))
    if target != image.size:
        image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _allocate(path: str | None, shape: tuple):
    """A writable N x C x H x W uint8 memory map at a temporary name next to `path` (or in memory without one)."""
    if path is None:
        return np.empty(shape, np.uint8), None
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".decoding-", suffix=".npy")
    os.close(fd)
    return np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape), temp


def _decode_all(files, size, channels, root, out: np.ndarray, workers: int | None, progress: bool) -> None:
    bar = _progress_bar(len(files) + 1, progress, root)
    bar.update(1)
    workers = workers or min(os.cpu_count() or 1, 8)
    chunks = [(start, files[start : start + CHUNK]) for start in range(0, len(files), CHUNK)]
    try:
        if workers == 1 or len(files) < POOL_MIN_FILES:
            for start, chunk in chunks:
                _place(out, start, _decode_chunk(chunk, size, channels, root), root, files)
                bar.update(len(chunk))
            return
        # forkserver: workers start from a clean process, not a copy of this one (which may hold torch's threads).
        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        done = set()
        try:
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                pending = {pool.submit(_decode_chunk, chunk, size, channels, root): (start, len(chunk))
                           for start, chunk in chunks}
                for future in concurrent.futures.as_completed(pending):
                    start, count = pending[future]
                    _place(out, start, future.result(), root, files)
                    done.add(start)
                    bar.update(count)
        except concurrent.futures.process.BrokenProcessPool:
            # Workers that cannot start (a script without `if __name__ == "__main__":`, a sandbox
            # without process creation): the rest is decoded here.
            for start, chunk in chunks:
                if start not in done:
                    _place(out, start, _decode_chunk(chunk, size, channels, root), root, files)
                    bar.update(len(chunk))
    finally:
        bar.close()


def _decode_chunk(files, size, channels, root) -> np.ndarray:
    images = [decode(path, size, channels, root) for path in files]
    for path, image in zip(files, images):
        if image.shape != images[0].shape:
            raise _mixed(root, path, image.shape, images[0].shape)
    return np.stack(images)


def _place(out: np.ndarray, start: int, decoded: np.ndarray, root: str, files: list[str]) -> None:
    if decoded.shape[1:] != out.shape[1:]:
        raise _mixed(root, files[start], decoded.shape[1:], out.shape[1:])
    out[start : start + len(decoded)] = decoded


def _mixed(root: str, path: str, shape: tuple, expected: tuple) -> InputError:
    """The one-line refusal of a folder whose images differ in size or channels (without `size` and `channels`)."""
    found, wanted = (" x ".join(map(str, s)) for s in (shape, expected))
    return InputError(f"`data` {root}: {path} is {found} (C x H x W) but the images before it are "
                      f"{wanted}; give images of one size and mode (training converts them: "
                      "`size` N resizes and centre-crops every image, `channels` 1 or 3 converts its colours)")


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool, root: str):
    if not enabled or total < POOL_MIN_FILES:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="img", desc=f"decoding {os.path.basename(os.path.normpath(root))}", leave=False)
