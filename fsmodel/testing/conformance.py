"""The conformance suite: what Linux does, stated as checks any backend must pass.

Each check is a function ``check(k, s)`` of a fresh backend ``k`` (root
caller, umask 0, an empty root that is a mount point) and the
:class:`Situation` ``s`` it stands for (filesystem, options, kernel).  The
expected outcomes come from the specification (kernel-xattr-rules.md, which
was verified on Linux 6.18), never from fsmodel's own rules, so running the
suite on :class:`~fsmodel.HostKernel` checks the specification against the
kernel and running it on :class:`~fsmodel.SimKernel` checks the model.

Use :func:`checks_for` to select the checks that apply to a situation and
:func:`check_backend` to run them all; a failing check raises
``AssertionError`` saying which call did what instead of what.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Callable

from .._rules.codecs import (
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_USER,
    ACL_USER_OBJ,
    acl_value,
    fcaps_value,
)
from .backends import Situation

XATTR_CREATE, XATTR_REPLACE = 1, 2
ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
CAPS = "security.capability"
O_PATH = getattr(os, "O_PATH", 0o10000000)
AT_FDCWD = -100


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable
    applies: Callable[[Situation], bool]
    doc: str

    def __call__(self, k, s: Situation):
        return self.fn(k, s)


CHECKS: list[Check] = []


def check(applies: Callable[[Situation], bool] = lambda s: True):
    def wrap(fn):
        CHECKS.append(Check(fn.__name__, fn, applies, (fn.__doc__ or "").strip()))
        return fn

    return wrap


def checks_for(s: Situation) -> list[Check]:
    return [c for c in CHECKS if c.applies(s)]


def check_backend(factory, s: Situation) -> list[tuple[str, str]]:
    """Run every applicable check on fresh backends; returns [(check, failure)]."""
    failures = []
    for c in checks_for(s):
        with factory() as k:
            try:
                c(k, s)
            except AssertionError as exc:
                failures.append((c.name, str(exc)))
    return failures


# ------------------------------------------------------------------ helpers

def err(k, method, *args, code: int):
    """Assert that ``k.method(*args)`` fails with ``code``."""
    try:
        result = getattr(k, method)(*args)
    except OSError as exc:
        assert exc.errno == code, (
            f"{method}{_short(args)}: expected {errno.errorcode[code]}, "
            f"got {errno.errorcode.get(exc.errno, exc.errno)}")
        return exc
    raise AssertionError(f"{method}{_short(args)}: expected {errno.errorcode[code]}, got {result!r}")


def ok(k, method, *args, **kwargs):
    try:
        return getattr(k, method)(*args, **kwargs)
    except OSError as exc:
        raise AssertionError(f"{method}{_short(args)}: expected success, got "
                             f"{errno.errorcode.get(exc.errno, exc.errno)}") from None


def same(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def _short(args):
    out = []
    for a in args:
        if isinstance(a, (bytes, str)) and len(a) > 30:
            out.append(f"<{len(a)} {'bytes' if isinstance(a, bytes) else 'chars'}>")
        else:
            out.append(repr(a))
    return "(" + ", ".join(out) + ")"


def prepare(k, mode=0o755):
    """A world-searchable work directory /w with a root-owned regular file /w/f."""
    ok(k, "chmod", "/", 0o755)
    ok(k, "mkdir", "/w", 0o755)
    ok(k, "chmod", "/w", mode)
    ok(k, "mknod", "/w/f", stat.S_IFREG | 0o644, 0)
    ok(k, "chmod", "/w/f", 0o644)
    return "/w/f"


def has_xattrs(s):
    return s.fs != "ramfs"


def user_ok(s):
    """Can user.* attributes be set here at all?"""
    return s.fs != "ramfs" and (s.fs != "tmpfs" or s.feats.tmpfs_user_xattr)


def fs_is(*names):
    return lambda s: s.fs in names


FULL_ACL = acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 1000), (ACL_GROUP_OBJ, 4, None),
                     (ACL_MASK, 6, None), (ACL_OTHER, 4, None))


# ------------------------------------------------------- R1: argument checks

@check(has_xattrs)
def flags_other_than_create_and_replace_are_einval(k, s):
    """Any flag bit other than XATTR_CREATE|XATTR_REPLACE is EINVAL (R1.2)."""
    f = prepare(k)
    for flags in (4, 8, -1, 0x100):
        err(k, "setxattr", f, "user.a", b"v", flags, code=errno.EINVAL)


@check(has_xattrs)
def name_length_limits(k, s):
    """Empty names and names of 256 bytes or more are ERANGE; 255 bytes pass (R1.3)."""
    f = prepare(k)
    for method, args in (("setxattr", (b"v",)), ("getxattr", ()), ("removexattr", ())):
        err(k, method, f, "", *args, code=errno.ERANGE)
        err(k, method, f, "user." + "n" * 251, *args, code=errno.ERANGE)
    if user_ok(s):
        ok(k, "setxattr", f, "user." + "n" * 250, b"")
        same(ok(k, "getxattr", f, "user." + "n" * 250), b"", "value of a 255-byte name")


@check(has_xattrs)
def value_larger_than_64k_is_e2big(k, s):
    """A value of more than XATTR_SIZE_MAX (65536) bytes is E2BIG (R1.4)."""
    f = prepare(k)
    err(k, "setxattr", f, "user.a", b"x" * 65537, code=errno.E2BIG)
    err(k, "setxattr", f, "trusted.a", b"x" * 65537, code=errno.E2BIG)


@check(lambda s: s.feats.args_before_lookup)
def arguments_are_checked_before_lookup(k, s):
    """Since 6.13, flag, name and size errors beat ENOENT, EROFS and EBADF (§1.1)."""
    prepare(k)
    err(k, "setxattr", "/w/missing", "", b"v", code=errno.ERANGE)
    err(k, "setxattr", "/w/missing", "user.a", b"v", 4, code=errno.EINVAL)
    err(k, "getxattr", "/w/missing", "user." + "n" * 300, code=errno.ERANGE)
    err(k, "fsetxattr", -1, "user.a", b"v", -1, code=errno.EINVAL)
    err(k, "fgetxattr", -1, "u" * 300, code=errno.ERANGE)
    err(k, "fremovexattr", -1, "", code=errno.ERANGE)
    ok(k, "remount", "/", True)
    err(k, "setxattr", "/w/f", "user.a", b"x" * 65537, code=errno.E2BIG)


@check(lambda s: not s.feats.args_before_lookup)
def lookup_came_first_before_6_13(k, s):
    """Before 6.13 the path was looked up (and the mount checked) before the arguments."""
    prepare(k)
    err(k, "setxattr", "/w/missing", "", b"v", code=errno.ENOENT)
    err(k, "fsetxattr", -1, "user.a", b"v", -1, code=errno.EBADF)
    ok(k, "remount", "/", True)
    err(k, "setxattr", "/w/f", "user.a", b"v", 4, code=errno.EROFS)


@check(has_xattrs)
def bad_and_o_path_fds_are_ebadf(k, s):
    """Closed fds and O_PATH fds are EBADF for every f* call (R1.1)."""
    f = prepare(k)
    err(k, "fsetxattr", 99, "user.a", b"v", code=errno.EBADF)
    err(k, "fgetxattr", 99, "user.a", code=errno.EBADF)
    err(k, "flistxattr", 99, code=errno.EBADF)
    err(k, "fremovexattr", 99, "user.a", code=errno.EBADF)
    fd = ok(k, "open", f, O_PATH)
    err(k, "fgetxattr", fd, "user.a", code=errno.EBADF)
    err(k, "flistxattr", fd, code=errno.EBADF)
    ok(k, "close", fd)


@check(lambda s: s.feats.fdcwd_is_cwd and user_ok(s))
def at_fdcwd_means_the_cwd_for_get_and_set(k, s):
    """f{get,set}xattr(AT_FDCWD) act on the current directory; flist/fremove are EBADF (R1.1)."""
    prepare(k)
    ok(k, "chdir", "/w")
    ok(k, "fsetxattr", AT_FDCWD, "user.cwd", b"here")
    same(ok(k, "getxattr", "/w", "user.cwd"), b"here", "value set through AT_FDCWD")
    same(ok(k, "fgetxattr", AT_FDCWD, "user.cwd"), b"here", "value read through AT_FDCWD")
    err(k, "flistxattr", AT_FDCWD, code=errno.EBADF)
    err(k, "fremovexattr", AT_FDCWD, "user.cwd", code=errno.EBADF)


@check(has_xattrs)
def lookup_errors(k, s):
    """ENOENT, ENOTDIR, EACCES on search, ENAMETOOLONG and ELOOP come from the path walk (R1.5)."""
    f = prepare(k)
    err(k, "getxattr", "/w/missing", "user.a", code=errno.ENOENT)
    err(k, "getxattr", "", "user.a", code=errno.ENOENT)
    err(k, "getxattr", f + "/x", "user.a", code=errno.ENOTDIR)
    err(k, "getxattr", "/w/" + "n" * 256, "user.a", code=errno.ENAMETOOLONG)
    err(k, "getxattr", "/" + "a/" * 2100, "user.a", code=errno.ENAMETOOLONG)
    ok(k, "symlink", "loop2", "/w/loop1")
    ok(k, "symlink", "loop1", "/w/loop2")
    err(k, "getxattr", "/w/loop1", "user.a", code=errno.ELOOP)
    err(k, "lgetxattr", "/w/loop1", "user.a", code=errno.ENODATA)
    ok(k, "mkdir", "/w/closed", 0o700)
    ok(k, "mknod", "/w/closed/f", stat.S_IFREG | 0o666, 0)
    with k.become(1000):
        err(k, "listxattr", "/w/closed/f", code=errno.EACCES)
        err(k, "setxattr", "/w/closed/f", "user.a", b"v", code=errno.EACCES)


@check(has_xattrs)
def lookup_comes_before_the_mount_and_the_inode(k, s):
    """Lookup errors beat EROFS, ACL routing and every inode check (S4 < S5 < S6, G2 < G3, L1, X2 < X3)."""
    f = prepare(k)
    ok(k, "mkdir", "/w/closed", 0o700)
    ok(k, "remount", "/", True)
    err(k, "setxattr", "/w/missing", "user.a", b"v", code=errno.ENOENT)
    err(k, "removexattr", "/w/missing", "user.a", code=errno.ENOENT)
    err(k, "setxattr", f + "/x", ACCESS, b"junk", code=errno.ENOTDIR)
    err(k, "getxattr", "/w/missing", ACCESS, code=errno.ENOENT)
    err(k, "listxattr", "/w/missing", code=errno.ENOENT)
    with k.become(1000):
        err(k, "setxattr", "/w/closed/x", "user.a", b"v", code=errno.EACCES)
        err(k, "getxattr", "/w/closed/x", ACCESS, code=errno.EACCES)
    ok(k, "remount", "/", False)


# ------------------------------------------------------- read-only mounts

@check(has_xattrs)
def read_only_mount_refuses_writes_only(k, s):
    """set and remove are EROFS on a read-only mount, before any other check; get and list work (R1.6)."""
    f = prepare(k)
    if user_ok(s):
        ok(k, "setxattr", f, "user.a", b"v")
    ok(k, "set_flags", f, True)
    ok(k, "remount", "/", True)
    err(k, "setxattr", f, "user.b", b"v", code=errno.EROFS)
    err(k, "removexattr", f, "user.a", code=errno.EROFS)
    err(k, "setxattr", f, CAPS, b"garbage", code=errno.EROFS)
    err(k, "setxattr", f, ACCESS, b"garbage", code=errno.EROFS)
    with k.become(1000):
        err(k, "setxattr", f, "trusted.a", b"v", code=errno.EROFS)
    if user_ok(s):
        same(ok(k, "getxattr", f, "user.a"), b"v", "read on a read-only mount")
        assert "user.a" in ok(k, "listxattr", f)
    ok(k, "remount", "/", False)
    ok(k, "set_flags", f, False)


# ------------------------------------------------------- R2: namespaces

@check(has_xattrs)
def unknown_and_bare_names(k, s):
    """Unknown prefixes are EOPNOTSUPP, bare prefixes EINVAL, for root (R2.1, R2.2, R2.4)."""
    f = prepare(k)
    for name in ("foo.bar", "user", "system.foo", "system.", "os2.x"):
        err(k, "setxattr", f, name, b"v", code=errno.EOPNOTSUPP)
        err(k, "getxattr", f, name, code=errno.EOPNOTSUPP)
        err(k, "removexattr", f, name, code=errno.EOPNOTSUPP)
    for name in ("trusted.", "security."):
        err(k, "setxattr", f, name, b"v", code=errno.EINVAL)
        err(k, "getxattr", f, name, code=errno.EINVAL)
    err(k, "setxattr", f, "user.", b"v", code=errno.EINVAL if user_ok(s) else errno.EOPNOTSUPP)


@check(has_xattrs)
def permission_checks_come_before_name_resolution(k, s):
    """A caller without write permission sees EACCES for unknown and bare names (R2.1, R2.2)."""
    f = prepare(k)
    with k.become(1000):
        for name in ("foo.bar", "user.", "user"):
            err(k, "setxattr", f, name, b"v", code=errno.EACCES)
    ok(k, "chmod", f, 0o600)
    with k.become(1000):
        err(k, "getxattr", f, "foo.bar", code=errno.EACCES)


@check(fs_is("ext4"))
def gnu_namespace_on_ext4(k, s):
    """ext4 has a gnu.* handler (Hurd) with plain DAC and no file-type rule (R2.5)."""
    f = prepare(k)
    ok(k, "setxattr", f, "gnu.translator", b"/hurd/x")
    same(ok(k, "getxattr", f, "gnu.translator"), b"/hurd/x", "gnu.* value")
    assert "gnu.translator" in ok(k, "listxattr", f)
    ok(k, "mknod", "/w/p", stat.S_IFIFO | 0o666, 0)
    ok(k, "setxattr", "/w/p", "gnu.x", b"v")
    with k.become(1000):
        err(k, "setxattr", f, "gnu.y", b"v", code=errno.EACCES)


@check(lambda s: s.fs not in ("ext4", "ramfs"))
def gnu_namespace_elsewhere(k, s):
    """gnu.* exists only on ext4 (R2.5)."""
    f = prepare(k)
    err(k, "setxattr", f, "gnu.translator", b"v", code=errno.EOPNOTSUPP)


@check(fs_is("btrfs"))
def btrfs_properties(k, s):
    """btrfs.* names are validated properties: only btrfs.compression exists (R2.5)."""
    f = prepare(k)
    ok(k, "setxattr", f, "btrfs.compression", b"zstd")
    same(ok(k, "getxattr", f, "btrfs.compression"), b"zstd", "btrfs.compression")
    err(k, "setxattr", f, "btrfs.compression", b"bogus", code=errno.EINVAL)
    err(k, "setxattr", f, "btrfs.foo", b"v", code=errno.EINVAL)
    err(k, "removexattr", f, "btrfs.foo", code=errno.EINVAL)
    err(k, "setxattr", f, "btrfs.", b"v", code=errno.EINVAL)


@check(lambda s: s.fs not in ("btrfs", "ramfs"))
def btrfs_namespace_elsewhere(k, s):
    """btrfs.* exists only on btrfs (R2.5)."""
    f = prepare(k)
    err(k, "setxattr", f, "btrfs.compression", b"zstd", code=errno.EOPNOTSUPP)


@check(fs_is("ramfs"))
def no_xattr_support(k, s):
    """Without xattr support set/get/remove are EOPNOTSUPP in every namespace and list is empty (R2.3)."""
    f = prepare(k)
    values = {ACCESS: FULL_ACL, CAPS: fcaps_value(permitted=1)}
    for name in ("user.a", "trusted.a", "security.a", CAPS, ACCESS, "foo.bar"):
        err(k, "setxattr", f, name, values.get(name, b"v"), code=errno.EOPNOTSUPP)
        err(k, "getxattr", f, name, code=errno.EOPNOTSUPP)
        err(k, "removexattr", f, name, code=errno.EOPNOTSUPP)
    same(ok(k, "listxattr", f), [], "listing")
    same(ok(k, "listxattr", f, 0), 0, "listing size")
    ok(k, "mknod", "/w/p", stat.S_IFIFO | 0o644, 0)
    err(k, "setxattr", "/w/p", "user.a", b"v", code=errno.EPERM)


@check(lambda s: s.fs == "tmpfs" and not s.feats.tmpfs_user_xattr)
def tmpfs_without_user_xattrs_before_6_6(k, s):
    """Before 6.6 tmpfs has no user.* handler: EOPNOTSUPP after the permission checks (§5)."""
    f = prepare(k)
    err(k, "setxattr", f, "user.a", b"v", code=errno.EOPNOTSUPP)
    err(k, "getxattr", f, "user.a", code=errno.EOPNOTSUPP)
    ok(k, "setxattr", f, "trusted.a", b"v")
    with k.become(1000):
        err(k, "setxattr", f, "user.a", b"v", code=errno.EACCES)


# ------------------------------------------------------- R3: xattr_permission

@check(user_ok)
def user_xattrs_only_on_regular_files_and_directories(k, s):
    """user.* on symlinks, fifos, devices and sockets: EPERM to write, ENODATA to read (R3.4)."""
    prepare(k)
    ok(k, "symlink", "f", "/w/l")
    ok(k, "mknod", "/w/p", stat.S_IFIFO | 0o666, 0)
    ok(k, "mknod", "/w/c", stat.S_IFCHR | 0o666, 0)
    ok(k, "mknod", "/w/b", stat.S_IFBLK | 0o666, 0)
    ok(k, "mknod", "/w/s", stat.S_IFSOCK | 0o666, 0)
    for path in ("/w/l", "/w/p", "/w/c", "/w/b", "/w/s"):
        err(k, "lsetxattr", path, "user.a", b"v", code=errno.EPERM)
        err(k, "lgetxattr", path, "user.a", code=errno.ENODATA)
        err(k, "lremovexattr", path, "user.a", code=errno.EPERM)
        ok(k, "lsetxattr", path, "trusted.a", b"v")
    ok(k, "setxattr", "/w/l", "user.a", b"through the link")
    same(ok(k, "getxattr", "/w/f", "user.a"), b"through the link", "value set through a symlink")
    ok(k, "setxattr", "/w", "user.dir", b"v")


@check(user_ok)
def sticky_directories(k, s):
    """On a sticky directory only its owner or CAP_FOWNER may write user.* (EPERM before DAC) (R3.4)."""
    prepare(k)
    ok(k, "mkdir", "/w/tmp", 0o1777)
    ok(k, "chmod", "/w/tmp", 0o1777)
    with k.become(1000):
        err(k, "setxattr", "/w/tmp", "user.a", b"v", code=errno.EPERM)
        err(k, "removexattr", "/w/tmp", "user.a", code=errno.EPERM)
        err(k, "getxattr", "/w/tmp", "user.a", code=errno.ENODATA)
    with k.become(1000, caps=["CAP_FOWNER"]):
        ok(k, "setxattr", "/w/tmp", "user.a", b"v")
    ok(k, "chown", "/w/tmp", 1000, 1000)
    with k.become(1000):
        ok(k, "setxattr", "/w/tmp", "user.b", b"v")
    ok(k, "chmod", "/w/tmp", 0o1755)
    with k.become(1001):
        err(k, "setxattr", "/w/tmp", "user.c", b"v", code=errno.EPERM)


@check(user_ok)
def dac_for_user_xattrs(k, s):
    """user.* needs write permission to set and read permission to get; owners are not exempt (R3.5)."""
    f = prepare(k)
    ok(k, "setxattr", f, "user.a", b"v")
    with k.become(1000):
        err(k, "setxattr", f, "user.b", b"v", code=errno.EACCES)
        err(k, "removexattr", f, "user.a", code=errno.EACCES)
        same(ok(k, "getxattr", f, "user.a"), b"v", "read with o+r")
    ok(k, "chmod", f, 0o640)
    ok(k, "chown", f, 0, 1000)
    with k.become(1001):
        err(k, "getxattr", f, "user.a", code=errno.EACCES)
    with k.become(1001, groups=(1000,)):
        same(ok(k, "getxattr", f, "user.a"), b"v", "read through a supplementary group")
    ok(k, "chown", f, 1000, 1000)
    ok(k, "chmod", f, 0o444)
    with k.become(1000):
        err(k, "setxattr", f, "user.b", b"v", code=errno.EACCES)
    ok(k, "chmod", f, 0o000)
    with k.become(1001, caps=["CAP_DAC_OVERRIDE"]):
        ok(k, "setxattr", f, "user.b", b"v")
    with k.become(1001, caps=["CAP_DAC_READ_SEARCH"]):
        same(ok(k, "getxattr", f, "user.b"), b"v", "read with CAP_DAC_READ_SEARCH")
        err(k, "setxattr", f, "user.c", b"v", code=errno.EACCES)


@check(user_ok)
def directory_xattrs_need_read_not_search(k, s):
    """Reading a directory's user.* needs read permission; search alone is not enough (R3.5)."""
    prepare(k)
    ok(k, "mkdir", "/w/d", 0o711)
    ok(k, "chmod", "/w/d", 0o711)
    ok(k, "setxattr", "/w/d", "user.a", b"v")
    with k.become(1000):
        err(k, "getxattr", "/w/d", "user.a", code=errno.EACCES)
        same(ok(k, "listxattr", "/w/d"), ["user.a"], "listing needs no permission")


