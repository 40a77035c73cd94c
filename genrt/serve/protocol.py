"""uvicorn's HTTP protocol (httptools) with a header deadline: a slow client cannot hold a connection open.

uvicorn times out idle keep-alive connections but has no limit on how long a
request's headers may take to arrive, so a client sending one byte a second keeps
a connection (and its memory) forever. This protocol gives every request
`header_timeout` seconds from its connection or its first byte to the end of its
headers, and at most MAX_HEADER_BYTES of them; past either it answers 408 or 431
with genrt's JSON error and closes the connection. Requests whose headers are in
are untouched: their bodies and answers take as long as they take. The rule sits
in httptools' parser callbacks (message begin, headers complete), which are
uvicorn's protocol interface, so the application and Starlette stay as they are.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from genrt.serve.guards import json_error_body

MAX_HEADER_BYTES = 64 * 1024  # of one request's line and headers


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose requests must deliver their headers within `header_timeout` seconds."""

    header_timeout = 10.0  # set per server by `with_header_timeout`

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes, self._deadline = 0, None
        self._start_deadline()

    def data_received(self, data: bytes) -> None:
        awaiting = self._deadline is not None
        super().data_received(data)
        if awaiting and self._deadline is not None:  # still awaiting the same request's headers
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._refuse(431, f"the request's headers take over {MAX_HEADER_BYTES:,} bytes; send fewer")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._header_bytes = 0
            self._start_deadline()

    def on_headers_complete(self) -> None:
        self._stop_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408, f"the request's headers did not arrive within {self.header_timeout:g} s; "
                              "send them at once")

    def _refuse(self, status: int, message: str) -> None:
        self._stop_deadline()
        self.transport.write(json_error_body(status, message))
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for a server whose requests get `seconds` to deliver their headers."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": float(seconds)})


__all__ = ["HeaderDeadlineProtocol", "MAX_HEADER_BYTES", "with_header_timeout"]
