"""The benchmark scripts time with genrt's own helper (interleaved rounds, medians): genrt/timing.py."""

from genrt.timing import time_interleaved

__all__ = ["time_interleaved"]
