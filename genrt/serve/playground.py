"""The playground at / of `genrt serve`: a page to look at the served models, shipped as package data.

    playground/index.html      the controls (#model #seed #count #label #truncation), the grid #grid,
                               the interpolation (#interp-a #interp-b #frame) and the model facts
    playground/playground.js   plain JavaScript: every control becomes a query of this server's API
    playground/playground.css

No CDN and no build step: the three files are read from the installed package once
and answered with a Content-Security-Policy that allows this origin only, so the
page works on a machine without a network and never sends a request elsewhere.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
         "/playground.css": ("playground.css", "text/css; charset=utf-8")}
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                      "form-action 'self'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def routes() -> list[Route]:
    """A GET route for each of the page's files."""
    folder = resources.files("genrt.serve") / "playground"
    out = []
    for path, (name, media_type) in FILES.items():
        content = (folder / name).read_bytes()

        async def answer(request: Request, content=content, media_type=media_type) -> Response:
            return Response(content, media_type=media_type, headers=HEADERS)

        out.append(Route(path, answer, methods=["GET"]))
    return out
