"""Every policy against what the real runtimes did (../shared/runtime-oracle/RESULTS.md).

The oracle ran containerd 1.6.20 and 1.4.13, docker 20.10 and 26.1, podman 4.3
(rootful and in a user namespace), umoci 0.4.7 (root and --rootless), GNU tar
1.34 and bsdtar 3.6.2 on three layers, on ext4, tmpfs (6.18) and ramfs (no
xattr support).  The layers are rebuilt here byte for byte (their sha256 is
the one RESULTS.md names), each cell is run through ``fsmodel check``'s
engine, and its outcome and text are compared with the runtime's.

Comparisons use the oracle's *effective* outcome: docker 20.10 and podman
drop xattrs without a message (their warning is printed by a re-exec'd child
whose stderr is discarded), which fsmodel reports as a warning.
"""

import hashlib
import io
import tarfile

import pytest

from fsmodel.layer import iter_layer
from fsmodel.layer.check import LoadedLayer, run_cell
from fsmodel.layer.hosts import get_host
from fsmodel.layer.ops import Data, Entry
from fsmodel.layer.policies import get_policy

D, F, S = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE


def _oracle_layer(entries):
    """runtime-oracle/make_layers.py's writer, verbatim in effect."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, typ, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.mode = 0o755 if typ == D else (0o777 if typ == S else 0o644)
            ti.mtime = 1650000000
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.linkname = extra.get("link", "")
            ti.pax_headers = dict(extra.get("pax", {}))
            data = extra.get("data", b"")
            ti.size = len(data) if typ == F else 0
            tf.addfile(ti, io.BytesIO(data) if ti.size else None)
    return buf.getvalue()


LAYERS = {
    "creator": _oracle_layer([
        ("etc", D, {}),
        ("etc/krb5.conf.d", D, {}),
        ("etc/krb5.conf.d/crypto-policies", S,
         {"link": "/etc/crypto-policies/back-ends/krb5.config",
          "pax": {"SCHILY.xattr.user.rpm.origin": "x"}}),
        ("etc/krb5.conf", F, {"data": b"[libdefaults]\n", "pax": {"SCHILY.xattr.user.ok": "1"}}),
    ]),
    "overlay": _oracle_layer([
        ("etc", D, {"pax": {"SCHILY.xattr.user.overlay.impure": "y"}}),
        ("etc/os-release", F, {"data": b"ID=fsmodel\n"}),
    ]),
    "plain": _oracle_layer([
        ("etc", D, {}),
        ("etc/krb5.conf.d", D, {}),
        ("etc/krb5.conf.d/crypto-policies", S,
         {"link": "/etc/crypto-policies/back-ends/krb5.config"}),
        ("etc/krb5.conf", F, {"data": b"[libdefaults]\n"}),
    ]),
}
CREATOR_DIFFID = "sha256:c5e1615c86944fa7a9942958da9d4ded687f4a9cf10b5050283166e263008b99"
EPERM_SYMLINK = "lsetxattr /etc/krb5.conf.d/crypto-policies: operation not permitted exit status 1"
UMOCI_FAIL = ("create runtime bundle: unpack rootfs: unpack layer: unpack entry: "
              "etc/krb5.conf.d/crypto-policies: apply hdr metadata: restore xattr metadata: "
              "/rootfs/etc/krb5.conf.d/crypto-policies: operation not permitted")
MOBY_EPERM = ("ignored xattrs in archive: underlying filesystem doesn't support them "
              "errors=[lsetxattr user.rpm.origin /etc/krb5.conf.d/crypto-policies: "
              "operation not permitted]")
TAR_EPERM = ("tar: lsetxattr: Cannot set 'user.rpm.origin' extended attribute for file "
             "'etc/krb5.conf.d/crypto-policies': Operation not permitted")
BSDTAR_EPERM = ("etc/krb5.conf.d/crypto-policies: Cannot restore extended attributes: "
                "user.rpm.origin: Unknown error -1")
UMOCI_ROOTLESS = ('rootless{etc/krb5.conf.d/crypto-policies} ignoring (usually) harmless '
                  'EPERM on setxattr "user.rpm.origin"')


def cell(layer, policy, host):
    data = LAYERS[layer]
    events = tuple(e for e in iter_layer(data) if not isinstance(e, Data))
    loaded = LoadedLayer("sha256:" + hashlib.sha256(data).hexdigest(), events,
                         sum(isinstance(e, Entry) for e in events))
    return run_cell([loaded], get_policy(policy), get_host(host))


def test_the_creator_layer_is_the_oracles():
    assert "sha256:" + hashlib.sha256(LAYERS["creator"]).hexdigest() == CREATOR_DIFFID


# (runtime in RESULTS.md, policy, host) -> (outcome, error or None, warnings that must appear)
MAIN_TABLE = {
    # (a) creator on ext4 (and tmpfs: "identical, cell for cell")
    ("containerd 1.6.20", "containerd", "creator"):
        ("warn", None, ["ignored xattr user.rpm.origin in archive"]),
    ("containerd-legacy 1.4.13", "containerd-legacy", "creator"):
        ("fail", f"failed to extract layer {CREATOR_DIFFID}: operation not permitted", []),
    ("docker 20.10 (silent drop)", "moby-legacy", "creator"): ("warn", None, [MOBY_EPERM]),
    ("docker-26", "moby", "creator"): ("warn", None, [MOBY_EPERM]),
    ("podman rootful", "containers-storage", "creator"): ("fail", EPERM_SYMLINK, []),
    ("umoci as root", "umoci", "creator"): ("fail", UMOCI_FAIL, []),
    ("GNU tar 1.34", "gnu-tar-all", "creator"): ("warn", None, [TAR_EPERM]),
    ("GNU tar 1.34, default include", "gnu-tar", "creator"): ("warn", None, [TAR_EPERM]),
    ("bsdtar 3.6.2 (rc 1)", "bsdtar", "creator"): ("warn", None, [BSDTAR_EPERM]),
}


@pytest.mark.parametrize("host", ["root-ext4", "root-tmpfs"])
@pytest.mark.parametrize("key", sorted(MAIN_TABLE), ids=lambda k: k[0])
def test_main_table_creator(key, host):
    _, policy, layer = key
    outcome, error, warnings = MAIN_TABLE[key]
    got = cell(layer, policy, host)
    assert got.outcome == outcome
    if error is None:
        assert got.error is None
    else:
        assert got.error.endswith(error)
        assert got.entry == "etc/krb5.conf.d/crypto-policies"
        assert got.xattr == "user.rpm.origin" and got.errno == "EPERM"
        assert got.rule == "R3.4-user-file-type"
    assert got.warnings == warnings


@pytest.mark.parametrize("host", ["rootless-ext4", "rootless-tmpfs"])
def test_rootless_creator(host):
    """podman-userns: ok (silent drop); umoci --rootless: warn with its line."""
    podman = cell("creator", "containers-storage", host)
    assert podman.outcome == "warn" and podman.error is None
    umoci = cell("creator", "umoci", host)
    assert umoci.outcome == "warn" and umoci.warnings == [UMOCI_ROOTLESS]


POLICIES = ["containerd", "containerd-legacy", "moby-legacy", "moby", "containers-storage",
            "umoci", "gnu-tar", "gnu-tar-all", "bsdtar"]


@pytest.mark.parametrize("host", ["root-ext4", "root-tmpfs", "rootless-ext4"])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("layer", ["overlay", "plain"])
def test_overlay_and_plain_are_ok_where_user_xattrs_work(layer, policy, host):
    got = cell(layer, policy, host)
    assert (got.outcome, got.warnings) == ("ok", [])


# ramfs (no xattr support) -> root-noxattr
NOXATTR = {
    ("containerd", "creator"): ("warn", None, ["ignored xattr user.rpm.origin in archive",
                                               "ignored xattr user.ok in archive"]),
    ("containerd", "overlay"): ("warn", None, ["ignored xattr user.overlay.impure in archive"]),
    ("containerd-legacy", "creator"):
        ("fail", f"failed to extract layer {CREATOR_DIFFID}: operation not permitted", None),
    ("containerd-legacy", "overlay"):
        ("warn", None, ["ignored xattr user.overlay.impure in archive"]),
    ("moby", "creator"): ("fail", "lsetxattr user.ok /etc/krb5.conf: operation not supported",
                          None),
    ("moby", "overlay"): ("fail", "lsetxattr user.overlay.impure /etc: operation not supported",
                          None),
    ("containers-storage", "creator"): ("fail", EPERM_SYMLINK, None),
    ("umoci", "creator"): ("fail", UMOCI_FAIL, None),
    ("umoci", "overlay"): ("warn", None, ['xattr{etc} ignoring ENOTSUP on setxattr '
                                          '"user.overlay.impure"']),
    ("gnu-tar-all", "creator"): ("warn", None, [
        "tar: setxattrat: Cannot set 'user.ok' extended attribute for file 'etc/krb5.conf': "
        "Operation not supported", TAR_EPERM]),
    ("bsdtar", "creator"): ("warn", None, [
        BSDTAR_EPERM, "etc/krb5.conf: Cannot restore extended attributes on this file system.: "
        "Unknown error -1"]),
    ("bsdtar", "overlay"): ("warn", None, [
        "etc/: Cannot restore extended attributes on this file system.: Unknown error -1"]),
}


@pytest.mark.parametrize("key", sorted(NOXATTR), ids="@".join)
def test_noxattr_table(key):
    policy, layer = key
    outcome, error, warnings = NOXATTR[key]
    got = cell(layer, policy, "root-noxattr")
    assert got.outcome == outcome
    if error is not None:
        assert got.error.endswith(error)
    if warnings is not None:
        # GNU tar creates symlinks last, so its lines come in another order: compare as sets
        assert sorted(got.warnings) == sorted(warnings)


def test_noxattr_silent_drops_are_warnings():
    """docker 20.10 and podman (rootful on overlay, userns on both) drop silently."""
    assert cell("creator", "moby-legacy", "root-noxattr").outcome == "warn"
    assert cell("overlay", "moby-legacy", "root-noxattr").outcome == "warn"
    assert cell("overlay", "containers-storage", "root-noxattr").outcome == "warn"
    assert cell("creator", "umoci", "rootless-ext4").outcome == "warn"


def test_noxattr_umoci_warns_once_per_run():
    """umoci: ENOTSUP warns once, "further warnings will be suppressed"."""
    data = _oracle_layer([
        ("a", D, {"pax": {"SCHILY.xattr.user.x": "1"}}),
        ("a/f", F, {"data": b"1", "pax": {"SCHILY.xattr.user.y": "1"}}),
        ("a/g", F, {"data": b"1", "pax": {"SCHILY.xattr.user.z": "1"}}),
    ])
    events = tuple(e for e in iter_layer(data) if not isinstance(e, Data))
    got = run_cell([LoadedLayer("sha256:x", events, 3)], get_policy("umoci"),
                   get_host("root-noxattr"))
    assert got.warnings == ['xattr{a} ignoring ENOTSUP on setxattr "user.x"']
