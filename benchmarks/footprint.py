"""What a runtime install of genrt weighs, and what `genrt sample` costs to start, in a given environment.

    python benchmarks/footprint.py [--python VENV/bin/python] [--repeats 5]

Run it with the Python of a virtual environment that holds only `pip install
'genrt[cpu]'` (a wheel, not editable; `.ci/wheel-check` makes one) to get the
figures the README quotes:

- installed size: every distribution in that environment's site-packages, by the
  files its RECORD lists (pip and setuptools left out), largest first;
- `genrt info` and `genrt sample` of the bundled model, from a temporary folder
  outside any source tree: wall time (median of --repeats) and peak RSS of the
  process (ru_maxrss of the child), and whether torch was imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = r"""
import importlib.metadata as md, json, os
sizes = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name.lower() in ("pip", "setuptools", "wheel"):
        continue
    total = 0
    for f in dist.files or ():
        path = f.locate()
        if os.path.isfile(path):
            total += os.path.getsize(path)
    sizes[name] = total
print(json.dumps(sizes))
"""

PEAK = r"""
import resource, subprocess, sys, time
began = time.perf_counter()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - began
print(status, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""

NO_TORCH = "import sys, genrt.runtime, genrt.ext; genrt.runtime.Generator(genrt.runtime.default_model_path()).sample(4, seed=0); print('torch' in sys.modules)"


def measure(python: str, args: list[str], cwd: str, repeats: int) -> tuple[float, float]:
    """(median seconds, max peak RSS MB) of `args` run `repeats` times as a child of a small probe process."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([python, "-c", PEAK, *args], capture_output=True, text=True, cwd=cwd, check=True)
        status, seconds, peak = out.stdout.split()
        if status != "0":
            raise SystemExit(f"{' '.join(args)} failed with status {status}")
        runs.append((float(seconds), float(peak)))
    return statistics.median(s for s, _ in runs), max(p for _, p in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the environment's Python")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    args = parser.parse_args()
    genrt_cli = os.path.join(os.path.dirname(args.python), "genrt")
    sizes = json.loads(subprocess.run([args.python, "-c", SIZES], capture_output=True, text=True, check=True).stdout)
    with tempfile.TemporaryDirectory() as folder:
        measure(args.python, [genrt_cli, "info"], folder, 1)  # warm the file cache
        info = measure(args.python, [genrt_cli, "info"], folder, args.repeats)
        sample = measure(args.python, [genrt_cli, "sample", "--device", "cpu", "-o", "s.png", "--overwrite"], folder,
                         args.repeats)
        torch = subprocess.run([args.python, "-c", NO_TORCH], capture_output=True, text=True, cwd=folder,
                               check=True).stdout.strip()
    report = {"sizes_mb": {k: round(v / 1e6, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])},
              "total_mb": round(sum(sizes.values()) / 1e6, 1), "genrt_info": {"s": info[0], "peak_mb": info[1]},
              "genrt_sample": {"s": sample[0], "peak_mb": sample[1]}, "torch_imported": torch == "True",
              "checked": time.strftime("%Y-%m-%d")}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"installed: {report['total_mb']:.1f} MB in {len(sizes)} distributions (pip, setuptools left out)")
    for name, mb in report["sizes_mb"].items():
        print(f"  {name:<24}{mb:8.1f} MB")
    print(f"genrt info:   {info[0]:.2f} s, peak RSS {info[1]:.0f} MB (median of {args.repeats})")
    print(f"genrt sample: {sample[0]:.2f} s, peak RSS {sample[1]:.0f} MB (64 images of the bundled model to a PNG grid)")
    print(f"torch imported by the runtime: {'yes' if report['torch_imported'] else 'no'}")


if __name__ == "__main__":
    main()
