"""The conformance suite (fsmodel.testing) on SimKernel, for every situation."""

import pytest

from fsmodel.testing import checks_for, sim_factory
from tests.situations import SIM_SITUATIONS, ident

CASES = [pytest.param(s, c, id=f"{ident(s)}-{c.name}") for s in SIM_SITUATIONS for c in checks_for(s)]


@pytest.mark.parametrize("situation, check", CASES)
def test_conformance(situation, check):
    with sim_factory(situation)() as k:
        check(k, situation)


def test_every_check_runs_somewhere():
    used = {c.name for s in SIM_SITUATIONS for c in checks_for(s)}
    from fsmodel.testing import CHECKS

    assert {c.name for c in CHECKS} == used
