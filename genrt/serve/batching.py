"""Dynamic batching: concurrent requests share session runs, off the event loop.

    request (n images) --submit--> parts of at most max_batch images --queue--> worker thread
    worker: take the oldest part and the queued parts that fit in max_batch; while requests are
            on their way (announced, not yet submitted), wait for them up to max_delay;
            run their latents (and labels) through Generator.decode as one batch,
            hand each part its rows --call_soon_threadsafe--> the request's asyncio future

A lone request (none other queued or on its way) runs at once: batching costs
it no waiting. genrt's images do not depend on how rows are grouped into runs (the same seed gives
the same bytes at any batch size), so batching never changes a request's images.
The queue is bounded in images: `submit` raises QueueFull at once instead of letting
memory grow. A request whose client went away is cancelled, and its queued parts are
skipped. One Batcher (and one worker thread) serves one model.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from dataclasses import dataclass

import numpy as np

from genrt.errors import GenrtError


class QueueFull(GenrtError):
    """The queue holds as many images as it may: try again shortly (HTTP 503)."""


class Closed(GenrtError):
    """The server is shutting down and takes no new work (HTTP 503)."""


@dataclass
class _Part:
    request: _Request
    offset: int  # of its first row within the request
    z: np.ndarray
    labels: np.ndarray | None


class _Request:
    """The rows of one request, filled part by part on the event loop; its future resolves to N x H x W x C uint8."""

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int, parts: int):
        self.loop, self.n, self.remaining = loop, n, parts
        self.future = loop.create_future()
        self.images = None

    @property
    def cancelled(self) -> bool:
        return self.future.done()  # cancelled, or failed by an earlier part: its other parts need not run

    def deliver(self, offset: int, rows) -> None:
        """Runs on the event loop: store a part's rows, or fail the request with an exception."""
        if self.future.done():
            return
        if isinstance(rows, BaseException):
            self.future.set_exception(rows)
            return
        if self.images is None:
            self.images = np.empty((self.n, *rows.shape[1:]), dtype=rows.dtype)
        self.images[offset : offset + len(rows)] = rows
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(self.images)


class Batcher:
    """Runs the parts of concurrent requests for one Generator in batches of up to `max_batch` images."""

    def __init__(self, generator, max_batch: int = 64, max_delay: float = 0.002, max_queue: int = 1024,
                 on_batch=None, name: str = "model"):
        """`on_batch(images, seconds)` is called from the worker thread after each run (for metrics)."""
        self.generator, self.max_batch, self.max_delay, self.max_queue = generator, max_batch, max_delay, max_queue
        self.on_batch = on_batch
        self._parts: collections.deque[_Part] = collections.deque()
        self._queued = 0  # images in self._parts
        self.dropped_images = 0  # queued for requests that were cancelled (clients gone) and never run
        self._arriving = 0  # requests announced (being parsed) and not yet submitted
        self._closed = False
        self._wake = threading.Condition()
        self._worker = threading.Thread(target=self._work, name=f"genrt-batcher-{name}", daemon=True)
        self._worker.start()

    @property
    def queued_images(self) -> int:
        return self._queued

    @contextlib.contextmanager
    def arriving(self):
        """Announce a request while it is parsed, so that a run about to start waits for it (up to max_delay)."""
        with self._wake:
            self._arriving += 1
        try:
            yield
        finally:
            with self._wake:
                self._arriving -= 1
                self._wake.notify()

    def submit(self, z: np.ndarray, labels: np.ndarray | None) -> asyncio.Future:
        """Queue a request's latents (and labels); call from the event loop. Its future gives uint8 N x H x W x C.

        Cancel the future to drop whatever of it has not run yet.
        """
        n = len(z)
        starts = range(0, n, self.max_batch)
        request = _Request(asyncio.get_running_loop(), n, len(starts))
        with self._wake:
            if self._closed:
                raise Closed("the server is shutting down; send the request to another replica")
            if self._queued + n > self.max_queue:
                raise QueueFull(f"the queue holds {self._queued} of at most {self.max_queue} images; retry shortly")
            for start in starts:
                stop = start + self.max_batch
                self._parts.append(_Part(request, start, z[start:stop], None if labels is None else labels[start:stop]))
            self._queued += n
            self._wake.notify()
        return request.future

    def close(self, timeout: float | None = None) -> None:
        """Take no new work; the worker finishes what is queued and stops (waited for up to `timeout` seconds)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._worker.join(timeout)

    # ------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            began = time.perf_counter()
            z = np.concatenate([p.z for p in batch]) if len(batch) > 1 else batch[0].z
            labels = None
            if batch[0].labels is not None:
                labels = np.concatenate([p.labels for p in batch]) if len(batch) > 1 else batch[0].labels
            try:
                images = self.generator.decode(z, labels, batch_size=len(z))
            except Exception as exc:  # GenrtError from the run; anything else is the server's fault, reported as such
                for part in batch:
                    part.request.loop.call_soon_threadsafe(part.request.deliver, part.offset, exc)
                continue
            start = 0
            for part in batch:
                rows = images[start : start + len(part.z)]
                start += len(part.z)
                part.request.loop.call_soon_threadsafe(part.request.deliver, part.offset, rows)
            if self.on_batch is not None:
                self.on_batch(len(z), time.perf_counter() - began)

    def _next_batch(self) -> list[_Part] | None:
        """The oldest live part plus the parts that follow it and fit in max_batch, waiting up to max_delay for
        requests on their way once the queue is empty; None when closed and drained."""
        with self._wake:
            first = None
            while first is None:
                first = self._pop_live()
                if first is None:
                    if self._closed:
                        return None
                    self._wake.wait()
            batch, size = [first], len(first.z)
            deadline = time.monotonic() + self.max_delay
            while size < self.max_batch:
                if self._parts:
                    if self._parts[0].request.cancelled:
                        self._pop_live()
                        continue
                    if size + len(self._parts[0].z) > self.max_batch:
                        break
                    part = self._pop_live()
                    batch.append(part)
                    size += len(part.z)
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed or not self._arriving:
                    break
                self._wake.wait(left)
            return batch

    def _pop_live(self) -> _Part | None:
        """The oldest queued part whose request still wants it (cancelled ones are dropped), or None."""
        while self._parts:
            part = self._parts.popleft()
            self._queued -= len(part.z)
            if not part.request.cancelled:
                return part
            self.dropped_images += len(part.z)
        return None
