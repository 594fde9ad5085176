"""Timing for `dpc bench`: median time per call of several functions, measured in turns so
that a shared machine's changing load falls on all of them alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable

SAMPLE_SECONDS = 1e-3  # a sample is a batch of calls at least this long: above clock noise
MIN_SAMPLES = 5


def median_times(fns: dict[str, Callable[[], object]], seconds: float) -> dict[str, tuple]:
    """name -> (median seconds per call, samples): one sample of each function in turn,
    again and again, until `seconds` have passed and each has MIN_SAMPLES."""
    batches = {name: batch_size(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(map(len, samples.values())) < MIN_SAMPLES:
        for name, fn in fns.items():
            samples[name].append(time_batch(fn, batches[name]))
    return {name: (statistics.median(s), len(s)) for name, s in samples.items()}


def batch_size(fn: Callable[[], object]) -> int:
    """How many calls of fn (already called once, so compiled and warm) make a sample."""
    fn()
    once = time_batch(fn, 1)
    return max(1, min(100_000, int(SAMPLE_SECONDS / max(once, 1e-9))))


def time_batch(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call over `calls` calls."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls / 1e9


def format_seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"
