"""The same layers give the same results on SimKernel and on fake_linux() (through os)."""

import pytest

import fsmodel
from fsmodel.layer.policies import POLICIES
from fsmodel.testing import Situation
from fsmodel.testing.backends import fake_linux_factory
from tests.layers import creator_ee, layer, outcome

LAYERS = {
    "creator-ee": creator_ee(),
    "overlay-leak": layer(("etc", "dir", {"xattrs": {"user.overlay.impure": "y"}}),
                          ("etc/os-release", "file", {"data": b"ID=x\n"})),
    "mixed": layer(("d", "dir", {"mode": 0o750, "uid": 7, "gid": 8}),
                   ("d/f", "file", {"data": b"abc", "mode": 0o4755,
                                    "xattrs": {"security.capability": "\x01", "user.a": "b"}}),
                   ("d/p", "fifo", {"xattrs": {"trusted.t": "1"}}),
                   ("d/h", "hardlink", {"target": "d/f"})),
}


@pytest.mark.parametrize("fs", ["ext4", "tmpfs", "xfs", "btrfs"])
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_sim_and_fake_linux_agree(fs, name, policy):
    expected = outcome(fsmodel.SimKernel(fs), LAYERS[name], policy)
    with fake_linux_factory(Situation(fs))() as k:
        got = outcome(k, LAYERS[name], policy)
    assert got == expected