@check(has_xattrs)
def trusted_namespace(k, s):
    """trusted.* needs CAP_SYS_ADMIN and nothing else; others get EPERM or ENODATA (R3.3)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o000)
    ok(k, "setxattr", f, "trusted.a", b"v")
    with k.become(1000):
        err(k, "setxattr", f, "trusted.b", b"v", code=errno.EPERM)
        err(k, "getxattr", f, "trusted.a", code=errno.ENODATA)
        err(k, "removexattr", f, "trusted.a", code=errno.EPERM)
    with k.become(0, caps=()):
        err(k, "setxattr", f, "trusted.b", b"v", code=errno.EPERM)
    with k.become(1000, caps=["CAP_SYS_ADMIN"]):
        ok(k, "setxattr", f, "trusted.b", b"v")
        same(ok(k, "getxattr", f, "trusted.a"), b"v", "trusted.* read with CAP_SYS_ADMIN")


@check(has_xattrs)
def trusted_names_hidden_from_listings(k, s):
    """Listings omit trusted.* for callers without CAP_SYS_ADMIN, except on btrfs (R7)."""
    f = prepare(k)
    ok(k, "setxattr", f, "trusted.a", b"v")
    ok(k, "setxattr", f, "security.b", b"v")
    same(sorted(ok(k, "listxattr", f)), ["security.b", "trusted.a"], "root's listing")
    with k.become(1000):
        expected = ["security.b", "trusted.a"] if s.fs == "btrfs" else ["security.b"]
        same(sorted(ok(k, "listxattr", f)), expected, "unprivileged listing")


@check(has_xattrs)
def immutable_and_append_only(k, s):
    """Immutable and append-only inodes refuse every xattr write with EPERM; reads work (R3.1)."""
    f = prepare(k)
    ok(k, "setxattr", f, "trusted.a", b"v")
    for flags in ((True, False), (False, True)):
        ok(k, "set_flags", f, *flags)
        err(k, "setxattr", f, "trusted.b", b"v", code=errno.EPERM)
        err(k, "removexattr", f, "trusted.a", code=errno.EPERM)
        err(k, "setxattr", f, "security.a", b"v", code=errno.EPERM)
        err(k, "setxattr", f, ACCESS, FULL_ACL, code=errno.EPERM)
        same(ok(k, "getxattr", f, "trusted.a"), b"v", "read of an immutable inode")
        err(k, "setxattr", f, CAPS, b"garbage", code=errno.EINVAL)
        ok(k, "set_flags", f, False, False)


# ------------------------------------------------------- R4: security.*

@check(has_xattrs)
def security_namespace(k, s):
    """security.* writes need CAP_SYS_ADMIN even for the owner; reads need nothing (R4.1, R4.5)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o000)
    ok(k, "setxattr", f, "security.a", b"v")
    ok(k, "chown", f, 1000, 1000)
    ok(k, "chmod", f, 0o600)
    with k.become(1000):
        err(k, "setxattr", f, "security.b", b"v", code=errno.EPERM)
        err(k, "removexattr", f, "security.a", code=errno.EPERM)
        err(k, "setxattr", f, "security.", b"v", code=errno.EPERM)
    with k.become(1001):
        same(ok(k, "getxattr", f, "security.a"), b"v", "security.* read by anybody")
    with k.become(1001, caps=["CAP_SYS_ADMIN"]):
        ok(k, "setxattr", f, "security.b", b"v")


