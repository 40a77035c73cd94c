"""genrt's default output against its peers on this CPU, as ratios to the plain export on bare onnxruntime.

    python benchmarks/peers.py [--repeats 15] [--batch 1,64] [--models dcgan,linear28] [--json out.json]

For two generators genrt did not write (foreign_models.py), exported with plain
torch.onnx.export, each row is one batch size and each column a contender, timed side
by side in one process in shuffled interleaved rounds (genrt.timing), medians:

- plain: the export on a bare onnxruntime InferenceSession (the 1.00x every ratio is to);
- genrt fp32, genrt int8: `genrt optimize MODEL -o OUT --int8` with its defaults;
- OpenVINO f32: the same ONNX file, read by OpenVINO, reshaped to each batch size, compiled
  for the CPU with f32 inference precision;
- OpenVINO + NNCF int8: nncf.quantize on the OpenVINO model (its defaults) with the
  calibration images genrt uses, compiled with OpenVINO's defaults;
- onnxruntime int8: onnxruntime.quantization.quantize_static with its defaults, same calibration;
- torch eager: the torch module under inference_mode.

Every engine gets 2 threads (or --threads). onnxruntime's thread spinning is off (two
engines share the process). The int8 contenders' error against the plain fp32 graph is
printed in levels of 255 over the image range (fresh latents at the batch sizes timed). A peer that is not installed (`pip install
'genrt[peers]'`: OpenVINO, NNCF) is skipped with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings

import numpy as np
from foreign_models import BUILDERS
from timing import time_interleaved

import genrt
from genrt.bench.system import cpu_features, cpu_model
from genrt.optimize import optimize_model
from genrt.optimize.quantize import calibration_feeds, error_stats
from genrt.optimize.select import feeds_for
from genrt.runtime import import_onnxruntime
from genrt.runtime.contract import read_contract, variant_path
from genrt.runtime.session import open_session

SAMPLE_SECONDS = 0.02
COLUMNS = ("genrt fp32", "genrt int8", "OpenVINO f32", "OpenVINO+NNCF int8", "onnxruntime int8", "torch eager")
INT8 = ("genrt int8", "OpenVINO+NNCF int8", "onnxruntime int8")


class OpenVino:
    """One compiled OpenVINO model per batch size (static shapes, OpenVINO's best case) and its infer requests."""

    def __init__(self, model, batches, threads: int, config: dict):
        import openvino as ov

        self.requests = {}
        for batch in batches:
            m = model.clone()
            m.reshape({m.inputs[0].any_name: ov.PartialShape([batch, m.inputs[0].partial_shape[1]])})
            compiled = ov.Core().compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": threads, **config})
            self.requests[batch] = compiled.create_infer_request()

    def run(self, z: np.ndarray) -> np.ndarray:
        request = self.requests[len(z)]
        request.infer({0: z}, share_inputs=True)
        return request.get_output_tensor(0).data


def openvino_contenders(path: str, batches, threads: int, calibration: list[dict], skipped: list) -> dict:
    try:
        import openvino as ov
    except ImportError:
        skipped.append("OpenVINO: not installed (pip install 'genrt[peers]'); its columns are skipped")
        return {}
    model = ov.Core().read_model(path)
    found = {"OpenVINO f32": OpenVino(model, batches, threads, {"INFERENCE_PRECISION_HINT": "f32"})}
    try:
        import nncf
    except ImportError:
        skipped.append("NNCF: not installed (pip install 'genrt[peers]'); OpenVINO+NNCF int8 is skipped")
        return found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nncf.set_log_level(40)
        quantized = nncf.quantize(model, nncf.Dataset([f["z"] for f in calibration]),
                                  subset_size=sum(len(f["z"]) for f in calibration))
    found["OpenVINO+NNCF int8"] = OpenVino(quantized, batches, threads, {})
    return found


def onnxruntime_int8(path: str, out: str, calibration: list[dict]) -> str:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration)

        def get_next(self):
            return next(self.batches, None)

    quantize_static(path, out, Batches())
    return out


