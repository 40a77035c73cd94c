"""`genrt export CHECKPOINT`: a training checkpoint to a verified (and optimized) ONNX file."""

from __future__ import annotations

import json
import os

import click


@click.command("export")
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", default="model.onnx", show_default=True, help="The ONNX file to write (.onnx).")
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset (18 or newer).")
@click.option("--fp16", is_flag=True, help="Also write NAME.fp16.onnx beside NAME.onnx (half precision, for GPUs).")
@click.option("--int8", is_flag=True, help="Also write NAME.int8.onnx (static QDQ quantization, for CPUs).")
@click.option("--triton-repo", type=click.Path(file_okay=False), default=None,
              help="Also write a Triton Inference Server model repository here.")
@click.option("--atol", type=float, default=1e-4, show_default=True, help="Largest allowed |onnx - torch| (fp32).")
@click.option("--external-data", is_flag=True, help="Weights in NAME.onnx.data (automatic above 1.8 GB).")
@click.option("--no-optimize", is_flag=True, help="Keep the plain exported graph (no genrt optimize rewrites).")
@click.option("--no-ema", is_flag=True, help="GANs: export the generator's raw last weights, not their average.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
def export(checkpoint, output, opset, fp16, int8, triton_repo, atol, external_data, no_optimize, no_ema, overwrite,
           as_json):
    """Export a training checkpoint to a verified ONNX file (generator, or VAE decoder).

    The file is kept only after it passed: onnx.checker's full check, the genrt
    contract (z, label, image, symbolic batch), no batch size baked into the graph,
    and onnxruntime against PyTorch at batch 1, 7, 64 and 256. The generator is then
    rewritten for speed as `genrt optimize` does (timed on this machine at batch 1, 8
    and 64) and verified against PyTorch again; --no-optimize keeps the plain graph.

    \b
      genrt export runs/cgan -o cgan.onnx
      genrt export runs/cgan -o cgan.onnx --fp16 --int8 --triton-repo triton/
    """
    from genrt.export import export_checkpoint

    log = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    result = export_checkpoint(checkpoint, output, opset=opset, fp16=fp16, int8=int8, triton_repo=triton_repo,
                               atol=atol, overwrite=overwrite, external_data=external_data or None,
                               optimize=not no_optimize, ema=not no_ema, log=log)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    for precision, path in result.files.items():
        click.echo(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, {precision})")
    hint = f"genrt sample {output}" if result.draws_images else f"genrt eval MODEL --extractor {output}"
    click.echo(f"done in {result.seconds['total']:.1f} s; try: {hint}")
