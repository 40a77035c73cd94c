"""The `genrt` command line: a thin click layer over the library.

Errors the user can fix print one line, `genrt: error: ...`, on stderr and exit
with status 2 (bad input) or 1 (a failure during work); `--debug` shows the
traceback instead. Commands import their heavy dependencies lazily so that
`genrt --help` and `genrt info` start fast and never import torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import warnings

import click

import genrt
from genrt.errors import GenrtError, InputError, OutputError
from genrt.files import IMAGE_FORMATS, file_sha256

DEVICES = ("auto", "cpu", "cuda", "tensorrt")  # genrt.runtime.generator.DEVICES (a test checks), without importing it


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(genrt.__version__, prog_name="genrt")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """genrt: train, export and serve image GANs and VAEs."""
    # --debug is acted on by main(), which must know it before click parses anything.


def environment_report() -> dict:
    """Everything `genrt info` prints, as a dict (also its --json output)."""
    import numpy

    import genrt.ext
    from genrt.runtime import environment

    report = {
        "genrt": genrt.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "ext": genrt.ext.backend_info(),
        "onnxruntime_wheels": environment.installed_onnxruntime_wheels(),
    }
    try:
        ort = environment.import_onnxruntime()
    except GenrtError as exc:
        report["onnxruntime"] = None
        report["onnxruntime_error"] = str(exc)
        report["providers"] = []
    else:
        report["onnxruntime"] = ort.__version__
        report["providers"] = [
            {"name": p.name, "usable": p.usable, "detail": p.detail} for p in environment.probe_providers(ort)
        ]
    return report


@cli.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="With MODEL: where it would run.")
def info(model: str | None, as_json: bool, device: str) -> None:
    """This install's versions, providers and backend; with MODEL, that model's contract.

    For MODEL it prints what the graph takes and gives (kind, latent size, classes,
    image shape, value range), its opset and size, the providers a session would
    use, and what genrt had to assume for a model exported outside genrt.
    """
    if model is not None:
        report = model_report(model, device)
        click.echo(json.dumps(report, indent=2) if as_json else "\n".join(_model_lines(report)))
        return
    report = environment_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    ext = report["ext"]
    if ext["backend"] == "cython":
        threads = f"OpenMP, {ext['threads']} threads" if ext["openmp"] else "serial build (no OpenMP)"
        ext_line = f"compiled Cython kernels, {threads}"
    else:
        ext_line = f"numpy fallback: {ext['reason']}"
    lines = [
        ("genrt", report["genrt"]),
        ("python", f"{report['python']} ({report['platform']})"),
        ("numpy", report["numpy"]),
        ("onnxruntime", report["onnxruntime"] or f"missing: {report.get('onnxruntime_error')}"),
        ("ort wheels", ", ".join(report["onnxruntime_wheels"]) or "none"),
        ("genrt.ext", ext_line),
    ]
    for key, value in lines:
        click.echo(f"{key:<13}{value}")
    for i, p in enumerate(report["providers"]):
        mark = "yes" if p["usable"] else "no "
        click.echo(f"{'providers' if i == 0 else '':<13}{mark} {p['name']}: {p['detail']}")
    if len(report["onnxruntime_wheels"]) > 1:
        click.echo(
            f"warning: {len(report['onnxruntime_wheels'])} onnxruntime wheels are installed "
            f"({', '.join(report['onnxruntime_wheels'])}); they overwrite each other's files. "
            "Uninstall all, then install one: pip install 'genrt[cpu]' or 'genrt[gpu]'.",
            err=True,
        )


def model_report(path: str, device: str = "auto") -> dict:
    """Everything `genrt info MODEL` prints, as a dict (also its --json output)."""
    from genrt.runtime.onnxfile import read_header

    g = _open_generator(path, device)
    c = g.contract
    header = read_header(path)
    source, optimized = c.metadata.get("genrt.source"), c.metadata.get("genrt.optimized")
    with contextlib.suppress(ValueError, TypeError):
        source = json.loads(source)
    with contextlib.suppress(ValueError, TypeError):
        optimized = json.loads(optimized)
    return {
        "path": path,
        "size_bytes": os.path.getsize(path),
        "sha256": file_sha256(path),
        "ir_version": header["ir_version"],
        "opsets": header["opsets"],
        "producer": header["producer"],
        "kind": c.kind,
        "format": c.metadata.get("genrt.format"),
        "precision": c.metadata.get("genrt.precision"),
        "latent": {"name": c.latent_name, "dim": c.latent_dim, "dtype": "float16" if c.latent_float16 else "float32"},
        "label": {"name": c.label_name, "dtype": c.label_dtype} if c.conditional else None,
        "num_classes": c.num_classes,
        "class_names": list(c.class_names),
        "image": {
            "name": c.image_name,
            "shape": list(c.image_shape) if c.image_shape else None,
            "dtype": "float16" if c.image_float16 else "float32",
        },
        "output_range": list(c.output_range),
        "providers": list(g.providers),
        "assumptions": list(c.assumptions),
        "source": source,
        "optimized": optimized,
        "uint8_output": g.uint8_output,
    }


def _model_lines(r: dict) -> list[str]:
    mb = r["size_bytes"] / 1e6
    classes = "unconditional"
    if r["label"]:
        names = f": {', '.join(r['class_names'])}" if r["class_names"] else ""
        count = r["num_classes"] or "unknown number of"
        classes = f"{count} classes via input '{r['label']['name']}' ({r['label']['dtype']}){names}"
    shape = "x".join(map(str, r["image"]["shape"])) if r["image"]["shape"] else "known after the first run"
    opsets = ", ".join(f"{d} {v}" for d, v in r["opsets"].items())
    lines = [
        ("model", f"{r['path']} ({mb:.2f} MB, sha256 {r['sha256'][:16]})"),
        ("kind", r["kind"] + (f" (genrt format {r['format']}{', ' + r['precision'] if r['precision'] else ''})"
                              if r["format"] else "")),
        ("latent", f"input '{r['latent']['name']}' {r['latent']['dtype']} [batch, {r['latent']['dim']}]"),
        ("classes", classes),
        ("image", f"output '{r['image']['name']}' {r['image']['dtype']} C x H x W = {shape}"),
        ("range", "{:g},{:g}".format(*r["output_range"])),
        ("opset", f"{opsets}; IR {r['ir_version']}; producer {r['producer'] or 'unknown'}"),
        ("providers", ", ".join(r["providers"])),
    ]
    if r["source"]:
        lines.append(("source", json.dumps(r["source"]) if not isinstance(r["source"], str) else r["source"]))
    o = r["optimized"]
    if isinstance(o, dict) and o.get("batch_sizes"):
        speed = ", ".join(f"batch {b} {float(o['original_ms'][str(b)]) / float(o['optimized_ms'][str(b)]):.2f}x"
                          for b in o["batch_sizes"])
        lines.append(("optimized", f"genrt optimize kept the {o.get('kept')} graph on {o.get('provider')}: {speed}"
                      + ("; images from image_u8" if r["uint8_output"] else "")))
    lines += [("assumed", a) for a in r["assumptions"]]
    return [f"{key:<11}{value}" for key, value in lines]


def _open_generator(path, device, **overrides):
    """A Generator, with its CPU-fallback warning printed as one `genrt: warning:` line."""
    from genrt.runtime import Generator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = Generator(path, device=device, **overrides)
    for w in caught:
        click.echo(f"genrt: warning: {str(w.message).removeprefix('genrt: ')}", err=True)
    return g


@cli.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("-n", "--num", "n", type=click.IntRange(min=1), default=None,
              help="Images [default: 64; per class with --label all; rows with --interpolate: 8].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the latents.")
@click.option("--label", default=None, help="Class index or name for every image, or 'all' for one row per class.")
@click.option("--truncation", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Scale latents toward 0 (z * t): fewer oddities, less variety; 1 = off.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per session run.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads.")
@click.option("-o", "--output", default="samples.png", show_default=True,
              help="A file (one grid, or the N x H x W x C array as .npy) or a folder ending in / (one file per image).")
@click.option("--format", "fmt", type=click.Choice(IMAGE_FORMATS), default=None,
              help="png or npy [default: from the file extension; png for a folder].")
@click.option("--nrow", type=click.IntRange(min=1), default=8, show_default=True, help="Grid columns.")
@click.option("--interpolate", "steps", type=click.IntRange(min=2), default=None,
              help="Rows of STEPS images, each walking (slerp) between two seeded latents.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--latent-dim", type=click.IntRange(min=1), default=None, help="Latent size, for a foreign model.")
@click.option("--range", "value_range", default=None, metavar="LO,HI", help="Output range of a foreign model [-1,1].")
def sample(model, n, seed, label, truncation, batch_size, device, threads, output, fmt, nrow, steps, overwrite,
           latent_dim, value_range):
    """Sample images from a generator ONNX file into a grid or a folder.

    \b
      genrt sample model.onnx                       64 images, 8 per row, in samples.png
      genrt sample model.onnx --label all -n 10     one row of 10 per class
      genrt sample model.onnx --interpolate 10      8 rows of 10, walking between latents
      genrt sample model.onnx -n 16 -o out/         out/seed0_0000.png ... out/seed0_0015.png
    """
    import genrt.ext as ext
    from genrt.runtime import sheets

    to_folder = output.endswith(("/", os.sep)) or os.path.isdir(output)
    fmt = _output_format(output, fmt, to_folder)
    labels = _parse_label(label)
    overrides = {"latent_dim": latent_dim, "output_range": _parse_range(value_range), "threads": threads,
                 "batch_size": batch_size}
    g = _open_generator(model if model is not None else _default_model(), device, **overrides)
    if steps is not None:
        images, columns = sheets.interpolation_sheet(g, n or 8, steps, seed, labels, truncation)
    elif labels == "all":
        images, columns = sheets.class_sheet(g, n or nrow, seed, truncation)
    else:
        images, columns = sheets.plain_sheet(g, n or 64, seed, labels, truncation, columns=nrow)

    if to_folder:
        names = [os.path.join(output, f"seed{seed}_{i:04d}.{fmt}") for i in range(len(images))]
        _write_all(names, list(images), fmt, overwrite)
        where = f"{len(names)} files in {output}"
    else:
        picture = ext.make_grid(images, nrow=columns) if fmt == "png" else images
        _write_all([output], [picture], fmt, overwrite)
        where = output
    h, w, c = images.shape[1:]
    click.echo(f"wrote {where}: {len(images)} images {h}x{w}x{c}, seed {seed}, on {g.providers[0]}")


def _output_format(output: str, fmt: str | None, to_folder: bool) -> str:
    if to_folder:
        return fmt or "png"
    suffix = os.path.splitext(output)[1].lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise InputError(f"-o {output}: end the file name with .png or .npy, or end a folder name with /")
    if fmt is not None and fmt != suffix:
        raise InputError(f"-o {output} is a .{suffix} file but --format is {fmt}; make them agree")
    return suffix


def _parse_label(label: str | None):
    if label is None or label == "all":
        return label
    return int(label) if label.lstrip("-").isdigit() else label


def _parse_range(text: str | None):
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--range must be LO,HI (for example -1,1 or 0,1), got {text!r}") from None
    if not lo < hi:
        raise InputError(f"--range must have LO < HI, got {text!r}")
    return lo, hi


def _default_model() -> str:
    from genrt.runtime import default_model_path

    path = default_model_path()
    if path is None:
        raise InputError("no MODEL given and this install has no bundled default model; pass one: genrt sample model.onnx")
    return path


def _write_all(paths: list[str], arrays: list, fmt: str, overwrite: bool) -> None:
    """Write every array or none: refuse existing files up front, remove this run's files on failure."""
    from genrt.files import save_image

    if not overwrite:
        existing = [p for p in paths if os.path.lexists(p)]
        if existing:
            what = f"{existing[0]} and {len(existing) - 1} more files already exist" if len(existing) > 1 else (
                f"{existing[0]} already exists"
            )
            raise OutputError(f"{what}; pass --overwrite to replace them, or choose another -o")
    folder = os.path.dirname(os.path.abspath(paths[0]))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    written = []
    try:
        for path, array in zip(paths, arrays):
            save_image(path, array, fmt)
            written.append(path)
    except BaseException:
        if not overwrite:  # files that did not exist before this run
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        raise


