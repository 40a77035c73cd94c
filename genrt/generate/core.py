"""`generate`: n generated images as a sharded, resumable data set, in this process or on a Ray cluster.

    from genrt.generate import generate
    manifest = generate(n=100_000, seed=0, out="digits-100k")                 # the bundled model, here
    manifest = generate("g.onnx", n=10**6, out="/shared/d", ray="auto", workers=16)

Image i of (model, seed, labels, truncation) is row i of `genrt sample -n N --seed S -o x.npy`,
whatever the shard size, batch size, worker count or engine (genrt.runtime.latents).
Running the same call on a folder that holds part of the job does only what is missing:
every listed shard's sha256 is checked, a damaged or missing one is redone, nothing is
written twice. A call with other parameters over an existing data set is refused
before anything changes. One run at a time holds a folder (a lock file in it).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
from numbers import Real
from typing import Iterator

from genrt.errors import GenrtError, InputError, OutputError
from genrt.files import IMAGE_FORMATS, file_sha256, new_folder
from genrt.generate.manifest import Job, check_folder, differences, read_manifest, write_manifest
from genrt.generate.shards import remove_leftovers, remove_path, shard_bytes, shard_sha256
from genrt.limits import MAX_COUNT, byte_text, check_disk, integer
from genrt.runtime.latents import check_seed

LOCK = ".genrt-generate.lock"
DEFAULT_SHARD_SIZE = 10_000


class Progress:
    """What generate reports as it goes; the CLI draws a bar from it. These methods do nothing."""

    def begin(self, job: Job, todo: list[int], kept: int, redone: int, engine: str) -> None:
        """`todo`: the shards to write; `kept`: listed shards whose sha256 checked out; `redone`: damaged ones."""

    def shard_done(self, record: dict) -> None:
        """A shard is whole and listed: its manifest entry, with the writer's "seconds" and "provider"."""


def generate(model: str | None = None, n: int = 10_000, seed: int = 0, out: str = "generated", fmt: str = "npy",
             shard_size: int = DEFAULT_SHARD_SIZE, labels=None, truncation: float = 1.0, batch_size: int = 64,
             device: str = "auto", threads: int | None = None, ray: str | None = None,
             workers: int | None = None, progress: Progress | None = None) -> dict:
    """Write (or finish) the data set in folder `out`; returns its manifest (manifest.py describes it).

    `ray`: None runs here; "local" starts a Ray cluster on this machine (stopped at the end);
    "auto" or an address ("host:6379") joins that cluster; "" does what ray.init() does. A
    process already connected to Ray (ray.init done by the caller) uses that connection.
    `workers`: Ray workers, each one process with one Generator (default: one per CPU of
    the cluster). `labels`: one class (index or name) for every image, or None for the
    model's default (image i has class i mod classes).
    """
    progress = progress or Progress()
    for value, name in ((n, "n"), (shard_size, "shard_size"), (batch_size, "batch_size")):
        _check_count(value, name)
    if workers is not None:
        _check_count(workers, "workers")
        if ray is None:
            raise InputError("`workers` needs `ray` (local, auto or a cluster address); in this process the "
                             "Generator's `threads` set the parallelism")
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"`fmt` must be one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
    if isinstance(truncation, bool) or not isinstance(truncation, Real) or not 0.0 < truncation <= 1.0:
        raise InputError(f"`truncation` must be in (0, 1] (1.0 = off), got {truncation!r}")
    model_path = os.path.abspath(model if model is not None else _default_model())
    job, image_shape = _job(model_path, n, check_seed(seed), fmt, shard_size, labels, float(truncation))
    out = os.path.abspath(os.fspath(out))
    if fmt == "npy":
        check_disk(out, n * math.prod(image_shape), "ask for fewer images or free some space")
    _refuse_other_job(out, job)  # before anything is written
    with new_folder(out, undo=_remove_unless_started):
        return _fill(out, job, image_shape, model_path, ray, workers, batch_size, device, threads, progress)


def _remove_unless_started(out: str) -> None:
    """A data set refused or stopped before its first shard leaves no folder; one with shards stays, to resume."""
    if not _lists_shards(out):
        shutil.rmtree(out, ignore_errors=True)


def _fill(out: str, job: Job, image_shape, model_path: str, ray, workers, batch_size: int, device: str, threads,
          progress: Progress) -> dict:
    """Check what `out` holds, write what is missing, list each shard as it is whole; returns the manifest."""
    with _locked(out):
        manifest = _refuse_other_job(out, job)
        remove_leftovers(out)
        kept, redone = _whole_shards(out, job, manifest["shards"] if manifest else [])
        if manifest is None or redone:
            manifest = write_manifest(out, job, image_shape, kept, model_path)
        done = {s["start"] for s in kept}
        todo = [k for k in range(job.shard_count) if job.shard(k)[1] not in done]
        progress.begin(job, todo, len(kept), redone, "this process" if ray is None else "Ray")
        records = _run_here(model_path, job, out, todo, batch_size, device, threads) if ray is None else \
            _run_on_ray(ray, workers, model_path, job, out, todo, batch_size, device, threads)
        try:
            for number, record in enumerate(records):
                kept.append({key: record[key] for key in ("file", "start", "count", "sha256")})
                manifest = write_manifest(out, job, image_shape, kept, model_path)
                progress.shard_done(record)
                if number == 0 and job.format == "png":
                    _check_png_room(out, record["file"], job.shard_count - len(kept))
        finally:
            records.close()
            remove_leftovers(out)
            _remove_unlisted(out, job, todo)
        if len(kept) != job.shard_count:  # an engine that stopped without saying why
            raise GenrtError(f"{out} holds {len(kept)} of {job.shard_count} shards after the run; run the same "
                             "command to finish it")
        return manifest


