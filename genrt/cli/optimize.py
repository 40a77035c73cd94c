"""`genrt optimize MODEL -o OUT`: rewrite a generator graph to run faster here, verified (torch-free)."""

from __future__ import annotations

import json
import os

import click

from genrt.cli.common import ProgressBar, log, parse_batches
from genrt.spec import OPTIMIZE_DEVICES


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, help="The optimized ONNX file to write (.onnx).")
@click.option("--batch", "batches", default="1,8,64", show_default=True, metavar="B1,B2,...",
              help="The batch sizes you will run, each searched: the plan kept is the fastest over all of them "
                   "(geometric mean), or one plan per batch range where that is 5% faster at some.")
@click.option("--device", type=click.Choice(OPTIMIZE_DEVICES), default="cpu", show_default=True,
              help="Where to time the candidates (the provider you will run on).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads while timing.")
@click.option("--int8", is_flag=True, help="Also write OUT.int8.onnx: static int8 quantization of the rewritten graph.")
@click.option("--calibration", type=click.IntRange(min=1), default=512, show_default=True,
              help="With --int8: latents (and labels) to calibrate activation ranges on.")
@click.option("--uint8-output", is_flag=True,
              help="Add an image_u8 output (uint8 N x H x W x C, genrt's conversion in the graph).")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (choices, timings, parity) as JSON.")
def optimize(model, output, batches, device, threads, int8, calibration, uint8_output, overwrite, as_json):
    """Rewrite a generator ONNX file to run faster here, verified against the original.

    ConvTranspose layers become sub-pixel convolutions, the first layer on a 1x1
    input a matrix product (with the label embedding folded in), batch norm is
    folded; whole plans (a form per layer) are timed on this machine at the given
    batch sizes and the fastest over them is kept, or the original graph when no
    plan beats it. The file is written only after it matched the
    original at batch 1, 7, 64 and 256 (max |diff| <= 1e-5). With --int8 the
    quantized variant is kept within its error budget against the original. Works on
    any generator the runtime accepts, exported by genrt or not; needs no torch.

    \b
      genrt optimize model.onnx -o model.opt.onnx
      genrt optimize model.onnx -o model.opt.onnx --batch 64 --int8 --json
    """
    from genrt.optimize import optimize_model

    sizes = parse_batches(batches)
    bar = ProgressBar(0, "genrt optimize")

    def progress(done: int, total: int) -> None:
        bar.length = total
        bar.update(1)

    try:
        result = optimize_model(model, output, batch_sizes=sizes, device=device, threads=threads, int8=int8,
                                calibration=calibration, uint8_output=uint8_output, overwrite=overwrite,
                                log=log, progress=progress)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"wrote {output} ({os.path.getsize(output) / 1e6:.2f} MB, {result.kept} graph) in {result.seconds:.1f} s")
    click.echo(f"{'batch':>7}{'original ms':>14}{'optimized ms':>14}{'speed-up':>10}")
    for b in result.batch_sizes:
        click.echo(f"{b:>7}{result.original_ms[b]:>14.3f}{result.optimized_ms[b]:>14.3f}{result.speedups()[b]:>9.2f}x")
    worst = max(result.parity.values())
    click.echo(f"verified against the original at batch {', '.join(map(str, result.parity))}: "
               f"max |diff| {worst:.1e}; try: genrt sample {output}")
    if result.int8:
        from genrt.runtime.contract import variant_path

        path, choice = variant_path(output, "int8"), result.int8["choice"]
        errors, int8_ms = result.int8["candidates"][choice]["errors"], result.int8["candidates"][choice]["ms"]
        original_ms = result.int8["original_ms"]
        speed = ", ".join(f"batch {b} {int8_ms[b] / original_ms[b]:.2f}x" for b in original_ms)
        click.echo(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, int8: {choice}); against the original: "
                   f"mean |err| {errors['mean']:.1e}, 99.9th pct {errors['p999']:.1e}; time {speed}")
