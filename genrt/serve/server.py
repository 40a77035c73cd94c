"""Running the application: uvicorn with a header deadline, and a shutdown that load balancers can follow.

On SIGTERM the server first turns /readyz to 503 and keeps serving (accepting too)
for `grace_seconds`, so that a balancer polling readiness moves traffic away and
every connection that reached the listen backlog before the signal is accepted and
answered; then it closes the listener, lets the requests in flight finish (up to
`drain_seconds`) and exits. Ctrl-C (SIGINT) skips the grace period; a second one
forces the exit. uvicorn stays (Hypercorn's and Granian's read timeouts were the
alternatives) because the header deadline is a small subclass of its protocol
(protocol.py), and everything else it does for genrt (pre-bound sockets for
--port 0, httptools and uvloop, the drain of requests in flight) stays as it was.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading

import uvicorn

from genrt.serve.protocol import with_header_timeout

log = logging.getLogger("genrt.serve")


class GracefulServer(uvicorn.Server):
    """uvicorn.Server whose SIGTERM starts a grace period (not ready, still serving) before the shutdown."""

    def __init__(self, config: uvicorn.Config, service, grace_seconds: float):
        super().__init__(config)
        self.service, self.grace_seconds = service, grace_seconds
        self._grace: threading.Timer | None = None

    def handle_exit(self, sig: int, frame) -> None:
        if sig == signal.SIGTERM and self._grace is None and self.grace_seconds > 0 and not self.should_exit:
            self.service.ready = False
            log.info("genrt serve: SIGTERM: /readyz answers 503; serving %g s more, then stopping",
                     self.grace_seconds)
            self._grace = threading.Timer(self.grace_seconds, super().handle_exit, args=(sig, frame))
            self._grace.daemon = True
            self._grace.start()
            return
        if self._grace is not None:
            self._grace.cancel()
        super().handle_exit(sig, frame)


def run(app, listener: socket.socket, config) -> None:
    """Serve `app` (from build_app) on the bound `listener` until SIGTERM or Ctrl-C, by `config`'s limits."""
    uvicorn_config = uvicorn.Config(app, lifespan="on", access_log=False, log_config=None,
                                    http=with_header_timeout(config.header_timeout),
                                    timeout_graceful_shutdown=config.drain_seconds)
    server = GracefulServer(uvicorn_config, app.state.service, config.grace_seconds)
    # uvicorn re-raises the signal that stopped it once it has shut down; a SIGTERM that stopped it
    # gracefully is a normal end (exit 0), so the handler it restores ignores it.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run(sockets=[listener])