@check(has_xattrs)
def file_capabilities(k, s):
    """security.capability: v2/v3 only (EINVAL), CAP_SETFCAP (EPERM), v3 with rootid 0 read back as v2 (R4.2, R4.3)."""
    f = prepare(k)
    v2 = fcaps_value(permitted=1 << 10)
    v3 = fcaps_value(permitted=1 << 10, rootid=0)
    for junk in (b"x", b"\x00\x00\x00\x01" + b"\x00" * 8, v2[:-1], v2 + b"\x00" * 8,
                 b"\x02\x00\x00\x02" + v2[4:]):
        err(k, "setxattr", f, CAPS, junk, code=errno.EINVAL)
    with k.become(1000, caps=["CAP_SYS_ADMIN"]):
        err(k, "setxattr", f, CAPS, v2, code=errno.EPERM)
        err(k, "setxattr", f, CAPS, b"junk", code=errno.EINVAL)
    with k.become(1000, caps=["CAP_SETFCAP"]):
        ok(k, "setxattr", f, CAPS, v2)
    same(ok(k, "getxattr", f, CAPS), v2, "v2 read back")
    ok(k, "setxattr", f, CAPS, v3)
    same(ok(k, "getxattr", f, CAPS, 0), 20, "length of a v3 value with rootid 0")
    same(ok(k, "getxattr", f, CAPS), v2, "v3 with rootid 0 read back as v2")
    v3u = fcaps_value(permitted=1 << 10, rootid=1000)
    ok(k, "setxattr", f, CAPS, v3u)
    same(ok(k, "getxattr", f, CAPS), v3u, "v3 with rootid 1000")
    err(k, "setxattr", f, CAPS, fcaps_value(permitted=1, rootid=0xFFFFFFFF), code=errno.EINVAL)
    with k.become(1000, caps=["CAP_SYS_ADMIN"]):
        err(k, "removexattr", f, CAPS, code=errno.EPERM)
    ok(k, "removexattr", f, CAPS)


