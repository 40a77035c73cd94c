"""The ASGI application of `genrt serve` (Starlette): routes, error answers, the request log and metrics.

    GET  /                           the playground page     (playground.py)
    GET  /v1/sample.png              a PNG grid              (/v1/models/NAME/sample.png with several models)
    GET  /v1/interpolate.png         a strip from seed a to b (/v1/models/NAME/interpolate.png)
    POST /v1/generate                png | zip | npy | json  (/v1/models/NAME/generate)
    GET  /v1/info                    the model contract      (/v1/models/NAME/info; /v1/models lists them)
    GET  /v1/stats                   requests, images and latency percentiles per model
    GET  /healthz  /readyz  /metrics /openapi.json  /docs

Answers: 200, or genrt's JSON error (guards.py). Sampling runs in each model's
Batcher thread and encoding in a worker thread, never on the event loop, so the
loop stays free to accept and refuse. A request whose client disconnects is
cancelled and its queued work dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from genrt.errors import InputError
from genrt.limits import MAX_COUNT
from genrt.serve import openapi, playground
from genrt.serve.batching import Batcher
from genrt.serve.guards import BodyLimit, NotFound, RequestLog, error_response, http_exception, internal_error
from genrt.serve.metrics import Metrics
from genrt.serve.requests import FORMATS, encode, from_interpolate_query, from_json, from_query

if TYPE_CHECKING:
    from genrt.runtime import Generator

log = logging.getLogger("genrt.serve")


@dataclass(frozen=True)
class ServeConfig:
    max_batch: int = 64  # images per session run
    max_delay_ms: float = 2.0  # how long a run waits for more requests to join it
    max_queue: int = 1024  # images waiting, per model; past it, 503
    max_images: int = 1024  # per request
    drain_seconds: float = 30.0  # on shutdown: how long queued work may take to finish
    max_body: int = 1 << 20  # bytes of a request body; past it, 413
    header_timeout: float = 10.0  # seconds a request's headers may take to arrive; past it, 408 and closed
    grace_seconds: float = 5.0  # after SIGTERM: not ready, still serving, before the listener closes

    def __post_init__(self) -> None:
        for name in ("max_queue", "max_images"):
            if not 1 <= getattr(self, name) <= MAX_COUNT:
                raise InputError(f"`{name}` must be from 1 to {MAX_COUNT:,} images, got {getattr(self, name)!r}")
        if self.max_queue < self.max_images:
            raise InputError(f"`max_queue` ({self.max_queue}) must hold at least one request of `max_images` "
                             f"({self.max_images}) images; raise it or lower `max_images`")


class Service:
    """The served models, their batchers and metrics; routes and the lifespan close over one Service."""

    def __init__(self, generators: Mapping[str, Generator], config: ServeConfig) -> None:
        self.generators, self.config = generators, config
        self.metrics = Metrics()
        self.batchers: dict[str, Batcher] = {}
        self.ready = False

    def start(self) -> None:
        """Warm every model (first runs allocate; a foreign model's image shape is learned), then start batching."""
        for name, g in self.generators.items():
            g.sample(1, seed=0)
            g.sample(self.config.max_batch, seed=0)
            self.batchers[name] = Batcher(
                g, self.config.max_batch, self.config.max_delay_ms / 1e3, self.config.max_queue, name=name,
                on_batch=lambda images, seconds, name=name: self.metrics.batch(name, images, seconds))
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        for batcher in self.batchers.values():
            batcher.close(self.config.drain_seconds)

    def model(self, request: Request) -> str:
        name = request.path_params.get("name")
        if name is None:
            if len(self.generators) > 1:
                raise NotFound(f"several models are served ({', '.join(self.generators)}); use "
                                f"/v1/models/NAME{request.url.path[len('/v1'):]}")
            return next(iter(self.generators))
        if name not in self.generators:
            raise NotFound(f"no model {name!r}; served: {', '.join(self.generators)}")
        return name


def build_app(generators: Mapping[str, Generator], config: ServeConfig = ServeConfig()) -> Starlette:
    """The application serving `generators` ({name: Generator}); it warms them when it starts."""
    service = Service(generators, config)

    async def sample_png(request: Request) -> Response:
        return await _images(request, lambda g: from_query(request.query_params.multi_items(), g, config.max_images))

    async def interpolate_png(request: Request) -> Response:
        return await _images(request, lambda g: from_interpolate_query(request.query_params.multi_items(), g))

    async def generate(request: Request) -> Response:
        try:
            body = await request.body()  # BodyLimit refuses one past max_body while it arrives
        except Exception as exc:
            return error_response(exc)
        return await _images(request, lambda g: from_json(body, g, config.max_images))

    async def _images(request: Request, parse) -> Response:
        began = time.perf_counter()
        try:
            name = service.model(request)
            g, batcher = generators[name], service.batchers[name]
            with batcher.arriving():
                wanted = parse(g)
                future = batcher.submit(wanted.z, wanted.labels)
            images = await _unless_disconnected(request, future)
            if images is None:
                return Response(status_code=499)  # nobody is listening; the status is for the log
            body = await run_in_threadpool(encode, wanted, images)
        except Exception as exc:
            return error_response(exc)
        request.state.images = wanted.n
        service.metrics.served(name, wanted.n, time.perf_counter() - began)
        return Response(body, media_type=FORMATS[wanted.format],
                        headers={"X-Genrt-Seed": str(wanted.seed), "X-Genrt-Images": str(wanted.n)})

    async def info(request: Request) -> Response:
        try:
            name = service.model(request)
        except Exception as exc:
            return error_response(exc)
        return JSONResponse(contract_json(name, generators[name]))

    async def models(request: Request) -> Response:
        return JSONResponse({"models": [contract_json(name, g) for name, g in generators.items()]})

    async def stats(request: Request) -> Response:
        return JSONResponse({"models": service.metrics.model_stats(list(generators))})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        if not service.ready:
            return JSONResponse({"status": "not ready"}, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse({"status": "ready", "models": list(generators)})

    async def metrics(request: Request) -> Response:
        text = service.metrics.text({n: b.queued_images for n, b in service.batchers.items()},
                                    {n: b.dropped_images for n, b in service.batchers.items()})
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi.spec(config))

    async def docs(request: Request) -> Response:
        return HTMLResponse(openapi.html_page(config))

    routes = [
        *playground.routes(),
        Route("/v1/sample.png", sample_png, methods=["GET"]),
        Route("/v1/interpolate.png", interpolate_png, methods=["GET"]),
        Route("/v1/generate", generate, methods=["POST"]),
        Route("/v1/info", info, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/v1/models/{name}/sample.png", sample_png, methods=["GET"]),
        Route("/v1/models/{name}/interpolate.png", interpolate_png, methods=["GET"]),
        Route("/v1/models/{name}/generate", generate, methods=["POST"]),
        Route("/v1/models/{name}/info", info, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await run_in_threadpool(service.start)
        log.info("genrt serve: ready: %s", ", ".join(f"{n} ({g.providers[0]})" for n, g in generators.items()))
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    known = {r.path for r in routes if "{" not in r.path}
    known |= {r.path.replace("{name}", name) for r in routes if "{" in r.path for name in generators}
    handlers = {HTTPException: http_exception, Exception: internal_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(BodyLimit, max_bytes=config.max_body)
    app.add_middleware(RequestLog, metrics=service.metrics, known_paths=known)
    app.state.service = service
    return app


def contract_json(name: str, g) -> dict:
    c = g.contract
    return {"name": name, "kind": c.kind, "latent_dim": c.latent_dim, "conditional": c.conditional,
            "num_classes": c.num_classes, "class_names": list(c.class_names),
            "image_shape": list(g.image_shape or ()), "output_range": list(c.output_range),
            "providers": list(g.providers), "path": g.path, "digest": "checked" if g.digest_checked else "none",
            "assumptions": list(c.assumptions)}


async def _unless_disconnected(request: Request, future: asyncio.Future):
    """The future's result, or None (and the future cancelled, dropping its queued work) if the client leaves first."""
    async def disconnected():
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({future, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not future.done():
        future.cancel()
        return None
    return future.result()
