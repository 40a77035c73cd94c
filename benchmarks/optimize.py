"""genrt optimize against the by-hand path: the plain export on a bare InferenceSession.run.

    python benchmarks/optimize.py [--repeats 15] [--batch 1,8,64,256] [--models bundled,dcgan] [--json out.json]

Two generators:
- the bundled 28x28 digits cGAN as torch.onnx.export wrote it, before genrt optimized it
  (benchmarks/models/cgan_digits_plain.onnx; genrt/runtime/default.onnx is its optimized form);
- the pytorch/examples 64x64 DCGAN (nz 100, ngf 64, batch norm), exported with plain
  torch.onnx.export, random weights scaled so the output spans (-1, 1).

Each is optimized with `genrt optimize --int8` (as the bundled model is) for the batch sizes measured, then plain and
optimized run side by side in one process, in shuffled interleaved rounds with
onnxruntime's thread spinning off (genrt.timing), medians. Printed per batch size:
milliseconds and the ratio to plain of the optimized fp32 and int8 (`--int8`) files, its
int8 error against the plain graph, and useful GFLOP/s (2 x the multiply-adds of
the original convolutions and matrix products, over the time) next to the GFLOP/s of a
float32 2048 x 2048 numpy matmul timed in the same interleaved rounds (for the batch sizes
whose runs last 20 ms or more). Last, end to end: Generator.sample on the optimized
bundled model (latents, run, uint8 images) against a bare session.run of the plain export (float32 out, latents given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

# numpy's OpenBLAS threads busy-wait after each product (by default 2**28 cycles, about 0.1 s),
# taking the CPUs from the onnxruntime run that follows the matmul in a round. They must
# sleep at once (2**4 cycles); set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np
import onnx
from foreign_models import pytorch_examples_dcgan
from timing import time_interleaved

import genrt
from genrt.optimize import optimize_model
from genrt.optimize.onnxgraph import infer_shapes
from genrt.optimize.select import feeds_for
from genrt.runtime import Generator, import_onnxruntime
from genrt.runtime.contract import read_contract, variant_path
from genrt.runtime.session import open_session

SAMPLE_SECONDS = 0.02
PLAIN_BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "cgan_digits_plain.onnx")


def macs_per_image(path: str) -> int:
    """Multiply-adds per image of the graph's Conv, ConvTranspose, Gemm and MatMul nodes (batch 1 shapes)."""
    model = onnx.load(path)
    shapes = infer_shapes(model)
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        w = weights.get(node.input[1]) if len(node.input) > 1 else None
        if w is None:
            continue
        if node.op_type == "ConvTranspose":  # every input pixel times every tap
            h, w_in = shapes[node.input[0]][2:]
            total += w[0] * w[1] * w[2] * w[3] * h * w_in
        elif node.op_type == "Conv":
            h, w_out = shapes[node.output[0]][2:]
            total += w[0] * w[1] * w[2] * w[3] * h * w_out
        elif node.op_type in ("Gemm", "MatMul"):
            total += w[0] * w[1]
    return total


MATMUL = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)


def bench_models(name: str, plain: str, optimized: str, int8: str, batches, repeats: int) -> list[dict]:
    sessions = {"plain": open_session(plain, spinning=False), "optimized": open_session(optimized, spinning=False),
                "int8": open_session(int8, spinning=False)}
    contract = read_contract(sessions["plain"], plain)
    macs = macs_per_image(plain)
    rows = []
    for batch, feed in feeds_for(contract, batches).items():
        funcs = {k: (lambda s=s, f=feed: s.run(None, f)) for k, s in sessions.items()}
        single = time_interleaved(funcs, 3, warmup=1)["plain"]
        number = max(1, int(SAMPLE_SECONDS / single))
        if number == 1:  # runs of 20 ms or more: the machine's limit is timed in the same rounds
            funcs["matmul"] = lambda: MATMUL @ MATMUL
        t = time_interleaved(funcs, repeats, number=number)
        matmul = 2 * 2048**3 / t["matmul"] / 1e9 if "matmul" in t else None
        rows.append({"model": name, "batch": batch, "plain_ms": t["plain"] * 1e3, "optimized_ms": t["optimized"] * 1e3,
                     "int8_ms": t["int8"] * 1e3, "ratio": t["optimized"] / t["plain"], "int8_ratio": t["int8"] / t["plain"],
                     "useful_gflops": 2 * macs * batch / t["optimized"] / 1e9,
                     "plain_gflops": 2 * macs * batch / t["plain"] / 1e9, "matmul_gflops": matmul})
    return rows


