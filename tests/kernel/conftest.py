"""Fixtures of the real-kernel tests: scratch filesystems made once per module, lazily."""

import contextlib

import pytest

from fsmodel._mounts import scratch_mount
from fsmodel.testing import Situation, scratch_host_factory


def _lazy(make):
    """A module-scoped ``get(fs)`` that enters ``make(fs)`` the first time, and all the
    contexts it entered on the way out (unmounting, detaching loop devices)."""
    stack = contextlib.ExitStack()
    made = {}

    def get(fs):
        if fs not in made:
            made[fs] = stack.enter_context(make(fs))
        return made[fs]

    return stack, get


@pytest.fixture(scope="module")
def hosts():
    """``hosts(fs)``: a factory of HostKernels on one scratch filesystem of type ``fs``."""
    stack, get = _lazy(lambda fs: scratch_host_factory(Situation(fs)))
    with stack:
        yield get


@pytest.fixture(scope="module")
def mounts():
    """``mounts(fs)``: the directory a scratch filesystem of type ``fs`` is mounted on."""
    stack, get = _lazy(scratch_mount)
    with stack:
        yield get
