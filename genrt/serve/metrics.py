"""Counters and histograms for `/metrics`, in the Prometheus text exposition format (version 0.0.4).

    genrt_requests_total{path, status}      requests answered
    genrt_images_total{model}               images returned
    genrt_request_seconds{path}             histogram: time from arrival to the response's last byte
    genrt_batch_images{model}               histogram: images per session run
    genrt_batch_seconds{model}              histogram: time per session run
    genrt_queue_images{model}               gauge: images waiting for a run
    genrt_dropped_images_total{model}       queued images of requests whose client went away

Updated from the event loop and from batcher threads, under one lock. `/v1/stats`
(the playground's model facts) gives each model's images, requests and the exact
latency percentiles of its last RECENT image requests.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque

import numpy as np

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
RECENT = 1000  # image requests per model whose latencies /v1/stats summarizes


class Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {count}' for bound, count in zip(self.buckets, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6g}")
        out.append(f"{name}_count{{{labels}}} {self.total}")
        return out


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests = defaultdict(int)  # (path, status) -> count
        self.images = defaultdict(int)  # model -> count
        self.request_seconds = defaultdict(lambda: Histogram(LATENCY_BUCKETS))  # path -> histogram
        self.batch_images = defaultdict(lambda: Histogram(BATCH_BUCKETS))  # model -> histogram
        self.batch_seconds = defaultdict(lambda: Histogram(LATENCY_BUCKETS))
        self.image_requests = defaultdict(int)  # model -> answered image requests
        self.recent_seconds = defaultdict(lambda: deque(maxlen=RECENT))  # model -> latencies of the last ones

    def request(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[path, status] += 1
            self.request_seconds[path].observe(seconds)

    def served(self, model: str, images: int, seconds: float) -> None:
        """An image request of `model` answered with `images` images, `seconds` after it arrived."""
        with self._lock:
            self.images[model] += images
            self.image_requests[model] += 1
            self.recent_seconds[model].append(seconds)

    def model_stats(self, models: list[str]) -> dict:
        """{model: {"requests", "images", "latency_ms": {"p50", "p99"} or None before the first request}}."""
        with self._lock:
            recent = {m: np.array(self.recent_seconds[m]) for m in models}
            counts = {m: (self.image_requests[m], self.images[m]) for m in models}
        out = {}
        for m in models:
            latency = None
            if len(recent[m]):
                p50, p99 = np.percentile(recent[m] * 1e3, [50, 99])
                latency = {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}
            out[m] = {"requests": counts[m][0], "images": counts[m][1], "latency_ms": latency}
        return out

    def batch(self, model: str, images: int, seconds: float) -> None:
        with self._lock:
            self.batch_images[model].observe(images)
            self.batch_seconds[model].observe(seconds)

    def text(self, queues: dict[str, int], dropped: dict[str, int]) -> str:
        """The exposition text; `queues` and `dropped` give each model's queued and dropped images now."""
        with self._lock:
            out = ["# HELP genrt_requests_total Requests answered, by path and status.",
                   "# TYPE genrt_requests_total counter"]
            out += [f'genrt_requests_total{{path="{path}",status="{status}"}} {count}'
                    for (path, status), count in sorted(self.requests.items())]
            out += ["# HELP genrt_images_total Images returned.", "# TYPE genrt_images_total counter"]
            out += [f'genrt_images_total{{model="{model}"}} {count}' for model, count in sorted(self.images.items())]
            out += ["# HELP genrt_request_seconds Time from a request's arrival to its response.",
                    "# TYPE genrt_request_seconds histogram"]
            for path, histogram in sorted(self.request_seconds.items()):
                out += histogram.lines("genrt_request_seconds", f'path="{path}"')
            out += ["# HELP genrt_batch_images Images per session run.", "# TYPE genrt_batch_images histogram"]
            for model, histogram in sorted(self.batch_images.items()):
                out += histogram.lines("genrt_batch_images", f'model="{model}"')
            out += ["# HELP genrt_batch_seconds Time per session run.", "# TYPE genrt_batch_seconds histogram"]
            for model, histogram in sorted(self.batch_seconds.items()):
                out += histogram.lines("genrt_batch_seconds", f'model="{model}"')
        out += ["# HELP genrt_queue_images Images waiting for a session run.", "# TYPE genrt_queue_images gauge"]
        out += [f'genrt_queue_images{{model="{model}"}} {count}' for model, count in sorted(queues.items())]
        out += ["# HELP genrt_dropped_images_total Queued images dropped because their client went away.",
                "# TYPE genrt_dropped_images_total counter"]
        out += [f'genrt_dropped_images_total{{model="{model}"}} {count}' for model, count in sorted(dropped.items())]
        return "\n".join(out) + "\n"