@check(has_xattrs)
def empty_file_capability_quirk(k, s):
    """Anyone who can resolve a path may store an empty security.capability; it then reads as EINVAL (§8.1)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o755)
    with k.become(1001):
        ok(k, "setxattr", f, CAPS, b"")
    err(k, "getxattr", f, CAPS, code=errno.EINVAL)
    assert CAPS in ok(k, "listxattr", f)
    with k.become(1001):
        err(k, "removexattr", f, CAPS, code=errno.EPERM)
    ok(k, "removexattr", f, CAPS)


@check(has_xattrs)
def chown_drops_file_capabilities_and_setuid(k, s):
    """chown of a non-directory clears setuid and drops security.capability (notify_change)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o4755)
    ok(k, "setxattr", f, CAPS, fcaps_value(permitted=1 << 10))
    ok(k, "chown", f, 1000, 1000)
    same(ok(k, "stat", f).st_mode & 0o7777, 0o755, "mode after chown")
    err(k, "getxattr", f, CAPS, code=errno.ENODATA)


# ------------------------------------------------------- R5: handler semantics

@check(user_ok)
def create_and_replace_flags(k, s):
    """XATTR_CREATE on an existing name is EEXIST, XATTR_REPLACE on a missing one ENODATA (R5.1)."""
    f = prepare(k)
    err(k, "setxattr", f, "user.a", b"v", XATTR_REPLACE, code=errno.ENODATA)
    ok(k, "setxattr", f, "user.a", b"v", XATTR_CREATE)
    err(k, "setxattr", f, "user.a", b"w", XATTR_CREATE, code=errno.EEXIST)
    ok(k, "setxattr", f, "user.a", b"w", XATTR_REPLACE)
    err(k, "setxattr", f, "user.a", b"x", XATTR_CREATE | XATTR_REPLACE, code=errno.EEXIST)
    if s.fs == "xfs" and s.feats.xfs_both_flags_create:
        ok(k, "setxattr", f, "user.b", b"x", XATTR_CREATE | XATTR_REPLACE)
    else:
        err(k, "setxattr", f, "user.b", b"x", XATTR_CREATE | XATTR_REPLACE, code=errno.ENODATA)
    ok(k, "setxattr", f, "user.a", b"w")  # identical value
    with k.become(1000):
        err(k, "setxattr", f, "user.a", b"v", XATTR_CREATE, code=errno.EACCES)
        err(k, "removexattr", f, "user.zz", code=errno.EACCES)