# The same lists as genrt.train.models.KINDS and genrt.train.losses.GAN_LOSSES (tests check), kept
# here so that `genrt --help` does not import torch.
TRAIN_MODELS = ("dcgan", "cgan", "vae", "classifier")
GAN_LOSSES = ("nonsaturating", "lsgan", "hinge", "wgan-gp")
TRAIN_DEVICES = ("auto", "cpu", "cuda")  # PyTorch devices (TrainConfig.device)


@cli.command()
@click.argument("model", type=click.Choice(TRAIN_MODELS))
@click.option("--data", default="digits", show_default=True,
              help="digits (embedded, offline), fake[:N], mnist:DIR, fashion-mnist:DIR, or a folder of images.")
@click.option("--size", type=int, default=None, help="Resize and centre-crop images to SIZE x SIZE (28, 32, 64, ...).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Convert images to 1 or 3 channels.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--minutes", type=float, default=None, help="Stop after this much training time instead.")
@click.option("--steps", type=int, default=None, help="Stop after this many steps (dry runs).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per step and process.")
@click.option("--lr", type=float, default=None, help="Adam learning rate [2e-4 GAN, 1e-4 WGAN-GP, 1e-3 VAE].")
@click.option("--loss", type=click.Choice(GAN_LOSSES), default="nonsaturating", show_default=True)
@click.option("--critic-steps", type=int, default=None, help="Discriminator steps per generator step [5 for wgan-gp].")
@click.option("--latent-dim", type=int, default=100, show_default=True)
@click.option("--ngf", type=int, default=64, show_default=True, help="Generator width.")
@click.option("--ndf", type=int, default=64, show_default=True, help="Discriminator width.")
@click.option("--beta", "vae_beta", type=float, default=1.0, show_default=True, help="VAE: weight of the KL term.")
@click.option("--likelihood", type=click.Choice(["bernoulli", "gaussian"]), default="bernoulli", show_default=True)
@click.option("--device", type=click.Choice(TRAIN_DEVICES), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", default=None, help="Run folder [runs/MODEL].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--no-amp", is_flag=True, help="No mixed precision on CUDA.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(model, channels, out, resume, no_amp, quiet, **options):
    """Train a DCGAN, class-conditional GAN, VAE, or the classifier genrt eval uses; outputs go to --out.

    \b
      genrt train cgan                          # the embedded digits, 10 epochs, runs/cgan
      genrt train dcgan --data faces/ --size 64 --minutes 30
      genrt train cgan --out runs/cgan --resume # continue after Ctrl-C
      genrt train classifier --epochs 8         # genrt eval's feature extractor
      torchrun --nproc-per-node 2 -m genrt.cli train dcgan   # DistributedDataParallel
    """
    from genrt.train import TrainConfig
    from genrt.train import train as run_training

    config = TrainConfig(model=model, channels=int(channels) if channels else None, out=out or f"runs/{model}",
                         amp=not no_amp, **options)
    summary = run_training(config, resume=resume, progress=not quiet, log=lambda m: click.echo(m, err=True))
    if summary["rank"] == 0:
        click.echo(f"done: {summary['epochs']} epochs, {summary['steps']} steps in {summary['seconds']} s; "
                   f"checkpoint {summary['checkpoint']}")


@cli.command("export")
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
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
def export(checkpoint, output, opset, fp16, int8, triton_repo, atol, external_data, no_optimize, overwrite, as_json):
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
                               optimize=not no_optimize, log=log)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    for precision, path in result.files.items():
        click.echo(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, {precision})")
    hint = f"genrt eval MODEL --extractor {output}" if result.kind == "classifier" else f"genrt sample {output}"
    click.echo(f"done in {result.seconds['total']:.1f} s; try: {hint}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, help="The optimized ONNX file to write (.onnx).")
@click.option("--batch", "batches", default="1,8,64", show_default=True, metavar="B1,B2,...",
              help="The batch sizes you will run: a rewrite stays only if it is faster at all of them.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
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
    folded; each rewrite is timed on this machine at the given batch sizes and
    kept only where it is faster. The file is written only after it matched the
    original at batch 1, 7, 64 and 256 (max |diff| <= 1e-5). With --int8 the
    quantized variant is kept within its error budget against the original. Works on
    any generator the runtime accepts, exported by genrt or not; needs no torch.

    \b
      genrt optimize model.onnx -o model.opt.onnx
      genrt optimize model.onnx -o model.opt.onnx --batch 64 --int8 --json
    """
    from genrt.optimize import optimize_model

    sizes = _parse_batches(batches)
    bar = _LazyProgressBar(0, "genrt optimize")

    def progress(done: int, total: int) -> None:
        bar.length = total
        bar.update(1)

    try:
        result = optimize_model(model, output, batch_sizes=sizes, device=device, threads=threads, int8=int8,
                                calibration=calibration, uint8_output=uint8_output, overwrite=overwrite,
                                log=lambda m: click.echo(f"genrt: {m}", err=True), progress=progress)
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


@cli.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--batch", "batches", default="1,8,64", show_default=True, metavar="B1,B2,...", help="Batch sizes.")
@click.option("--iters", type=int, default=None, help="Timed calls per target and batch size.")
@click.option("--seconds", type=float, default=None, help="Or: seconds per batch size [2].")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed calls per target first.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime (and torch) intra-op threads.")
@click.option("--compare", multiple=True, metavar="onnxruntime|onnxruntime:OTHER.onnx|torch:CHECKPOINT",
              help="Also time a bare onnxruntime loop (on MODEL, or on another file such as the plain export), "
                   "or PyTorch eager from a checkpoint (repeatable).")
@click.option("--variant", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="Bench MODEL, or the NAME.fp16.onnx / NAME.int8.onnx that genrt export wrote beside it.")
@click.option("--cuda-graph", is_flag=True, help="CUDA: the onnxruntime target replays a CUDA graph per batch size.")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write the report as JSON.")
@click.option("--csv", "csv_path", default=None, metavar="FILE", help="Write one CSV row per target and batch size.")
@click.option("--plot", "plot_path", default=None, metavar="FILE.png", help="Plot latency and throughput.")
@click.option("--raw", is_flag=True, help="Keep every latency in the JSON report.")
def bench(model, device, batches, iters, seconds, warmup, threads, compare, variant, cuda_graph, json_path, csv_path,
          plot_path, raw):
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

    config = BenchConfig(model=model if model is not None else _default_model(), device=device,
                         batches=_parse_batches(batches), iters=iters, seconds=seconds, warmup=warmup,
                         threads=threads, compare=tuple(compare), variant=variant, cuda_graph=cuda_graph, raw=raw)
    for path in (json_path, csv_path, plot_path):
        if path is not None and os.path.isdir(path):
            raise OutputError(f"{path} is a folder; give a file name")
    if plot_path is not None and not plot_path.lower().endswith(".png"):
        raise InputError(f"--plot {plot_path}: the file name must end with .png")
    bar = _LazyProgressBar(len(config.batches) * 1000, "genrt bench")
    try:
        result = run_bench(config, progress=bar, log=lambda m: click.echo(f"genrt: {m}", err=True))
    finally:
        bar.close()
    click.echo(bench_report.table(result))
    if json_path:
        bench_report.write_json(json_path, result)
    if csv_path:
        bench_report.write_csv(csv_path, result)
    if plot_path:
        bench_report.write_plot(plot_path, result)
    written = [p for p in (json_path, csv_path, plot_path) if p]
    if written:
        click.echo(f"wrote {', '.join(written)}")


@cli.command("eval")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--data", default="digits", show_default=True, help="Real data; its held-out part is the reference.")
@click.option("-n", "--num", "n", type=click.IntRange(min=10), default=10000, show_default=True,
              help="Generated images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--extractor", type=click.Path(dir_okay=False), default=None,
              help="Classifier ONNX file (genrt train classifier + genrt export) [the bundled digits classifier].")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--variants", is_flag=True, help="Also score NAME.fp16.onnx / NAME.int8.onnx, with their speed.")
@click.option("--real", "real_baseline", is_flag=True, help="Score real training images instead (the baseline).")
@click.option("--json", "json_path", default=None, metavar="FILE", help="Write the report as JSON.")
def evaluate(model, data, n, seed, extractor, device, threads, variants, real_baseline, json_path):
    """Score a generator against held-out real images: FID, KID, IS, precision/recall, class accuracy.

    Runs on onnxruntime alone. Scores are comparable only under the same
    extractor, so its sha256 is printed with them.

    \b
      genrt eval                        the bundled model, 10,000 samples
      genrt eval model.onnx --variants  fp32 / fp16 / int8 side by side, with speed
      genrt eval --real                 real training digits against the held-out ones
    """
    from genrt.eval import evaluate as run_eval
    from genrt.eval import evaluate_real

    if real_baseline:
        reports = [evaluate_real(data, extractor, seed, threads)]
    else:
        path = model if model is not None else _default_model()
        paths = [path]
        if variants:
            from genrt.runtime.contract import variant_path

            paths += [variant_path(path, p) for p in ("fp16", "int8") if os.path.isfile(variant_path(path, p))]
        reports = []
        for p in paths:
            bar = _LazyProgressBar(n, f"genrt eval {os.path.basename(p)}")
            try:
                reports.append(run_eval(p, data, n, seed, extractor, device, threads, progress=bar))
            finally:
                bar.close()
        if variants:
            for report in reports:
                report["speed"] = _speed(report["model"]["path"], device, threads)
    for line in _eval_lines(reports):
        click.echo(line)
    if json_path:
        from genrt.files import atomic_write

        with atomic_write(json_path) as f:
            f.write(json.dumps(reports if len(reports) > 1 else reports[0], indent=2).encode())
        click.echo(f"wrote {json_path}")


def _speed(path: str, device: str, threads) -> dict:
    """p50 latency and images/s of Generator.sample at batch 64 (genrt bench, 20 calls)."""
    from genrt.bench import BenchConfig, run_bench

    result = run_bench(BenchConfig(path, device=device, batches=(64,), iters=20, warmup=3, threads=threads),
                       log=lambda m: None)
    row = result["results"][0]
    return {"batch": 64, "p50_ms": row["latency_ms"]["p50"], "images_per_s": 64 / (row["latency_ms"]["p50"] / 1e3)}


def _eval_lines(reports: list[dict]) -> list[str]:
    ex, data = reports[0]["extractor"], reports[0]["data"]
    lines = [f"extractor  {ex['path']} (sha256 {ex['sha256'][:16]}, held-out accuracy {ex['holdout_accuracy']:.2%})",
             f"reference  {data['source']}, held-out part: {data['images']} real images ({data['split']})"]
    for r in reports:
        m = r["metrics"]
        lines += ["", f"model      {r['model']['path']} ({r['model']['kind']}"
                      + (f", {r['model']['precision']}" if "precision" in r["model"] else "") + f"), {r['n']} images",
                  f"FID        {m['fid']:.2f}",
                  f"KID        {m['kid'] * 1e3:.2f} ± {m['kid_se'] * 1e3:.2f} x 1e-3 (standard error over 100 subsets)",
                  f"IS         {m['inception_score']:.3f} ± {m['inception_score_std']:.3f} (classifier probabilities)",
                  f"precision  {m['precision']:.3f}, recall {m['recall']:.3f} (k = 3 nearest neighbours)"]
        if "class_accuracy" in m:
            per = ", ".join(f"{k}: {v:.1%}" for k, v in enumerate(m["per_class_accuracy"]))
            lines.append(f"accuracy   {m['class_accuracy']:.2%} of samples classified as their class ({per})")
    if any("speed" in r for r in reports):
        lines += ["", f"{'variant':<9}{'FID':>8}{'KID x1e3':>10}{'accuracy':>10}{'p50 @64':>11}{'images/s':>10}"]
        for r in reports:
            m, s = r["metrics"], r["speed"]
            accuracy = f"{m['class_accuracy']:.2%}" if "class_accuracy" in m else "-"
            lines.append(f"{r['model']['precision']:<9}{m['fid']:>8.2f}{m['kid'] * 1e3:>10.2f}{accuracy:>10}"
                         f"{s['p50_ms']:>9.2f}ms{s['images_per_s']:>10.0f}")
    return lines


class _LazyProgressBar:
    """A click progress bar on stderr that appears with the first progress, so set-up errors stay one line."""

    def __init__(self, length: int, label: str):
        self.length, self.label, self.bar = length, label, None

    def update(self, n: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=self.length, label=self.label, file=sys.stderr, show_eta=False)
            self.bar.__enter__()
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _parse_batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--batch must be comma-separated integers like 1,8,64, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"--batch sizes must be at least 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `genrt` console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if not args:  # a bare `genrt` asks what it can do
        args = ["--help"]
    try:
        cli.main(args=args, prog_name="genrt", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("genrt: interrupted", err=True)
        return 130
    except click.ClickException as exc:  # bad options or arguments
        if debug:
            raise
        click.echo(f"genrt: error: {exc.format_message()} (see 'genrt --help')", err=True)
        return 2
    except GenrtError as exc:
        if debug:
            raise
        click.echo(f"genrt: error: {exc}", err=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
