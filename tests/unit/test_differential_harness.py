"""The differential harness itself: it must see a divergence when there is one."""

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
import pytest

import fsmodel
from fsmodel._rules import xattr as X
from fsmodel.testing import differential_machine
from fsmodel.testing.differential import Pair, run_random


class LenientSimKernel(fsmodel.SimKernel):
    """A model with the pre-2022 fake-filesystem bug: user.* accepted on any file type."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lenient = {}
        for op, stages in self._pipes.items():
            lenient[op] = tuple(_no_type_rule(s) for s in stages)
        self._pipes = lenient


def _no_type_rule(stage):
    if stage is X.write_permission:
        def permissive(c):
            rule = X.write_permission(c)
            return None if rule is X.USER_TYPE_WRITE else rule
        permissive.check, permissive.passes_for = stage.check, stage.passes_for
        return permissive
    return stage


def pair_of(a, b):
    @contextlib.contextmanager
    def make():
        yield Pair(a(), b(), names=("model", "other"))
    return make


def test_seeded_driver_finds_the_divergence():
    calls, found = run_random(pair_of(lambda: fsmodel.SimKernel("ext4"),
                                      lambda: LenientSimKernel("ext4")),
                              "ext4", sequences=40, length=60, seed=1)
    assert found, "the harness missed a model that accepts user.* on special files"
    step = found[0].steps[found[0].index]
    assert step.method.endswith(("setxattr", "removexattr"))
    assert found[0].results[0] == ("err", "EPERM")


def test_identical_models_agree():
    calls, found = run_random(pair_of(lambda: fsmodel.SimKernel("btrfs"),
                                      lambda: fsmodel.SimKernel("btrfs")),
                              "btrfs", sequences=20, length=60, seed=2)
    assert calls > 1000 and not found


def test_hypothesis_machine_finds_and_shrinks_the_divergence():
    machine = differential_machine(pair_of(lambda: fsmodel.SimKernel("tmpfs"),
                                           lambda: LenientSimKernel("tmpfs")), "tmpfs")
    with pytest.raises(AssertionError) as exc:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=100, stateful_step_count=40, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
    assert "EPERM" in str(exc.value)