@check(user_ok)
def empty_values_and_removal(k, s):
    """A zero-length value is an attribute; removing a missing name is ENODATA (R5.2, R5.3)."""
    f = prepare(k)
    ok(k, "setxattr", f, "user.empty", b"")
    same(ok(k, "getxattr", f, "user.empty"), b"", "empty value")
    same(ok(k, "getxattr", f, "user.empty", 0), 0, "length of an empty value")
    assert "user.empty" in ok(k, "listxattr", f)
    ok(k, "removexattr", f, "user.empty")
    err(k, "removexattr", f, "user.empty", code=errno.ENODATA)
    err(k, "getxattr", f, "user.empty", code=errno.ENODATA)


# ------------------------------------------------------- R6, R7: sizes

@check(user_ok)
def getxattr_size_protocol(k, s):
    """size 0 returns the length, a short buffer is ERANGE, buffers over 64 KiB are clamped (R6)."""
    f = prepare(k)
    ok(k, "setxattr", f, "user.a", b"12345")
    same(ok(k, "getxattr", f, "user.a", 0), 5, "size 0")
    err(k, "getxattr", f, "user.a", 4, code=errno.ERANGE)
    same(ok(k, "getxattr", f, "user.a", 5), b"12345", "exact buffer")
    same(ok(k, "getxattr", f, "user.a", 1 << 20), b"12345", "huge buffer")


