"""`genrt eval [MODEL]`: FID, KID, IS, precision/recall and class accuracy against held-out real images."""

from __future__ import annotations

import json
import os

import click

from genrt.cli.common import ProgressBar, default_model, printed_warnings
from genrt.errors import OutputError
from genrt.files import atomic_write, refuse_existing
from genrt.spec import MAX_SEED, RUNTIME_DEVICES


@click.command("eval")
@click.argument("model", required=False, type=click.Path())
@click.option("--data", default="digits", show_default=True, help="Real data; its held-out part is the reference.")
@click.option("-n", "--num", "n", type=click.IntRange(min=10), default=10000, show_default=True,
              help="Generated images.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option("--extractor", type=click.Path(dir_okay=False), default=None,
              help="Classifier ONNX file (genrt train classifier + genrt export) [the bundled digits classifier].")
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--variants", is_flag=True, help="Also score NAME.fp16.onnx / NAME.int8.onnx, with their speed.")
@click.option("--real", "real_baseline", is_flag=True, help="Score real training images instead (the baseline).")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write the report as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --json file.")
def evaluate(model, data, n, seed, extractor, device, threads, variants, real_baseline, json_path, overwrite):
    """Score a generator, or a data set of genrt generate, against held-out real images: FID, KID, IS,
    precision/recall, class accuracy.

    Runs on onnxruntime alone. Scores are comparable only under the same
    extractor, so its sha256 is printed with them.

    \b
      genrt eval                        the bundled model, 10,000 samples
      genrt eval model.onnx --variants  fp32 / fp16 / int8 side by side, with speed
      genrt eval --real                 real training digits against the held-out ones
      genrt eval digits-100k/           a data set written by genrt generate (all of its images)
    """
    from genrt.eval import evaluate_real
    from genrt.eval import report as eval_report

    if json_path is not None:
        if os.path.isdir(json_path):
            raise OutputError(f"--json {json_path} is a folder; give a file name")
        refuse_existing([json_path], overwrite)  # before the work; the write below refuses a file that appears meanwhile

    with printed_warnings():
        if real_baseline:
            reports = [evaluate_real(data, extractor, seed, threads)]
        elif model is not None and os.path.isdir(model):
            reports = [_evaluate_dataset(model, data, extractor, threads)]
        else:
            reports = _evaluate_models(model, data, n, seed, extractor, device, threads, variants)
    for line in eval_report.lines(reports):
        click.echo(line)
    if json_path:
        with atomic_write(json_path, overwrite) as f:
            f.write(json.dumps(reports if len(reports) > 1 else reports[0], indent=2).encode())
        click.echo(f"wrote {json_path}")


def _evaluate_dataset(folder, data, extractor, threads) -> dict:
    from genrt.eval.dataset import evaluate_dataset
    from genrt.generate import read_manifest

    bar = ProgressBar(read_manifest(folder)[1].n, f"genrt eval {folder}")
    try:
        return evaluate_dataset(folder, data, extractor, threads, progress=bar)
    finally:
        bar.close()


def _evaluate_models(model, data, n, seed, extractor, device, threads, variants) -> list[dict]:
    """Reports for MODEL and, with --variants, its fp16 and int8 files beside it (each with its speed)."""
    from genrt.eval import evaluate as run_eval
    from genrt.eval import report as eval_report

    paths = [model if model is not None else default_model()]
    if variants:
        from genrt.runtime.contract import variant_path

        paths += [variant_path(paths[0], p) for p in ("fp16", "int8") if os.path.isfile(variant_path(paths[0], p))]
    reports = []
    for p in paths:
        bar = ProgressBar(n, f"genrt eval {os.path.basename(p)}")
        try:
            reports.append(run_eval(p, data, n, seed, extractor, device, threads, progress=bar))
        finally:
            bar.close()
    if variants:
        for report in reports:
            report["speed"] = eval_report.speed(report["model"]["path"], device, threads)
    return reports
