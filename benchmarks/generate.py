"""What `genrt generate` costs against `genrt sample`, on Ray against this process, and its driver's memory.

    python benchmarks/generate.py [--n 100000] [--rounds 3] [--ray-n 40000]

Three measurements of the bundled model, each side by side in one run (alternating rounds,
medians), in a temporary folder:

1. in this process: `genrt generate -n N --out DIR` against `genrt sample -n N -o x.npy`
   (both whole commands, CLI start-up included): the time ratio.
2. Ray, 2 workers x 1 thread, against this process with 2 threads, for the same images: the
   throughput ratio excluding start-up (the marginal rate: images per second between a job of
   ray-n/4 images and one of ray-n, in shards of ray-n/16), with the start-up (the local cluster's, and each job's
   actors opening their Generator) quoted separately.
3. the generating process's peak RSS (ru_maxrss) for N/10 and N images, in this process and as
   the Ray driver: it must not grow with N.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GENRT = [sys.executable, "-m", "genrt.cli"]

# A Ray driver: start a local cluster (2 CPUs), run generate jobs of the given sizes, print their seconds.
RAY_JOBS = r"""
import json, logging, sys, time
import ray
from genrt.generate import generate
began = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
seconds = {"cluster_start": time.perf_counter() - began}
shard_size = int(sys.argv[1])
for n, out in zip(map(int, sys.argv[2::2]), sys.argv[3::2]):
    began = time.perf_counter()
    generate(None, n, 0, out, shard_size=shard_size, device="cpu", ray="auto", workers=2, threads=1)
    seconds[f"{n}:{out}"] = time.perf_counter() - began
ray.shutdown()
print(json.dumps(seconds))
"""

HERE_JOB = r"""
import json, sys, time
from genrt.generate import generate
began = time.perf_counter()
generate(None, int(sys.argv[1]), 0, sys.argv[2], shard_size=int(sys.argv[3]), device="cpu", threads=2)
print(json.dumps(time.perf_counter() - began))
"""

PEAK = r"""
import logging, resource, sys
from genrt.generate import generate
ray = sys.argv[3] == "ray"
if ray:
    import ray as ray_module
    ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
generate(None, int(sys.argv[1]), 0, sys.argv[2], device="cpu", ray="auto" if ray else None,
         workers=2 if ray else None, threads=1 if ray else None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def timed(args: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def python(code: str, *args) -> str:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--ray-n", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="genrt-bench-generate-")
    try:
        report = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=1))


def measure(args, work: str) -> dict:
    n, small, shard = args.n, args.ray_n // 4, max(1, args.ray_n // 16)  # 4 and 16 shards: both workers busy
    out, npy = os.path.join(work, "ds"), os.path.join(work, "x.npy")
    generate_s, sample_s = [], []
    for _ in range(args.rounds):  # alternating, so that a noisy neighbour hits both alike
        generate_s.append(timed([*GENRT, "generate", "-n", str(n), "--out", fresh(out), "--device", "cpu"]))
        os.path.exists(npy) and os.unlink(npy)
        sample_s.append(timed([*GENRT, "sample", "-n", str(n), "-o", npy, "--device", "cpu"]))
    g, s = statistics.median(generate_s), statistics.median(sample_s)
    print(f"1. in this process, {n:,} images: generate {g:.2f} s, sample -o x.npy {s:.2f} s: {g / s:.3f}x the time")

    here_rates, ray_rates, starts, job_starts = [], [], [], []
    for _ in range(args.rounds):
        ray_seconds = json.loads(python(RAY_JOBS, shard, small, fresh(out + "-s"), args.ray_n, fresh(out + "-l")))
        t_small, t_large = ray_seconds[f"{small}:{out}-s"], ray_seconds[f"{args.ray_n}:{out}-l"]
        ray_rate = (args.ray_n - small) / (t_large - t_small)
        here_small = json.loads(python(HERE_JOB, small, fresh(out + "-s"), shard))
        here_large = json.loads(python(HERE_JOB, args.ray_n, fresh(out + "-l"), shard))
        here_rates.append((args.ray_n - small) / (here_large - here_small))
        ray_rates.append(ray_rate)
        starts.append(ray_seconds["cluster_start"])
        job_starts.append(t_small - small / ray_rate)
    here_rate, ray_rate = statistics.median(here_rates), statistics.median(ray_rates)
    print(f"2. Ray 2 workers x 1 thread: {ray_rate:,.0f} images/s; this process, 2 threads: {here_rate:,.0f} "
          f"images/s: {ray_rate / here_rate:.3f}x the throughput. Start-up: local cluster "
          f"{statistics.median(starts):.1f} s, each job's workers {statistics.median(job_starts):.1f} s")

    peaks = {}
    for engine in ("here", "ray"):
        for count in (n // 10, n):
            peaks[f"{engine}:{count}"] = float(python(PEAK, count, fresh(out), engine))
    print(f"3. peak RSS of the generating process: in this process {peaks[f'here:{n // 10}']:.0f} MB for "
          f"{n // 10:,} images, {peaks[f'here:{n}']:.0f} MB for {n:,}; the Ray driver {peaks[f'ray:{n // 10}']:.0f} "
          f"MB and {peaks[f'ray:{n}']:.0f} MB")
    return {"n": n, "generate_s": generate_s, "sample_s": sample_s, "generate_over_sample": g / s,
            "ray_images_per_s": ray_rates, "here_images_per_s": here_rates, "ray_over_here": ray_rate / here_rate,
            "cluster_start_s": starts, "job_start_s": job_starts, "peak_rss_mb": peaks}


if __name__ == "__main__":
    main()
