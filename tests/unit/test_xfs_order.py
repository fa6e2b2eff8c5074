"""The order in which XFS lists an inode's xattrs (``Xfs.names`` and its attribute-fork
bookkeeping in ``inode.fsdata``).

What the kernel does (fs/xfs/xfs_attr_list.c, libxfs/xfs_attr_leaf.c, libxfs/xfs_attr.c):

* Short form: entries in fork order (``xfs_attr_shortform_add`` appends; a set of an
  existing name removes it and appends it again, even with an identical value;
  removal closes the gap).  ``xfs_attr_shortform_list`` sorts them by
  (xfs_da_hashname of the name without its prefix, fork position) unless the buffer is
  larger than ``if_bytes + 16 * count``; the size query (0) never sorts.
* Leaf/node: hash order; equal hashes (``user.x``/``trusted.x``/``security.x``) in the
  order they entered the leaf, a replaced value keeps its place.
* Short form -> leaf: a name or value of 255+ bytes, or a fork larger than the literal
  area left by the data fork (280 bytes for files; less for a directory with a large
  short-form data fork, an inline symlink; 328 for device inodes).  Back to short form
  (in hash order) after a removal or replacement, when everything fits again.

(a) runs the table on SimKernel, (b) proves it on the real kernel, (c) compares random
sequences on both.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsmodel import SimKernel
from fsmodel._rules import codecs
from fsmodel.testing import Situation, scratch_host_factory

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
SGI_FILE = "trusted.SGI_ACL_FILE"
SGI_DEFAULT = "trusted.SGI_ACL_DEFAULT"


def acl(named_users: int) -> bytes:
    """A valid access/default ACL with ``named_users`` named-user entries (+ a mask)."""
    entries = [(codecs.ACL_USER_OBJ, 6, None)]
    entries += [(codecs.ACL_USER, 4, 1000 + i) for i in range(named_users)]
    entries.append((codecs.ACL_GROUP_OBJ, 4, None))
    if named_users:
        entries.append((codecs.ACL_MASK, 4, None))
    entries.append((codecs.ACL_OTHER, 4, None))
    return codecs.acl_value(*entries)


def _value(spec) -> bytes:
    if isinstance(spec, tuple):                 # ("acl", named users)
        return acl(spec[1])
    return b"v" * spec


def _step(k, step):
    op, *args = step
    if op == "file":
        k.mknod(args[0], stat.S_IFREG | 0o644)
    elif op == "dir":
        k.mkdir(args[0], 0o755)
    elif op == "fifo":
        k.mknod(args[0], stat.S_IFIFO | 0o644)
    elif op == "symlink":
        k.symlink(args[0], args[1])
    elif op == "set":
        path, name, spec, *flags = args
        k.lsetxattr(path, name, _value(spec), *flags)
    elif op == "rm":
        k.lremovexattr(*args)
    elif op == "chmod":
        k.chmod(*args)
    elif op == "unlink":
        k.unlink(args[0])
    else:  # pragma: no cover
        raise AssertionError(op)


def _list(k, path, size):
    total = k.llistxattr(path, 0)
    if size == "exact":
        size = total
    elif size == "exact+1":
        size = total + 1
    elif size == "big":
        size = 65536
    return k.llistxattr(path, size)


def _f(*sets):
    """A regular file /f with the given (name, value spec) pairs set in order."""
    return [("file", "/f")] + [("set", "/f", n, v) for n, v in sets]


Z, A, M = ("user.zz", 1), ("user.aa", 1), ("user.mm", 1)
BIG = ("user.big", 300)
ENTRIES = [("file", "/d/" + c * 40) for c in "abcdefgh"]

# (id, steps, path listed, list size, expected, list as an unprivileged user)
CASES = [
    # short form: fork order with a large buffer, (hash, position) order with a small one
    ("sf-insertion-order", _f(Z, A, M), "/f", "big", ["user.zz", "user.aa", "user.mm"], False),
    ("sf-exact-size-sorts", _f(Z, A, M), "/f", "exact", ["user.aa", "user.mm", "user.zz"], False),
    ("sf-exact-plus-one-sorts", _f(Z, A, M), "/f", "exact+1", ["user.aa", "user.mm", "user.zz"],
     False),
    # if_bytes 16 + 2 entries * 16 = 48: sorted up to a 48-byte buffer, fork order from 49
    ("sf-threshold-48-sorts", _f(Z, M), "/f", 48, ["user.mm", "user.zz"], False),
    ("sf-threshold-49-fork-order", _f(Z, M), "/f", 49, ["user.zz", "user.mm"], False),
    ("size-query", _f(Z, A, M), "/f", 0, 24, False),
    ("sf-replace-moves-to-end", _f(Z, A, M, ("user.zz", 2)), "/f", "big",
     ["user.aa", "user.mm", "user.zz"], False),
    ("sf-identical-value-moves-to-end",
     _f(Z, A, M) + [("set", "/f", "user.zz", 1, os.XATTR_REPLACE)], "/f", "big",
     ["user.aa", "user.mm", "user.zz"], False),
    ("sf-remove-keeps-order", _f(Z, A, M) + [("rm", "/f", "user.aa")], "/f", "big",
     ["user.zz", "user.mm"], False),
    ("sf-remove-then-readd-appends", _f(Z, A, M) + [("rm", "/f", "user.zz"), ("set", "/f", *Z)],
     "/f", "big", ["user.aa", "user.mm", "user.zz"], False),
    # short form -> leaf
    ("sf-value-254", _f(Z, ("user.v", 254), A), "/f", "big", ["user.zz", "user.v", "user.aa"],
     False),
    ("leaf-value-255", _f(Z, A, ("user.v", 255)), "/f", "big", ["user.v", "user.aa", "user.zz"],
     False),
    ("sf-fork-280-bytes", _f(Z, ("user.bbbbbbb", 254), A), "/f", "big",
     ["user.zz", "user.bbbbbbb", "user.aa"], False),
    ("leaf-fork-281-bytes", _f(Z, ("user.bbbbbbbb", 254), A), "/f", "big",
     ["user.aa", "user.zz", "user.bbbbbbbb"], False),
    ("leaf-add-in-hash-order", _f(Z, A, M, BIG, ("user.q", 1)), "/f", "big",
     ["user.q", "user.aa", "user.mm", "user.zz", "user.big"], False),
    ("leaf-exact-size-same-order", _f(Z, A, M, BIG, ("user.q", 1)), "/f", "exact",
     ["user.q", "user.aa", "user.mm", "user.zz", "user.big"], False),
    # leaf -> short form (hash order) after a removal or replacement that makes it fit
    ("leaf-to-sf-on-remove", _f(Z, A, M, BIG) + [("rm", "/f", "user.big"), ("set", "/f", "user.b", 1)],
     "/f", "big", ["user.aa", "user.mm", "user.zz", "user.b"], False),
    ("leaf-stays-while-255-value", _f(Z, A, M, BIG) + [("rm", "/f", "user.aa"),
                                                       ("set", "/f", "user.b", 1)],
     "/f", "big", ["user.b", "user.mm", "user.zz", "user.big"], False),
    ("leaf-replace-back-to-sf", _f(Z, A, M, BIG, ("user.big", 10), ("user.b", 1)), "/f", "big",
     ["user.aa", "user.mm", "user.zz", "user.big", "user.b"], False),
    # a plain add never converts back; a replacement checks (xfs_attr_leaf_remove_attr)
    ("leaf-add-does-not-shrink", [("dir", "/d")] + ENTRIES[:2]
     + [("set", "/d", *Z), ("set", "/d", "user.aa", 218), ("unlink", "/d/" + "a" * 40),
        ("unlink", "/d/" + "b" * 40), ("set", "/d", *M), ("set", "/d", "user.b", 1)],
     "/d", "big", ["user.b", "user.aa", "user.mm", "user.zz"], False),
    ("leaf-replace-shrinks", [("dir", "/d")] + ENTRIES[:2]
     + [("set", "/d", *Z), ("set", "/d", "user.aa", 218), ("unlink", "/d/" + "a" * 40),
        ("unlink", "/d/" + "b" * 40), ("set", "/d", *M), ("set", "/d", *M),
        ("set", "/d", "user.b", 1)],
     "/d", "big", ["user.aa", "user.mm", "user.zz", "user.b"], False),
    ("remote-value-keeps-leaf", _f(Z, A, M, ("user.big", 5000), ("user.bog", 5000))
     + [("rm", "/f", "user.big"), ("set", "/f", "user.b", 1)], "/f", "big",
     ["user.b", "user.aa", "user.mm", "user.zz", "user.bog"], False),
    ("last-remote-removed-to-sf", _f(Z, A, M, ("user.big", 5000), ("user.bog", 5000))
     + [("rm", "/f", "user.big"), ("set", "/f", "user.b", 1), ("rm", "/f", "user.bog"),
        ("set", "/f", "user.c", 1)], "/f", "big",
     ["user.b", "user.aa", "user.mm", "user.zz", "user.c"], False),
    ("empty-fork-starts-over", _f(Z, A, BIG) + [("rm", "/f", "user.big"), ("rm", "/f", "user.zz"),
                                               ("rm", "/f", "user.aa"), ("set", "/f", *Z),
                                               ("set", "/f", *A)],
     "/f", "big", ["user.zz", "user.aa"], False),
    # equal hashes: the suffix is hashed without its namespace
    ("equal-hash-sf-sorted-by-position",
     _f(("security.x", 1), ("user.x", 1), ("trusted.x", 1), ("user.a", 1)), "/f", "exact",
     ["user.a", "security.x", "user.x", "trusted.x"], False),
    ("equal-hash-leaf", _f(("user.x", 1), ("trusted.x", 1), BIG, ("security.x", 1), ("user.x", 2)),
     "/f", "big", ["user.x", "trusted.x", "security.x", "user.big"], False),
    ("equal-hash-sf-to-leaf-keeps-fork-order",
     _f(("trusted.x", 1), ("user.zz", 1), ("user.x", 1), ("user.v", 255)), "/f", "big",
     ["user.v", "trusted.x", "user.x", "user.zz"], False),
    ("colliding-suffixes", _f(Z, ("user.qaaab", 1), ("user.aaaac", 1)), "/f", "exact",
     ["user.zz", "user.qaaab", "user.aaaac"], False),
    # ACLs: trusted SGI_ACL_FILE in XFS format (4 + 12 bytes an entry)
    ("acl-fork-position", _f(Z, (ACCESS, ("acl", 2)), A), "/f", "big",
     ["user.zz", ACCESS, SGI_FILE, "user.aa"], False),
    ("acl-fork-position-unprivileged", _f(Z, (ACCESS, ("acl", 2)), A), "/f", "big",
     ["user.zz", ACCESS, "user.aa"], True),
    ("acl-hash-order", _f(Z, (ACCESS, ("acl", 2)), A), "/f", "exact",
     ["user.aa", "user.zz", ACCESS, SGI_FILE], False),
    ("chmod-rewrites-acl", _f((ACCESS, ("acl", 1)), Z) + [("chmod", "/f", 0o600)], "/f", "big",
     ["user.zz", ACCESS, SGI_FILE], False),
    # 4 + 6 + 6 + 3 + 12 + (4 + 12 * 7) = 119 bytes, 3 entries: sorted up to 167
    ("acl-threshold-167-sorts", _f(Z, (ACCESS, ("acl", 3)), M), "/f", 167,
     ["user.mm", "user.zz", ACCESS, SGI_FILE], False),
    ("acl-threshold-168-fork-order", _f(Z, (ACCESS, ("acl", 3)), M), "/f", 168,
     ["user.zz", ACCESS, SGI_FILE, "user.mm"], False),
    ("default-acl-inherited-file",
     [("dir", "/d"), ("set", "/d", DEFAULT, ("acl", 1)), ("file", "/d/f"),
      ("set", "/d/f", "user.zz", 1)], "/d/f", "big", [ACCESS, SGI_FILE, "user.zz"], False),
    ("default-acl-inherited-dir",
     [("dir", "/d"), ("set", "/d", DEFAULT, ("acl", 1)), ("dir", "/d/s")], "/d/s", "big",
     [DEFAULT, SGI_DEFAULT, ACCESS, SGI_FILE], False),
    # the caller's buffer is compared with the whole fork, hidden trusted.* entries included:
    # 4 + 6 + (3 + 4 + 100) + 6 = 123 bytes, 3 entries: sorted up to 171
    ("unprivileged-threshold-sorts", _f(Z, ("trusted.long", 100), M), "/f", 171,
     ["user.mm", "user.zz"], True),
    ("unprivileged-threshold-fork-order", _f(Z, ("trusted.long", 100), M), "/f", 172,
     ["user.zz", "user.mm"], True),
    # capacity: literal area 336 less the data fork (rounded up to 8, at least 56)
    ("dir-small-sf-data-fork", [("dir", "/d"), ("set", "/d", *Z), ("set", "/d", "user.aa", 254)],
     "/d", "big", ["user.zz", "user.aa"], False),
    ("dir-102-byte-data-fork-fits", [("dir", "/d")] + ENTRIES[:2]
     + [("set", "/d", *Z), ("set", "/d", "user.aa", 217)], "/d", "big", ["user.zz", "user.aa"],
     False),
    ("dir-102-byte-data-fork-full", [("dir", "/d")] + ENTRIES[:2]
     + [("set", "/d", *Z), ("set", "/d", "user.aa", 218)], "/d", "big", ["user.aa", "user.zz"],
     False),
    # 198 bytes of entries do not fit the 192-byte data fork of a new inode: block form
    ("dir-block-data-fork", [("dir", "/d")] + ENTRIES[:4]
     + [("set", "/d", *Z), ("set", "/d", "user.aa", 254)], "/d", "big", ["user.zz", "user.aa"],
     False),
    ("dir-entries-removed-again", [("dir", "/d")] + ENTRIES[:3]
     + [("set", "/d", *Z), ("unlink", "/d/" + "a" * 40), ("unlink", "/d/" + "b" * 40),
        ("set", "/d", "user.aa", 217)], "/d", "big", ["user.zz", "user.aa"], False),
    # short form -> leaf gives the data fork back its default 192 bytes
    # (xfs_bmap_forkoff_reset): 102 bytes of entries stay short form, and leave too
    # little room for user.eeee to go back
    ("sf-to-leaf-resets-forkoff", [("dir", "/d"), ("set", "/d", "user.eeee", 250),
                                   ("set", "/d", "user.ccc", 254)] + ENTRIES[:2]
     + [("rm", "/d", "user.ccc"), ("set", "/d", "user.a", 1)], "/d", "big",
     ["user.a", "user.eeee"], False),
    ("symlink-inline-target-fits", [("symlink", "t" * 100, "/l"), ("set", "/l", "trusted.z", 100),
                                    ("set", "/l", "trusted.b", 120)], "/l", "big",
     ["trusted.z", "trusted.b"], False),
    ("symlink-inline-target-full", [("symlink", "t" * 100, "/l"), ("set", "/l", "trusted.z", 100),
                                    ("set", "/l", "trusted.b", 121)], "/l", "big",
     ["trusted.b", "trusted.z"], False),
    ("symlink-long-target-moved-out", [("symlink", "t" * 250, "/l"),
                                       ("set", "/l", "trusted.z", 100),
                                       ("set", "/l", "trusted.b", 168)], "/l", "big",
     ["trusted.z", "trusted.b"], False),
    ("fifo-fits-328", [("fifo", "/p"), ("set", "/p", "trusted.z", 100),
                       ("set", "/p", "trusted.b", 216)], "/p", "big",
     ["trusted.z", "trusted.b"], False),
    ("fifo-full-329", [("fifo", "/p"), ("set", "/p", "trusted.z", 100),
                       ("set", "/p", "trusted.b", 217)], "/p", "big",
     ["trusted.b", "trusted.z"], False),
]


def _run_case(k, steps, path, size, unprivileged):
    for step in steps:
        _step(k, step)
    if unprivileged:
        with k.become(1000, 1000):
            return _list(k, path, size)
    return _list(k, path, size)


@pytest.mark.parametrize(("steps", "path", "size", "expected", "unprivileged"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_order_sim(steps, path, size, expected, unprivileged):
    k = SimKernel("xfs")
    assert _run_case(k, steps, path, size, unprivileged) == expected


@pytest.fixture(scope="module")
def xfs_make():
    """Fresh HostKernels on one scratch xfs (mkfs.xfs defaults) for the module."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(scratch_host_factory(Situation("xfs")))


