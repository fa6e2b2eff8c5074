"""fake_linux() (through Python's os) and SimKernel driven through the same random call
sequences: every result and errno must match."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from fsmodel.testing import Situation, differential_machine, pair_factory, sim_factory
from fsmodel.testing.backends import fake_linux_factory

SITUATIONS = [Situation("tmpfs"), Situation("ext4"), Situation("ext4", {"block_size": 1024}),
              Situation("xfs"), Situation("btrfs"), Situation("tmpfs", {"nr_inodes": 64}),
              Situation("tmpfs", kernel="6.5")]


@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: f"{s.label}@{s.kernel}")
def test_fake_linux_and_model_agree(situation):
    machine = differential_machine(
        pair_factory(sim_factory(situation), fake_linux_factory(situation)), situation.label)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=60, stateful_step_count=40, deadline=None,
        suppress_health_check=list(HealthCheck)))
