"""The rule table of tests/rule_table.py on the real kernel: every expected errno of
every rule and precedence pair, proven on scratch filesystems of each row's type."""

import contextlib
import errno

import pytest

from fsmodel.crosscheck import host_kernel_version
from fsmodel.explain import Scenario
from fsmodel.testing import Situation, scratch_host_factory
from tests.rule_table import ROWS

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def factories():
    stack = contextlib.ExitStack()
    made = {}

    def get(fs, options):
        key = (fs, tuple(sorted(options.items())))
        if key not in made:
            made[key] = stack.enter_context(scratch_host_factory(Situation(fs, options)))
        return made[key]

    with stack:
        yield get


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_rule_on_kernel(factories, row):
    _, fields, expected_errno, _ = row
    scenario = Scenario(**fields)
    if scenario.kernel != host_kernel_version():
        pytest.skip(f"row is about kernel {scenario.kernel}; this machine runs "
                    f"{host_kernel_version()}")
    with factories(scenario.fs, scenario.fs_options)() as k:
        try:
            scenario.run(k, mount=False)
            got = None
        except OSError as exc:
            got = errno.errorcode[exc.errno].replace("ENOTSUP", "EOPNOTSUPP")
    assert got == expected_errno
