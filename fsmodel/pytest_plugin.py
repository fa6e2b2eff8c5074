"""pytest plugin: the ``linux_fs`` fixture (fake_linux() for one test).

Configure it per test with the ``linux_fs`` marker, whose keyword arguments
are fake_linux()'s::

    @pytest.mark.linux_fs(fs="xfs", uid=1000)
    def test_something(linux_fs):
        ...

The fixture is function-scoped.  With Hypothesis' ``@given`` open
``fsmodel.fake_linux()`` inside the test body instead, so that every example
gets a fresh filesystem and Hypothesis' example database is written to the
real disk, not into the fake one.
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "linux_fs(fs='ext4', kernel='6.18', uid=0, gid=0, groups=(), caps=None, **fs_options): "
        "configure the linux_fs fixture (fsmodel.fake_linux) for this test",
    )


@pytest.fixture
def linux_fs(request):
    """pyfakefs with Linux's xattr rules (fsmodel.fake_linux); yields its handle."""
    from .fake import fake_linux

    marker = request.node.get_closest_marker("linux_fs")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise pytest.UsageError("@pytest.mark.linux_fs takes keyword arguments only, "
                                "e.g. @pytest.mark.linux_fs(fs='xfs', uid=1000)")
    with fake_linux(**kwargs) as handle:
        yield handle
