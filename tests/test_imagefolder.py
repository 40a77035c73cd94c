"""Image folders: parallel decoding, the memory-mapped cache, the split of a mapped dataset, --flip, damaged files."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from genrt.data import load_dataset, split
from genrt.errors import InputError
from genrt.imagefolder import load_folder
from genrt.train import TrainConfig, load_checkpoint, train
from genrt.train.loop import random_flip


def make_folder(root, count=300, size=(48, 40)):
    """`count` JPEGs in two classes (sub-folders), random content."""
    rng = np.random.default_rng(1)
    for i in range(count):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"{i:04d}.jpg", quality=90)
    return root


def cache_files():
    folder = os.path.join(os.environ["GENRT_CACHE"], "folders")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_folder_is_decoded_in_parallel_once_then_read_from_its_cache(tmp_path):
    root = make_folder(tmp_path / "pets")
    direct, labels, names, none = load_folder(str(root), size=32, workers=1, cache=False)
    assert none is None and direct.shape == (300, 3, 32, 32) and names == ("a", "b")
    before = set(cache_files())
    pooled, labels2, _, path = load_folder(str(root), size=32, workers=2)
    np.testing.assert_array_equal(pooled, direct)  # the pool and the cache change nothing
    np.testing.assert_array_equal(labels, labels2)
    assert isinstance(pooled, np.memmap) and os.path.basename(path) in set(cache_files()) - before
    assert not [name for name in cache_files() if name.startswith(".decoding-")]  # nothing half-written left
    again, *_, same_path = load_folder(str(root), size=32, workers=2)
    assert same_path == path and isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, direct)
    # Another size, or a changed file, is another cache entry.
    assert load_folder(str(root), size=16)[3] != path
    Image.new("RGB", (48, 40), (255, 0, 0)).save(root / "a" / "0001.jpg")  # the first file listed
    changed, *_, changed_path = load_folder(str(root), size=32)
    assert changed_path != path and changed[0, 0].min() > 240 and changed[0, 1].max() < 15
    np.testing.assert_array_equal(changed[1:], direct[1:])


def test_a_failed_decode_leaves_no_cache_file(tmp_path):
    root = make_folder(tmp_path / "pets")
    (root / "a" / "0299.jpg").write_bytes(b"not a jpeg")  # the last file, decoded after most others
    before = cache_files()
    with pytest.raises(InputError, match="cannot read .*0299.jpg as an image"):
        load_folder(str(root), size=32, workers=2)
    assert cache_files() == before


def test_the_split_of_a_mapped_folder_is_mapped_and_equals_the_in_memory_split(tmp_path):
    root = make_folder(tmp_path / "pets")
    mapped = load_dataset(str(root), size=32)
    assert mapped.cache is not None
    in_memory = load_dataset(str(root), size=32)
    in_memory.images, in_memory.cache = np.array(in_memory.images), None
    for part in ("train", "holdout"):
        a, b = split(mapped, part), split(in_memory, part)
        assert a.cache is not None and isinstance(a.images, np.memmap)
        np.testing.assert_array_equal(a.images, b.images)
        assert a.digest() == b.digest()  # a mapped dataset hashes the same bytes


def test_flip_mirrors_a_random_half_and_keeps_labels(tmp_path):
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2 * 1, 3, 4, 5).repeat(32, 1, 1, 1)
    flipped = random_flip(x, torch.Generator().manual_seed(0))
    mirrored = [bool(torch.equal(f, o.flip(2))) for f, o in zip(flipped, x)]
    kept = [bool(torch.equal(f, o)) for f, o in zip(flipped, x)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image either mirrored or untouched
    assert 16 <= sum(mirrored) <= 48
    root = make_folder(tmp_path / "pets", count=64)
    summary = train(TrainConfig(model="cgan", data=str(root), size=32, flip=True, steps=2, batch_size=16, ngf=8,
                                ndf=8, latent_dim=16, out=str(tmp_path / "run")), progress=False, log=lambda m: None)
    ck = load_checkpoint(summary["checkpoint"])
    assert ck.train_config.flip and ck.data["class_names"] == ["a", "b"]


def test_a_script_without_a_main_guard_still_loads_its_folder(tmp_path):
    """Pool workers re-import the calling script; without `if __name__ == "__main__":` they fail to start, and the
    folder is decoded in the calling process instead."""
    import subprocess
    import sys

    root = make_folder(tmp_path / "pets")
    script = tmp_path / "unguarded.py"
    script.write_text("from genrt.imagefolder import load_folder\n"
                      f"images = load_folder({str(root)!r}, size=16, workers=2, cache=False)[0]\n"
                      "print('loaded', images.shape)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "loaded (300, 3, 16, 16)" in result.stdout, result.stderr[-2000:]


def _bomb_png(path):
    """A 10000x10000 grey PNG: 100 million pixels (under Pillow's own limit) in about 100 KB."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    side = 10_000
    rows = zlib.compress(b"\0" * (side + 1) * side, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def _png(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return path.read_bytes()


HOSTILE_FILES = {  # what each does to the class folder `a`, and the message
    "a pipe named like an image": (lambda a: os.mkfifo(a / "pipe.png"), "is not a regular file"),
    "a dangling link": (lambda a: os.symlink(a / "gone.png", a / "link.png"), "is not a regular file"),
    "a link to itself": (lambda a: os.symlink(a / "loop.png", a / "loop.png"), "is not a regular file"),
    "a decompression bomb": (lambda a: _bomb_png(a / "bomb.png"), "past genrt's limit of 67,108,864 values"),
    "a truncated PNG": (lambda a: (a / "cut.png").write_bytes(_png(a / "cut.png")[:60]), "cannot read"),
    "a PNG with a broken chunk": (lambda a: (a / "bad.png").write_bytes(_png(a / "bad.png")[:40] + b"\xff" * 40),
                                  "cannot read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_files_in_a_folder_are_one_line_without_hanging(tmp_path, capsys, case):
    from genrt.cli import main

    root = make_folder(tmp_path / "images", count=4)
    make, message = HOSTILE_FILES[case]
    make(root / "a")
    status = main(["train", "dcgan", "--data", str(root), "--size", "16", "--steps", "1", "--out",
                   str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("genrt: error: ") and message in err, err
    assert not (tmp_path / "run").exists()


def test_a_grey_image_among_colour_ones_is_one_line_naming_it(tmp_path, capsys):
    from genrt.cli import main

    root = make_folder(tmp_path / "images", count=4)
    Image.fromarray(np.zeros((48, 40), np.uint8)).save(root / "a" / "grey.png")
    status = main(["eval", "--real", "--data", str(root), "-n", "10"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert "grey.png is 1 x 48 x 40 (C x H x W) but the images before it are 3 x 48 x 40" in err, err


def test_damaged_images_in_a_folder_never_trace_back_crash_or_hang():
    """24 seeded mutants of a PNG, a grey PNG and a JPEG (tests/image_mutants.py), each among good images, through
    genrt train and genrt eval (benchmarks/fuzz_images.py): every run exits 0 or 2."""
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "fuzz_images.py")
    result = subprocess.run([sys.executable, script, "--count", "8", "--seed", "5", "--timeout", "60"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("24 mutants of 3 images") and "0 tracebacks, 0 crashes, 0 hangs" in summary, summary
