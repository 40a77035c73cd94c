"""genrt serve against hostile load: the 503 latency a separate client sees under overload, and the memory
that four concurrent large bodies cost. Run from serve_load.py (--hostile), or alone:

    python benchmarks/serve_hostile.py [MODEL] [--seconds 10]

Overload: `genrt serve --max-images 16 --max-queue 64`, 16 closed-loop clients each asking for 16 images
(four times what the queue holds), while a probing client in another process opens a new connection
every 20 ms for the same request and times the whole answer. Printed: the probe's answers by status and
their p50 / p99. Large bodies: four threads at once send POST /v1/generate with 100 MB bodies, two with
Content-Length and two chunked; printed: each answer's status and the server's peak RSS growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import Server  # noqa: E402

from genrt.runtime import default_model_path  # noqa: E402

REQUEST = "GET /v1/sample.png?n=16&seed={seed} HTTP/1.1\r\nHost: x\r\n\r\n"


async def _loop_client(host, port, until, statuses):
    reader, writer = await asyncio.open_connection(host, port)
    seed = 0
    try:
        while time.perf_counter() < until:
            writer.write(REQUEST.format(seed=seed).encode())
            seed += 1
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(re.search(rb"(?i)content-length: (\d+)", head).group(1)))
            statuses.append(int(head.split()[1]))
    except (OSError, asyncio.IncompleteReadError):
        statuses.append(-1)
    finally:
        writer.close()


def probe(host: str, port: int, seconds: float) -> list[tuple[int, float]]:
    """(status, seconds) of one fresh connection and request every 20 ms, for `seconds`."""
    out, until = [], time.perf_counter() + seconds
    while time.perf_counter() < until:
        began = time.perf_counter()
        with socket.create_connection((host, port), timeout=30) as s:
            s.sendall(REQUEST.format(seed=7).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n").encode())
            data = b""
            while chunk := s.recv(1 << 16):
                data += chunk
        out.append((int(data.split()[1]), time.perf_counter() - began))
        time.sleep(max(0.0, 0.02 - (time.perf_counter() - began)))
    return out


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3 if ordered else float("nan")


def overload(model: str, seconds: float) -> dict:
    server = Server(model, "--max-images", "16", "--max-queue", "64", "--grace-seconds", "0")
    try:
        statuses = []
        prober = subprocess.Popen([sys.executable, __file__, "--probe", f"{server.host}:{server.port}",
                                   "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)

        async def load():
            until = time.perf_counter() + seconds + 1
            await asyncio.gather(*(_loop_client(server.host, server.port, until, statuses) for _ in range(16)))

        asyncio.run(load())
        answers = json.loads(prober.communicate(timeout=120)[0])
    finally:
        server.stop()
    busy = [t for status, t in answers if status == 503]
    ok = [t for status, t in answers if status == 200]
    return {"load_answers": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "probe_503": len(busy), "probe_200": len(ok), "probe_other": len(answers) - len(busy) - len(ok),
            "probe_503_p50_ms": percentile(busy, 0.5), "probe_503_p99_ms": percentile(busy, 0.99),
            "probe_all_p99_ms": percentile([t for _, t in answers], 0.99)}


def _memory(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(rf"{field}:\s+(\d+) kB", status.read()).group(1)) / 1024


def large_bodies(model: str, megabytes: int = 100) -> dict:
    server = Server(model, "--grace-seconds", "0")
    chunk = b" " * (1 << 20)
    answers = {}

    def send(name, chunked):
        head = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {megabytes << 20}"
        with socket.create_connection((server.host, server.port), timeout=60) as s:
            s.sendall(f"POST /v1/generate HTTP/1.1\r\nHost: x\r\n{head}\r\n\r\n".encode())
            try:
                for _ in range(megabytes):
                    s.sendall(b"100000\r\n" + chunk + b"\r\n" if chunked else chunk)
            except OSError:
                pass  # the server refused and closed: the answer is waiting
            data = b""
            try:
                while part := s.recv(1 << 16):
                    data += part
            except OSError:
                pass
        answers[name] = int(data.split()[1]) if data else "reset"

    try:
        before = _memory(server.process.pid, "VmRSS")
        threads = [threading.Thread(target=send, args=(f"{kind} {i}", kind == "chunked"))
                   for kind in ("content-length", "chunked") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        peak = _memory(server.process.pid, "VmHWM")
    finally:
        server.stop()
    return {"answers": answers, "rss_before_mb": before, "peak_rss_mb": peak, "growth_mb": peak - before}


def report(model: str, seconds: float) -> None:
    o = overload(model, seconds)
    print(f"overload (--max-images 16 --max-queue 64, 16 clients x 16 images, {seconds:g} s): load answers "
          f"{o['load_answers']}; probe: {o['probe_503']} x 503, {o['probe_200']} x 200, {o['probe_other']} other; "
          f"503 p50 {o['probe_503_p50_ms']:.1f} ms, p99 {o['probe_503_p99_ms']:.1f} ms; "
          f"all answers p99 {o['probe_all_p99_ms']:.1f} ms")
    b = large_bodies(model)
    print(f"four 100 MB bodies at once: answers {b['answers']}; server RSS {b['rss_before_mb']:.0f} MB before, "
          f"peak {b['peak_rss_mb']:.0f} MB (growth {b['growth_mb']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=default_model_path())
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)  # HOST:PORT: be the probing client
    args = parser.parse_args()
    if args.probe:
        host, port = args.probe.rsplit(":", 1)
        print(json.dumps(probe(host, int(port), args.seconds)))
        return
    report(args.model, args.seconds)


if __name__ == "__main__":
    main()
