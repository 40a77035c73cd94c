"""What genrt.runtime adds on top of onnxruntime: Generator.sample vs a bare InferenceSession.run.

    python benchmarks/runtime_overhead.py [--repeats 30] [--model a.onnx ...] [--json out.json]

For each generator (by default two DCGAN-shaped ones built with random weights:
28x28x1 and 64x64x3, see dcgan_onnx.py) and batch size 1, 16 and 64, one process
times, interleaved round by round (medians):

- bare:    session.run(None, {"z": z}) on precomputed latents, float32 NCHW out, on
           the Generator's own session (a second session would have its own
           thread pool, whose spinning workers steal this 2-core machine's CPUs
           from the other contender and turn the comparison into noise);
- bound:   the same bare session through an IO binding made once, into a
           preallocated output: the fastest plain-onnxruntime call, for reference;
- decode:  Generator.decode(z): inference through IO binding + genrt.ext to uint8 NHWC;
- sample:  Generator.sample(n, seed): seeded latents + decode, what users call.

Overhead = sample / bare - 1 (target: <= 10% at batch 64, <= 20% at batch 1); the
table also gives sample / bound - 1, genrt's cost over the best hand-written call.

Then the start-up cost of the whole command line: wall time of
`genrt sample MODEL -n 64 -o grid.png` in a fresh process, against `python -c "import torch"`
and an empty `python -c pass`, interleaved, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the genrt command sets it, before genrt.ext loads

import numpy as np
from dcgan_onnx import build_dcgan
from timing import time_interleaved

import genrt
from genrt.runtime import Generator, import_onnxruntime

BATCHES = (1, 16, 64)


def bench_model(path: str, repeats: int, threads: int | None) -> list[dict]:
    g = Generator(path, device="cpu", threads=threads)
    bare = g.session
    rows = []
    for n in BATCHES:
        z = g.latents(n, seed=0)
        feed = {g.contract.latent_name: z}
        binding = bare.io_binding()
        binding.bind_cpu_input(g.contract.latent_name, z)
        out = np.empty((n, *g.contract.image_shape), np.float32)
        binding.bind_output(g.contract.image_name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
        funcs = {
            "bare": lambda: bare.run(None, feed),
            "bound": lambda: bare.run_with_iobinding(binding),
            "decode": lambda: g.decode(z),
            "sample": lambda: g.sample(n, seed=0),
        }
        single = time_interleaved(funcs, repeats=3)["bare"]
        number = max(1, int(0.05 / single))  # each timed sample lasts >= ~50 ms
        t = time_interleaved(funcs, repeats, number=number)
        rows.append(
            {
                "model": os.path.basename(path),
                "image": "x".join(map(str, g.contract.image_shape)),
                "batch": n,
                "ms": {k: v * 1e3 for k, v in t.items()},
                "sample_overhead_pct": 100 * (t["sample"] / t["bare"] - 1),
                "decode_overhead_pct": 100 * (t["decode"] / t["bare"] - 1),
                "sample_over_bound_pct": 100 * (t["sample"] / t["bound"] - 1),
                "images_per_s": n / t["sample"],
            }
        )
    return rows


def bench_startup(model: str, repeats: int) -> dict:
    exe = shutil.which("genrt", path=os.path.dirname(sys.executable)) or shutil.which("genrt")
    out = os.path.join(tempfile.mkdtemp(prefix="genrt-bench-"), "grid.png")
    commands = {
        "genrt sample -n 64 -o grid.png": [exe, "sample", model, "-n", "64", "-o", out, "--overwrite", "--device", "cpu"],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }

    def runner(cmd):
        return lambda: subprocess.run(cmd, check=True, capture_output=True)

    t = time_interleaved({k: runner(v) for k, v in commands.items()}, repeats, warmup=1)
    return {"model": os.path.basename(model), "seconds": t}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--startup-repeats", type=int, default=7)
    parser.add_argument("--model", action="append", help="generator ONNX file(s) [default: the DCGAN-shaped pair]")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads for both sides [ort default]")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    ort = import_onnxruntime()
    print(f"genrt {genrt.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, threads {args.threads or 'ort default'}")
    folder = tempfile.mkdtemp(prefix="genrt-bench-")
    models = args.model or [build_dcgan(os.path.join(folder, f"{n}.onnx"), n) for n in ("dcgan28", "dcgan64")]
    rows = [row for m in models for row in bench_model(str(m), args.repeats, args.threads)]

    print(f"\nper call, median of {args.repeats} interleaved rounds (ms)")
    print(f"{'model':<14}{'image':<10}{'batch':>6}{'bare run':>10}{'bound':>9}{'decode':>9}{'sample':>9}"
          f"{'vs bare':>9}{'vs bound':>10}{'images/s':>10}")
    for r in rows:
        ms = r["ms"]
        print(f"{r['model']:<14}{r['image']:<10}{r['batch']:>6}{ms['bare']:>10.3f}{ms['bound']:>9.3f}"
              f"{ms['decode']:>9.3f}{ms['sample']:>9.3f}{r['sample_overhead_pct']:>+8.1f}%"
              f"{r['sample_over_bound_pct']:>+9.1f}%{r['images_per_s']:>10.0f}")

    startup_model = str(models[0])
    start = time.perf_counter()
    startup = bench_startup(startup_model, args.startup_repeats)
    s = startup["seconds"]
    print(f"\nstart-up, fresh process each, median of {args.startup_repeats} ({time.perf_counter() - start:.0f} s)")
    for name, seconds in s.items():
        print(f"  {name:<34}{seconds * 1e3:8.0f} ms")
    ratio = s["genrt sample -n 64 -o grid.png"] / s["python -c 'import torch'"]
    print(f"  the whole genrt sample command takes {ratio:.2f}x the time of importing torch alone")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "startup": startup}, f, indent=2)


if __name__ == "__main__":
    main()
