"""`genrt bench [MODEL]`: latency and throughput of Generator.sample, beside bare onnxruntime or PyTorch."""

from __future__ import annotations

import os

import click

from genrt.cli.common import ProgressBar, default_model, parse_batches, printed_warnings
from genrt.errors import InputError, OutputError
from genrt.files import refuse_existing
from genrt.spec import RUNTIME_DEVICES


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="auto", show_default=True)
@click.option("--batch", "batches", default="1,8,64", show_default=True, metavar="B1,B2,...", help="Batch sizes.")
@click.option("--iters", type=int, default=None, help="Timed calls per target and batch size.")
@click.option("--seconds", type=float, default=None, help="Or: seconds per batch size [2].")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed calls per target first.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime (and torch) intra-op threads.")
@click.option("--compare", multiple=True, metavar="onnxruntime|onnxruntime:OTHER.onnx|torch:CHECKPOINT",
              help="Also time a bare onnxruntime loop (on MODEL with host inputs and outputs, plus on a GPU "
                   "one bound on the device; or on another file such as the plain export), or PyTorch eager "
                   "from a checkpoint (repeatable).")
@click.option("--variant", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="Bench MODEL, or the NAME.fp16.onnx / NAME.int8.onnx that genrt export wrote beside it.")
@click.option("--cuda-graph", is_flag=True,
              help="CUDA: genrt and the device-bound onnxruntime target replay a CUDA graph per batch size.")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write the report as JSON.")
@click.option("--csv", "csv_path", default=None, metavar="FILE", help="Write one CSV row per target and batch size.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Plot latency and throughput.")
@click.option("--overwrite", is_flag=True, help="Replace existing --json / --csv / --plot files.")
@click.option("--raw", is_flag=True, help="Keep every latency in the JSON report.")
def bench(model, device, batches, iters, seconds, warmup, threads, compare, variant, cuda_graph, json_path, csv_path,
          plot_path, overwrite, raw):
    """Latency and throughput of a generator on this machine's CPU or GPU.

    Times Generator.sample (latents, inference, uint8 images) per batch size,
    with alternating rounds against the compare targets, and prints mean, std,
    min, p50, p90, p95, p99, max, images/s, a stage breakdown and memory.

    \b
      genrt bench                                   the bundled model, batch 1, 8, 64
      genrt bench model.onnx --compare onnxruntime --compare torch:runs/cgan
      genrt bench model.opt.onnx --compare onnxruntime:model.onnx   the speed-up over the plain export
      genrt bench model.onnx --device cuda --variant fp16 --json out.json --plot out.png
    """
    from genrt.bench import BenchConfig, run_bench
    from genrt.bench import report as bench_report

    config = BenchConfig(model=model if model is not None else default_model(), device=device,
                         batches=parse_batches(batches), iters=iters, seconds=seconds, warmup=warmup,
                         threads=threads, compare=tuple(compare), variant=variant, cuda_graph=cuda_graph, raw=raw)
    for path in (json_path, csv_path, plot_path):
        if path is not None and os.path.isdir(path):
            raise OutputError(f"{path} is a folder; give a file name")
    if plot_path is not None and not plot_path.lower().endswith(".png"):
        raise InputError(f"--plot {plot_path}: the file name must end with .png")
    outputs = [p for p in (json_path, csv_path, plot_path) if p]
    refuse_existing(outputs, overwrite)  # before the work; the writes below refuse a file that appears meanwhile
    bar = ProgressBar(len(config.batches) * 1000, "genrt bench")
    try:
        with printed_warnings():
            result = run_bench(config, progress=bar)
    finally:
        bar.close()
    click.echo(bench_report.table(result))
    if json_path:
        bench_report.write_json(json_path, result, overwrite)
    if csv_path:
        bench_report.write_csv(csv_path, result, overwrite)
    if plot_path:
        bench_report.write_plot(plot_path, result, overwrite)
    if outputs:
        click.echo(f"wrote {', '.join(outputs)}")
