"""Generated data sets past one process: `genrt generate`, sharded, resumable, on Ray when asked.

- core.py      `generate(...)`: the job, its folder, resume and repair, the engines
- manifest.py  manifest.json: the job, the shard list, their checks
- shards.py    shard files (.npy arrays or folders of PNGs): atomic writes, sha256, reading back
- worker.py    `ShardWriter`: one Generator writing whole shards (here and in every Ray worker)
- on_ray.py    the Ray engine: actors with restarts and retries, one shard at a time each
- ray_data.py  `SampleImages`: the `ray.data` map_batches class for pipelines of your own

Ray is imported only when a Ray engine runs (the `ray` extra); this package is torch-free.
"""

from genrt.generate.core import generate
from genrt.generate.manifest import read_manifest
from genrt.generate.ray_data import SampleImages

__all__ = ["generate", "read_manifest", "SampleImages"]
