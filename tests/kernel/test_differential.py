"""SimKernel and the real kernel driven through the same random call sequences.

A Hypothesis state machine (fsmodel.testing.differential) creates files of every
type, changes modes, owners, sticky and immutable bits, switches between root, root
without capabilities, uid 1000, uid 1001 and uids holding one capability, and makes
xattr calls with names from every namespace (invalid, bare, 255/256 bytes), values
around each filesystem's limits, every flag value and buffer size.  Every return
value and errno must match.  At least 300 sequences per filesystem.
"""

import contextlib
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from fsmodel import _mounts
from fsmodel.crosscheck import _sim_like_host, host_kernel_version
from fsmodel.testing import Situation, differential_machine, host_factory, pair_factory
from fsmodel.testing.backends import fresh_host_factory

pytestmark = pytest.mark.privileged

SEQUENCES = int(os.environ.get("FSMODEL_DIFFERENTIAL_SEQUENCES", "300"))
SITUATIONS = [Situation("tmpfs"), Situation("ext4"), Situation("ext4", {"block_size": 1024}),
              Situation("xfs"), Situation("btrfs")]
#: Filesystem-wide state the model follows only within one filesystem: each sequence
#: gets a filesystem of its own (btrfs leaves are shared by all inodes).
FRESH_PER_SEQUENCE = {"btrfs"}


@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: s.label)
def test_model_and_kernel_agree(situation):
    situation = Situation(situation.fs, situation.options, host_kernel_version())
    with contextlib.ExitStack() as stack:
        if situation.fs in FRESH_PER_SEQUENCE:
            host = fresh_host_factory(situation)
        else:
            host = host_factory(stack.enter_context(
                _mounts.scratch_mount(situation.fs, **situation.options)))
        machine = differential_machine(pair_factory(_sim_like_host(situation), host),
                                       situation.label)
        run_state_machine_as_test(machine, settings=settings(
            max_examples=SEQUENCES, stateful_step_count=40, deadline=None,
            suppress_health_check=list(HealthCheck)))
