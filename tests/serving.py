"""A real `genrt serve` for the tests: started as a user would, on a free port, talked to over HTTP."""

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager


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
