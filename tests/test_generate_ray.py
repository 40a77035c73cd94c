"""`genrt generate` on a real local Ray cluster (2 CPUs, one per test run): the same bytes as in this process
and as `genrt sample`, a worker killed mid-run, the command line joining a cluster, and the Ray Data class."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from genrt.generate import SampleImages, generate, read_manifest
from onnx_models import build_generator

TIMEOUT = 240  # seconds any one Ray job here may take before the test fails


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build_generator(tmp_path_factory.mktemp("ray_models") / "cgan.onnx", num_classes=3, image_shape=(1, 6, 6),
                           seed=4)


def images_of(folder) -> np.ndarray:
    manifest, _ = read_manifest(str(folder))
    return np.concatenate([np.load(os.path.join(folder, s["file"])) for s in manifest["shards"]])


def worker_pids() -> list[int]:
    """The processes of genrt's Ray workers, by the name Ray gives them (ray::GenrtShardWriter...)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::GenrtShardWriter"):
                    pids.append(int(entry))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.parametrize("shard_size", [9, 40])
def test_one_worker_two_workers_in_process_and_sample_agree(ray_cluster, model, tmp_path, shard_size):
    from genrt.runtime import Generator

    expected = Generator(model, device="cpu").sample(100, seed=6)  # genrt sample's rows (test_generate checks)
    here = generate(model, 100, 6, tmp_path / "here", shard_size=shard_size, device="cpu")
    one = generate(model, 100, 6, tmp_path / "one", shard_size=shard_size, device="cpu", ray="auto", workers=1,
                   batch_size=7)
    two = generate(model, 100, 6, tmp_path / "two", shard_size=shard_size, device="cpu", ray="auto", workers=2)
    for name in ("here", "one", "two"):
        np.testing.assert_array_equal(images_of(tmp_path / name), expected)
    assert here["shards"] == one["shards"] == two["shards"]  # file names, starts, counts and sha256


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(ray_cluster, model, tmp_path):
    out = tmp_path / "ds"
    result, failure = {}, []

    def run():
        try:
            result["manifest"] = generate(model, 6000, 1, out, shard_size=150, batch_size=16, device="cpu",
                                          ray="auto", workers=2)
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    job = threading.Thread(target=run)
    job.start()
    deadline, killed = time.monotonic() + TIMEOUT, None
    while time.monotonic() < deadline and job.is_alive() and killed is None:
        listed = read_manifest(str(out))[0]["shards"] if (out / "manifest.json").exists() else []
        pids = worker_pids()
        if len(listed) >= 3 and pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    job.join(TIMEOUT)
    assert not job.is_alive() and not failure and killed is not None
    starts = [s["start"] for s in result["manifest"]["shards"]]
    assert starts == list(range(0, 6000, 150))  # every shard once
    from genrt.runtime import Generator

    np.testing.assert_array_equal(images_of(out), Generator(model, device="cpu").sample(6000, seed=1))
    assert killed not in worker_pids()
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_the_command_line_joins_a_cluster_by_address(ray_cluster, model, tmp_path):
    out = tmp_path / "ds"
    args = [sys.executable, "-m", "genrt.cli", "generate", str(model), "-n", "50", "--seed", "2", "--out", str(out),
            "--shard-size", "20", "--device", "cpu", "--ray", ray_cluster, "--workers", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "50 images in 3 shards (3 written, 0 checked and kept)" in done.stdout and "in Ray" in done.stdout
    from genrt.runtime import Generator

    np.testing.assert_array_equal(images_of(out), Generator(model, device="cpu").sample(50, seed=2))
    too_many = subprocess.run([*args[:-1], "5"], capture_output=True, text=True, timeout=TIMEOUT)
    # the folder is complete, so nothing runs; a new folder with more workers than CPUs is refused
    assert too_many.returncode == 0 and "nothing to do" in too_many.stdout
    args[args.index(str(out))] = str(tmp_path / "other")
    refused = subprocess.run([*args[:-1], "5"], capture_output=True, text=True, timeout=TIMEOUT)
    assert refused.returncode == 2 and "5 Ray workers of 1 thread(s) need 5 CPUs, the cluster has 2" in refused.stderr
    assert not (tmp_path / "other").exists()  # a refused run leaves no folder behind


def test_sample_images_maps_a_ray_dataset_to_the_same_rows(ray_cluster, model):
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    dataset = ray.data.range(90, override_num_blocks=4).map_batches(
        SampleImages, fn_constructor_kwargs={"model": str(model), "seed": 8, "device": "cpu"},
        batch_size=16, concurrency=1, num_cpus=0.5)  # half a CPU: the other one is left to Ray Data's reads
    rows = sorted(dataset.take_all(), key=lambda row: row["id"])
    from genrt.runtime import Generator

    expected = Generator(model, device="cpu").sample(90, seed=8)
    np.testing.assert_array_equal(np.stack([row["image"] for row in rows]), expected)
    assert [int(row["label"]) for row in rows] == [i % 3 for i in range(90)]


def test_sample_images_takes_indices_in_any_order(model):
    batch = SampleImages(str(model), seed=3, labels=2, device="cpu")({"id": np.array([7, 3, 4, 5, 20])})
    from genrt.runtime import Generator

    g = Generator(model, device="cpu")
    whole = g.sample(21, seed=3, labels=2)
    np.testing.assert_array_equal(batch["image"], whole[[7, 3, 4, 5, 20]])
    assert batch["label"].tolist() == [2] * 5
