"""`run_bench`: latency and throughput of a generator ONNX file, with the cost around the model made visible.

For each batch size, every target is warmed up, then timed in rounds, each in an order shuffled with a fixed seed (genrt.timing, the
rule genrt optimize and benchmarks/ use too), so drift on a shared machine hits
all targets alike:

    genrt               Generator.sample(batch, seed): latents, inference, uint8 images on the
                        host (what users call); with cuda_graph, genrt replays CUDA graphs
    onnxruntime         a bare InferenceSession.run on the same session and precomputed host inputs,
                        float images back on the host: the plain path, and genrt's fair baseline
    onnxruntime-device  on a GPU, also: inputs and outputs bound on the device, nothing copied to
                        the host (with cuda_graph, a CUDA graph): the provider's floor, not a peer
    torch               PyTorch eager on the same device, from the training checkpoint, with the
                        same post-processing to uint8 (only when asked, and only when torch is installed)

Reported per batch size and target: latency mean, std, min, p50, p90, p95, p99,
max (ms), images/s (batch / mean), the process's peak host memory and, on
CUDA, the peak of the GPU's memory in use while the batch size ran (system.py);
for genrt a breakdown of one call into stages
(latents, inference, to uint8, PNG encoding of a grid); for the compare targets
the ratio genrt p50 / target p50. Before the timed rounds: the session creation
time and the first (cold) run, which includes provider set-up (a TensorRT engine
build, cuDNN's algorithm choice).

The report is a dict (schema "genrt.bench/1", see README "Benchmarking"); torch
is imported only for a torch target.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

import genrt
import genrt.ext as ext
from genrt.bench.stats import latency_stats
from genrt.bench.system import NVML, MemoryPoller, cpu_model, cuda_device_selector, cuda_pci_bus_id, peak_host_mb
from genrt.errors import GenrtError, InputError, ModelError
from genrt.files import file_sha256, png_bytes
from genrt.limits import MAX_BATCH
from genrt.runtime.contract import variant_path
from genrt.runtime.ort import first_line, import_onnxruntime
from genrt.bench.targets import (file_session, file_target, genrt_target, onnxruntime_device_target,
                                 onnxruntime_target, torch_target)
from genrt.runtime.generator import Generator
from genrt.spec import RUNTIME_DEVICES
from genrt.timing import sample_interleaved

SCHEMA = "genrt.bench/1"
DEFAULT_SECONDS = 2.0  # per batch size, all targets together, when neither iters nor seconds is given
MIN_ROUNDS = 5
UNITS_PER_BATCH = 1000  # progress units
MAX_ITERS, MAX_SECONDS, MAX_WARMUP = 1_000_000, 3600.0, 100_000  # per target and batch size


@dataclass
class BenchConfig:
    model: str
    device: str = "auto"
    batches: tuple[int, ...] = (1, 8, 64)
    iters: int | None = None  # timed calls per target and batch size
    seconds: float | None = None  # or: time per batch size, all targets together
    warmup: int = 5
    threads: int | None = None
    compare: tuple[str, ...] = ()  # "onnxruntime", "onnxruntime:OTHER.onnx", "torch:CHECKPOINT"
    variant: str = "fp32"  # fp32 | fp16 | int8: MODEL itself, or the sibling export wrote
    cuda_graph: bool = False  # CUDA: genrt and the device-bound onnxruntime target replay CUDA graphs
    raw: bool = False  # keep every latency in the report

    def __post_init__(self):
        problems = []
        if self.device not in RUNTIME_DEVICES:
            problems.append(f"`device` must be one of {', '.join(RUNTIME_DEVICES)}, got {self.device!r}")
        if not self.batches or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_BATCH
                                   for b in self.batches):
            problems.append(f"`batches` must be integers from 1 to {MAX_BATCH:,}, got {list(self.batches)}")
        if self.iters is not None and self.seconds is not None:
            problems.append("give `iters` or `seconds`, not both")
        if self.iters is not None and not 1 <= self.iters <= MAX_ITERS:
            problems.append(f"`iters` must be from 1 to {MAX_ITERS:,}, got {self.iters}")
        if self.seconds is not None and not 0 < self.seconds <= MAX_SECONDS:  # nan fails both
            problems.append(f"`seconds` must be a number above 0 and at most {MAX_SECONDS:g}, got {self.seconds}")
        if not 0 <= self.warmup <= MAX_WARMUP:
            problems.append(f"`warmup` must be from 0 to {MAX_WARMUP:,}, got {self.warmup}")
        for target in self.compare:
            kind, _, value = target.partition(":")
            if target == "onnxruntime" or (kind == "torch" and value):
                continue
            if kind == "onnxruntime" and value:
                if not os.path.isfile(value):
                    problems.append(f"`compare` {target}: {value} not found")
                continue
            problems.append(f"`compare` {target!r}: use onnxruntime, onnxruntime:OTHER.onnx or torch:CHECKPOINT")
        if sum(t.startswith("torch:") for t in self.compare) > 1:
            problems.append("`compare` torch:CHECKPOINT may be given once")
        if problems:
            raise InputError("; ".join(problems))


def run_bench(config: BenchConfig, progress=None) -> dict:
    """Benchmark config.model; returns the report dict. `progress.update(n)` advances a bar of
    len(batches) * UNITS_PER_BATCH units. A CPU fallback on a GPU build is a ProviderFallbackWarning."""
    path = _model_path(config)
    others = [t[len("onnxruntime:"):] for t in config.compare if t.startswith("onnxruntime:")]
    began = time.perf_counter()
    # A second session in the process: both stop spinning, or each one's idle threads steal the other's CPUs.
    g = Generator(path, device=config.device, threads=config.threads, batch_size=max(config.batches),
                  spinning=not others, cuda_graph=config.cuda_graph)
    session_ms = (time.perf_counter() - began) * 1e3
    c = g.contract
    if c.fixed_batch and set(config.batches) != {c.fixed_batch}:
        raise InputError(f"{path} runs batches of exactly {c.fixed_batch} (its graph fixes the batch dimension); "
                         f"benchmark it with `batches` [{c.fixed_batch}]")
    if c.image_shape is None:
        g.sample(1, seed=0)  # a foreign model's image shape is known after one run

    start = time.perf_counter()
    g.sample(config.batches[0], seed=0)
    first_ms = (time.perf_counter() - start) * 1e3

    on_gpu = g.providers[0] != "CPUExecutionProvider"
    nvml = NVML.open() if on_gpu else None
    selector = cuda_device_selector(pci_bus_id=cuda_pci_bus_id()) if nvml else None
    gpu_handle = nvml.handle(selector) if nvml else None
    eager = [torch_target(t[len("torch:"):], g, config.threads) for t in config.compare if t.startswith("torch:")]
    files = {f"onnxruntime:{os.path.basename(other)}": file_session(other, g, config.threads) for other in others}
    results = []
    for number, batch in enumerate(config.batches):
        targets = {"genrt": genrt_target(g, batch)}
        if "onnxruntime" in config.compare:
            targets["onnxruntime"] = onnxruntime_target(g, batch)
            if on_gpu:
                targets["onnxruntime-device"] = onnxruntime_device_target(g, batch)
        for name, (session, contract) in files.items():
            targets[name] = file_target(session, contract, g, batch)
        for make in eager:
            targets["torch"] = make(batch)
        samples, device_peak = _time_targets(targets, config, progress, nvml, gpu_handle)
        stages = _stages(g, batch, max(MIN_ROUNDS, min(50, len(samples["genrt"]) // 4)))
        host_peak = peak_host_mb()
        genrt_p50 = float(np.median(samples["genrt"]))
        for name, seconds in samples.items():
            stats = latency_stats(seconds)
            row = {
                "target": name,
                "batch": batch,
                "iters": len(seconds),
                "latency_ms": stats,
                "images_per_s": batch / (stats["mean"] / 1e3),
                "peak_host_mb": round(host_peak, 1),
                "peak_device_mb": round(device_peak, 1) if device_peak is not None else None,
            }
            if name == "genrt":
                row["stages_ms"] = stages
            else:
                row["genrt_time_ratio"] = genrt_p50 / float(np.median(seconds))
            if config.raw:
                row["raw_ms"] = [s * 1e3 for s in seconds]
            results.append(row)
        if progress is not None:
            progress.update(0)  # redraw after the batch's stages
    return {
        "schema": SCHEMA,
        "environment": _environment(g, config, nvml, selector),
        "model": _model_facts(path, g),
        "config": {**asdict(config), "batches": list(config.batches), "compare": list(config.compare)},
        "phases": {"session_create_ms": session_ms, "first_run_ms": first_ms, "first_run_batch": config.batches[0]},
        "results": results,
    }


def _model_path(config: BenchConfig) -> str:
    if config.variant == "fp32":
        return config.model
    path = variant_path(config.model, config.variant)
    if not os.path.isfile(path):
        raise InputError(f"`variant` {config.variant}: {path} not found; write it with "
                         f"genrt export CHECKPOINT -o {config.model} --{config.variant}")
    return path


# ------------------------------------------------------------ timing


def _time_targets(targets: dict, config: BenchConfig, progress, nvml, gpu_handle):
    """Per-call seconds for each target, in interleaved rounds; and the peak GPU memory in use meanwhile (MB)."""
    if nvml is None:
        return _timed_rounds(targets, config, progress), None
    with MemoryPoller(nvml, gpu_handle) as poller:
        samples = _timed_rounds(targets, config, progress)
    return samples, poller.peak_mb


def _timed_rounds(targets: dict, config: BenchConfig, progress) -> dict:
    """Seconds of each call of each target, in interleaved rounds (genrt.timing): --iters rounds, or --seconds."""
    seconds = None if config.iters else (config.seconds or DEFAULT_SECONDS)
    shown = [0]

    def on_round(rounds: int, elapsed: float) -> None:
        if progress is not None:
            done = rounds / config.iters if config.iters else min(elapsed / seconds, 1.0)
            units = int(done * UNITS_PER_BATCH)
            progress.update(units - shown[0])
            shown[0] = units

    samples = sample_interleaved(targets, config.iters, warmup=config.warmup, seconds=seconds, min_rounds=MIN_ROUNDS,
                                 on_round=on_round, call=_call)
    if progress is not None:
        progress.update(UNITS_PER_BATCH - shown[0])
    return samples


def _call(name: str, fn) -> None:
    """One call of a target; a failure is one line naming the target (genrt's own errors pass as they are)."""
    try:
        fn()
    except GenrtError:
        raise
    except Exception as exc:  # onnxruntime or torch failing mid-run (a CUDA graph replay, device memory)
        raise ModelError(f"benchmark target {name} failed: {first_line(exc)}") from exc


def _stages(g: Generator, batch: int, repeats: int) -> dict[str, float]:
    """Median ms of each stage of one sample call, each timed on its own."""
    c = g.contract
    labels = g.default_labels(batch)
    times = {"latents": [], "inference": [], "to_uint8": [], "png_grid": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        z = g.latents(batch, seed=0)
        t1 = time.perf_counter()
        raw = g.decode(z, labels, raw=True)
        t2 = time.perf_counter()
        images = ext.to_uint8(raw, c.output_range)
        t3 = time.perf_counter()
        png_bytes(ext.make_grid(images, nrow=8))
        t4 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times[key].append(value)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items()}


# ------------------------------------------------------------ facts


def _environment(g: Generator, config: BenchConfig, nvml, selector) -> dict:
    import numpy

    ort = import_onnxruntime()
    return {
        "genrt": genrt.__version__,
        "onnxruntime": ort.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device_asked": config.device,
        "provider": g.providers[0],
        "providers": list(g.providers),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "threads": config.threads or "onnxruntime default (one per physical core)",
        "gpu": nvml.gpu(selector) if nvml else None,
        "ext": ext.backend_info(),
    }


def _model_facts(path: str, g: Generator) -> dict:
    c = g.contract
    return {
        "path": path,
        "sha256": file_sha256(path),
        "bytes": os.path.getsize(path),
        "kind": c.kind,
        "precision": c.metadata.get("genrt.precision", "unknown"),
        "latent_dim": c.latent_dim,
        "num_classes": c.num_classes,
        "image_shape": list(c.image_shape) if c.image_shape else None,
        "output_range": list(c.output_range),
    }
