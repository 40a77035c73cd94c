"""`genrt serve [MODEL]`: generator ONNX files over HTTP, with dynamic batching (genrt.serve, uvicorn)."""

from __future__ import annotations

import logging
import os
import socket

import click

from genrt.cli.common import Seconds, default_model, open_generator
from genrt.errors import DependencyError, InputError, OutputError
from genrt.limits import MAX_COUNT
from genrt.spec import RUNTIME_DEVICES


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--model", "named", multiple=True, metavar="NAME=PATH",
              help="Serve PATH under /v1/models/NAME/... (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime intra-op threads per model.")
@click.option("--max-batch", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Most images per session run; requests are joined up to it, and larger ones split.")
@click.option("--max-delay-ms", type=Seconds(0, 60_000), default=2.0, show_default=True,
              help="How long a run waits for other requests to join it.")
@click.option("--max-queue", type=click.IntRange(1, MAX_COUNT), default=1024, show_default=True,
              help="Most images waiting per model; past it, requests get 503 with Retry-After.")
@click.option("--max-images", type=click.IntRange(1, MAX_COUNT), default=1024, show_default=True, help="Most images per request.")
@click.option("--drain-seconds", type=Seconds(0, 3600), default=30.0, show_default=True,
              help="On SIGTERM or Ctrl-C: how long requests in flight may take to finish.")
@click.option("--grace-seconds", type=Seconds(0, 3600), default=5.0, show_default=True,
              help="On SIGTERM: how long /readyz answers 503 while the server still serves, before it stops.")
@click.option("--max-body", type=click.IntRange(1, 1 << 30), default=1 << 20, show_default=True,
              help="Most bytes of a request body; past it, 413.")
@click.option("--header-timeout", type=Seconds(0.1, 3600), default=10.0, show_default=True,
              help="Seconds a request's headers may take to arrive; past it, 408 and the connection is closed.")
def serve(model, named, host, port, device, threads, max_batch, max_delay_ms, max_queue, max_images, drain_seconds,
          grace_seconds, max_body, header_timeout):
    """Serve generators over HTTP: PNG grids, zips, .npy arrays, the model contract, metrics.

    \b
      genrt serve                                   the bundled model on http://127.0.0.1:8000
      genrt serve model.onnx --port 9000
      genrt serve --model digits=a.onnx --model faces=b.onnx
      curl 'http://127.0.0.1:8000/v1/sample.png?n=16&seed=3' -o grid.png
      curl -X POST localhost:8000/v1/generate -d '{"n": 4, "format": "npy"}' -o x.npy

    Concurrent requests share session runs of up to --max-batch images; a request's
    images are the same bytes as genrt sample with the same seed, labels and
    truncation. The playground page at / shows them in a browser. SIGTERM turns
    /readyz to 503, keeps serving for --grace-seconds, stops accepting, finishes
    what is in flight, and exits 0.
    """
    try:
        from genrt.serve.app import ServeConfig, build_app
        from genrt.serve.server import run
    except ImportError as exc:
        raise DependencyError(f"genrt serve needs Starlette and uvicorn ({exc}); pip install 'genrt[serve]'") from None

    paths = _model_paths(model, named)
    config = ServeConfig(max_batch, max_delay_ms, max_queue, max_images, drain_seconds, max_body, header_timeout,
                         grace_seconds)
    # Several sessions share the cores: idle threads must not spin, or each steals the others' CPUs.
    generators = {name: open_generator(path, device, threads=threads, batch_size=max_batch, spinning=False)
                  for name, path in paths.items()}
    app = build_app(generators, config)
    listener = _listen(host, port)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    bound_host, bound_port = listener.getsockname()[:2]
    click.echo(f"genrt serve: listening on http://{bound_host}:{bound_port} ({', '.join(paths)}); "
               f"docs at /docs", err=True)
    try:
        run(app, listener, config)
    finally:
        listener.close()
    click.echo("genrt serve: stopped", err=True)


def _model_paths(model: str | None, named: tuple[str, ...]) -> dict[str, str]:
    """{name: path} from MODEL (named after its file) and each --model NAME=PATH; the bundled model if neither."""
    paths = {}
    for item in named:
        name, sep, path = item.partition("=")
        if not sep or not name or not path or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"--model must be NAME=PATH with NAME of letters, digits, - and _, got {item!r}")
        if name in paths:
            raise InputError(f"--model {name} is given twice; each NAME serves one model")
        paths[name] = path
    if model is not None or not paths:
        path = model if model is not None else default_model()
        name = os.path.splitext(os.path.basename(path))[0]
        if name in paths:
            raise InputError(f"MODEL {path} and --model {name}=... would share the name {name!r}; name one differently")
        paths = {name: path, **paths}
    return paths


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket bound before the server starts, so the port (also a free one, for --port 0) is known."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(info[0], socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets TCP_NODELAY
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(info[4])
        listener.listen(2048)
    except OSError as exc:
        raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or "
                          "--port") from None
    return listener
