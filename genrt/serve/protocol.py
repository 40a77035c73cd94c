"""uvicorn's HTTP protocol (httptools) with a header deadline and a lingering close.

uvicorn times out idle keep-alive connections but has no limit on how long a
request's headers may take to arrive, so a client sending one byte a second keeps
a connection (and its memory) forever. This protocol gives every request
`header_timeout` seconds from its connection or its first byte to the end of its
headers, and at most MAX_HEADER_BYTES of them; past either it answers 408 or 431
with genrt's JSON error and closes the connection. Requests whose headers are in
are untouched: their bodies and answers take as long as they take. The rule sits
in httptools' parser callbacks (message begin, headers complete), which are
uvicorn's protocol interface, so the application and Starlette stay as they are.

A connection closed while its client is still sending (a body refused with 413
before it was read, headers cut off) lingers, as nginx's lingering_close does: the
server sends its answer and FIN, then reads and drops what still arrives until the
client closes its side or LINGER_SECONDS pass. Closing at once would leave unread
bytes, so the kernel would answer them with a reset, and the client's kernel drops
the answer the client had not read yet: it would see a broken connection, not 413.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from genrt.serve.guards import json_error_body

MAX_HEADER_BYTES = 64 * 1024  # of one request's line and headers
LINGER_SECONDS = 2.0  # the longest a closing connection reads and drops what its client still sends


class LingeringTransport:
    """A connection's transport whose close() lingers while `still_sending()` says the client may be sending:
    FIN after the pending writes, input dropped, the real close at the client's FIN or after LINGER_SECONDS.
    Everything else is the transport's own."""

    def __init__(self, transport, loop, still_sending):
        self._transport, self._loop, self._still_sending = transport, loop, still_sending
        self.lingering, self._timer = False, None

    def __getattr__(self, name: str):
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not (self._still_sending() and self._transport.can_write_eof()):
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()
        self._transport.resume_reading()  # uvicorn may have paused it for a body nobody reads
        self._timer = self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def stop_lingering(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose requests must deliver their headers within `header_timeout` seconds."""

    header_timeout = 10.0  # set per server by `with_header_timeout`

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._header_bytes, self._deadline = 0, None
        super().connection_made(LingeringTransport(transport, self.loop, self._client_may_be_sending))
        self._start_deadline()

    def _client_may_be_sending(self) -> bool:
        """Whether the current request's headers or body are still arriving."""
        return self._deadline is not None or (self.cycle is not None and self.cycle.more_body)

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            return  # the rest of a request that was already answered
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
        self.transport.stop_lingering()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        if self.transport.is_closing():
            self._deadline = None
        else:
            self._refuse(408, f"the request's headers did not arrive within {self.header_timeout:g} s; "
                              "send them at once")

    def _refuse(self, status: int, message: str) -> None:
        self.transport.write(json_error_body(status, message))
        self.transport.close()  # before the deadline is stopped: the client is still sending headers, so it lingers
        self._stop_deadline()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for a server whose requests get `seconds` to deliver their headers."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": float(seconds)})


__all__ = ["LINGER_SECONDS", "MAX_HEADER_BYTES", "HeaderDeadlineProtocol", "LingeringTransport", "with_header_timeout"]
