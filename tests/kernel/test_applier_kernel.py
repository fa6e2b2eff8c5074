"""The same layers on a real filesystem and on SimKernel give identical results."""

import os
import pathlib

import pytest

import fsmodel
from fsmodel.layer import iter_layer
from fsmodel.layer.apply import Applier, ExtractionFailed, UnsafeEntry
from fsmodel.layer.dirtarget import DirTarget
from fsmodel.layer.policies import POLICIES, get_policy
from fsmodel.testing.backends import OsCalls
from tests.layers import outcome, snapshot
from tests.unit.test_applier_backends import LAYERS

pytestmark = pytest.mark.privileged



@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_real_filesystem_and_model_agree(hosts, fs, name, policy):
    expected = outcome(fsmodel.SimKernel(fs), LAYERS[name], policy)
    with hosts(fs)() as k:
        got = outcome(k, LAYERS[name], policy)
    assert got == expected


# -- DirTarget (what `fsmodel extract --into` uses) on a real tmpfs / ext4 / xfs / btrfs mount

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "corpus"
CORPUS_LAYERS = {p.stem: p.read_bytes() for p in sorted(CORPUS.glob("*.tar"))
                 if not p.name.startswith("image-")}



def dir_outcome(base, data, policy, n):
    root = os.path.join(base, f"r{n}")
    os.mkdir(root, 0o755)
    try:
        with DirTarget(root) as target:
            report = Applier(target, get_policy(policy), layer="sha256:x").apply(
                iter_layer(data, pax_globals=get_policy(policy).pax_globals))
        result = ("ok", [(w.entry, w.xattr, w.errno, w.message.replace(root, "/r"))
                         for w in report.warnings])
    except ExtractionFailed as exc:
        result = ("fail", (exc.message.replace(root, "/r"), exc.entry, exc.xattr, exc.errno))
    except UnsafeEntry as exc:
        result = ("unsafe", exc.reason)
    return result, snapshot(OsCalls(), root)


_counter = iter(range(10**9))


@pytest.mark.parametrize("fs", ["tmpfs", "ext4", "xfs", "btrfs"])
@pytest.mark.parametrize("name", sorted(CORPUS_LAYERS) + sorted(LAYERS))
@pytest.mark.parametrize("policy", ["containerd", "containerd-legacy", "moby", "umoci",
                                    "containers-storage", "strict"])
def test_dirtarget_on_a_real_mount_agrees_with_the_model(mounts, fs, name, policy):
    data = CORPUS_LAYERS.get(name) or LAYERS[name]
    (result, tree) = dir_outcome(mounts(fs), data, policy, next(_counter))
    (m_result, m_tree) = outcome(fsmodel.SimKernel(fs), data, policy)
    # rule ids exist only in the model; compare what the runtime would see
    assert result[0] == m_result[0]
    if result[0] == "fail":
        assert result[1] == m_result[1]
    elif result[0] == "ok":
        assert [w[:3] for w in result[1]] == [w[:3] for w in m_result[1]]
        assert [w[3] for w in result[1]] == [w[3] for w in m_result[1]]
    assert tree == m_tree
