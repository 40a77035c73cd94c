"""`genrt sample [MODEL]`: images from a generator ONNX file, as a grid, an array or a folder of files."""

from __future__ import annotations

import os

import click

from genrt.cli.common import default_model, open_generator, parse_label
from genrt.errors import InputError
from genrt.files import IMAGE_FORMATS
from genrt.spec import MAX_SEED, RUNTIME_DEVICES


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("-n", "--num", "n", type=click.IntRange(min=1), default=None,
              help="Images [default: 64; per class with --label all; rows with --interpolate: 8].")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="Seed of the latents.")
@click.option("--label", default=None, help="Class index or name for every image, or 'all' for one row per class.")
@click.option("--truncation", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Scale latents toward 0 (z * t): fewer oddities, less variety; 1 = off.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per session run.")
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads.")
@click.option("-o", "--output", default="samples.png", show_default=True,
              help="A file (one grid, or the N x H x W x C array as .npy) or a folder ending in / (one file per image).")
@click.option("--format", "fmt", type=click.Choice(IMAGE_FORMATS), default=None,
              help="png or npy [default: from the file extension; png for a folder].")
@click.option("--nrow", type=click.IntRange(min=1), default=8, show_default=True, help="Grid columns.")
@click.option("--interpolate", "steps", type=click.IntRange(min=2), default=None,
              help="Rows of STEPS images, each walking (slerp) between two seeded latents.")
@click.option("--to", "to_seed", type=click.IntRange(0, MAX_SEED), default=None,
              help="With --interpolate: one row from the latent of --seed to the latent of seed TO.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--latent-dim", type=click.IntRange(min=1), default=None, help="Latent size, for a foreign model.")
@click.option("--range", "value_range", default=None, metavar="LO,HI", help="Output range of a foreign model [-1,1].")
def sample(model, n, seed, label, truncation, batch_size, device, threads, output, fmt, nrow, steps, overwrite,
           to_seed, latent_dim, value_range):
    """Sample images from a generator ONNX file into a grid or a folder.

    \b
      genrt sample model.onnx                       64 images, 8 per row, in samples.png
      genrt sample model.onnx --label all -n 10     one row of 10 per class
      genrt sample model.onnx --interpolate 10      8 rows of 10, walking between latents
      genrt sample model.onnx --interpolate 10 --seed 3 --to 4     one row, from seed 3 to seed 4
      genrt sample model.onnx -n 16 -o out/         out/seed0_0000.png ... out/seed0_0015.png
    """
    import genrt.ext as ext
    from genrt.files import refuse_existing, save_images
    from genrt.npyfile import save_npy_batches
    from genrt.runtime import sheets

    to_folder = output.endswith(("/", os.sep)) or os.path.isdir(output)
    fmt = _output_format(output, fmt, to_folder)
    labels = parse_label(label)
    overrides = {"latent_dim": latent_dim, "output_range": _parse_range(value_range), "threads": threads,
                 "batch_size": batch_size}
    g = open_generator(model if model is not None else default_model(), device, **overrides)
    if to_seed is not None and (steps is None or n is not None):
        raise InputError("--to draws one row of --interpolate STEPS images: give --interpolate, and leave out -n")
    if steps is not None:
        sheet = sheets.interpolation_sheet(g, n or 8, steps, seed, labels, truncation, to=to_seed)
    elif labels == "all":
        sheet = sheets.class_sheet(g, n or nrow, seed, truncation)
    else:
        sheet = sheets.plain_sheet(g, n or 64, seed, labels, truncation, columns=nrow)

    if to_folder:  # one file per image, written as the batches come: memory bounded by a batch
        names = [os.path.join(output, f"seed{seed}_{i:04d}.{fmt}") for i in range(sheet.count)]
        save_images(names, (image for batch in sheet.batches(batch_size) for image in batch), fmt, overwrite)
        where = f"{sheet.count} files in {output}"
    elif fmt == "npy":  # one array, written batch by batch
        refuse_existing([output], overwrite)  # before any sampling; the write refuses one that appears meanwhile
        save_npy_batches(output, sheet.count, sheet.batches(batch_size), overwrite)
        where = output
    else:
        if g.contract.image_shape is not None:
            _check_grid_size(g.contract.image_shape, sheet.count)
        refuse_existing([output], overwrite)
        images = sheet.images(batch_size)
        save_images([output], [ext.make_grid(images, nrow=sheet.columns)], fmt, overwrite)
        where = output
    c, h, w = g.image_shape
    click.echo(f"wrote {where}: {sheet.count} images {h}x{w}x{c}, seed {seed}, on {g.providers[0]}")


MAX_GRID_BYTES = 1 << 28  # 256 MB of pixels: a grid past that is no picture anyone looks at


def _check_grid_size(chw, count: int) -> None:
    """Refuse, before any sampling, a PNG grid too large to be useful (and to encode in memory)."""
    c, h, w = chw
    needed = count * h * w * c
    if needed > MAX_GRID_BYTES:
        raise InputError(f"a grid of {count:,} images {h}x{w} would take {needed / 1e6:,.0f} MB (the limit is "
                         f"{MAX_GRID_BYTES / 1e6:.0f} MB); lower -n, or write them to a folder (-o out/) or .npy")


def _output_format(output: str, fmt: str | None, to_folder: bool) -> str:
    if to_folder:
        return fmt or "png"
    suffix = os.path.splitext(output)[1].lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise InputError(f"-o {output}: end the file name with .png or .npy, or end a folder name with /")
    if fmt is not None and fmt != suffix:
        raise InputError(f"-o {output} is a .{suffix} file but --format is {fmt}; make them agree")
    return suffix


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
