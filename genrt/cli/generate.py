"""`genrt generate [MODEL]`: a sharded, resumable data set of generated images, here or on a Ray cluster."""

from __future__ import annotations

import time

import click

from genrt.cli.common import ProgressBar, parse_label, printed_warnings
from genrt.files import IMAGE_FORMATS
from genrt.spec import MAX_SEED, RUNTIME_DEVICES


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("-n", "--num", "n", type=click.IntRange(min=1), required=True, help="Images in the data set.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="Seed of the latents.")
@click.option("--out", required=True, metavar="DIR", help="The data set's folder: manifest.json and the shards.")
@click.option("--format", "fmt", type=click.Choice(IMAGE_FORMATS), default="npy", show_default=True,
              help="npy: one N x H x W x C uint8 array per shard; png: one folder of PNGs per shard.")
@click.option("--shard-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Images per shard.")
@click.option("--label", default=None, help="Class index or name for every image [default: image i has class i mod K].")
@click.option("--truncation", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Scale latents toward 0 (z * t); 1 = off.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per session run.")
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="onnxruntime threads (per worker on Ray, default 1 there).")
@click.option("--ray", "ray", is_flag=False, flag_value="", default=None, metavar="[ADDRESS|local]",
              help="Run on Ray: `local` starts a cluster here, an address joins that one, bare --ray joins "
                   "RAY_ADDRESS's or this node's cluster (else starts one).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Ray workers, one Generator each [default: one per CPU of the cluster / --threads].")
def generate(model, n, seed, out, fmt, shard_size, label, truncation, batch_size, device, threads, ray, workers):
    """Generate a data set of N images in shards; the same command again resumes or repairs it.

    \b
      genrt generate -n 100000 --out digits/                 in this process
      genrt generate -n 1000000 --out /shared/d/ --ray auto  on the running Ray cluster
      genrt eval digits/                                     score the data set
    """
    from genrt.generate import generate as run

    bar = _Progress()
    try:
        with printed_warnings():
            manifest = run(model, n, seed, out, fmt, shard_size, parse_label(label), truncation, batch_size, device,
                           threads, ray=ray, workers=workers, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        if bar.job is not None:
            click.echo(f"genrt: stopped after {bar.written} new shards; every listed shard is whole: run the same "
                       "command to resume", err=True)
        raise
    bar.close()
    click.echo(bar.summary(out, manifest))


class _Progress:
    """generate's progress as a bar on stderr (images, shards, images/s, ETA), and the closing summary."""

    def __init__(self):
        self.job, self.bar, self.written, self.images, self.provider = None, None, 0, 0, "no provider"
        self.began = time.perf_counter()

    def begin(self, job, todo, kept, redone, engine) -> None:
        self.job, self.todo, self.kept, self.redone, self.engine = job, todo, kept, redone, engine
        self.bar = ProgressBar(sum(job.shard(k)[2] for k in todo), "genrt generate", self._status)
        self.began = time.perf_counter()

    def shard_done(self, record: dict) -> None:
        self.written += 1
        self.images += record["count"]
        self.provider = record["provider"]
        self.bar.update(record["count"])

    def _status(self) -> str:
        return f"{self.written}/{len(self.todo)} shards, {self._rate():,.0f} images/s"

    def _rate(self) -> float:
        return self.images / max(time.perf_counter() - self.began, 1e-9)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def summary(self, out: str, manifest: dict) -> str:
        job, shards = self.job, len(manifest["shards"])
        checked = f"{self.kept} checked and kept" + (f", {self.redone} damaged and redone" if self.redone else "")
        if not self.written:
            return f"{out} is complete: {job.n:,} images in {shards} shards ({checked}); nothing to do"
        seconds = time.perf_counter() - self.began
        return (f"wrote {out}: {job.n:,} images in {shards} shards ({self.written} written, {checked}) in "
                f"{seconds:.1f} s, {self._rate():,.0f} images/s, on {self.provider} in {self.engine}")
