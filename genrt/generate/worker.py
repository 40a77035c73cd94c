"""`ShardWriter`: one Generator, opened once, writing whole shards of a job. The same code runs in this
process and inside each Ray worker, so the engine never changes a byte."""

from __future__ import annotations

import time

from genrt.generate.manifest import Job
from genrt.generate.shards import write_shard
from genrt.runtime.generator import Generator


class ShardWriter:
    """Writes shards of `job` into `folder` with one Generator of the model at `model_path`."""

    def __init__(self, model_path: str, job: Job, folder: str, batch_size: int = 64, device: str = "auto",
                 threads: int | None = None, spinning: bool = True):
        self.job, self.folder, self.batch_size = job, folder, batch_size
        self.generator = Generator(model_path, device=device, threads=threads, batch_size=batch_size,
                                   spinning=spinning)
        self.provider = self.generator.providers[0]

    def write(self, k: int) -> dict:
        """Write shard k; returns its manifest entry {"file", "start", "count", "sha256"} and its "seconds"."""
        job = self.job
        name, start, count = job.shard(k)
        began = time.perf_counter()
        labels = None if job.labels in (None, "cycle") else job.labels  # "cycle" is the Generator's default
        batches = self.generator.sample_batches(count, job.seed, labels, job.truncation, self.batch_size, start=start)
        sha256 = write_shard(self.folder, name, job.format, start, count, batches)
        return {"file": name, "start": start, "count": count, "sha256": sha256,
                "seconds": time.perf_counter() - began}
