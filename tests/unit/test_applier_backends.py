"""The same layers give the same results on SimKernel and on fake_linux() (through os)."""

import pathlib

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


CORPUS = pathlib.Path(__file__).resolve().parents[2] / "corpus"


@pytest.mark.parametrize("fs", ["ext4", "tmpfs", "xfs"])
@pytest.mark.parametrize("name", ["creator-ee", "overlay-leak", "capabilities", "hardlinks",
                                  "devices", "whiteouts-base"])
@pytest.mark.parametrize("policy", ["containerd-legacy", "containerd", "moby-legacy", "moby"])
def test_corpus_layers_agree_on_sim_and_fake_linux(fs, name, policy):
    data = (CORPUS / f"{name}.tar").read_bytes()
    expected = outcome(fsmodel.SimKernel(fs), data, policy)
    with fake_linux_factory(Situation(fs))() as k:
        got = outcome(k, data, policy)
    assert got == expected

