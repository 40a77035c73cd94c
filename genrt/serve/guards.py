"""What stands between clients and the models: genrt's JSON error answers, the body cap, the request log.

Every answer that is not a success is JSON, {"error": "one line"}, whatever refused
the request: a parameter (400), an unknown route or method (404, 405, through
Starlette's HTTPException), a body past `max_body` bytes (413, sent before the body
is read when its Content-Length says so), a full queue or a stopping server (503
with Retry-After) or a failure of the server's own (500, logged).
"""

from __future__ import annotations

import json
import logging
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from genrt.errors import GenrtError, InputError
from genrt.serve.batching import Closed, QueueFull
from genrt.serve.metrics import Metrics

log = logging.getLogger("genrt.serve")


class NotFound(GenrtError):
    """An unknown model name, or a single-model path while several are served (HTTP 404)."""


class BodyTooLarge(InputError):
    """A request body past the server's cap (HTTP 413)."""


def error_response(exc: Exception) -> Response:
    """The JSON error answer for an exception: 400 bad request, 404, 413, 503 busy or stopping, 500 otherwise."""
    message = str(exc).replace("`", "")
    if isinstance(exc, NotFound):
        return JSONResponse({"error": message}, status_code=404)
    if isinstance(exc, (QueueFull, Closed)):
        return JSONResponse({"error": message}, status_code=503, headers={"Retry-After": "1"})
    if isinstance(exc, BodyTooLarge):
        return JSONResponse({"error": message}, status_code=413, headers={"Connection": "close"})
    if isinstance(exc, InputError):
        return JSONResponse({"error": message}, status_code=400)
    if isinstance(exc, GenrtError):
        return JSONResponse({"error": message}, status_code=500)
    log.error("genrt serve: internal error: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"}, status_code=500)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, a method the route does not take) in genrt's JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        message = f"no route {request.url.path!r}; see /docs for the routes"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs for the routes"
    else:
        message = str(getattr(exc, "detail", "")) or "the request was refused"
    headers = dict(getattr(exc, "headers", None) or {})
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


class BodyLimit:
    """ASGI middleware: a body past `max_bytes` is refused with 413, by its Content-Length before any of it is
    read, or (a chunked body) once `max_bytes` of it have arrived; memory per request stays under the cap."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            too_large = BodyTooLarge(self._message(length.decode("latin-1")[:20] + " bytes"))
            return await error_response(too_large)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self._message(f"over {self.max_bytes:,} bytes"))
            return message

        await self.app(scope, counted, send)

    def _message(self, found: str) -> str:
        return (f"the body takes {found}; this server takes at most {self.max_bytes:,} "
                f"(genrt serve --max-body): send less")


class RequestLog:
    """ASGI middleware: one log line per request (method, path, status, images, ms) and the request metrics."""

    def __init__(self, app, metrics: Metrics, known_paths: set):
        self.app, self.metrics, self.known_paths = app, metrics, known_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began, status = time.perf_counter(), [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - began
            path = scope["path"] if scope["path"] in self.known_paths else "other"
            self.metrics.request(path, status[0], seconds)
            images = scope.get("state", {}).get("images", 0)
            log.info("%s %s %d %d images %.1f ms", scope["method"], scope["path"], status[0], images, seconds * 1e3)


def json_error_body(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response with genrt's JSON error, for the protocol layer (no ASGI cycle exists there)."""
    body = json.dumps({"error": message}).encode()
    reasons = {408: "Request Timeout", 431: "Request Header Fields Too Large"}
    return (f"HTTP/1.1 {status} {reasons.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body
