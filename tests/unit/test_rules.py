"""Every rule and precedence pair of the specification's §1 tables on SimKernel.

The same rows run on the real kernel in tests/kernel/test_rules_kernel.py."""

import errno

import pytest

import fsmodel
from fsmodel._rules import filesystems, vfs, xattr
from fsmodel._rules.kernel import features
from fsmodel._rules.verdict import Rule
from tests.rule_table import ROWS, UNREACHABLE


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_rule(row):
    _, fields, expected_errno, rule_id = row
    verdict = fsmodel.explain(**fields)
    assert (verdict.rule.errno_name, verdict.rule.id) == (expected_errno, rule_id)


def test_every_xattr_rule_is_exercised():
    """Each Rule an xattr pipeline or filesystem handler can return appears in the table."""
    feats = features("6.18")
    rules = {v.id for v in vars(xattr).values() if isinstance(v, Rule)}
    for name in filesystems.PROFILES:
        fs = filesystems.make_filesystem(name, feats)
        rules |= {v.id for v in vars(fs).values() if isinstance(v, Rule)}
        rules |= {v.id for v in vars(type(fs)).values() if isinstance(v, Rule)}
    rules |= {v.id for v in vars(filesystems).values() if isinstance(v, Rule)}
    rules.add(vfs.BAD_FD.id)
    covered = {row[3] for row in ROWS} | set(UNREACHABLE)
    assert rules - covered == set()


def test_rule_records_are_complete():
    for module in (xattr, filesystems, vfs):
        for value in vars(module).values():
            if isinstance(value, Rule):
                assert value.id and value.reason.endswith(".") and ": " in value.source
                assert value.errno == 0 or errno.errorcode.get(value.errno)


def test_xfs_acl_entry_limit():
    from fsmodel._rules.codecs import ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, acl_value

    entries = [(ACL_USER_OBJ, 6, None)] + [(ACL_USER, 4, 1000 + i) for i in range(5460)] + [
        (ACL_GROUP_OBJ, 4, None), (ACL_MASK, 6, None), (ACL_OTHER, 4, None)]
    big = acl_value(*entries)
    assert fsmodel.explain("setxattr", name=xattr.ACL_ACCESS, value=big, fs="xfs").rule.id == \
        "R8-xfs-acl-entries"
    assert fsmodel.explain("setxattr", name=xattr.ACL_ACCESS, value=big, fs="tmpfs").rule.id == \
        "ok-set-acl"


def test_list_beyond_list_max():
    import stat

    k = fsmodel.SimKernel("tmpfs")
    k.mknod("/f", stat.S_IFREG | 0o644)
    for i in range(300):
        k.setxattr("/f", "user.%03d" % i + "n" * 247, b"")
    assert k.listxattr("/f", 0) == 76800
    with pytest.raises(OSError) as exc:
        k.listxattr("/f", 1 << 20)
    assert (exc.value.errno, exc.value.rule.id) == (errno.E2BIG, "R7-list-e2big")


def test_tmpfs_inode_pool():
    import stat

    k = fsmodel.SimKernel("tmpfs", nr_inodes=4)
    k.mknod("/a", stat.S_IFREG | 0o644)
    k.mknod("/b", stat.S_IFREG | 0o644)
    k.mknod("/c", stat.S_IFREG | 0o644)
    with pytest.raises(OSError) as exc:
        k.mknod("/d", stat.S_IFREG | 0o644)
    assert (exc.value.errno, exc.value.rule.id) == (errno.ENOSPC, "R9-tmpfs-inodes")
    k.unlink("/a")
    k.mknod("/d", stat.S_IFREG | 0o644)


def test_unreachable_entries_name_real_tests():
    for rule_id, where in UNREACHABLE.items():
        assert where.startswith("unreachable:") or where in globals(), rule_id


def test_tree_walks_every_entry_once_sorted_with_xattrs():
    import stat

    k = fsmodel.SimKernel("ext4")
    k.mkdir("/b", 0o755)
    k.mknod("/b/f", stat.S_IFREG | 0o644)
    k.symlink("f", "/a")
    k.setxattr("/b/f", "user.x", b"1")
    k.mkdir("/b/m", 0o755)
    k.mount("/b/m", "tmpfs")
    k.mknod("/b/m/t", stat.S_IFIFO | 0o644)
    rows = [(path, stat.S_IFMT(st.st_mode), xattrs) for path, st, xattrs in k.tree("/")]
    assert rows == [
        ("/", stat.S_IFDIR, {}),
        ("/a", stat.S_IFLNK, {}),
        ("/b", stat.S_IFDIR, {}),
        ("/b/f", stat.S_IFREG, {"user.x": b"1"}),
        ("/b/m", stat.S_IFDIR, {}),
        ("/b/m/t", stat.S_IFIFO, {}),
    ]
    # inodes(): the same entries and objects, the mount's root for /b/m; unsorted, each
    # directory's entries in the order they were linked, parents before children
    walked = [(path, mount.sb.dev, inode) for path, mount, inode in k.inodes("/")]
    assert [p for p, _, _ in walked] == ["/", "/b", "/b/f", "/b/m", "/b/m/t", "/a"]
    assert [p for p, _, _ in k.inodes("/", sort=True)] == [p for p, _, _ in rows]
    for path, dev, inode in walked:
        st = k.lstat(path)
        assert (st.st_ino, st.st_dev, st.st_mode) == (inode.ino, dev, inode.mode)
    assert [p for p, _, _ in k.inodes("/b/m")] == ["/b/m", "/b/m/t"]


def test_stat_results_have_every_field():
    """lstat's result is what os.stat_result's own dict form gives: the integer times
    in the float fields, st_rdev set, the nanosecond and block fields None."""
    import os
    import stat

    k = fsmodel.SimKernel("ext4")
    k.mknod("/d", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    st = k.lstat("/d")
    expected = os.stat_result(tuple(st)[:10], {"st_rdev": os.makedev(1, 3)})
    assert st.__reduce__() == expected.__reduce__()
    assert (st.st_rdev, st.st_mtime, st.st_atime_ns, st.st_blocks) == \
        (os.makedev(1, 3), st[stat.ST_MTIME], None, None)