@pytest.mark.privileged
@pytest.mark.parametrize(("steps", "path", "size", "expected", "unprivileged"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_order_kernel(xfs_make, steps, path, size, expected, unprivileged):
    with xfs_make() as k:
        assert _run_case(k, steps, path, size, unprivileged) == expected


# ----------------------------------------------------------- random sequences

POOL = ["user.zz", "user.aa", "user.mm", "user.x", "trusted.x", "security.x", "user.qaaab",
        "user.aaaac", "trusted.t", "user.a_rather_longer_name", ACCESS, DEFAULT]
TARGETS = ["/f", "/d"]
_sizes = st.one_of(st.integers(0, 300), st.integers(0, 300), st.integers(240, 260),
                   st.sampled_from([1000, 3100, 5000, 65536]))
_set = st.tuples(st.just("set"), st.sampled_from(TARGETS), st.sampled_from(POOL), _sizes,
                 st.sampled_from([0, 0, 0, os.XATTR_CREATE, os.XATTR_REPLACE]),
                 st.integers(0, 6))
_rm = st.tuples(st.just("rm"), st.sampled_from(TARGETS), st.sampled_from(POOL))
_ls = st.tuples(st.just("list"), st.sampled_from(TARGETS),
                st.sampled_from([0, "exact", "exact+1", 65536]), st.booleans())
_entry = st.tuples(st.just("entry"), st.sampled_from("abcdef"), st.integers(1, 60))
_unlink = st.tuples(st.just("unlink"), st.sampled_from("abcdef"), st.integers(1, 60))
_ops = st.lists(st.one_of(_set, _set, _set, _rm, _ls, _ls, _entry, _entry, _unlink),
                min_size=1, max_size=50)


def _apply(k, op):
    """One operation; its result or its errno, as a comparable value."""
    try:
        kind = op[0]
        if kind == "set":
            _, path, name, size, flags, users = op
            value = acl(users) if name.startswith("system.") else b"v" * size
            k.setxattr(path, name, value, flags)
            return None
        if kind == "rm":
            k.removexattr(op[1], op[2])
            return None
        if kind == "list":
            _, path, size, unprivileged = op
            if unprivileged:
                with k.become(1000, 1000):
                    return _list(k, path, size)
            return _list(k, path, size)
        path = "/d/" + op[1] * op[2]
        if kind == "entry":
            k.mknod(path, stat.S_IFREG | 0o644)
        else:
            k.unlink(path)
        return None
    except OSError as exc:
        return errno.errorcode.get(exc.errno, exc.errno)


@pytest.mark.privileged
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_random_sequences_match_kernel(xfs_make, ops):
    sim = SimKernel("xfs")
    with xfs_make() as host:
        for k in (sim, host):
            k.mknod("/f", stat.S_IFREG | 0o666)
            k.mkdir("/d", 0o777)
        for i, op in enumerate(ops + [("list", t, s, False) for t in TARGETS
                                      for s in ("exact", 65536)]):
            got, want = _apply(sim, op), _apply(host, op)
            assert got == want, f"step {i}: {op[:3]}"