def _remove_unlisted(out: str, job: Job, todo: list[int]) -> None:
    """Remove the shards of `todo` that are in place but not in the manifest on disk: a run stopped between a
    shard's rename and its listing (or inside the manifest's own write) leaves only listed shards behind; the
    same command writes the rest again. The manifest on disk is the rule, not the run's list in memory."""
    try:
        listed = {s["file"] for s in read_manifest(out)[0]["shards"]}
    except GenrtError:
        return  # nothing can be judged unlisted; the next run checks every file against its sha256 anyway
    for name in (job.shard(k)[0] for k in todo):
        path = os.path.join(out, name)
        if name not in listed and os.path.lexists(path):
            with contextlib.suppress(OSError):
                remove_path(path)


def _check_png_room(out: str, first: str, left: int) -> None:
    """OutputError when the PNG shards still to write, each the size of the first one this run wrote, cannot fit
    on the disk: a PNG's size is known only once it is encoded, so the job is stopped after one shard, not near its
    end. The shards already written stay, and the same command goes on from them."""
    size = shard_bytes(os.path.join(out, first))
    check_disk(out, size * left, f"that is {left:,} PNG shards still to write at the {byte_text(size)} the first "
               "one took; free some space or write .npy; the shards written so far stay, and the same command goes "
               "on from them")


def _lists_shards(out: str) -> bool:
    try:
        return bool(read_manifest(out)[0]["shards"])
    except GenrtError:
        return False


def _default_model() -> str:
    from genrt.runtime import default_model_path

    path = default_model_path()
    if path is None:
        raise InputError("no `model` given and this install has no bundled default model; pass one")
    return path


def _check_count(value, name: str) -> None:
    number = integer(value)
    if number is None or not 1 <= number <= MAX_COUNT:
        raise InputError(f"`{name}` must be an integer from 1 to {MAX_COUNT:,}, got {value!r}")


def _job(model_path: str, n: int, seed: int, fmt: str, shard_size: int, labels, truncation: float):
    """The Job and image shape [H, W, C], checked against the model (its labels and contract)."""
    from genrt.runtime.generator import Generator

    g = Generator(model_path, device="cpu", threads=1, batch_size=1)
    c = g.contract
    if labels is not None:
        label = int(g.label_array(labels, 1)[0])  # InputError for a class the model lacks, or an unconditional model
    elif c.conditional:
        g.default_labels(1)  # InputError for a model that does not say how many classes it has
        label = "cycle"
    else:
        label = None
    if g.image_shape is None:
        g.sample(1, seed)  # a foreign model's image shape is known after its first run
    ch, h, w = g.image_shape
    job = Job(file_sha256(model_path), c.kind, int(c.num_classes or 0), seed, int(n), fmt, label, truncation,
              int(shard_size))
    return job, [h, w, ch]


def _refuse_other_job(out: str, job: Job) -> dict | None:
    """The manifest in `out` if it holds this job, None if `out` is new or empty; InputError for another job."""
    if not check_folder(out, ignore=(LOCK,)):
        return None
    manifest, listed = read_manifest(out)
    changed = differences(listed, job)
    if changed:
        raise InputError(f"`out` {out} holds another data set ({'; '.join(changed)}); give the options it was made "
                         "with to resume it, or another `out`")
    return manifest


@contextlib.contextmanager
def _locked(out: str):
    """Hold `out`'s lock file for the block: OutputError if another run holds it."""
    try:
        fd = os.open(os.path.join(out, LOCK), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"{out} is being written by another genrt generate; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def _whole_shards(out: str, job: Job, listed: list[dict]) -> tuple[list[dict], int]:
    """(the listed shards that are this job's and whose files match their sha256, how many others were dropped)."""
    kept, dropped = [], 0
    for entry in listed:
        start = entry.get("start")
        k = start // job.shard_size if isinstance(start, int) and 0 <= start < job.n else -1
        name, first, count = job.shard(k) if k >= 0 else (None, None, None)
        if (entry.get("file"), entry.get("start"), entry.get("count")) == (name, first, count) and \
                shard_sha256(os.path.join(out, name), job.format, first, count) == entry.get("sha256") and \
                all(s["start"] != first for s in kept):
            kept.append(entry)
        else:
            dropped += 1
    return kept, dropped


def _run_here(model_path: str, job: Job, out: str, todo: list[int], batch_size: int, device: str,
              threads: int | None) -> Iterator[dict]:
    """The shards written one after another by one ShardWriter in this process."""
    from genrt.generate.worker import ShardWriter

    if not todo:
        return
    writer = ShardWriter(model_path, job, out, batch_size, device, threads)
    for k in todo:
        yield {**writer.write(k), "provider": writer.provider}


def _run_on_ray(ray: str, workers, model_path, job, out, todo, batch_size, device, threads) -> Iterator[dict]:
    from genrt.generate.on_ray import run_shards

    return run_shards(ray, workers, model_path, job, out, todo, batch_size, device, threads)
