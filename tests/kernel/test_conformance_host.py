"""The conformance suite on the real kernel: scratch tmpfs, ext4 (4K/256, 1K, 128-byte
inodes, ea_inode), xfs, btrfs and ramfs mounts.  This is what proves the expectations
the model is held to."""

import contextlib

import pytest

from fsmodel.testing import checks_for, scratch_host_factory
from tests.situations import KERNEL_SITUATIONS, ident

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def host_factories():
    stack = contextlib.ExitStack()
    made = {}

    def get(situation):
        key = ident(situation)
        if key not in made:
            made[key] = stack.enter_context(scratch_host_factory(situation))
        return made[key]

    with stack:
        yield get


CASES = [pytest.param(s, c, id=f"{ident(s)}-{c.name}") for s in KERNEL_SITUATIONS
         for c in checks_for(s)]


@pytest.mark.parametrize("situation, check", CASES)
def test_conformance_on_kernel(host_factories, situation, check):
    with host_factories(situation)() as k:
        check(k, situation)
