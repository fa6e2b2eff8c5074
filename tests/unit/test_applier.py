"""The applier: changeset rules, confinement, and the policies on the creator-ee layer."""

import errno
import stat

import pytest

import fsmodel
from fsmodel.layer import iter_layer
from fsmodel.layer.apply import Applier, ExtractionFailed, KernelTarget, UnsafeEntry
from fsmodel.layer.policies import POLICIES, get_policy
from tests.layers import creator_ee, layer

LINK = "etc/krb5.conf.d/crypto-policies"


def apply(data, policy="containerd", fs="ext4", k=None, root="/"):
    k = k or fsmodel.SimKernel(fs)
    report = Applier(KernelTarget(k, root), get_policy(policy),
                     layer="sha256:c5e1").apply(iter_layer(data))
    return k, report


#: The historical outcomes (extractors.md, the runtime oracle): (fails?, warnings, errno).
CREATOR_EE = {
    "containerd-legacy": (True, 0, "EPERM"),
    "containerd": (False, 1, None),
    "moby-legacy": (False, 1, None),
    "moby": (False, 1, None),
    "containers-storage": (True, 0, "EPERM"),
    "umoci": (True, 0, "EPERM"),
    "gnu-tar": (False, 1, None),
    "gnu-tar-all": (False, 1, None),
    "bsdtar": (False, 1, None),
    "strict": (True, 0, "EPERM"),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_creator_ee_outcomes(policy):
    fails, warnings, code = CREATOR_EE[policy]
    if fails:
        with pytest.raises(ExtractionFailed) as exc:
            apply(creator_ee(), policy)
        assert (exc.value.entry, exc.value.xattr, exc.value.errno) == \
            (LINK, "user.rpm.origin", code)
        assert exc.value.rule == "R3.4-user-file-type"
        assert "operation not permitted" in exc.value.message
    else:
        k, report = apply(creator_ee(), policy)
        assert len(report.warnings) == warnings
        assert report.warnings[0].entry == LINK and report.warnings[0].errno == "EPERM"
        assert k.getxattr("/etc/krb5.conf", "user.ok") == b"1"
        assert k.readlink("/" + LINK) == "/etc/crypto-policies/back-ends/krb5.config"


def test_containerd_legacy_message_is_the_historical_one():
    with pytest.raises(ExtractionFailed) as exc:
        apply(creator_ee(), "containerd-legacy")
    assert exc.value.message == "failed to extract layer sha256:c5e1: operation not permitted"


def test_containerd_warning_text():
    _, report = apply(creator_ee(), "containerd")
    assert report.warnings[0].message == "ignored xattr user.rpm.origin in archive"


def test_policies_filter_encodings_and_names():
    data = layer(("f", "file", {"xattrs": {"trusted.t": "1", "user.u": "2",
                                           "security.selinux": "x"}}))
    k, _ = apply(data, "gnu-tar")
    assert k.listxattr("/f") == ["user.u"]
    k, report = apply(data, "containerd")
    assert sorted(k.listxattr("/f")) == ["security.selinux", "user.u"]
    assert report.warnings[0].message == "ignored xattr trusted.t in archive"
    k, _ = apply(data, "containers-storage")
    assert sorted(k.listxattr("/f")) == ["trusted.t", "user.u"]


def test_replacement_and_directories():
    k = fsmodel.SimKernel("ext4")
    apply(layer(("a", "dir", {"mode": 0o700}), ("a/f", "file", {"data": b"x"}),
                ("b", "file", {}), ("c", "symlink", {"target": "a"})), k=k)
    apply(layer(("a", "dir", {"mode": 0o755, "uid": 5}), ("b", "dir", {}),
                ("c", "file", {"data": b"yy"})), k=k)
    assert stat.S_IMODE(k.stat("/a").st_mode) == 0o755 and k.stat("/a").st_uid == 5
    assert k.listdir("/a") == ["f"]                  # dir over dir keeps the directory
    assert stat.S_ISDIR(k.lstat("/b").st_mode)       # file replaced by a directory
    assert stat.S_ISREG(k.lstat("/c").st_mode) and k.stat("/c").st_size == 2


def test_whiteouts_and_opaque_hide_lower_layers_only():
    k = fsmodel.SimKernel("tmpfs")
    apply(layer(("d", "dir", {}), ("d/old", "file", {}), ("d/sub", "dir", {}),
                ("d/sub/deep", "file", {}), ("gone", "file", {}), ("keep", "file", {})), k=k)
    apply(layer(("d/new", "file", {}), ("d/sub/mine", "file", {}),
                ("d/.wh..wh..opq", "file", {}),           # after its siblings: order-independent
                (".wh.gone", "file", {}),
                ("x", "file", {}), (".wh.x", "file", {})), k=k)  # same layer: not hidden
    assert k.listdir("/d") == ["new", "sub"]
    assert k.listdir("/d/sub") == ["mine"]
    assert k.listdir("/") == ["d", "keep", "x"]


class _Recording(KernelTarget):
    """A KernelTarget that records what is listed and what is lstat'ed."""

    def __init__(self, kernel):
        super().__init__(kernel)
        self.listed, self.seen = [], []

    def listdir(self, parts):
        self.listed.append("/".join(parts))
        return super().listdir(parts)

    def lstat(self, parts):
        self.seen.append("/".join(parts))
        return super().lstat(parts)


def test_repeated_and_nested_opaque_markers_list_each_directory_once():
    """Nothing of a lower layer is below a directory the layer made, nor below one
    already cleared: markers repeated, nested, or on made directories add no walk."""
    deep = "/".join(["m"] * 30)
    lower = layer(("d", "dir", {}), ("d/old", "file", {}), ("d/sub", "dir", {}),
                  ("d/sub/deep", "file", {}), ("gone", "file", {}))
    mine = [("d/new", "file", {}), ("d/sub/mine", "file", {}), (f"{deep}/f", "file", {})]
    markers = ["d/.wh..wh..opq", "d/.wh..wh..opq", "d/sub/.wh..wh..opq", f"{deep}/.wh..wh..opq",
               "m/.wh..wh..opq", ".wh..wh..opq", "d/.wh..wh..opq"]
    trees, listings = [], []
    for marks in (markers, [".wh..wh..opq"]):      # the second: one marker does it all
        k = fsmodel.SimKernel("ext4")
        apply(lower, k=k)
        target = _Recording(k)
        Applier(target, get_policy("containerd")).apply(
            iter_layer(layer(*mine, *((m, "file", {}) for m in marks))))
        trees.append([(p, stat.S_IFMT(st.st_mode)) for p, st, _ in k.tree("/")])
        listings.append(target.listed)
    assert trees[0] == trees[1]
    assert ("/d/old", stat.S_IFREG) not in trees[0] and ("/gone", stat.S_IFREG) not in trees[0]
    assert (f"/{deep}/f", stat.S_IFREG) in trees[0] and ("/d/sub/mine", stat.S_IFREG) in trees[0]
    for listed in listings:
        assert sorted(listed) == ["", "", "d", "d/sub"]   # the start's, then one walk
        assert not any(p.startswith("m") for p in listed)


def test_replacing_a_file_keeps_the_resolved_parents_and_a_symlink_does_not():
    """Only a directory or a symlink can lie on a resolved path: replacing a file needs
    no new walk of its parents; replacing a symlink on the path does."""
    k = fsmodel.SimKernel("ext4")
    target = _Recording(k)
    Applier(target, get_policy("containerd")).apply(iter_layer(layer(
        ("a/b/c/f", "file", {"data": b"1"}), ("a/b/c/f", "file", {"data": b"22"}),
        ("a/b/c/f", "file", {"data": b"333"}))))
    assert k.stat("/a/b/c/f").st_size == 3
    assert [p for p in target.seen if p in ("a", "a/b", "a/b/c")] == []
    # a symlink replaced by a directory: the next entry below it is resolved again
    k = fsmodel.SimKernel("ext4")
    k.mkdir("/real", 0o755)
    target = _Recording(k)
    Applier(target, get_policy("containerd")).apply(iter_layer(layer(
        ("l", "symlink", {"target": "real"}), ("l/x", "file", {}), ("l", "dir", {}),
        ("l/y", "file", {}))))
    assert k.listdir("/real") == ["x"] and k.listdir("/l") == ["y"]


@pytest.mark.parametrize("order", ["marker first", "entries first"])
def test_a_directory_made_for_a_marker_is_lower_content_to_a_later_opaque(order):
    """A whiteout's missing parents are made at the end of the layer for no entry of
    it, so an opaque marker above them (applied after every whiteout) removes them,
    even in a root that was empty, and even once it was cleared."""
    entries = [("d/f", "file", {}), ("x/y/.wh.z", "file", {}), ("d/.wh..wh..opq", "file", {}),
               (".wh..wh..opq", "file", {}), ("d/.wh..wh..opq", "file", {})]
    if order == "entries first":
        entries = entries[:1] + entries[2:] + entries[1:2]
    k, _ = apply(layer(*entries))
    assert k.listdir("/") == ["d"] and k.listdir("/d") == ["f"]


@pytest.mark.parametrize("name", [".wh.", ".wh..", "a/.wh..."])
def test_invalid_whiteouts_are_refused(name):
    with pytest.raises(UnsafeEntry):
        apply(layer((name, "file", {})))


def confined_kernel():
    k = fsmodel.SimKernel("ext4")
    k.mkdir("/etc", 0o755)
    k.mknod("/etc/passwd", stat.S_IFREG | 0o644)
    k.setxattr("/etc/passwd", "user.canary", b"untouched")
    k.mkdir("/rootfs", 0o755)
    return k


def canary_intact(k):
    assert k.getxattr("/etc/passwd", "user.canary") == b"untouched"
    assert k.stat("/etc/passwd").st_size == 0 and stat.S_IMODE(k.stat("/etc/passwd").st_mode) == 0o644
    assert k.listdir("/etc") == ["passwd"]


@pytest.mark.parametrize("entries", [
    [("../etc/passwd", "file", {"data": b"evil"})],
    [("a/../../etc/passwd", "file", {"data": b"evil"})],
    [("x", "hardlink", {"target": "../etc/passwd"})],
])
def test_traversal_names_are_unsafe(entries):
    k = confined_kernel()
    with pytest.raises(UnsafeEntry):
        apply(layer(*entries), k=k, root="/rootfs")
    canary_intact(k)


@pytest.mark.parametrize("entries", [
    [("a", "symlink", {"target": "/etc"}), ("a/passwd", "file", {"data": b"evil",
                                                                 "xattrs": {"user.x": "1"}})],
    [("a", "symlink", {"target": "../../../etc"}), ("a/passwd", "file", {"mode": 0o777})],
    [("a", "symlink", {"target": "/etc"}), ("a/.wh.passwd", "file", {})],
    [("a", "symlink", {"target": "/etc"}), ("a/.wh..wh..opq", "file", {})],
    [("a", "symlink", {"target": "/etc"}), ("l", "hardlink", {"target": "a/passwd"})],
    [("a", "symlink", {"target": "/"}), ("a/etc/passwd", "fifo", {})],
    [("b", "symlink", {"target": "c"}), ("c", "symlink", {"target": "b"}),
     ("b/x", "file", {})],
])
def test_symlinks_cannot_lead_outside(entries):
    k = confined_kernel()
    try:
        apply(layer(*entries), k=k, root="/rootfs")
    except (UnsafeEntry, ExtractionFailed):
        pass
    canary_intact(k)


def test_root_entry_must_be_a_directory():
    with pytest.raises(UnsafeEntry):
        apply(layer(("./", "symlink", {"target": "/"})))
    k, _ = apply(layer(("./", "dir", {"mode": 0o700})))
    assert stat.S_IMODE(k.stat("/").st_mode) == 0o700


def test_hardlinks_to_lower_layers_and_to_symlinks():
    k = fsmodel.SimKernel("xfs")
    apply(layer(("f", "file", {"data": b"abc"}), ("s", "symlink", {"target": "f"})), k=k)
    apply(layer(("h", "hardlink", {"target": "f"}), ("hs", "hardlink", {"target": "s"})), k=k)
    assert k.stat("/h").st_ino == k.stat("/f").st_ino and k.stat("/f").st_nlink == 2
    assert stat.S_ISLNK(k.lstat("/hs").st_mode)


def test_devices_and_fifos():
    k, _ = apply(layer(("p", "fifo", {}), ("c", "chr", {})))
    assert stat.S_ISFIFO(k.lstat("/p").st_mode) and stat.S_ISCHR(k.lstat("/c").st_mode)
    with pytest.raises(OSError) as exc:
        k.setxattr("/p", "user.x", b"")
    assert exc.value.errno == errno.EPERM
