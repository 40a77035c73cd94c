"""genrt.bench: latency and throughput of generator ONNX files on the target device (`genrt bench`).

- `run_bench(BenchConfig(model, ...))` (core.py): phases, per-batch latency statistics, stages,
  memory, and the onnxruntime / PyTorch comparisons, as one report dict (schema genrt.bench/1).
- report.py: the terminal table, CSV, JSON and the PNG plot.
- `latency_stats` (stats.py): mean, std, min, p50, p90, p95, p99, max.

onnxruntime and numpy only, like genrt.runtime; torch is imported only for
`--compare torch:CHECKPOINT` (torch_eager.py).
"""

from genrt.bench.core import SCHEMA, BenchConfig, run_bench
from genrt.bench.stats import latency_stats

__all__ = ["SCHEMA", "BenchConfig", "latency_stats", "run_bench"]