@check(user_ok)
def listxattr_size_protocol(k, s):
    """size 0 returns the bytes needed; a buffer that cannot hold every name is ERANGE (R7)."""
    f = prepare(k)
    ok(k, "setxattr", f, "user.a", b"")
    ok(k, "setxattr", f, "user.bb", b"")
    same(ok(k, "listxattr", f, 0), 15, "bytes needed")
    err(k, "listxattr", f, 14, code=errno.ERANGE)
    same(sorted(ok(k, "listxattr", f, 15)), ["user.a", "user.bb"], "exact buffer")
    ok(k, "chmod", f, 0o000)
    with k.become(1000):
        same(sorted(ok(k, "listxattr", f)), ["user.a", "user.bb"], "listing needs no permission")


@check(lambda s: s.fs in ("tmpfs", "xfs", "btrfs") and user_ok(s) and not s.option("nr_inodes"))
def names_beyond_list_max_cannot_be_listed(k, s):
    """More than 64 KiB of names can be stored, but every listing with a buffer is E2BIG (R7)."""
    f = prepare(k)
    for i in range(300):
        ok(k, "setxattr", f, "user.%03d" % i + "n" * 247, b"")
    same(ok(k, "listxattr", f, 0), 76800, "bytes needed")
    err(k, "listxattr", f, code=errno.E2BIG)
    err(k, "listxattr", f, 10, code=errno.ERANGE)


# ------------------------------------------------------- listing order

ORDER = ("user.zz", "user.aa", "trusted.b", "security.c", "user.mm", "user.B")


@check(user_ok)
def listing_order(k, s):
    """Each filesystem lists in its own order, not insertion order (R7)."""
    f = prepare(k)
    for name in ORDER:
        ok(k, "setxattr", f, name, b"")
    expected = {
        "tmpfs": sorted(ORDER, reverse=True),
        "xfs": list(ORDER),
        # four 20-byte entries fill the 88 bytes in a 256-byte inode; the block is sorted
        # by (name index, suffix length, suffix)
        "ext4": ["user.zz", "user.aa", "trusted.b", "security.c", "user.B", "user.mm"]
        if s.option("inode_size", 256) > 128 else
        ["user.B", "user.aa", "user.mm", "user.zz", "trusted.b", "security.c"],
        # crc32c(~1, name) order
        "btrfs": ["user.mm", "user.B", "trusted.b", "security.c", "user.zz", "user.aa"],
    }[s.fs]
    if s.fs == "tmpfs" and s.feats.tmpfs_hash_order:
        return
    same(ok(k, "listxattr", f), expected, "listing order")


# ------------------------------------------------------- R8: POSIX ACLs

@check(has_xattrs)
def acl_decoding(k, s):
    """ACL values are decoded before anything else: EINVAL, EOPNOTSUPP for a wrong version (R8.2)."""
    f = prepare(k)
    err(k, "setxattr", f, ACCESS, b"\x02\x00", code=errno.EINVAL)
    err(k, "setxattr", f, ACCESS, acl_value((ACL_USER_OBJ, 6, None), version=1), code=errno.EOPNOTSUPP)
    err(k, "setxattr", f, ACCESS, FULL_ACL[:-3], code=errno.EINVAL)
    err(k, "setxattr", f, ACCESS, acl_value((0x40, 6, None)), code=errno.EINVAL)
    err(k, "setxattr", f, ACCESS, acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 0xFFFFFFFF),
                                          (ACL_GROUP_OBJ, 4, None), (ACL_MASK, 6, None),
                                          (ACL_OTHER, 4, None)), code=errno.EINVAL)
    ok(k, "set_flags", f, True)
    err(k, "setxattr", f, ACCESS, b"\x02\x00", code=errno.EINVAL)
    ok(k, "set_flags", f, False)


