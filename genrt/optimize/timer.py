"""Timing ONNX candidates against the original graph, and the objective the optimizer's choices minimize.

`Timer` runs every candidate of a step in one process, in shuffled interleaved rounds
with thread spinning off (genrt.timing), medians per batch size, on the target provider
with fixed inputs per batch size; one far slower than the original is dropped early.
`score` is a candidate's time over the original's, as a geometric mean over batch sizes.
"""

from __future__ import annotations

import math
import statistics

from genrt.runtime.session import open_session
from genrt.timing import sample_interleaved, time_interleaved

SAMPLE_SECONDS = 0.01  # each timed sample repeats a call until it lasts about this long
RACE_ROUNDS, RACE_LIMIT = 3, 1.15  # after 3 rounds, a candidate 15% slower than the original is out


class Timer:
    """Times ONNX candidates against the original graph on one provider with fixed inputs per batch size."""

    def __init__(self, original: bytes, feeds: dict[int, dict], providers, threads, rounds: int, progress=None):
        self.feeds, self.providers, self.threads, self.rounds = feeds, providers, threads, rounds
        self.progress = progress or (lambda: None)
        self.original = self._session(original)
        self.numbers = {}
        for batch, feed in feeds.items():  # calls per timed sample, from the original's speed
            single = time_interleaved({"o": lambda f=feed: self.original.run(None, f)}, repeats=3, warmup=1)["o"]
            self.numbers[batch] = max(1, int(SAMPLE_SECONDS / max(single, 1e-6)))

    def skip(self, batches: int | None = None) -> None:
        """Advance the progress by one step not taken, at `batches` batch sizes (default: all)."""
        for _ in range(batches or len(self.feeds)):
            self.progress()

    def _session(self, model: bytes):
        return open_session(model, self.providers, threads=self.threads, spinning=False, name="a candidate graph")

    def time(self, candidates: dict[str, bytes], rounds: int | None = None, race: bool = True,
             batches: tuple[int, ...] | None = None) -> dict[str, dict[int, float]]:
        """{name: {batch: median seconds}} for each candidate, and for "original", at `batches` (default: all).

        Batch sizes go smallest first. With `race`, after `RACE_ROUNDS` rounds a candidate
        more than `RACE_LIMIT` times slower than the original is dropped (its time is
        infinite from then on): it could not be chosen, and large batches are where it
        would cost the most to keep timing it.
        """
        rounds = rounds or self.rounds
        sessions = {"original": self.original, **{k: self._session(m) for k, m in candidates.items()}}
        batches = tuple(sorted(batches or self.feeds))
        times = {name: {b: math.inf for b in batches} for name in sessions}
        for batch in batches:
            feed = self.feeds[batch]
            funcs = {name: (lambda s=s, f=feed: s.run(None, f)) for name, s in sessions.items()}
            first = min(rounds, RACE_ROUNDS)
            samples = sample_interleaved(funcs, first, number=self.numbers[batch], warmup=1)
            base = statistics.median(samples["original"])
            if race:
                funcs = {k: f for k, f in funcs.items() if statistics.median(samples[k]) <= RACE_LIMIT * base}
            if rounds > first:
                for name, more in sample_interleaved(funcs, rounds - first, number=self.numbers[batch],
                                                     warmup=0).items():
                    samples[name] += more
            for name in funcs:
                times[name][batch] = statistics.median(samples[name])
            sessions = {k: s for k, s in sessions.items() if k in funcs}
            self.progress()
        return times


def score(times: dict[int, float], original: dict[int, float]) -> float:
    """The objective: the geometric mean over the batch sizes of time over the original's time."""
    return math.exp(sum(math.log(times[b] / original[b]) for b in original) / len(original))
