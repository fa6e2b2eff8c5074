"""Shared test configuration.

Tests marked ``privileged`` need root with CAP_SYS_ADMIN (they mount scratch
filesystems and run the real kernel).  Without it they skip with a reason;
with ``FSMODEL_REQUIRE_PRIVILEGED=1`` (set by ``.ci/run``) a missing privilege
is an error instead, so CI can never pass by skipping the kernel tests.
"""

import os

import pytest

from fsmodel._privilege import privilege_problem


def pytest_collection_modifyitems(config, items):
    problem = privilege_problem()
    if problem is None:
        return
    if os.environ.get("FSMODEL_REQUIRE_PRIVILEGED") == "1":
        raise pytest.UsageError(
            f"FSMODEL_REQUIRE_PRIVILEGED=1 but the privileged tests cannot run: {problem}"
        )
    skip = pytest.mark.skip(reason=f"privileged test: {problem}")
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(skip)


# Hypothesis profiles (docs/property-testing.md), chosen with HYPOTHESIS_PROFILE:
#
# * "default": Hypothesis' defaults (100 examples unless a test says otherwise), the
#   local database .hypothesis/examples.
# * "ci": what CI runs.  Hypothesis loads its own "ci" profile whenever CI is set
#   (derandomized, no database, no deadline, failures printed with a reproduce blob);
#   it is re-registered here unchanged but for too_slow, so HYPOTHESIS_PROFILE=ci
#   reproduces a CI run anywhere.
# * "long": nightly or by hand: max_examples 5000 (tests written with scaled(n) run
#   50 times their usual count), no deadline, 100-step state machines, and the shared
#   example database.
#
# The shared database: HYPOTHESIS_SHARED_DATABASE names a directory everybody can
# reach (default: none).  "long" writes its failures and covering examples there and to
# the local database; "default" then also *reads* it (never writes), so a failure found
# overnight replays in anyone's next plain `pytest`.
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.database import (  # noqa: E402
    DirectoryBasedExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

_LOCAL_DB = os.environ.get("HYPOTHESIS_DATABASE", ".hypothesis/examples")
_SHARED_DB = os.environ.get("HYPOTHESIS_SHARED_DATABASE")

settings.register_profile(
    "ci", settings.get_profile("ci"),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=5000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=MultiplexedDatabase(
        DirectoryBasedExampleDatabase(_LOCAL_DB),
        *([DirectoryBasedExampleDatabase(_SHARED_DB)] if _SHARED_DB else [])),
)
if _SHARED_DB:
    settings.register_profile(
        "default", settings.get_profile("default"),
        database=MultiplexedDatabase(DirectoryBasedExampleDatabase(_LOCAL_DB),
                                     ReadOnlyDatabase(DirectoryBasedExampleDatabase(_SHARED_DB))),
    )
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def scaled(n: int) -> int:
    """``n`` examples under the default profile, proportionally more under "long".

    An explicit ``@settings(max_examples=n)`` overrides every profile; tests that take
    ``max_examples=scaled(n)`` keep their CI cost and still grow for long runs."""
    return max(1, n * settings.default.max_examples // 100)
