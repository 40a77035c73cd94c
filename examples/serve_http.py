"""Embedding genrt.runtime in an app: a tiny HTTP server that returns sample grids as PNG.

    python examples/serve_http.py model.onnx --port 8000
    curl 'http://127.0.0.1:8000/sample.png?n=16&seed=3&nrow=4' -o grid.png
    curl 'http://127.0.0.1:8000/sample.png?label=7'              # conditional models
    curl 'http://127.0.0.1:8000/info'                            # the model contract, as JSON

Standard library plus genrt.runtime only (no web framework, no torch). One
`Generator` is created at start-up and shared by every request thread:
onnxruntime sessions are thread-safe and genrt keeps its reused buffers per
thread. A request genrt refuses (bad seed, unknown label, n too large) gets a
400 with genrt's one-line message; anything else is a 500.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import genrt.ext
from genrt.errors import GenrtError
from genrt.files import png_bytes
from genrt.runtime import Generator

MAX_IMAGES = 256  # per request: keeps one request from holding the server


def make_server(generator: Generator, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) whose handler samples from `generator`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server dispatches to)
            url = urlparse(self.path)
            try:
                if url.path == "/info":
                    body, kind = json.dumps(contract_json(generator)).encode(), "application/json"
                elif url.path == "/sample.png":
                    body, kind = sample_png(generator, parse_qs(url.query)), "image/png"
                else:
                    return self.send_error(404, "try /sample.png or /info")
            except GenrtError as exc:  # the client's request was wrong: say what and how to fix it
                return self.send_error(400, str(exc))
            except Exception as exc:  # a fault of the server's: answer, and keep serving
                return self.send_error(500, f"{type(exc).__name__}: {exc}".splitlines()[0])
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # quiet: one line per request is left to the app
            pass

    return ThreadingHTTPServer((host, port), Handler)


def sample_png(generator: Generator, query: dict) -> bytes:
    """PNG grid for a query string like n=16&seed=3&label=7&nrow=4&truncation=0.8."""
    n = _number(query, "n", 16, int)
    if n > MAX_IMAGES:
        raise GenrtError(f"n must be at most {MAX_IMAGES} per request, got {n}")
    label = query.get("label", [None])[0]
    if label is not None and label.lstrip("-").isdigit():
        label = int(label)
    images = generator.sample(
        n, seed=_number(query, "seed", 0, int), labels=label, truncation=_number(query, "truncation", 1.0, float)
    )
    return png_bytes(genrt.ext.make_grid(images, nrow=_number(query, "nrow", 8, int)))


def contract_json(generator: Generator) -> dict:
    c = generator.contract
    return {
        "kind": c.kind,
        "latent_dim": c.latent_dim,
        "num_classes": c.num_classes,
        "class_names": list(c.class_names),
        "image_shape": list(c.image_shape or ()),
        "providers": list(generator.providers),
    }


def _number(query: dict, name: str, default, kind):
    text = query.get(name, [str(default)])[0]
    try:
        return kind(text)
    except ValueError:
        raise GenrtError(f"{name} must be a number ({kind.__name__}), got {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="generator ONNX file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    server = make_server(Generator(args.model, device=args.device), args.host, args.port)
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}/sample.png")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
