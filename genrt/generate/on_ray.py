"""Ray engine of `genrt generate`: W Ray actors, each one process with one ShardWriter (one Generator opened
once), handed one shard at a time; every shard file is written by the worker itself, straight into the
data set's folder (shared storage on a multi-node cluster).

Why actors rather than `ray.data`: the unit of work is a whole shard that a worker writes
and hashes where it runs, so no image crosses the object store, and the driver needs each
shard's completion (to list it in the manifest at once) with a timeout on every wait;
Ray's actor scheduling, restarts and task retries do the rest (a worker killed mid-shard
is restarted and its shard retried; the shard's atomic write leaves nothing half-done).
For pipelines of one's own, `SampleImages` (ray_data.py) is the `map_batches` class.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from typing import Iterator

from genrt.errors import DependencyError, GenrtError, InputError
from genrt.generate.manifest import Job
from genrt.runtime.ort import first_line

WAIT_SECONDS = 1.0  # every ray.wait returns at least this often (Ctrl-C, the stall check)
STALL_SECONDS = 900.0  # no shard finished for this long: stop (the job resumes where it stopped)
MAX_RESTARTS = 3  # a worker process that dies is restarted, and its shard retried, this many times


class GenrtShardWriter:
    """The Ray actor's class (its processes show as ray::GenrtShardWriter): a ShardWriter on this node, opened
    at its first shard (so that a restarted worker opens it again from that shard's arguments)."""

    def __init__(self, job: Job, out: str, batch_size: int, device: str, threads: int):
        self.settings, self.writer = (job, out, batch_size, device, threads), None

    def write(self, k: int, model) -> dict:
        """Write shard k. `model`: its path, or [a Ray object ref of its bytes] (in a list, so that every
        call shares the one copy in the object store, which the driver keeps alive for the run)."""
        if self.writer is None:
            self.writer = self._open(model)
        return {**self.writer.write(k), "provider": self.writer.provider}

    def _open(self, model):
        from genrt.generate.worker import ShardWriter

        job = self.settings[0]
        if isinstance(model, list):
            import ray

            model = ray.get(model[0], timeout=STALL_SECONDS)
        if not isinstance(model, bytes):
            return ShardWriter(model, *self.settings, spinning=False)
        if hashlib.sha256(model).hexdigest() != job.model_sha256:
            raise GenrtError("the model's bytes changed on their way to a Ray worker; run the job again")
        with tempfile.TemporaryDirectory(prefix="genrt-model-") as folder:  # a private copy on this node
            path = os.path.join(folder, "model.onnx")
            with open(path, "wb") as f:
                f.write(model)
            return ShardWriter(path, *self.settings, spinning=False)


def run_shards(address: str, workers: int | None, model_path: str, job: Job, out: str, todo: list[int],
               batch_size: int, device: str, threads: int | None) -> Iterator[dict]:
    """Write shards `todo` on the Ray cluster at `address`; yields each one's record as it finishes."""
    if not todo:
        return
    ray = _import_ray()
    started = _connect(ray, address)
    actors, pending = [], {}
    try:
        threads = threads or 1
        gpus = 1 if device in ("cuda", "tensorrt") else 0
        workers = workers or _cluster_size(ray, threads, gpus)
        _check_resources(ray, workers, threads, gpus)
        workers = min(workers, len(todo))
        actor_class = ray.remote(num_cpus=threads, num_gpus=gpus, max_restarts=MAX_RESTARTS,
                                 max_task_retries=MAX_RESTARTS)(GenrtShardWriter)
        model = [ray.put(_model_bytes(model_path))] if _travels(model_path) else model_path
        actors = [actor_class.remote(job, out, batch_size, device, threads) for _ in range(workers)]
        queue = list(todo)
        for actor in actors:
            pending[actor.write.remote(queue.pop(0), model)] = actor
        last = time.monotonic()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            if not ready:
                if time.monotonic() - last > STALL_SECONDS:
                    raise GenrtError(f"no shard finished on the Ray cluster in {STALL_SECONDS:.0f} s; check it with "
                                     "`ray status`, then run the same command to resume")
                continue
            actor = pending.pop(ready[0])
            record = _result(ray, ready[0])
            last = time.monotonic()
            if queue:
                pending[actor.write.remote(queue.pop(0), model)] = actor
            yield record
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise DependencyError("`ray` needs Ray: pip install 'genrt[ray]'") from None
    return ray


def _connect(ray, address: str) -> bool:
    """Connect this process to the cluster; True if this call started the connection (and so ends it)."""
    if ray.is_initialized():  # a program of the user's, already on its cluster
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **quiet)
        elif address:
            ray.init(address=address, **quiet)
        else:  # Ray's own default: RAY_ADDRESS's cluster or this node's, else a new one here
            ray.init(**quiet)
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError: Ray's ways of saying no
        where = f"at {address!r}" if address else "of RAY_ADDRESS or this node"
        raise InputError(f"cannot join the Ray cluster {where}: {first_line(exc)}; give the head's address "
                         "(host:port), `auto` on a node of a running cluster, or `local`") from None
    return True


def _cluster_size(ray, threads: int, gpus: int) -> int:
    resources = ray.cluster_resources()
    by_cpu = int(resources.get("CPU", 0) // threads)
    size = min(by_cpu, int(resources.get("GPU", 0))) if gpus else by_cpu
    return max(1, size)  # at least one worker: a cluster too small for it is then refused by _check_resources


def _check_resources(ray, workers: int, threads: int, gpus: int) -> None:
    resources = ray.cluster_resources()
    cpus, have_gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    if workers * threads > cpus:
        raise InputError(f"{workers} Ray workers of {threads} thread(s) need {workers * threads} CPUs, the cluster "
                         f"has {cpus:g}; lower `workers` or `threads`")
    if workers * gpus > have_gpus:
        raise InputError(f"{workers} Ray workers on the GPU need {workers * gpus} GPUs, the cluster has "
                         f"{have_gpus:g}; lower `workers`, or use `device` cpu")


def _travels(model_path: str) -> bool:
    """True if the model is one file that can go through the object store (a model with external data is
    opened at its own path, which must then exist on every node)."""
    from genrt.runtime.onnxfile import check_external_data

    return not check_external_data(model_path)


def _model_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _result(ray, ref) -> dict:
    """The shard record behind a finished `ref`, or the worker's failure as one GenrtError."""
    try:
        return ray.get(ref, timeout=WAIT_SECONDS * 60)
    except Exception as exc:  # RayTaskError wrapping the worker's exception, ActorDiedError, GetTimeoutError
        cause = exc
        while cause is not None and not isinstance(cause, GenrtError):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is not None:
            raise cause from None
        raise GenrtError(f"a Ray worker failed ({first_line(exc)}) after {MAX_RESTARTS} restarts; run the same "
                         "command to resume") from None