def contenders(name: str, folder: str, batches, threads: int, skipped: list) -> tuple[dict, object]:
    """{column: run(z) -> image} for one model, and its contract."""
    stem, build = BUILDERS[name]
    plain = os.path.join(folder, f"{stem}.onnx")
    net = build(plain)
    ort_session = lambda p: open_session(p, threads=threads, spinning=False)  # noqa: E731
    sessions = {"plain": ort_session(plain)}
    contract = read_contract(sessions["plain"], plain)
    optimized = os.path.join(folder, f"{stem}.opt.onnx")
    print(f"genrt optimize {stem}.onnx --int8 (defaults) ...", file=sys.stderr)
    optimize_model(plain, optimized, int8=True, threads=threads, log=lambda m: print(f"  {m}", file=sys.stderr))
    sessions["genrt fp32"] = ort_session(optimized)
    sessions["genrt int8"] = ort_session(variant_path(optimized, "int8"))
    calibration = calibration_feeds(contract, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sessions["onnxruntime int8"] = ort_session(onnxruntime_int8(plain, os.path.join(folder, f"{stem}.ort8.onnx"),
                                                                    calibration))
    runs = {k: (lambda z, s=s: s.run(None, {"z": z})[0]) for k, s in sessions.items()}
    runs.update({k: v.run for k, v in openvino_contenders(plain, batches, threads, calibration, skipped).items()})
    try:
        import torch
    except ImportError:
        skipped.append("torch: not installed; torch eager is skipped")
    else:
        torch.set_num_threads(threads)

        def eager(z):
            with torch.inference_mode():
                return net(torch.from_numpy(z)).numpy()

        runs["torch eager"] = eager
    return runs, contract


def measure(name: str, runs: dict, contract, batches, repeats: int) -> tuple[list[dict], dict]:
    rows = []
    for batch, feed in feeds_for(contract, batches).items():
        z = feed["z"]
        funcs = {k: (lambda f=f: f(z)) for k, f in runs.items()}
        single = time_interleaved({"plain": funcs["plain"]}, 3, warmup=1)["plain"]
        t = time_interleaved(funcs, repeats, number=max(1, int(SAMPLE_SECONDS / single)))
        rows.append({"model": name, "batch": batch, "plain_ms": t["plain"] * 1e3,
                     "ratio": {k: t[k] / t["plain"] for k in t if k != "plain"}})
    checks = [f["z"] for f in feeds_for(contract, batches, seed=1).values()]
    expected = np.concatenate([runs["plain"](z).ravel() for z in checks])
    low, high = contract.output_range
    level = (high - low) / 255
    errors = {}
    for k in INT8:
        if k in runs:
            e = error_stats(np.concatenate([np.array(runs[k](z)).ravel() for z in checks]), expected)
            errors[k] = {"mean_levels": e["mean"] / level, "max_levels": e["max"] / level}
    return rows, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", default="1,64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="dcgan64,linear28", help="which of: " + ", ".join(
        stem for stem, _ in BUILDERS.values()))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    stems = {stem: name for name, (stem, _) in BUILDERS.items()}
    wanted = args.models.split(",")
    if not wanted or set(wanted) - set(stems):
        parser.error(f"--models takes {', '.join(stems)}, got {args.models!r}")
    batches = tuple(int(b) for b in args.batch.split(","))
    ort = import_onnxruntime()
    print(f"genrt {genrt.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads per engine\nCPU: {cpu_model()} ({cpu_features()})")
    folder = tempfile.mkdtemp(prefix="genrt-peers-")
    skipped, rows, errors = [], [], {}
    for stem in wanted:
        name = stems[stem]
        runs, contract = contenders(name, folder, batches, args.threads, skipped)
        found, errors[name] = measure(name, runs, contract, batches, args.repeats)
        rows += found
    for line in dict.fromkeys(skipped):
        print(f"skipped: {line}")
    present = [c for c in COLUMNS if any(c in r["ratio"] for r in rows)]
    print(f"\ntime as a ratio to the plain export on bare onnxruntime (lower is faster), median of {args.repeats} "
          "interleaved rounds")
    print(f"{'model':<20}{'batch':>6}{'plain ms':>10}" + "".join(f"{c:>{max(len(c), 7) + 2}}" for c in present))
    for r in rows:
        print(f"{r['model']:<20}{r['batch']:>6}{r['plain_ms']:>10.3f}" + "".join(
            f"{r['ratio'][c]:>{max(len(c), 7) + 1}.2f}x" if c in r["ratio"] else f"{'-':>{max(len(c), 7) + 2}}"
            for c in present))
    print("\ngenrt's default output against the best peer of its precision (lower is faster)")
    for r in rows:
        q = r["ratio"]
        line = []
        if "OpenVINO f32" in q:
            line.append(f"fp32 {q['genrt fp32'] / q['OpenVINO f32']:.2f}x OpenVINO f32")
        if "OpenVINO+NNCF int8" in q:
            line.append(f"int8 {q['genrt int8'] / q['OpenVINO+NNCF int8']:.2f}x OpenVINO+NNCF int8")
        print(f"  {r['model']}, batch {r['batch']}: " + ", ".join(line))
    print("\nint8 error against the plain fp32 graph, in levels of 255 over the image range, fresh latents at the batch sizes timed")
    for name, found in errors.items():
        print(f"  {name}: " + "; ".join(f"{k} mean {e['mean_levels']:.2f}, max {e['max_levels']:.1f}"
                                         for k, e in found.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "int8_errors": errors, "skipped": skipped}, f, indent=2)


if __name__ == "__main__":
    main()
