"""The outcome matrix (fsmodel.matrix) on the real kernel: every cell the model computes
for a filesystem is what this machine's kernel does, call for call, on a scratch mount."""

import contextlib

import pytest

from fsmodel._mounts import available_filesystems
from fsmodel.crosscheck import host_kernel_version
from fsmodel.matrix import FILESYSTEMS, compute_matrix, differences
from fsmodel.testing import Situation, scratch_host_factory

pytestmark = pytest.mark.privileged


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_matrix_on_kernel(fs):
    kernel = host_kernel_version()
    if fs not in available_filesystems():
        pytest.skip(f"cannot make a scratch {fs} here (no kernel support, mkfs or loop devices)")

    @contextlib.contextmanager
    def host(name):
        with scratch_host_factory(Situation(name)) as factory, factory() as k:
            yield k

    model = compute_matrix(fs, kernel)
    observed = compute_matrix(fs, kernel, kernel_factory=host)
    assert len(observed.cells) == len(model.cells)
    problems = differences(model, observed)
    assert not problems, f"{len(problems)} cell(s) differ on {fs}:\n" + "\n".join(problems[:40])
