"""Hosts, and the engine behind `fsmodel check` (the CLI is in test_cli_layers.py)."""

import io
import tarfile

import pytest

from fsmodel.layer.check import check, load_layers, run_cell
from fsmodel.layer.hosts import DEFAULT_HOSTS, ROOTFS, get_host
from fsmodel.layer.image import open_image
from fsmodel.layer.policies import POLICIES, get_policy
from tests.layers import creator_ee


@pytest.mark.parametrize("name, privilege, fs, kernel", [
    ("root-ext4", "root", "ext4", "6.18"),
    ("rootless-tmpfs", "rootless", "tmpfs", "6.18"),
    ("root-tmpfs-6.5", "root", "tmpfs", "6.5"),
    ("root-noxattr", "root", "noxattr", "6.18"),
    ("rootless-btrfs-5.15", "rootless", "btrfs", "5.15"),
])
def test_host_names(name, privilege, fs, kernel):
    host = get_host(name)
    assert (host.name, host.privilege, host.fs, host.kernel) == (name, privilege, fs, kernel)


@pytest.mark.parametrize("name", ["root", "root-zfs", "admin-ext4", "root-ext4-x", "rootext4",
                                  "root-ext4-2.6", ""])
def test_bad_host_names(name):
    with pytest.raises(ValueError, match="host"):
        get_host(name)


def test_default_hosts_are_the_named_eight():
    assert DEFAULT_HOSTS == ("root-ext4", "root-xfs", "root-btrfs", "root-tmpfs",
                             "root-tmpfs-6.5", "root-noxattr", "rootless-ext4",
                             "rootless-tmpfs")


def test_rootless_host_owns_its_rootfs_through_the_namespace():
    with get_host("rootless-ext4").boot() as k:
        assert k.caller.userns and k.lstat(ROOTFS).st_uid == 0       # the namespace's view
        assert k.lstat("/").st_uid == 65534                         # host root's, unmapped
        with k.become(0):
            assert k.lstat(ROOTFS).st_uid == 100000


def _layer(path_global: bool):
    buf = io.BytesIO()
    globals_ = {"SCHILY.xattr.user.g": "1"} if path_global else None
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers=globals_) as tar:   # a 'g' header first
        for name in ("a", "b"):
            tar.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
    return buf.getvalue()


def test_pax_global_records_are_read_as_each_tool_reads_them(tmp_path):
    """Go runtimes ignore PAX global headers; GNU tar and bsdtar apply them."""
    path = tmp_path / "g.tar"
    path.write_bytes(_layer(True))
    with open_image(path) as image:
        layers = load_layers(image)
    assert layers[0].global_events is not None
    host = get_host("root-tmpfs-6.5")        # user.* unsupported: the global xattr shows
    go = run_cell(layers, get_policy("containerd"), host)
    tar = run_cell(layers, get_policy("gnu-tar"), host)
    assert go.outcome == "ok"
    assert tar.outcome == "warn" and len(tar.warnings) == 2   # user.g on a and on b


def test_no_second_read_without_global_headers(tmp_path):
    path = tmp_path / "p.tar"
    path.write_bytes(_layer(False))
    with open_image(path) as image:
        assert load_layers(image)[0].global_events is None


def test_matrix_is_policy_major_and_complete(tmp_path):
    path = tmp_path / "c.tar"
    path.write_bytes(creator_ee())
    with open_image(path) as image:
        layers = load_layers(image)
    hosts = [get_host(h) for h in ("root-ext4", "rootless-tmpfs")]
    ticks = []
    cells = check(layers, POLICIES.values(), hosts, ticks.append)
    assert [(c.policy, c.host) for c in cells] == [(p, h.name) for p in POLICIES for h in hosts]
    assert len(ticks) == len(cells)
    assert {c.outcome for c in cells} <= {"ok", "warn", "fail"}
    for c in cells:
        assert (c.error is None) == (c.outcome != "fail")
        assert set(c.as_json()) == {"policy", "host", "outcome", "error", "entry", "xattr",
                                    "errno", "rule", "warnings"}


def test_paced_gc_restores_the_collector_settings():
    import gc

    from fsmodel.layer.extract import paced_gc

    before = gc.get_threshold()
    with pytest.raises(KeyError):
        with paced_gc(123_456):
            assert gc.get_threshold()[0] == max(before[0], 123_456)
            raise KeyError
    assert gc.get_threshold() == before