@check(has_xattrs)
def acl_validity(k, s):
    """posix_acl_valid: order, a mask with named entries, rwx only; duplicates pass (R8.7)."""
    f = prepare(k)
    bad = [
        acl_value((ACL_GROUP_OBJ, 4, None), (ACL_USER_OBJ, 6, None), (ACL_OTHER, 4, None)),
        acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 1000), (ACL_GROUP_OBJ, 4, None),
                  (ACL_OTHER, 4, None)),
        acl_value((ACL_USER_OBJ, 6, None), (ACL_GROUP_OBJ, 4, None), (ACL_OTHER, 8, None)),
        acl_value((ACL_USER_OBJ, 6, None), (ACL_GROUP_OBJ, 4, None)),
    ]
    for value in bad:
        err(k, "setxattr", f, ACCESS, value, code=errno.EINVAL)
    ok(k, "setxattr", f, ACCESS, acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 1000),
                                          (ACL_USER, 4, 1000), (ACL_GROUP_OBJ, 4, None),
                                          (ACL_MASK, 6, None), (ACL_OTHER, 4, None)))


@check(has_xattrs)
def acl_owner_rule_and_flags(k, s):
    """Only the owner or CAP_FOWNER may set an ACL (EPERM, write permission irrelevant); flags are ignored (R8.1, R8.6)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o666)
    with k.become(1000):
        err(k, "setxattr", f, ACCESS, FULL_ACL, code=errno.EPERM)
        err(k, "removexattr", f, ACCESS, code=errno.EPERM)
    ok(k, "chown", f, 1000, 1000)
    ok(k, "chmod", f, 0o400)
    with k.become(1000):
        ok(k, "setxattr", f, ACCESS, FULL_ACL, XATTR_CREATE)
        ok(k, "setxattr", f, ACCESS, FULL_ACL, XATTR_CREATE)
    with k.become(1001, caps=["CAP_FOWNER"]):
        ok(k, "removexattr", f, ACCESS)
        ok(k, "removexattr", f, ACCESS)


@check(has_xattrs)
def acl_types(k, s):
    """Default ACLs only on directories (EACCES, removal succeeds); none on symlinks (EOPNOTSUPP) (R8.4, R8.5)."""
    f = prepare(k)
    err(k, "setxattr", f, DEFAULT, FULL_ACL, code=errno.EACCES)
    ok(k, "removexattr", f, DEFAULT)
    err(k, "getxattr", f, DEFAULT, code=errno.ENODATA)
    ok(k, "setxattr", "/w", DEFAULT, FULL_ACL)
    same(ok(k, "getxattr", "/w", DEFAULT), FULL_ACL, "default ACL")
    ok(k, "symlink", "f", "/w/l")
    err(k, "lsetxattr", "/w/l", ACCESS, FULL_ACL, code=errno.EOPNOTSUPP)
    err(k, "lgetxattr", "/w/l", ACCESS, code=errno.EOPNOTSUPP)
    err(k, "lremovexattr", "/w/l", ACCESS, code=errno.EOPNOTSUPP)
    ok(k, "mknod", "/w/p", stat.S_IFIFO | 0o644, 0)
    ok(k, "setxattr", "/w/p", ACCESS, FULL_ACL)


@check(has_xattrs)
def acl_and_mode(k, s):
    """An access ACL sets the mode (group bits = mask); a mode-equivalent one is not stored (R8.8)."""
    f = prepare(k)
    ok(k, "setxattr", f, ACCESS, acl_value((ACL_USER_OBJ, 7, None), (ACL_GROUP_OBJ, 5, None),
                                          (ACL_OTHER, 1, None)))
    same(ok(k, "stat", f).st_mode & 0o777, 0o751, "mode after a mode-equivalent ACL")
    err(k, "getxattr", f, ACCESS, code=errno.ENODATA)
    assert ACCESS not in ok(k, "listxattr", f)
    ok(k, "setxattr", f, ACCESS, FULL_ACL)
    same(ok(k, "stat", f).st_mode & 0o777, 0o664, "mode after an extended ACL")
    same(ok(k, "getxattr", f, ACCESS), FULL_ACL, "extended ACL")
    same(ok(k, "getxattr", f, ACCESS, 0), 44, "ACL size")
    err(k, "getxattr", f, ACCESS, 43, code=errno.ERANGE)
    assert ACCESS in ok(k, "listxattr", f)
    ok(k, "chmod", f, 0o604)
    same(ok(k, "getxattr", f, ACCESS)[-16:-8], acl_value((ACL_MASK, 0, None))[4:], "mask after chmod")


@check(has_xattrs)
def acl_reads_need_no_permission_and_grant_access(k, s):
    """ACL reads have no permission check; a named-user entry grants that user access (R8.9, R3.5)."""
    f = prepare(k)
    ok(k, "chmod", f, 0o600)
    ok(k, "setxattr", f, ACCESS, FULL_ACL)
    ok(k, "chmod", f, 0o600)
    with k.become(1001):
        same(ok(k, "getxattr", f, ACCESS)[:4], b"\x02\x00\x00\x00", "ACL read without permission")
    ok(k, "chmod", f, 0o660)
    if user_ok(s):
        with k.become(1000):
            ok(k, "setxattr", f, "user.via_acl", b"v")
        with k.become(1001):
            err(k, "setxattr", f, "user.x", b"v", code=errno.EACCES)


@check(has_xattrs)
def default_acl_is_inherited(k, s):
    """New inodes inherit a directory's default ACL (posix_acl_create), the umask not applied."""
    prepare(k)
    ok(k, "mkdir", "/w/d", 0o755)
    ok(k, "setxattr", "/w/d", DEFAULT, FULL_ACL)
    ok(k, "umask", 0o077)
    ok(k, "mknod", "/w/d/f", stat.S_IFREG | 0o666, 0)
    same(ok(k, "stat", "/w/d/f").st_mode & 0o777, 0o664, "mode of an inheriting file")
    same(ok(k, "getxattr", "/w/d/f", ACCESS), FULL_ACL, "inherited access ACL")
    err(k, "getxattr", "/w/d/f", DEFAULT, code=errno.ENODATA)
    ok(k, "mkdir", "/w/d/sub", 0o777)
    same(ok(k, "getxattr", "/w/d/sub", DEFAULT), FULL_ACL, "inherited default ACL")
    ok(k, "umask", 0)


