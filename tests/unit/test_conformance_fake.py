"""The conformance suite on fake_linux(), every call made through Python's os."""

import pytest

from fsmodel.testing import checks_for
from fsmodel.testing.backends import fake_linux_factory
from tests.situations import SIM_SITUATIONS, ident

CASES = [pytest.param(s, c, id=f"{ident(s)}-{c.name}") for s in SIM_SITUATIONS for c in checks_for(s)]


@pytest.mark.parametrize("situation, check", CASES)
def test_conformance_through_os(situation, check):
    with fake_linux_factory(situation)() as k:
        check(k, situation)
