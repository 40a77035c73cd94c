"""`genrt generate` in this process: the bytes of `genrt sample`, the manifest, resume, repair and refusals."""

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from genrt.cli import main
from genrt.generate import generate, read_manifest
from genrt.generate.core import LOCK, _remove_unlisted
from genrt.generate.manifest import write_manifest
from onnx_models import build_generator

GENRT = [sys.executable, "-m", "genrt.cli"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate_models")
    return {
        "cgan": build_generator(root / "cgan.onnx", num_classes=4, image_shape=(3, 5, 5),
                                class_names=["a", "b", "c", "d"], seed=2),
        "gan": build_generator(root / "gan.onnx", latent_dim=8, image_shape=(1, 6, 5)),
    }


def cli(*args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def sampled(model, n, seed, tmp_path, *extra) -> np.ndarray:
    """Row by row what `genrt sample -n N --seed S -o x.npy` writes."""
    path = tmp_path / f"sample-{seed}-{n}.npy"
    assert main(["sample", str(model), "-n", str(n), "--seed", str(seed), "-o", str(path), "--device", "cpu",
                 *map(str, extra)]) == 0
    return np.load(path)


def images_of(folder) -> np.ndarray:
    manifest, job = read_manifest(str(folder))
    parts = []
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        if job.format == "npy":
            parts.append(np.load(path))
        else:
            names = sorted(os.listdir(path))
            assert names == [f"{i:010d}.png" for i in range(shard["start"], shard["start"] + shard["count"])]
            parts.append(np.stack([np.asarray(Image.open(path / name)).reshape(5, 5, 3) for name in names]))
    return np.concatenate(parts)


def snapshot(folder) -> dict:
    """Every file under `folder` (hidden ones too) by relative path: (sha256, inode, mtime_ns)."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = (hashlib.sha256(f.read()).hexdigest(), st.st_ino, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("shard_size, batch_size", [(7, 5), (25, 64)])
def test_shards_hold_the_rows_of_genrt_sample(models, tmp_path, shard_size, batch_size):
    expected = sampled(models["cgan"], 60, 3, tmp_path)
    out = tmp_path / "ds"
    manifest = generate(models["cgan"], 60, 3, out, shard_size=shard_size, batch_size=batch_size, device="cpu")
    np.testing.assert_array_equal(images_of(out), expected)
    assert [s["start"] for s in manifest["shards"]] == list(range(0, 60, shard_size))
    assert sum(s["count"] for s in manifest["shards"]) == 60
    for shard in manifest["shards"]:
        assert hashlib.sha256((out / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["job"]["labels"] == "cycle" and manifest["image_shape"] == [5, 5, 3]


def test_png_shards_label_and_truncation(models, tmp_path, capsys):
    expected = sampled(models["cgan"], 30, 9, tmp_path, "--label", "b", "--truncation", "0.5")
    status, out, _ = cli("generate", models["cgan"], "-n", 30, "--seed", 9, "--out", tmp_path / "p", "--format",
                         "png", "--shard-size", 8, "--label", "b", "--truncation", 0.5, "--device", "cpu",
                         capsys=capsys)
    assert status == 0 and "30 images in 4 shards (4 written, 0 checked and kept)" in out
    np.testing.assert_array_equal(images_of(tmp_path / "p"), expected)
    manifest, job = read_manifest(str(tmp_path / "p"))
    assert job.labels == 1 and job.truncation == 0.5 and job.format == "png"


def test_a_complete_data_set_is_checked_and_left_alone(models, tmp_path, capsys):
    out = tmp_path / "ds"
    generate(models["gan"], 50, 0, out, shard_size=20, device="cpu")
    before = snapshot(out)
    status, text, _ = cli("generate", models["gan"], "-n", 50, "--out", out, "--shard-size", 20, "--batch-size", 3,
                          "--device", "cpu", capsys=capsys)
    assert status == 0 and "is complete: 50 images in 3 shards (3 checked and kept); nothing to do" in text
    assert snapshot(out) == before


def test_damaged_and_missing_shards_are_redone_and_nothing_else(models, tmp_path, capsys):
    out = tmp_path / "ds"
    generate(models["cgan"], 70, 4, out, shard_size=10, device="cpu")
    expected = images_of(out)
    damaged, missing = out / "shard-000002.npy", out / "shard-000005.npy"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(bytes(data))
    missing.unlink()
    before = snapshot(out)
    status, text, _ = cli("generate", models["cgan"], "-n", 70, "--seed", 4, "--out", out, "--shard-size", 10,
                          "--device", "cpu", capsys=capsys)
    assert status == 0 and "(2 written, 5 checked and kept, 2 damaged and redone)" in text
    np.testing.assert_array_equal(images_of(out), expected)
    after = snapshot(out)
    untouched = [k for k in before if k.startswith("shard-") and k not in ("shard-000002.npy",)]
    assert untouched and all(after[k] == before[k] for k in untouched)  # same bytes, inode and time: not rewritten


@pytest.mark.parametrize("change, differs", [
    (["--seed", "1"], "seed 0, not 1"),
    (["-n", "41"], "n 40, not 41"),
    (["--format", "png"], 'format "npy", not "png"'),
    (["--shard-size", "11"], "shard size 10, not 11"),
    (["--label", "2"], 'labels "cycle", not 2'),
    (["--truncation", "0.9"], "truncation 1.0, not 0.9"),
])
def test_other_parameters_over_a_data_set_are_refused_and_change_nothing(models, tmp_path, capsys, change, differs):
    out = tmp_path / "ds"
    generate(models["cgan"], 40, 0, out, shard_size=10, device="cpu")
    (out / "shard-000001.npy").unlink()  # a part-done data set: a refused run must not finish it either
    before = snapshot(out)
    status, _, err = cli("generate", models["cgan"], "-n", 40, "--shard-size", 10, "--out", out, "--device", "cpu",
                         *change, capsys=capsys)
    assert status == 2 and err.count("\n") == 1 and err.startswith("genrt: error: --out ")
    assert f"holds another data set ({differs})" in err
    assert snapshot(out) == before


def test_another_model_over_a_data_set_is_refused(models, tmp_path, capsys):
    out = tmp_path / "ds"
    generate(models["cgan"], 10, 0, out, device="cpu")
    status, _, err = cli("generate", models["gan"], "-n", 10, "--out", out, capsys=capsys)
    assert status == 2 and "model (sha256)" in err and "labels" in err


@pytest.mark.parametrize("setup, message", [
    (lambda p: p.mkdir() or (p / "notes.txt").write_text("mine"), "is not empty and holds no manifest.json"),
    (lambda p: p.write_text("a file"), "is a file; give a folder"),
    (lambda p: p.mkdir() or (p / "manifest.json").write_text("[" * 100_000), "cannot be read as JSON"),
    (lambda p: p.mkdir() or (p / "manifest.json").write_text('{"schema": "x"}'), "is not a manifest genrt can read"),
])
def test_folders_that_are_not_data_sets_are_refused(models, tmp_path, capsys, setup, message):
    out = tmp_path / "ds"
    setup(out)
    before = snapshot(out) if out.is_dir() else out.read_bytes()
    status, _, err = cli("generate", models["gan"], "-n", 10, "--out", out, capsys=capsys)
    assert status == 2 and message in err and err.count("\n") == 1
    assert (snapshot(out) if out.is_dir() else out.read_bytes()) == before


@pytest.mark.parametrize("args, message", [
    (["--label", "7"], "label 7 is out of range"),
    (["--workers", "2"], "--workers needs --ray"),
    (["--seed", str(2**64)], "--seed"),
    (["--ray", "local", "--label", "zebra"], "label 'zebra' is not a class"),
])
def test_bad_options_are_one_line_and_write_nothing(models, tmp_path, capsys, args, message):
    status, _, err = cli("generate", models["cgan"], "-n", 10, "--out", tmp_path / "ds", *args, capsys=capsys)
    assert status == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "ds").exists()


def test_a_folder_in_use_by_another_run_is_refused(models, tmp_path, capsys):
    out = tmp_path / "ds"
    generate(models["gan"], 10, 0, out, device="cpu")
    with open(out / LOCK) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        status, _, err = cli("generate", models["gan"], "-n", 10, "--out", out, capsys=capsys)
    assert status == 2 and "is being written by another genrt generate" in err


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path):
    out = tmp_path / "ds"
    args = [*GENRT, "generate", "-n", "20000", "--shard-size", "400", "--out", str(out), "--device", "cpu"]
    # A child inherits an ignored SIGINT (pytest started as a background job of a script ignores it, as POSIX
    # says); Ctrl-C reaches a foreground command, so the child starts with the default disposition.
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if (out / "manifest.json").exists() and len(read_manifest(str(out))[0]["shards"]) >= 2:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "run the same command to resume" in err and "Traceback" not in err, err
    listed = read_manifest(str(out))[0]["shards"]
    assert 2 <= len(listed) < 50
    assert sorted(os.listdir(out)) == sorted([LOCK, "manifest.json", *(s["file"] for s in listed)])  # no half files
    before = snapshot(out)
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"({50 - len(listed)} written, {len(listed)} checked and kept)" in done.stdout
    after = snapshot(out)
    assert all(after[s["file"]] == before[s["file"]] for s in listed)  # the first run's shards were not rewritten
    whole = np.concatenate([np.load(out / s["file"]) for s in read_manifest(str(out))[0]["shards"]])
    expected = subprocess.run([*GENRT, "sample", "-n", "20000", "-o", str(tmp_path / "x.npy"), "--device", "cpu"],
                              capture_output=True, timeout=300)
    assert expected.returncode == 0
    np.testing.assert_array_equal(whole, np.load(tmp_path / "x.npy"))


def test_a_stop_inside_the_manifest_write_leaves_only_listed_shards(models, tmp_path):
    # Ctrl-C during the manifest's write, after the shard's rename: the manifest on disk lists one shard fewer
    # than the run had in memory. What the stopped run leaves is judged by the manifest on disk.
    out = tmp_path / "ds"
    generate(models["gan"], 60, 0, out, shard_size=20, device="cpu")
    manifest, job = read_manifest(str(out))
    write_manifest(str(out), job, manifest["image_shape"], manifest["shards"][:1], manifest["model"]["path"])
    _remove_unlisted(str(out), job, todo=[1, 2])
    assert sorted(os.listdir(out)) == sorted([LOCK, "manifest.json", "shard-000000.npy"])
    generate(models["gan"], 60, 0, out, shard_size=20, device="cpu")
    assert [s["file"] for s in read_manifest(str(out))[0]["shards"]] == [f"shard-00000{k}.npy" for k in range(3)]


def test_generate_in_this_process_imports_neither_torch_nor_ray(tmp_path):
    code = ("import sys; from genrt.cli import main; "
            f"status = main(['generate', '-n', '30', '--out', {str(tmp_path / 'ds')!r}, '--device', 'cpu']); "
            "assert status == 0, status; "
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_eval_of_a_data_set_equals_eval_of_its_model(tmp_path, capsys):
    from genrt.eval import evaluate, evaluate_dataset
    from genrt.runtime import default_model_path

    out = tmp_path / "ds"
    generate(None, 600, 5, out, shard_size=250, device="cpu")
    with pytest.warns(UserWarning):
        from_folder = evaluate_dataset(str(out))
    with pytest.warns(UserWarning):
        from_model = evaluate(default_model_path(), n=600, seed=5)
    assert from_folder["metrics"] == from_model["metrics"]  # the same images, so the same scores
    (out / "shard-000001.npy").write_bytes(b"damaged")
    status, _, err = cli("eval", out, capsys=capsys)
    assert status == 2 and "shard-000001.npy is damaged or missing" in err
    (out / "shard-000001.npy").unlink()
    generate(None, 600, 5, out, shard_size=250, device="cpu", progress=None)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:1]
    (out / "manifest.json").write_text(json.dumps(manifest))
    status, _, err = cli("eval", out, capsys=capsys)
    assert status == 2 and "holds 250 of its 600 images (1 of 3 shards); run the same genrt generate" in err


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB file system (tmpfs), where this process may mount one (root on Linux); skipped elsewhere."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_png_shards_that_cannot_fit_stop_after_the_first_in_one_line(small_disk, capsys):
    """Each PNG takes a whole block: 10 shards of 100 need about 4 MiB; the job stops once the first is written."""
    status = main(["generate", "--out", str(small_disk / "ds"), "-n", "1000", "--format", "png", "--shard-size",
                   "100", "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("genrt: error: ") and "9 PNG shards still to write" in err, err
    assert sorted(n for n in os.listdir(small_disk / "ds") if n != LOCK) == ["manifest.json", "shard-000000"]
    assert len(read_manifest(str(small_disk / "ds"))[0]["shards"]) == 1  # kept, for the same command to go on
