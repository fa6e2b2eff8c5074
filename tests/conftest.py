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


# Hypothesis profiles: "default" for development; "ci" is Hypothesis' own (loaded
# automatically when CI is set: derandomized, no database); "long" for nightly runs with
# a shared directory database (HYPOTHESIS_DATABASE, default .hypothesis/examples).
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

settings.register_profile(
    "long",
    max_examples=5000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=DirectoryBasedExampleDatabase(
        os.environ.get("HYPOTHESIS_DATABASE", ".hypothesis/examples")),
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