# ------------------------------------------------------- R9: capacity

def _limit(k, f, name, fits, errno_past):
    ok(k, "setxattr", f, name, b"x" * fits)
    ok(k, "removexattr", f, name)
    err(k, "setxattr", f, name, b"x" * (fits + 1), code=errno_past)


@check(lambda s: s.fs == "ext4" and not s.option("ea_inode"))
def ext4_capacity(k, s):
    """ext4 keeps an inode's xattrs in the inode and one block: ENOSPC past the room (§4)."""
    f = prepare(k)
    bs = s.option("block_size", 4096)
    _limit(k, f, "user.v", bs - 56, errno.ENOSPC)
    _limit(k, f, "user." + "n" * 250, bs - 36 - 268, errno.ENOSPC)
    err(k, "setxattr", f, "user.v", b"x" * 65536, XATTR_REPLACE, code=errno.ENODATA)


@check(lambda s: s.fs == "ext4" and s.option("ea_inode"))
def ext4_ea_inode_capacity(k, s):
    """With ea_inode, ext4 stores values up to 64 KiB in their own inodes (§4)."""
    f = prepare(k)
    ok(k, "setxattr", f, "user.v", b"x" * 65536)
    same(ok(k, "getxattr", f, "user.v", 0), 65536, "large value")


@check(lambda s: s.fs == "ext4" and s.option("block_size", 4096) == 4096
       and s.option("inode_size", 256) == 256 and not s.option("ea_inode"))
def ext4_attribute_count(k, s):
    """ext4 4K with 256-byte inodes holds 172 empty attributes named user.NNNNN (§4)."""
    f = prepare(k)
    n = 0
    while True:
        try:
            k.setxattr(f, "user.%05d" % n, b"")
        except OSError as exc:
            same(exc.errno, errno.ENOSPC, "errno when full")
            break
        n += 1
    same(n, 172, "empty attributes per inode")


@check(lambda s: s.fs == "tmpfs" and s.feats.tmpfs_user_xattr and not s.option("nr_inodes"))
def tmpfs_limited_pool(k, s):
    """tmpfs with nr_inodes=64 charges 40 + name + value per xattr to a 64 KiB pool; ENOSPC before EEXIST (§4)."""
    prepare(k)
    ok(k, "mkdir", "/w/m", 0o755)
    ok(k, "mount", "/w/m", "tmpfs", False, nr_inodes=64)
    ok(k, "mknod", "/w/m/f", stat.S_IFREG | 0o644, 0)
    _limit(k, "/w/m/f", "user.v", 63442, errno.ENOSPC)
    ok(k, "setxattr", "/w/m/f", "user.v", b"x" * 60000)
    err(k, "setxattr", "/w/m/f", "user.v", b"x" * 60000, XATTR_CREATE, code=errno.ENOSPC)
    err(k, "setxattr", "/w/m/f", "user.v", b"y" * 60000, code=errno.ENOSPC)
    ok(k, "setxattr", "/w/m/f", "user.v", b"y" * 3000, XATTR_REPLACE)


@check(fs_is("btrfs"))
def btrfs_item_size(k, s):
    """btrfs: name + value over 16228 bytes is ENOSPC, checked before existence (§4)."""
    f = prepare(k)
    _limit(k, f, "user.v", 16222, errno.ENOSPC)
    err(k, "setxattr", f, "user.missing", b"x" * 30000, XATTR_REPLACE, code=errno.ENOSPC)


@check(fs_is("xfs", "tmpfs"))
def large_values(k, s):
    """xfs and default tmpfs take values up to 64 KiB (§4)."""
    f = prepare(k)
    if user_ok(s):
        ok(k, "setxattr", f, "user.v", b"x" * 65536)
        same(ok(k, "getxattr", f, "user.v", 0), 65536, "64 KiB value")


# ------------------------------------------------------- other syscalls

@check()
def readlink_listdir_and_write(k, s):
    """readlink answers only for symlinks, listdir needs read permission, write grows a file."""
    f = prepare(k)
    ok(k, "symlink", "../w/f", "/w/l")
    same(ok(k, "readlink", "/w/l"), "../w/f", "readlink")
    err(k, "readlink", f, code=errno.EINVAL)
    same(ok(k, "listdir", "/w"), ["f", "l"], "listdir")
    ok(k, "chmod", "/w", 0o711)
    with k.become(1000):
        err(k, "listdir", "/w", code=errno.EACCES)
        same(ok(k, "readlink", "/w/l"), "../w/f", "readlink without read permission")
    fd = ok(k, "open", f, os.O_WRONLY | os.O_TRUNC)
    same(ok(k, "write", fd, b"12345"), 5, "bytes written")
    ok(k, "close", fd)
    same(ok(k, "stat", f).st_size, 5, "size after write")
    fd = ok(k, "open", f, os.O_RDONLY)
    err(k, "write", fd, b"x", code=errno.EBADF)
    ok(k, "close", fd)


@check()
def special_files_and_permissions(k, s):
    """Device nodes need CAP_MKNOD (not the 0:0 whiteout); sticky directories protect entries."""
    prepare(k, 0o1777)
    with k.become(1000):
        err(k, "mknod", "/w/c", stat.S_IFCHR | 0o644, os.makedev(1, 3), code=errno.EPERM)
        ok(k, "mknod", "/w/wh", stat.S_IFCHR | 0o644, 0)
        ok(k, "mknod", "/w/p", stat.S_IFIFO | 0o644, 0)
        err(k, "unlink", "/w/f", code=errno.EPERM)
        err(k, "mknod", "/w/d", stat.S_IFDIR | 0o755, 0, code=errno.EPERM)
    with k.become(1001):
        err(k, "unlink", "/w/p", code=errno.EPERM)
        err(k, "chmod", "/w/p", 0o777, code=errno.EPERM)
        err(k, "chown", "/w/p", 1001, 1001, code=errno.EPERM)
