"""Backend factories for the conformance suite and the differential tests.

A *factory* is a callable returning a context manager that yields a fresh
backend (root caller, umask 0) whose root directory is empty and is a mount
point of its own (so checks can make it read-only).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field

from .._rules.kernel import DEFAULT_KERNEL, features


@dataclass(frozen=True)
class Situation:
    """What a check needs to know about the backend it runs on."""

    fs: str
    options: dict = field(default_factory=dict)
    kernel: str = DEFAULT_KERNEL

    @property
    def feats(self):
        return features(self.kernel)

    def option(self, key, default=None):
        return self.options.get(key, default)

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.fs}[{opts}]" if opts else self.fs


def sim_factory(situation: Situation):
    """Fresh :class:`SimKernel` instances of the situation's filesystem and kernel."""
    from .._sim.kernel import SimKernel

    @contextlib.contextmanager
    def make():
        yield SimKernel(situation.fs, situation.kernel, **situation.options)

    return make


def host_factory(mountpoint: str):
    """Fresh :class:`HostKernel` instances, each rooted in a new bind-mounted directory
    of the filesystem mounted on ``mountpoint`` (needs root)."""
    from .. import _mounts
    from ..host import HostKernel

    counter = itertools.count()

    @contextlib.contextmanager
    def make():
        while True:
            d = os.path.join(mountpoint, f"fsmodel-{os.getpid()}-{next(counter)}")
            if not os.path.exists(d):
                break
        os.mkdir(d)
        os.chmod(d, 0o755)
        with _mounts.bind_mount(d):
            host = HostKernel(d)
            try:
                yield host
            finally:
                try:
                    host.remount("/", False)
                finally:
                    host.close()

    return make


@contextlib.contextmanager
def scratch_host_factory(situation: Situation):
    """A scratch filesystem for the situation, and a host factory on it (needs root)."""
    from .. import _mounts

    with _mounts.scratch_mount(situation.fs, **situation.options) as mountpoint:
        yield host_factory(mountpoint)


def pair_factory(sim_make, host_make):
    """Fresh :class:`~fsmodel.testing.differential.Pair` of a simulated and a real backend."""
    from .differential import Pair

    @contextlib.contextmanager
    def make():
        with sim_make() as sim, host_make() as host:
            yield Pair(sim, host)

    return make


def fresh_host_factory(situation: Situation):
    """Fresh :class:`HostKernel` instances, each on a filesystem of its own (needs root).

    For configurations whose state is filesystem-wide (tmpfs' ``nr_inodes`` pool),
    where sequences sharing one filesystem would see each other's charges.
    """
    from .. import _mounts

    @contextlib.contextmanager
    def make():
        with _mounts.scratch_mount(situation.fs, **situation.options) as mountpoint:
            with host_factory(mountpoint)() as host:
                yield host

    return make
