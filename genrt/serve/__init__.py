"""`genrt serve`: an HTTP service for generator ONNX files, with dynamic batching (pip install 'genrt[serve]').

    app.py        the Starlette application: routes, errors, request log, metrics, lifespan
    batching.py   Batcher: concurrent requests joined into session runs in a worker thread
    requests.py   request parameters checked against the model; responses encoded
    metrics.py    Prometheus counters and histograms
    openapi.py    /openapi.json and /docs

Runs on onnxruntime, numpy, Starlette and uvicorn; never imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from genrt.errors import DependencyError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from genrt.runtime import Generator
    from genrt.serve.app import ServeConfig


def build_app(generators: Mapping[str, Generator], config: ServeConfig | None = None) -> Starlette:
    """The ASGI app serving `generators` ({name: genrt.runtime.Generator}); see genrt.serve.app."""
    try:
        from genrt.serve.app import ServeConfig, build_app as build
    except ImportError as exc:
        raise DependencyError(f"genrt serve needs Starlette and uvicorn ({exc}); pip install 'genrt[serve]'") from None
    return build(generators, config or ServeConfig())


__all__ = ["build_app"]
