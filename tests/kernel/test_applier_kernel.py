"""The same layers on a real filesystem and on SimKernel give identical results."""

import contextlib

import pytest

import fsmodel
from fsmodel.layer.policies import POLICIES
from fsmodel.testing import Situation, scratch_host_factory
from tests.unit.test_applier_backends import LAYERS
from tests.layers import outcome

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def hosts():
    stack = contextlib.ExitStack()
    made = {}

    def get(fs):
        if fs not in made:
            made[fs] = stack.enter_context(scratch_host_factory(Situation(fs)))
        return made[fs]

    with stack:
        yield get


@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_real_filesystem_and_model_agree(hosts, fs, name, policy):
    expected = outcome(fsmodel.SimKernel(fs), LAYERS[name], policy)
    with hosts(fs)() as k:
        got = outcome(k, LAYERS[name], policy)
    assert got == expected
