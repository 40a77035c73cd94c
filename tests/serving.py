"""A real `genrt serve` for the tests: started as a user would, on a free port, talked to over HTTP."""

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

from genrt.runtime import Generator


@contextmanager
def running_server(*args, timeout=120):
    """`genrt serve --port 0 ARGS` in a subprocess; yields (base URL, process, its stderr lines so far).

    Without a --grace-seconds in ARGS, SIGTERM stops it at once (no grace period)."""
    process = subprocess.Popen([sys.executable, "-m", "genrt.cli", "serve", "--device", "cpu", "--port", "0",
                                "--grace-seconds", "0", *map(str, args)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        base = None
        while time.monotonic() < deadline and process.poll() is None:
            found = [re.search(r"listening on (http://\S+)", line) for line in lines]
            base = next((m.group(1) for m in found if m), None)
            if base and ready(base):
                break
            time.sleep(0.1)
        assert base and ready(base), "".join(lines)
        yield base, process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def ready(base) -> bool:
    try:
        return get(f"{base}/readyz")[0] == 200
    except (OSError, urllib.error.URLError):
        return False


def get(url, data=None, method=None):
    """(status, headers, body) of a GET, or of a POST when `data` (a dict, sent as JSON) is given."""
    body = None if data is None else (data if isinstance(data, bytes) else json.dumps(data).encode())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@contextmanager
def in_process_server(generators, config):
    """build_app(generators, config) under uvicorn in a thread of this process; yields its base URL."""
    import uvicorn

    from genrt.serve.app import build_app

    app = build_app(generators, config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    gates = [g for g in generators.values() if isinstance(g, GatedGenerator)]
    try:
        while not ready(base):
            time.sleep(0.05)
        yield base
    finally:
        for g in gates:
            g.gate.set()
        server.should_exit = True
        thread.join(30)


class GatedGenerator(Generator):
    """A real Generator whose runs, once armed, wait until the test opens the gate."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate, self.entered, self.armed = threading.Event(), threading.Event(), False

    def decode(self, *args, **kwargs):
        if self.armed:
            self.entered.set()
            self.gate.wait(60)
        return super().decode(*args, **kwargs)
