"""Shared by the bench scripts: median cost per call, in microseconds."""

import statistics
import timeit


def per_call(fn, number: int, repeat: int) -> float:
    """Median over ``repeat`` rounds of ``number`` calls (the machines are noisy)."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6
