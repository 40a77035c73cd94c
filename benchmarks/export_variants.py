"""The bundled model's export variants: fp32 vs int8 (and fp16) latency on this machine, and export + verify time.

    python benchmarks/export_variants.py [--checkpoint runs/cgan-digits] [--repeats 30] [--json out.json]

The checkpoint is the one the bundled default model was exported from (README,
"The bundled model": `genrt train cgan --epochs 30 --out runs/cgan-digits`).
The script runs `genrt.export.export_checkpoint(..., fp16=True, int8=True)` into a
temporary folder and reports its wall time split into export and verification,
then times `session.run` of the three files at batch 1 and 64 on the CPU
provider, interleaved round by round in one process (medians; the same latents
and labels for every variant), and prints each variant's speed as a ratio to fp32
and its error against PyTorch from the verification report.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from timing import time_interleaved

from genrt.export import export_checkpoint
from genrt.export.parity import parity_inputs
from genrt.runtime import import_onnxruntime

BATCHES = (1, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="runs/cgan-digits")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads [all cores]")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not os.path.exists(args.checkpoint):
        raise SystemExit(f"{args.checkpoint} not found; train it first: genrt train cgan --epochs 30 --out {args.checkpoint}")

    ort = import_onnxruntime()
    with tempfile.TemporaryDirectory() as folder:
        result = export_checkpoint(args.checkpoint, os.path.join(folder, "model.onnx"), fp16=True, int8=True,
                                   log=lambda message: None)
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        sessions = {p: ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                    for p, path in result.files.items()}
        sizes = {p: os.path.getsize(path) for p, path in result.files.items()}
        export_report = result.to_dict()
        cfg = _model_config(args.checkpoint)
        rows = []
        for batch in BATCHES:
            feed = parity_inputs(cfg, batch, seed=11)
            seconds = time_interleaved({p: (lambda s=s: s.run(None, feed)) for p, s in sessions.items()},
                                       repeats=args.repeats, number=3 if batch == 1 else 1)
            for precision, s in seconds.items():
                rows.append({"precision": precision, "batch": batch, "ms": s * 1e3, "images_per_s": batch / s,
                             "vs_fp32": seconds["fp32"] / s})

    s = result.seconds
    verify_total = sum(v for k, v in s.items() if k.startswith("verify_"))
    print(f"export + verify of {args.checkpoint} (fp32, fp16, int8): {s['total']:.1f} s "
          f"(export {s['export']:.1f} s, verification {verify_total:.1f} s, quantization and writing the rest)")
    print(f"{'variant':<8}{'size':>9}  {'max |err|':>10} {'p99.9 |err|':>12} {'mean |err|':>11} {'uint8 max':>10}")
    for precision, report in result.reports.items():
        worst = max(report.parity, key=lambda p: p.max_abs)
        mean = max(p.mean_abs for p in report.parity)
        p999 = max(p.p999_abs for p in report.parity)
        levels = max(p.max_levels for p in report.parity)
        print(f"{precision:<8}{sizes[precision] / 1e6:>7.2f}MB  {worst.max_abs:>10.2e} {p999:>12.2e} {mean:>11.2e} "
              f"{levels:>10}")
    print(f"\n{'variant':<8}{'batch':>6}{'latency':>12}{'images/s':>11}{'speed vs fp32':>15}   (CPUExecutionProvider)")
    for r in rows:
        print(f"{r['precision']:<8}{r['batch']:>6}{r['ms']:>10.3f}ms{r['images_per_s']:>11.0f}{r['vs_fp32']:>14.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"export": export_report, "latency": rows}, f, indent=2)


def _model_config(checkpoint: str):
    from genrt.train import load_checkpoint

    return load_checkpoint(checkpoint).model_config


if __name__ == "__main__":
    main()
