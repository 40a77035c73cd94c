"""The GAN recipe, one part at a time: FID and class accuracy of cGANs trained on the digits at one budget.

    python benchmarks/train_ablation.py [--steps 1500] [--samples 10000] [--only NAME,...] [--json FILE]

Each variant trains `genrt train cgan` on the train part of the embedded digits for
the same number of steps (batch 64, seed 0, EMA on), and its averaged generator is
scored as `genrt eval` scores an export (genrt.train.quality: the held-out digits,
the bundled classifier, `--samples` images). Rows add one part each to the row
above, as the README's table reads:

    baseline      the defaults: non-saturating loss, batch-norm discriminator
    + SN          hinge loss and spectral normalisation in the discriminator
    + augment     differentiable augmentation (translation, cutout) of what D sees
    + R1          an R1 penalty on real images, gamma 0.1, every 16 steps
    augment only  the baseline with the augmentation alone (no SN)
    mbstd only    the baseline with the minibatch standard deviation in D (groups of 4)

The seconds column is the training time of each run (the machine is shared, so
read it as a rough cost, and train_throughput.py for the ratio of speeds).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from genrt.train import TrainConfig, train

AUGMENT = "translation,cutout"
VARIANTS = {
    "baseline": {},
    "+ SN": {"loss": "hinge", "d_norm": "spectral"},
    "+ augment": {"loss": "hinge", "d_norm": "spectral", "augment": AUGMENT},
    "+ R1": {"loss": "hinge", "d_norm": "spectral", "augment": AUGMENT, "r1_gamma": 0.1},
    "augment only": {"augment": AUGMENT},
    "mbstd only": {"d_mbstd": 4},
}


def score(name: str, options: dict, steps: int, samples: int, out: str) -> dict:
    """Train one variant for `steps` steps in `out`, scoring it at the end; its summary and last scores."""
    config = TrainConfig(model="cgan", out=out, steps=steps, eval_every=steps, eval_samples=samples, seed=0,
                         **options)
    summary = train(config, progress=False, log=lambda *_: None)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        scores = [row for row in map(json.loads, f) if row.get("event") == "eval"][-1]
    return {"variant": name, "options": options, "steps": summary["steps"], "seconds": summary["seconds"],
            "fid": scores["fid"], "class_accuracy": scores["class_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="training steps of every variant")
    parser.add_argument("--samples", type=int, default=10_000, help="generated images per score")
    parser.add_argument("--only", default=None, help="a comma list of variant names to run")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    rows = []
    print(f"cGAN on the digits' train part, {args.steps} steps of 64 each, FID / accuracy on {args.samples} samples")
    print(f"{'variant':14} {'FID':>8} {'accuracy':>9} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for index, name in enumerate(names):
            row = score(name, VARIANTS[name], args.steps, args.samples, os.path.join(folder, str(index)))
            rows.append(row)
            print(f"{name:14} {row['fid']:8.2f} {100 * row['class_accuracy']:8.2f}% {row['seconds']:8.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
