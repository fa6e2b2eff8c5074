"""fake_linux() (through Python's os) against the real kernel, same call sequences."""

import contextlib

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from fsmodel import _mounts
from fsmodel.crosscheck import host_kernel_version
from fsmodel.testing import Situation, differential_machine, host_factory, pair_factory
from fsmodel.testing.backends import fake_linux_factory, unpatched_factory

pytestmark = pytest.mark.privileged


@pytest.mark.parametrize("fs", ["tmpfs", "ext4", "xfs"])
def test_fake_linux_and_kernel_agree(fs):
    situation = Situation(fs, {}, host_kernel_version())
    with contextlib.ExitStack() as stack:
        mountpoint = stack.enter_context(_mounts.scratch_mount(fs))
        machine = differential_machine(
            pair_factory(fake_linux_factory(situation),
                         unpatched_factory(host_factory(mountpoint))), fs)
        run_state_machine_as_test(machine, settings=settings(
            max_examples=100, stateful_step_count=40, deadline=None,
            suppress_health_check=list(HealthCheck)))