def bench_end_to_end(plain: str, optimized: str, batches, repeats: int) -> list[dict]:
    g = Generator(optimized, device="cpu", spinning=False)
    bare = open_session(plain, spinning=False)
    rows = []
    for batch, feed in feeds_for(g.contract, batches).items():
        funcs = {"bare": lambda f=feed: bare.run(None, f), "sample": lambda b=batch: g.sample(b, seed=0)}
        single = time_interleaved(funcs, 3, warmup=1)["bare"]
        t = time_interleaved(funcs, repeats, number=max(1, int(SAMPLE_SECONDS / single)))
        rows.append({"batch": batch, "bare_plain_ms": t["bare"] * 1e3, "sample_optimized_ms": t["sample"] * 1e3,
                     "speedup": t["bare"] / t["sample"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", default="1,8,64,256")
    parser.add_argument("--models", default="bundled,dcgan", help="which of the two generators (end to end: bundled)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    wanted = set(args.models.split(","))
    if not wanted or wanted - {"bundled", "dcgan"}:
        parser.error(f"--models takes bundled and/or dcgan, got {args.models!r}")
    batches = tuple(int(b) for b in args.batch.split(","))
    warnings.simplefilter("ignore")
    ort = import_onnxruntime()
    print(f"genrt {genrt.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs")

    folder = tempfile.mkdtemp(prefix="genrt-optimize-")
    models = {}
    if "bundled" in wanted:
        models["bundled cGAN 28x28"] = PLAIN_BUNDLED
    if "dcgan" in wanted:
        models["DCGAN 64x64"] = os.path.join(folder, "dcgan64.onnx")
        pytorch_examples_dcgan(models["DCGAN 64x64"])
    rows, chosen, int8_errors = [], {}, {}
    for name, plain in models.items():
        out = os.path.join(folder, os.path.basename(plain).replace(".onnx", ".opt.onnx"))
        print(f"optimizing {name} for batch {args.batch} ...", file=sys.stderr)
        result = optimize_model(plain, out, batch_sizes=batches, int8=True,
                                log=lambda m: print(f"  {m}", file=sys.stderr))
        chosen[name] = {"fp32": result.plan, "int8": result.int8["choice"]}
        int8_errors[name] = result.int8["candidates"][result.int8["choice"]]["errors"]
        models[name] = (plain, out)
        rows += bench_models(name, plain, out, variant_path(out, "int8"), batches, args.repeats)

    print(f"\nplain export vs genrt optimize, median of {args.repeats} interleaved rounds, spinning off")
    print(f"{'model':<20}{'batch':>6}{'plain ms':>10}{'optimized':>11}{'ratio':>8}{'int8':>9}{'ratio':>8}"
          f"{'GFLOP/s':>9}{'matmul':>8}{'of matmul':>11}")
    for r in rows:
        print(f"{r['model']:<20}{r['batch']:>6}{r['plain_ms']:>10.3f}{r['optimized_ms']:>11.3f}{r['ratio']:>7.2f}x"
              f"{r['int8_ms']:>9.3f}{r['int8_ratio']:>7.2f}x"
              f"{r['useful_gflops']:>9.1f}" + (f"{r['matmul_gflops']:>8.1f}{r['useful_gflops'] / r['matmul_gflops']:>10.0%}"
                                                 if r["matmul_gflops"] else f"{'-':>8}{'-':>10}"))
    for name, plan in chosen.items():
        e = int8_errors[name]
        print(f"  {name}: {json.dumps(plan)}; int8 vs the plain fp32 graph: mean |err| {e['mean']:.2e}, "
              f"99.9th pct {e['p999']:.2e}, max {e['max']:.2e}")

    end = []
    if "bundled cGAN 28x28" in models:
        plain, optimized = models["bundled cGAN 28x28"]
        end = bench_end_to_end(plain, optimized, (1, 64), args.repeats)
        print("\nend to end, bundled model: Generator.sample(n, seed) on the optimized file (uint8 images) vs a bare "
              "session.run of the plain export (float32, latents given)")
    for r in end:
        print(f"  batch {r['batch']:>3}: bare run {r['bare_plain_ms']:.3f} ms, sample {r['sample_optimized_ms']:.3f} ms,"
              f" {r['speedup']:.2f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "plans": chosen, "int8_errors": int8_errors, "end_to_end": end}, f, indent=2)


if __name__ == "__main__":
    main()
