"""Post-processing speed: genrt.ext kernels vs plain numpy vs a plain memory copy.

    python benchmarks/postprocess.py [--repeats 40] [--json out.json]

For each input shape, one process times, interleaved round by round (A B C A B C ...
so drift on a shared machine hits all of them alike), the median of:

- to_uint8 (float32 N,C,H,W -> uint8 N,H,W,C) through the Cython kernel, writing into a
  reused output buffer, and allocating its output;
- the same conversion written as the straightforward numpy expression (the reference);
- np.copyto of the float32 array into a reused buffer: the memory-speed yardstick;
- to_float (uint8 N,H,W,C -> float32 N,C,H,W), kernel (reused and fresh output) and numpy;
- to_grid (fused convert + tile, reused output) against to_uint8 alone and against
  to_uint8 followed by make_grid.

Effective bandwidth = (bytes read + bytes written) / time. The copy moves 2x the
float32 bytes; a kernel's bandwidth is reported as a percentage of the copy's.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from timing import time_interleaved

import genrt.ext as ext
from genrt.ext import reference

SHAPES = [(256, 3, 64, 64), (16, 3, 256, 256)]


def bench_shape(shape, repeats: int) -> dict:
    n, c, h, w = shape
    nrow = int(np.ceil(np.sqrt(n)))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape, dtype=np.float32) * 0.7).clip(-1.2, 1.2)
    u8 = reference.to_uint8(x)
    copy_dst = np.empty_like(x)
    u8_out = np.empty((n, h, w, c), dtype=np.uint8)
    f32_out = np.empty_like(x)
    grid_out = np.empty(ext.grid_shape(shape, nrow), dtype=np.uint8)

    t = time_interleaved(
        {
            "copy": lambda: np.copyto(copy_dst, x),
            "to_uint8": lambda: ext.to_uint8(x, out=u8_out),
            "to_uint8_alloc": lambda: ext.to_uint8(x),
            "to_uint8_numpy": lambda: reference.to_uint8(x),
            "to_float": lambda: ext.to_float(u8, out=f32_out),
            "to_float_alloc": lambda: ext.to_float(u8),
            "to_float_numpy": lambda: reference.to_float(u8),
            "to_grid": lambda: ext.to_grid(x, nrow=nrow, out=grid_out),
            "to_uint8_then_make_grid": lambda: ext.make_grid(ext.to_uint8(x, out=u8_out), nrow=nrow, out=grid_out),
        },
        repeats,
    )
    float_bytes, byte_bytes = x.nbytes, u8.nbytes
    copy_bw = 2 * float_bytes / t["copy"]
    moved = float_bytes + byte_bytes  # both kernels read one side and write the other

    def pct_of_copy(seconds):
        return 100.0 * (moved / seconds) / copy_bw

    return {
        "shape": list(shape),
        "seconds": t,
        "copy_GBps": copy_bw / 1e9,
        "to_uint8_speedup_vs_numpy": t["to_uint8_numpy"] / t["to_uint8"],
        "to_uint8_pct_of_copy": pct_of_copy(t["to_uint8"]),
        "to_uint8_alloc_speedup_vs_numpy": t["to_uint8_numpy"] / t["to_uint8_alloc"],
        "to_float_speedup_vs_numpy": t["to_float_numpy"] / t["to_float"],
        "to_float_pct_of_copy": pct_of_copy(t["to_float"]),
        "to_float_alloc_speedup_vs_numpy": t["to_float_numpy"] / t["to_float_alloc"],
        "to_grid_vs_to_uint8": t["to_grid"] / t["to_uint8"],
        "to_grid_speedup_vs_unfused": t["to_uint8_then_make_grid"] / t["to_grid"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    info = ext.backend_info()
    print(f"genrt.ext backend: {info['backend']}, OpenMP threads: {info['threads']}, numpy {np.__version__}")
    results = [bench_shape(shape, args.repeats) for shape in SHAPES]
    for r in results:
        s = {k: v * 1e3 for k, v in r["seconds"].items()}
        print(f"\ninput float32 {'x'.join(map(str, r['shape']))}  (median of {args.repeats}, ms)")
        print(f"  np.copyto (float32 bytes)   {s['copy']:8.3f}   {r['copy_GBps']:.1f} GB/s")
        print(
            f"  to_uint8  kernel (out=)     {s['to_uint8']:8.3f}   {r['to_uint8_speedup_vs_numpy']:5.1f}x numpy, "
            f"{r['to_uint8_pct_of_copy']:5.1f}% of copy bandwidth"
        )
        print(
            f"  to_uint8  kernel (alloc)    {s['to_uint8_alloc']:8.3f}   "
            f"{r['to_uint8_alloc_speedup_vs_numpy']:5.1f}x numpy"
        )
        print(f"  to_uint8  numpy             {s['to_uint8_numpy']:8.3f}")
        print(
            f"  to_float  kernel (out=)     {s['to_float']:8.3f}   {r['to_float_speedup_vs_numpy']:5.1f}x numpy, "
            f"{r['to_float_pct_of_copy']:5.1f}% of copy bandwidth"
        )
        print(
            f"  to_float  kernel (alloc)    {s['to_float_alloc']:8.3f}   "
            f"{r['to_float_alloc_speedup_vs_numpy']:5.1f}x numpy"
        )
        print(f"  to_float  numpy             {s['to_float_numpy']:8.3f}")
        print(
            f"  to_grid   fused (out=)      {s['to_grid']:8.3f}   "
            f"{r['to_grid_vs_to_uint8']:.2f}x the time of to_uint8 (out=) alone, "
            f"{r['to_grid_speedup_vs_unfused']:.2f}x faster than to_uint8 + make_grid"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": info, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
