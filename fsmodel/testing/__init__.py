"""Behavioural checks for any backend: conformance suite and differential testing.

* :mod:`fsmodel.testing.conformance` — checks stated from the specification
  (kernel-xattr-rules.md) that take a backend factory and run on any backend:
  ``SimKernel``, ``HostKernel`` over a real filesystem, or your own.
* :mod:`fsmodel.testing.differential` — one random call sequence driven through
  two backends at once, every result and errno compared; a Hypothesis state
  machine for property tests and a seeded driver for ``fsmodel crosscheck``.
"""


from .backends import Situation, host_factory, pair_factory, scratch_host_factory, sim_factory
from .conformance import CHECKS, check_backend, checks_for
from .differential import (
    CALLERS,
    DifferentialMachine,
    Mismatch,
    OpSpace,
    differential_machine,
    outcome,
    run_random,
)

__all__ = [
    "CALLERS",
    "CHECKS",
    "Situation",
    "check_backend",
    "checks_for",
    "host_factory",
    "pair_factory",
    "scratch_host_factory",
    "sim_factory",
    "DifferentialMachine",
    "Mismatch",
    "OpSpace",
    "differential_machine",
    "outcome",
    "run_random",
]
