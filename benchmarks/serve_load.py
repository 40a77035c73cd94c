"""genrt serve under load: dynamic batching against one session run per request, on the loopback address.

    python benchmarks/serve_load.py [MODEL | --dcgan64] [--levels 1,8,32,128] [--seconds 4] [--rounds 3]
                                    [--plot docs/serve_load.png] [--hostile]

Starts two `genrt serve` processes on the same model: one with dynamic batching
(--max-batch 64, --max-delay-ms 2) and one with --max-batch 1 (every request its
own session run, the plain way). For each concurrency level, closed-loop clients
(each sends GET /v1/sample.png?n=1, waits for the answer, sends the next; every
loop bounded by --seconds and --max-requests) load one server, then the other,
alternating over --rounds. Clients are asyncio connections with keep-alive in this
process. Printed per level: images/s, p50 and p99 latency and errors for each
server (the medians over rounds), and the throughput ratio. MODEL defaults to the
bundled 28x28 cGAN; --dcgan64 serves a DCGAN-shaped 64x64 RGB generator instead
(random weights, benchmarks/dcgan_onnx.py), whose runs cost more than HTTP does.
--hostile adds serve_hostile.py's figures: the 503 latency a separate probing client
sees under 4x overload, and the peak RSS growth under four concurrent 100 MB bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from genrt.runtime import default_model_path


class Server:
    """`genrt serve MODEL --port 0 ARGS` in a subprocess, its address read from its first line."""

    def __init__(self, model: str, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", "genrt.cli", "serve", model, "--device", "cpu",
                                         "--port", "0", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        line = self.process.stderr.readline()
        found = re.search(r"http://([\d.]+):(\d+)", line)
        if not found:
            raise SystemExit(f"genrt serve did not start: {line}{self.process.stderr.read()}")
        self.host, self.port = found.group(1), int(found.group(2))
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # drain the request log
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.port}/readyz", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("genrt serve did not become ready")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


async def client(host: str, port: int, seed0: int, until: float, max_requests: int, latencies: list, errors: list):
    """One closed loop over one keep-alive connection: a request, its whole answer, the next request."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for i in range(max_requests):
            if time.perf_counter() >= until:
                break
            began = time.perf_counter()
            writer.write(f"GET /v1/sample.png?n=1&seed={seed0 + i} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            status = int(head.split(b" ", 2)[1])
            (latencies if status == 200 else errors).append(time.perf_counter() - began)
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(repr(exc))
    finally:
        writer.close()


def session_runs(server: Server) -> tuple[int, float]:
    """(runs, images) the server's batcher has made so far, from /metrics."""
    with urllib.request.urlopen(f"http://{server.host}:{server.port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    runs = sum(int(v) for v in re.findall(r"genrt_batch_images_count\{[^}]*\} (\d+)", text))
    images = sum(float(v) for v in re.findall(r"genrt_batch_images_sum\{[^}]*\} ([\d.e+]+)", text))
    return runs, images


def load(server: Server, clients: int, seconds: float, max_requests: int) -> dict:
    latencies, errors = [], []
    runs_before, images_before = session_runs(server)

    async def run():
        until = time.perf_counter() + seconds
        await asyncio.gather(*(client(server.host, server.port, c * 1_000_000, until, max_requests, latencies, errors)
                               for c in range(clients)))

    began = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [float("nan")]
    runs, images = session_runs(server)
    return {"images_per_run": (images - images_before) / max(1, runs - runs_before),
            "images_per_s": len(latencies) / elapsed, "p50_ms": ordered[len(ordered) // 2] * 1e3,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3, "errors": len(errors),
            "requests": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=default_model_path())
    parser.add_argument("--dcgan64", action="store_true", help="serve a DCGAN 64x64 generator instead of MODEL")
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="per level, server and round")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per client loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plot", default=None, help="write a PNG of throughput and p99 against concurrency")
    parser.add_argument("--hostile", action="store_true", help="also: the overload probe and large bodies")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    if args.dcgan64:
        from dcgan_onnx import build_dcgan

        args.model = build_dcgan(os.path.join(tempfile.mkdtemp(), "dcgan64.onnx"))
    servers = {"dynamic": Server(args.model, "--max-batch", "64", "--max-delay-ms", "2"),
               "max-batch 1": Server(args.model, "--max-batch", "1")}
    results = {name: {level: [] for level in levels} for name in servers}
    try:
        for name, server in servers.items():  # warm both (connections, first runs at many batch sizes)
            load(server, 8, 1.0, args.max_requests)
        for round_ in range(args.rounds):
            for level in levels:
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    results[name][level].append(load(servers[name], level, args.seconds, args.max_requests))
    finally:
        for server in servers.values():
            server.stop()

    def median(name, level, key):
        return statistics.median(r[key] for r in results[name][level])

    print(f"genrt serve, {os.path.basename(args.model)}, GET /v1/sample.png?n=1, closed loops on 127.0.0.1, "
          f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds of {args.seconds:g} s")
    print(f"{'clients':>8} | {'dynamic img/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} {'img/run':>7} | "
          f"{'max-batch 1 img/s':>17} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} | {'ratio':>5}")
    for level in levels:
        d = [median("dynamic", level, k) for k in ("images_per_s", "p50_ms", "p99_ms", "images_per_run")]
        b = [median("max-batch 1", level, k) for k in ("images_per_s", "p50_ms", "p99_ms")]
        errors = [sum(r["errors"] for r in results[name][level]) for name in servers]
        print(f"{level:>8} | {d[0]:>13.0f} {d[1]:>7.1f} {d[2]:>7.1f} {errors[0]:>4} {d[3]:>7.1f} | "
              f"{b[0]:>17.0f} {b[1]:>7.1f} {b[2]:>7.1f} {errors[1]:>4} | {d[0] / b[0]:>4.2f}x")
    if args.plot:
        plot(args.plot, levels, {name: {key: [median(name, level, key) for level in levels]
                                        for key in ("images_per_s", "p99_ms")} for name in servers})
    if args.hostile:
        from serve_hostile import report

        report(args.model, 10.0)


def plot(path: str, levels: list, series: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, values in series.items():
        left.plot(levels, values["images_per_s"], marker="o", label=name)
        right.plot(levels, values["p99_ms"], marker="o", label=name)
    for axis, title in ((left, "throughput (images/s)"), (right, "p99 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [str(v) for v in levels])
        axis.set_xlabel("concurrent clients")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    left.set_ylim(bottom=0)
    right.set_yscale("log")
    figure.suptitle("genrt serve: dynamic batching vs one run per request")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
