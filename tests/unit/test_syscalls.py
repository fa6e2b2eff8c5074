"""Table-driven tests of SimKernel's non-xattr syscalls, proven on the real kernel.

Every scenario is data: setup calls made as root, an optional caller, one call
under test and the expected outcome ("ok" or an errno name, optionally per
filesystem, plus stat fields to check afterwards).  ``test_simkernel`` runs
each scenario on :class:`~fsmodel.SimKernel`; ``test_hostkernel`` runs the very
same scenario on :class:`~fsmodel.HostKernel` over a scratch filesystem of the
same type, so every expectation written here is one the real kernel meets.

Where SimKernel disagrees with the kernel the scenario keeps the kernel's
outcome and is marked ``xfail(strict=True)`` for SimKernel only, with the
diagnosis as the reason (see ``SIM_DISAGREES``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass

import pytest

from fsmodel import SimKernel
from fsmodel.testing.backends import Situation, scratch_host_factory

FILESYSTEMS = ("tmpfs", "ext4", "xfs", "btrfs", "ramfs")
O_PATH = getattr(os, "O_PATH", 0o10000000)

REG, DIR, LNK = stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
FIFO, CHR, BLK, SOCK = stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK
RO, WO, RW = os.O_RDONLY, os.O_WRONLY, os.O_RDWR
CREAT, EXCL, TRUNC, APPEND = os.O_CREAT, os.O_EXCL, os.O_TRUNC, os.O_APPEND
NOFOLLOW, DIRECTORY, NONBLOCK = os.O_NOFOLLOW, os.O_DIRECTORY, os.O_NONBLOCK

TYPES = {"reg": REG, "dir": DIR, "lnk": LNK, "fifo": FIFO, "chr": CHR, "blk": BLK, "sock": SOCK}
# A character and a block device number no driver registers: opening them is ENXIO.
NODEV_CHR = os.makedev(240, 7)
NODEV_BLK = os.makedev(240, 7)


# --------------------------------------------------------------------- the table

@dataclass(frozen=True)
class Scenario:
    name: str
    setup: tuple
    call: tuple
    #: "ok" or an errno name; or {fs: outcome, "*": default}
    expect: object = "ok"
    #: (uid, gid, groups, caps) for become(); None: root with every capability
    caller: tuple | None = None
    #: ((path, {field: value or {fs: value, "*": default}}), ...) checked with lstat as root
    after: tuple = ()
    #: the call's return value (fds, old umasks)
    result: object = None
    #: the call returns a stat result of the same inode as stat(same_as)
    same_as: str | None = None
    fses: tuple = FILESYSTEMS
    #: fields of the stat result the call returns
    returns: tuple = ()

    def outcome(self, fs: str) -> str:
        return pick(self.expect, fs)


def pick(value, fs):
    if isinstance(value, dict):
        return value.get(fs, value.get("*"))
    return value


SCENARIOS: list[Scenario] = []


def S(name, setup, call, expect="ok", *, caller=None, after=(), result=None, same_as=None,
      fses=None, returns=None):
    setup = tuple(setup)
    if fses is None:
        # ramfs has no inode flags at all: scenarios that set them need another filesystem.
        uses_flags = any(step[0] == "set_flags" for step in setup) or call[0] == "set_flags"
        fses = tuple(f for f in FILESYSTEMS if f != "ramfs") if uses_flags else FILESYSTEMS
    assert all(s.name != name for s in SCENARIOS), name
    SCENARIOS.append(Scenario(name, setup, tuple(call), expect, caller, tuple(after), result,
                              same_as, tuple(fses), tuple((returns or {}).items())))


def F(path, mode=0o644):
    return ("mknod", path, REG | mode, 0)


def D(path, mode=0o755):
    return ("mkdir", path, mode)


def L(target, path):
    return ("symlink", target, path)


def own(path, uid, gid=None):
    return ("chown", path, uid, uid if gid is None else gid)


def chmod(path, mode):
    return ("chmod", path, mode)


def user(uid, gid=None, groups=(), caps=()):
    return (uid, uid if gid is None else gid, tuple(groups), tuple(caps))


U = user(1000)
U2 = user(1001)
ROOT_NOCAPS = user(0, caps=())
RO_ROOT = ("remount", "/", True)
GONE = {"exists": False}


def chain(n):
    """/s0 -> t, /s1 -> s0, ..., /s{n-1}: stat("/s{n-1}") follows n symlinks."""
    return [F("/t")] + [L("t" if i == 0 else f"s{i - 1}", f"/s{i}") for i in range(n)]


# ---------------------------------------------------------------- path lookup
S("lookup_missing", [], ("stat", "/nope"), "ENOENT")
S("lookup_missing_parent", [], ("stat", "/nope/x"), "ENOENT")
S("lookup_empty_path", [], ("stat", ""), "ENOENT")
S("lookup_file_as_dir", [F("/f")], ("stat", "/f/x"), "ENOTDIR")
S("lookup_file_trailing_slash", [F("/f")], ("stat", "/f/"), "ENOTDIR")
S("lookup_file_dot", [F("/f")], ("stat", "/f/."), "ENOTDIR")
S("lookup_file_dotdot", [F("/f")], ("stat", "/f/.."), "ENOTDIR")
S("lookup_dir_trailing_slash", [D("/d")], ("stat", "/d/"), same_as="/d")
S("lookup_dir_many_slashes", [D("/d"), F("/d/f")], ("stat", "//d///f"), same_as="/d/f")
S("lookup_no_search", [D("/d"), F("/d/f"), chmod("/d", 0o754)], ("stat", "/d/f"), "EACCES",
  caller=U)
S("lookup_no_search_missing_name", [D("/d", 0o754)], ("stat", "/d/missing"), "EACCES", caller=U)
S("lookup_search_only", [D("/d"), F("/d/f"), chmod("/d", 0o711)], ("stat", "/d/f"), caller=U)
S("lookup_no_search_dac_read_search", [D("/d"), F("/d/f"), chmod("/d", 0o700)],
  ("stat", "/d/f"), caller=user(1000, caps=["CAP_DAC_READ_SEARCH"]))
S("lookup_no_search_root_without_caps", [D("/d"), F("/d/f"), chmod("/d", 0o700), own("/d", 5)],
  ("stat", "/d/f"), "EACCES", caller=ROOT_NOCAPS)
S("lookup_owner_without_x", [D("/d"), F("/d/f"), own("/d", 1000), chmod("/d", 0o677)],
  ("stat", "/d/f"), "EACCES", caller=U)
S("lookup_group_search", [D("/d"), F("/d/f"), own("/d", 0, 500), chmod("/d", 0o710)],
  ("stat", "/d/f"), caller=user(1000, groups=[500]))
S("lookup_name_255_missing", [], ("stat", "/" + "a" * 255), "ENOENT")
S("lookup_name_256", [], ("stat", "/" + "a" * 256), "ENAMETOOLONG")
S("lookup_name_256_inner", [], ("stat", "/" + "a" * 256 + "/x"), "ENAMETOOLONG")
S("lookup_path_4095_bytes", [], ("stat", "/" * 4095), same_as="/")
S("lookup_path_4096_bytes", [], ("stat", "/" * 4096), "ENAMETOOLONG")
S("lookup_path_4097_bytes", [], ("stat", "/" + "a/" * 2048), "ENAMETOOLONG")
S("lookup_symlink_loop", [L("l2", "/l1"), L("l1", "/l2")], ("stat", "/l1"), "ELOOP")
S("lookup_symlink_self_loop", [L("self", "/self")], ("stat", "/self"), "ELOOP")
S("lookup_symlink_self_loop_lstat", [L("self", "/self")], ("lstat", "/self"),
  after=[("/self", {"type": "lnk", "size": 4})])
S("lookup_symlink_loop_in_middle", [L("l2", "/l1"), L("l1", "/l2")], ("stat", "/l1/x"), "ELOOP")
S("lookup_40_symlinks", chain(40), ("stat", "/s39"), same_as="/t")
S("lookup_41_symlinks", chain(41), ("stat", "/s40"), "ELOOP")
S("lookup_41_symlinks_lstat", chain(41), ("lstat", "/s40"))
S("lookup_dot", [D("/d")], ("stat", "/d/./."), same_as="/d")
S("lookup_dotdot", [D("/d"), D("/d/e")], ("stat", "/d/e/../e/.."), same_as="/d")
S("lookup_dotdot_at_root", [F("/f")], ("stat", "/../../f"), same_as="/f")
S("lookup_dotdot_of_root", [], ("stat", "/.."), same_as="/")
S("lookup_dotdot_through_symlink_is_physical", [D("/d"), D("/d/e"), L("d/e", "/l")],
  ("stat", "/l/.."), same_as="/d")
S("lookup_dotdot_out_of_mount", [D("/m"), ("mount", "/m", "tmpfs")], ("stat", "/m/.."),
  same_as="/")
S("lookup_symlink_absolute", [D("/d"), F("/d/f"), L("/d/f", "/l")], ("stat", "/l"),
  same_as="/d/f")
S("lookup_symlink_relative", [D("/d"), F("/d/f"), L("f", "/d/l")], ("stat", "/d/l"),
  same_as="/d/f")
S("lookup_symlink_relative_dotdot", [D("/a"), D("/b"), F("/b/f"), L("../b/f", "/a/l")],
  ("stat", "/a/l"), same_as="/b/f")
S("lookup_symlink_to_root", [L("/", "/r")], ("stat", "/r"), same_as="/")
S("lookup_symlink_to_root_then_name", [D("/d"), L("/", "/r")], ("stat", "/r/r/d"),
  same_as="/d")
S("lookup_symlink_above_root", [L("../../..", "/up")], ("stat", "/up"), same_as="/")
S("lookup_symlink_middle_component", [D("/d"), F("/d/f"), L("d", "/l")], ("stat", "/l/f"),
  same_as="/d/f")
S("lookup_symlink_to_file_as_dir", [F("/f"), L("f", "/l")], ("stat", "/l/x"), "ENOTDIR")
S("lookup_dangling_symlink", [L("/nope", "/l")], ("stat", "/l"), "ENOENT")
S("lookup_dangling_symlink_lstat", [L("/nope", "/l")], ("lstat", "/l"))
S("lookup_dangling_symlink_trailing_slash", [L("nope", "/l")], ("lstat", "/l/"), "ENOENT")
S("lookup_symlink_to_dir_trailing_slash_lstat", [D("/d"), L("d", "/l")], ("lstat", "/l/"),
  same_as="/d")
S("lookup_symlink_to_file_trailing_slash_lstat", [F("/f"), L("f", "/l")], ("lstat", "/l/"),
  "ENOTDIR")
S("lookup_symlink_target_trailing_slash_to_file", [F("/f"), L("f/", "/l")], ("stat", "/l"),
  "ENOTDIR")
S("lookup_symlink_target_dot", [D("/d"), L(".", "/d/l")], ("stat", "/d/l"), same_as="/d")
S("lookup_symlink_in_unsearchable_dir", [D("/d"), F("/f"), L("/f", "/d/l"), chmod("/d", 0o700)],
  ("stat", "/d/l"), "EACCES", caller=U)
S("lookup_relative_after_chdir", [D("/d"), F("/d/f"), ("chdir", "/d")], ("stat", "f"),
  same_as="/d/f")
S("lookup_relative_dotdot_after_chdir", [D("/d"), F("/f"), ("chdir", "/d")], ("stat", "../f"),
  same_as="/f")
S("chdir_missing", [], ("chdir", "/nope"), "ENOENT")
S("chdir_file", [F("/f")], ("chdir", "/f"), "ENOTDIR")
S("chdir_no_search", [D("/d", 0o700)], ("chdir", "/d"), "EACCES", caller=U)
S("chdir_through_symlink", [D("/d"), L("d", "/l")], ("chdir", "/l"))

# ------------------------------------------------------------------- mkdir
S("mkdir_ok", [], ("mkdir", "/d", 0o750),
  after=[("/d", {"type": "dir", "mode": 0o750, "uid": 0, "gid": 0,
                 "nlink": {"btrfs": 1, "*": 2}})])
S("mkdir_parent_nlink", [D("/p")], ("mkdir", "/p/d", 0o755),
  after=[("/p", {"nlink": {"btrfs": 1, "*": 3}})])
S("mkdir_umask", [("umask", 0o027)], ("mkdir", "/d", 0o777), after=[("/d", {"mode": 0o750})])
S("mkdir_special_bits", [], ("mkdir", "/d", 0o7777), after=[("/d", {"mode": 0o1777})])
S("mkdir_exists_dir", [D("/d")], ("mkdir", "/d", 0o755), "EEXIST")
S("mkdir_exists_file", [F("/f")], ("mkdir", "/f", 0o755), "EEXIST")
S("mkdir_exists_dangling_symlink", [L("nope", "/l")], ("mkdir", "/l", 0o755), "EEXIST",
  after=[("/nope", GONE)])
S("mkdir_exists_symlink_to_dir", [D("/d"), L("d", "/l")], ("mkdir", "/l", 0o755), "EEXIST")
S("mkdir_trailing_slash", [], ("mkdir", "/d/", 0o755), after=[("/d", {"type": "dir"})])
S("mkdir_trailing_slash_through_dangling_symlink", [L("nope", "/l")], ("mkdir", "/l/", 0o755),
  "EEXIST")
S("mkdir_dot", [D("/d")], ("mkdir", "/d/.", 0o755), "EEXIST")
S("mkdir_dotdot", [D("/d")], ("mkdir", "/d/..", 0o755), "EEXIST")
S("mkdir_root", [], ("mkdir", "/", 0o755), "EEXIST")
S("mkdir_missing_parent", [], ("mkdir", "/nope/d", 0o755), "ENOENT")
S("mkdir_parent_is_file", [F("/f")], ("mkdir", "/f/d", 0o755), "ENOTDIR")
S("mkdir_name_255", [], ("mkdir", "/" + "d" * 255, 0o755))
S("mkdir_name_256", [], ("mkdir", "/" + "d" * 256, 0o755), "ENAMETOOLONG")
S("mkdir_no_write", [], ("mkdir", "/d", 0o755), "EACCES", caller=U)
S("mkdir_exists_no_write", [D("/d")], ("mkdir", "/d", 0o755), "EEXIST", caller=U)
S("mkdir_write_without_search", [D("/p", 0o776)], ("mkdir", "/p/d", 0o755), "EACCES",
  caller=U)
S("mkdir_dac_override", [], ("mkdir", "/d", 0o755),
  caller=user(1000, caps=["CAP_DAC_OVERRIDE"]), after=[("/d", {"uid": 1000, "gid": 1000})])
S("mkdir_owner_and_group_of_caller", [D("/p", 0o777)], ("mkdir", "/p/d", 0o700),
  caller=user(1000, 1234, groups=[500]), after=[("/p/d", {"uid": 1000, "gid": 1234})])
S("mkdir_immutable_parent", [D("/p"), ("set_flags", "/p", True)], ("mkdir", "/p/d", 0o755),
  "EPERM")
S("mkdir_append_only_parent", [D("/p"), ("set_flags", "/p", False, True)],
  ("mkdir", "/p/d", 0o755), after=[("/p/d", {"type": "dir"})])
S("mkdir_read_only", [RO_ROOT], ("mkdir", "/d", 0o755), "EROFS")
S("mkdir_read_only_exists", [D("/d"), RO_ROOT], ("mkdir", "/d", 0o755), "EEXIST")
S("mkdir_setgid_parent", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mkdir", "/g/sub", 0o755), caller=U,
  after=[("/g/sub", {"uid": 1000, "gid": 500, "mode": 0o2755})])
S("mkdir_setgid_parent_umask_keeps_sgid", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777),
                                           ("umask", 0o077)],
  ("mkdir", "/g/sub", 0o777), after=[("/g/sub", {"gid": 500, "mode": 0o2700})])

# ------------------------------------------------------------------- mknod
S("mknod_regular", [], ("mknod", "/f", REG | 0o640, 0),
  after=[("/f", {"type": "reg", "mode": 0o640, "nlink": 1, "uid": 0, "gid": 0, "size": 0})])
S("mknod_type_zero_is_regular", [], ("mknod", "/f", 0o600, 0),
  after=[("/f", {"type": "reg", "mode": 0o600})])
S("mknod_fifo", [], ("mknod", "/p", FIFO | 0o666, 0), after=[("/p", {"type": "fifo"})])
S("mknod_socket", [], ("mknod", "/s", SOCK | 0o666, 0), after=[("/s", {"type": "sock"})])
S("mknod_char_device_root", [], ("mknod", "/c", CHR | 0o600, os.makedev(1, 3)),
  after=[("/c", {"type": "chr", "rdev": os.makedev(1, 3)})])
S("mknod_block_device_root", [], ("mknod", "/b", BLK | 0o600, os.makedev(7, 200)),
  after=[("/b", {"type": "blk", "rdev": os.makedev(7, 200)})])
S("mknod_char_device_user", [D("/t", 0o777)], ("mknod", "/t/c", CHR | 0o600, os.makedev(1, 3)),
  "EPERM", caller=U)
S("mknod_block_device_user", [D("/t", 0o777)],
  ("mknod", "/t/b", BLK | 0o600, os.makedev(7, 200)), "EPERM", caller=U)
S("mknod_char_device_cap_mknod", [D("/t", 0o777)],
  ("mknod", "/t/c", CHR | 0o600, os.makedev(1, 3)), caller=user(1000, caps=["CAP_MKNOD"]),
  after=[("/t/c", {"uid": 1000, "type": "chr"})])
S("mknod_char_device_root_without_cap", [], ("mknod", "/c", CHR | 0o600, os.makedev(1, 3)),
  "EPERM", caller=user(0, caps=["CAP_DAC_OVERRIDE"]))
S("mknod_whiteout_user", [D("/t", 0o777)], ("mknod", "/t/wh", CHR | 0o600, 0), caller=U,
  after=[("/t/wh", {"type": "chr", "rdev": 0, "uid": 1000})])
S("mknod_block_zero_user", [D("/t", 0o777)], ("mknod", "/t/b", BLK | 0o600, 0), "EPERM",
  caller=U)
S("mknod_fifo_user", [D("/t", 0o777)], ("mknod", "/t/p", FIFO | 0o640, 0), caller=U,
  after=[("/t/p", {"uid": 1000, "gid": 1000, "mode": 0o640})])
S("mknod_device_no_write_beats_cap", [], ("mknod", "/c", CHR | 0o600, os.makedev(1, 3)),
  "EACCES", caller=U)
S("mknod_directory_type", [], ("mknod", "/d", DIR | 0o755, 0), "EPERM")
S("mknod_directory_type_existing", [F("/f")], ("mknod", "/f", DIR | 0o755, 0), "EPERM")
S("mknod_bogus_type", [], ("mknod", "/x", 0o030000 | 0o644, 0), "EINVAL")
S("mknod_bogus_type_missing_parent", [], ("mknod", "/nope/x", 0o030000 | 0o644, 0), "EINVAL")
S("mknod_symlink_type", [], ("mknod", "/x", LNK | 0o777, 0), "EINVAL")
S("mknod_exists", [F("/f")], ("mknod", "/f", FIFO | 0o644, 0), "EEXIST")
S("mknod_exists_dangling_symlink", [L("nope", "/l")], ("mknod", "/l", REG | 0o644, 0), "EEXIST")
S("mknod_trailing_slash", [], ("mknod", "/p/", FIFO | 0o644, 0), "ENOENT")
S("mknod_trailing_slash_exists", [F("/f")], ("mknod", "/f/", FIFO | 0o644, 0), "EEXIST")
S("mknod_umask", [("umask", 0o022)], ("mknod", "/f", REG | 0o777, 0),
  after=[("/f", {"mode": 0o755})])
S("mknod_setuid_kept", [], ("mknod", "/f", REG | 0o4755, 0), after=[("/f", {"mode": 0o4755})])
S("mknod_read_only", [RO_ROOT], ("mknod", "/p", FIFO | 0o644, 0), "EROFS")
S("mknod_immutable_parent", [D("/p"), ("set_flags", "/p", True)],
  ("mknod", "/p/f", REG | 0o644, 0), "EPERM")
S("mknod_setgid_parent_file", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mknod", "/g/f", REG | 0o644, 0), caller=U,
  after=[("/g/f", {"uid": 1000, "gid": 500, "mode": 0o644})])
S("mknod_strip_sgid_not_in_group", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mknod", "/g/f", REG | 0o2755, 0), caller=U, after=[("/g/f", {"gid": 500, "mode": 0o755})])
S("mknod_keep_sgid_in_group", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mknod", "/g/f", REG | 0o2755, 0), caller=user(1000, groups=[500]),
  after=[("/g/f", {"gid": 500, "mode": 0o2755})])
S("mknod_keep_sgid_cap_fsetid", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mknod", "/g/f", REG | 0o2755, 0), caller=user(1000, caps=["CAP_FSETID"]),
  after=[("/g/f", {"gid": 500, "mode": 0o2755})])
S("mknod_keep_sgid_without_group_exec", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("mknod", "/g/f", REG | 0o2745, 0), caller=U, after=[("/g/f", {"gid": 500, "mode": 0o2745})])
S("mknod_keep_sgid_own_group", [D("/t", 0o777)], ("mknod", "/t/f", REG | 0o2755, 0), caller=U,
  after=[("/t/f", {"gid": 1000, "mode": 0o2755})])

# ----------------------------------------------------------------- symlink
S("symlink_ok", [], ("symlink", "some/where", "/l"),
  after=[("/l", {"type": "lnk", "mode": 0o777, "size": 10, "uid": 0})])
S("symlink_umask_ignored", [("umask", 0o077)], ("symlink", "x", "/l"),
  after=[("/l", {"mode": 0o777})])
S("symlink_exists", [F("/f")], ("symlink", "x", "/f"), "EEXIST")
S("symlink_exists_dangling_symlink", [L("nope", "/l")], ("symlink", "x", "/l"), "EEXIST")
S("symlink_empty_target", [], ("symlink", "", "/l"), "ENOENT")
S("symlink_trailing_slash", [], ("symlink", "x", "/l/"), "ENOENT")
S("symlink_no_write", [], ("symlink", "x", "/l"), "EACCES", caller=U)
S("symlink_read_only", [RO_ROOT], ("symlink", "x", "/l"), "EROFS")
S("symlink_immutable_parent", [D("/p"), ("set_flags", "/p", True)],
  ("symlink", "x", "/p/l"), "EPERM")
S("symlink_owner", [D("/t", 0o777)], ("symlink", "x", "/t/l"), caller=user(1000, 1234),
  after=[("/t/l", {"uid": 1000, "gid": 1234})])
S("symlink_setgid_parent", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("symlink", "x", "/g/l"), caller=U, after=[("/g/l", {"uid": 1000, "gid": 500})])
S("symlink_target_1023", [], ("symlink", "a" * 1023, "/l"), after=[("/l", {"size": 1023})])
S("symlink_target_1024", [], ("symlink", "a" * 1024, "/l"), {"xfs": "ENAMETOOLONG", "*": "ok"})
S("symlink_target_4095", [], ("symlink", "a" * 4095, "/l"), {"xfs": "ENAMETOOLONG", "*": "ok"})
S("symlink_target_4096", [], ("symlink", "a" * 4096, "/l"), "ENAMETOOLONG")

# -------------------------------------------------------------------- link
S("link_ok", [F("/f")], ("link", "/f", "/g"),
  after=[("/f", {"nlink": 2}), ("/g", {"nlink": 2})])
S("link_exists", [F("/f"), F("/g")], ("link", "/f", "/g"), "EEXIST")
S("link_exists_dangling_symlink", [F("/f"), L("nope", "/l")], ("link", "/f", "/l"), "EEXIST")
S("link_missing_source", [F("/g")], ("link", "/nope", "/g"), "ENOENT")
S("link_directory", [D("/d")], ("link", "/d", "/e"), "EPERM")
S("link_directory_trailing_slash", [D("/d")], ("link", "/d/", "/e"), "EPERM")
S("link_source_trailing_slash_file", [F("/f")], ("link", "/f/", "/g"), "ENOTDIR")
S("link_target_trailing_slash", [F("/f")], ("link", "/f", "/g/"), "ENOENT")
S("link_symlink_itself", [F("/f"), L("f", "/l")], ("link", "/l", "/h"),
  after=[("/h", {"type": "lnk", "nlink": 2}), ("/f", {"nlink": 1})])
S("link_dangling_symlink", [L("nope", "/l")], ("link", "/l", "/h"),
  after=[("/h", {"type": "lnk"})])
S("link_cross_mount", [F("/f"), D("/m"), ("mount", "/m", "tmpfs")], ("link", "/f", "/m/f"),
  "EXDEV")
S("link_no_write", [F("/f", 0o666)], ("link", "/f", "/g"), "EACCES", caller=U)
S("link_read_only", [F("/f"), RO_ROOT], ("link", "/f", "/g"), "EROFS")
S("link_immutable_parent", [F("/f"), D("/p"), ("set_flags", "/p", True)],
  ("link", "/f", "/p/g"), "EPERM")
S("link_immutable_source", [F("/f"), ("set_flags", "/f", True)], ("link", "/f", "/g"), "EPERM")
S("link_append_only_source", [F("/f"), ("set_flags", "/f", False, True)],
  ("link", "/f", "/g"), "EPERM")
S("link_protected_unreadable", [D("/t", 0o777), F("/t/f", 0o600)], ("link", "/t/f", "/t/g"),
  "EPERM", caller=U)
S("link_protected_unwritable", [D("/t", 0o777), F("/t/f", 0o644)], ("link", "/t/f", "/t/g"),
  "EPERM", caller=U)
S("link_protected_read_write_ok", [D("/t", 0o777), F("/t/f", 0o666)],
  ("link", "/t/f", "/t/g"), caller=U)
S("link_protected_setuid", [D("/t", 0o777), F("/t/f"), chmod("/t/f", 0o4777)],
  ("link", "/t/f", "/t/g"), "EPERM", caller=U)
S("link_protected_setgid_group_exec", [D("/t", 0o777), F("/t/f"), chmod("/t/f", 0o2777)],
  ("link", "/t/f", "/t/g"), "EPERM", caller=U)
S("link_protected_setgid_no_group_exec", [D("/t", 0o777), F("/t/f"), chmod("/t/f", 0o2767)],
  ("link", "/t/f", "/t/g"), caller=U)
S("link_protected_fifo", [D("/t", 0o777), ("mknod", "/t/p", FIFO | 0o666, 0)],
  ("link", "/t/p", "/t/q"), "EPERM", caller=U)
S("link_protected_owner", [D("/t", 0o777), F("/t/f", 0o000), own("/t/f", 1000)],
  ("link", "/t/f", "/t/g"), caller=U)
S("link_protected_cap_fowner", [D("/t", 0o777), F("/t/f", 0o000)],
  ("link", "/t/f", "/t/g"), caller=user(1000, caps=["CAP_FOWNER"]))
S("link_protected_dac_override_makes_it_safe", [D("/t", 0o777), F("/t/f", 0o000)],
  ("link", "/t/f", "/t/g"), caller=user(1000, caps=["CAP_DAC_OVERRIDE"]))
S("link_protected_dac_read_search_is_not_enough", [D("/t", 0o777), F("/t/f", 0o000)],
  ("link", "/t/f", "/t/g"), "EPERM", caller=user(1000, caps=["CAP_DAC_READ_SEARCH"]))
S("link_protected_checked_before_parent_write", [F("/f", 0o600)], ("link", "/f", "/g"),
  "EPERM", caller=U)

# ------------------------------------------------------------------ unlink
S("unlink_ok", [F("/f")], ("unlink", "/f"), after=[("/f", GONE)])
S("unlink_missing", [], ("unlink", "/nope"), "ENOENT")
S("unlink_directory", [D("/d")], ("unlink", "/d"), "EISDIR")
S("unlink_file_trailing_slash", [F("/f")], ("unlink", "/f/"), "ENOTDIR")
S("unlink_dir_trailing_slash", [D("/d")], ("unlink", "/d/"), "EISDIR")
S("unlink_missing_trailing_slash", [], ("unlink", "/nope/"), "ENOENT")
S("unlink_root", [], ("unlink", "/"), "EISDIR")
S("unlink_dot", [D("/d")], ("unlink", "/d/."), "EISDIR")
S("unlink_dotdot", [D("/d")], ("unlink", "/d/.."), "EISDIR")
S("unlink_symlink_not_target", [F("/f"), L("f", "/l")], ("unlink", "/l"),
  after=[("/l", GONE), ("/f", {"type": "reg"})])
S("unlink_symlink_to_dir_trailing_slash", [D("/d"), L("d", "/l")], ("unlink", "/l/"), "ENOTDIR")
S("unlink_hardlink_nlink", [F("/f"), ("link", "/f", "/g")], ("unlink", "/g"),
  after=[("/f", {"nlink": 1})])
S("unlink_no_write", [F("/f")], ("unlink", "/f"), "EACCES", caller=U)
S("unlink_missing_no_write", [], ("unlink", "/nope"), "ENOENT", caller=U)
S("unlink_read_only", [F("/f"), RO_ROOT], ("unlink", "/f"), "EROFS")
S("unlink_read_only_missing", [RO_ROOT], ("unlink", "/nope"), "EROFS")
S("unlink_immutable", [F("/f"), ("set_flags", "/f", True)], ("unlink", "/f"), "EPERM")
S("unlink_append_only", [F("/f"), ("set_flags", "/f", False, True)], ("unlink", "/f"), "EPERM")
S("unlink_in_append_only_dir", [D("/p"), F("/p/f"), ("set_flags", "/p", False, True)],
  ("unlink", "/p/f"), "EPERM")
S("unlink_in_immutable_dir", [D("/p"), F("/p/f"), ("set_flags", "/p", True)],
  ("unlink", "/p/f"), "EPERM")
S("unlink_sticky_other", [D("/t", 0o1777), F("/t/f"), own("/t/f", 1001)], ("unlink", "/t/f"),
  "EPERM", caller=U)
S("unlink_sticky_file_owner", [D("/t", 0o1777), F("/t/f"), own("/t/f", 1000)],
  ("unlink", "/t/f"), caller=U)
S("unlink_sticky_dir_owner", [D("/t", 0o1777), own("/t", 1000), F("/t/f"), own("/t/f", 1001)],
  ("unlink", "/t/f"), caller=U)
S("unlink_sticky_cap_fowner", [D("/t", 0o1777), F("/t/f")], ("unlink", "/t/f"),
  caller=user(1000, caps=["CAP_FOWNER"]))
S("unlink_sticky_dac_override_not_enough", [D("/t", 0o1777), F("/t/f")], ("unlink", "/t/f"),
  "EPERM", caller=user(1000, caps=["CAP_DAC_OVERRIDE"]))
S("unlink_sticky_no_write_eacces_first", [D("/t", 0o1775), F("/t/f")], ("unlink", "/t/f"),
  "EACCES", caller=U)

# ------------------------------------------------------------------- rmdir
S("rmdir_ok", [D("/p"), D("/p/d")], ("rmdir", "/p/d"),
  after=[("/p/d", GONE), ("/p", {"nlink": {"btrfs": 1, "*": 2}})])
S("rmdir_missing", [], ("rmdir", "/nope"), "ENOENT")
S("rmdir_file", [F("/f")], ("rmdir", "/f"), "ENOTDIR")
S("rmdir_file_trailing_slash", [F("/f")], ("rmdir", "/f/"), "ENOTDIR")
S("rmdir_trailing_slash", [D("/d")], ("rmdir", "/d/"), after=[("/d", GONE)])
S("rmdir_symlink_to_dir", [D("/d"), L("d", "/l")], ("rmdir", "/l"), "ENOTDIR")
S("rmdir_symlink_to_dir_trailing_slash", [D("/d"), L("d", "/l")], ("rmdir", "/l/"), "ENOTDIR")
S("rmdir_not_empty", [D("/d"), F("/d/f")], ("rmdir", "/d"), "ENOTEMPTY")
S("rmdir_not_empty_no_write", [D("/d"), F("/d/f")], ("rmdir", "/d"), "EACCES", caller=U)
S("rmdir_mount_point", [D("/m"), ("mount", "/m", "tmpfs")], ("rmdir", "/m"), "EBUSY")
S("rmdir_mount_root_dot", [D("/m"), ("mount", "/m", "tmpfs")], ("rmdir", "/m/."), "EINVAL")
S("rmdir_dot", [D("/d")], ("rmdir", "/d/."), "EINVAL")
S("rmdir_dotdot", [D("/d")], ("rmdir", "/d/.."), "ENOTEMPTY")
S("rmdir_cwd_dot", [D("/d"), ("chdir", "/d")], ("rmdir", "."), "EINVAL")
S("rmdir_root", [], ("rmdir", "/"), "EBUSY")
S("rmdir_read_only", [D("/d"), RO_ROOT], ("rmdir", "/d"), "EROFS")
S("rmdir_read_only_missing", [RO_ROOT], ("rmdir", "/nope"), "EROFS")
S("rmdir_no_write", [D("/d")], ("rmdir", "/d"), "EACCES", caller=U)
S("rmdir_immutable", [D("/d"), ("set_flags", "/d", True)], ("rmdir", "/d"), "EPERM")
S("rmdir_sticky_other", [D("/t", 0o1777), D("/t/d"), own("/t/d", 1001)], ("rmdir", "/t/d"),
  "EPERM", caller=U)
S("rmdir_sticky_owner", [D("/t", 0o1777), D("/t/d"), own("/t/d", 1000)], ("rmdir", "/t/d"),
  caller=U)
S("rmdir_sticky_dir_owner", [D("/t", 0o1777), own("/t", 1000), D("/t/d"), own("/t/d", 1001)],
  ("rmdir", "/t/d"), caller=U)
S("rmdir_sticky_cap_fowner", [D("/t", 0o1777), D("/t/d")], ("rmdir", "/t/d"),
  caller=user(1000, caps=["CAP_FOWNER"]))

# ------------------------------------------------------------------ rename
S("rename_file", [F("/a")], ("rename", "/a", "/b"),
  after=[("/a", GONE), ("/b", {"type": "reg"})])
S("rename_file_over_file", [F("/a", 0o600), F("/b", 0o644)], ("rename", "/a", "/b"),
  after=[("/a", GONE), ("/b", {"mode": 0o600})])
S("rename_missing", [], ("rename", "/nope", "/b"), "ENOENT")
S("rename_missing_to_existing", [F("/b")], ("rename", "/nope", "/b"), "ENOENT")
S("rename_cross_mount", [F("/a"), D("/m"), ("mount", "/m", "tmpfs")], ("rename", "/a", "/m/a"),
  "EXDEV")
S("rename_dir_into_itself", [D("/a"), D("/a/b")], ("rename", "/a", "/a/b/c"), "EINVAL")
S("rename_dir_into_itself_direct", [D("/a")], ("rename", "/a", "/a/c"), "EINVAL")
S("rename_onto_ancestor", [D("/a"), D("/a/b")], ("rename", "/a/b", "/a"), "ENOTEMPTY")
S("rename_dir_onto_itself", [D("/a"), F("/a/f")], ("rename", "/a", "/a"))
S("rename_dir_over_empty_dir", [D("/a"), D("/b")], ("rename", "/a", "/b"),
  after=[("/a", GONE), ("/b", {"type": "dir"})])
S("rename_dir_over_nonempty_dir", [D("/a"), D("/b"), F("/b/f")], ("rename", "/a", "/b"),
  {"xfs": "EEXIST", "*": "ENOTEMPTY"})
S("rename_file_over_dir", [F("/a"), D("/b")], ("rename", "/a", "/b"), "EISDIR")
S("rename_dir_over_file", [D("/a"), F("/b")], ("rename", "/a", "/b"), "ENOTDIR")
S("rename_onto_own_hardlink", [F("/a"), ("link", "/a", "/b")], ("rename", "/a", "/b"),
  after=[("/a", {"nlink": 2}), ("/b", {"nlink": 2})])
S("rename_symlink_itself", [F("/f"), L("f", "/l")], ("rename", "/l", "/m"),
  after=[("/m", {"type": "lnk"}), ("/f", {"type": "reg"})])
S("rename_over_dangling_symlink", [F("/a"), L("nope", "/l")], ("rename", "/a", "/l"),
  after=[("/l", {"type": "reg"}), ("/nope", GONE)])
S("rename_file_trailing_slash_source", [F("/a")], ("rename", "/a/", "/b"), "ENOTDIR")
S("rename_file_trailing_slash_target", [F("/a")], ("rename", "/a", "/b/"), "ENOTDIR")
S("rename_dir_trailing_slashes", [D("/a")], ("rename", "/a/", "/b/"),
  after=[("/b", {"type": "dir"})])
S("rename_dot", [D("/a")], ("rename", "/a/.", "/b"), "EBUSY")
S("rename_onto_dotdot", [D("/a"), D("/a/b")], ("rename", "/a/b", "/a/b/.."), "EBUSY")
S("rename_root", [], ("rename", "/", "/x"), "EBUSY")
S("rename_mount_point", [D("/m"), ("mount", "/m", "tmpfs")], ("rename", "/m", "/n"), "EBUSY")
S("rename_over_mount_point", [D("/a"), D("/m"), ("mount", "/m", "tmpfs")],
  ("rename", "/a", "/m"), "EBUSY")
S("rename_read_only", [F("/a"), RO_ROOT], ("rename", "/a", "/b"), "EROFS")
S("rename_no_write_source_dir", [D("/s"), F("/s/a"), D("/t", 0o777)],
  ("rename", "/s/a", "/t/a"), "EACCES", caller=U)
S("rename_no_write_target_dir", [D("/s", 0o777), F("/s/a"), D("/t")],
  ("rename", "/s/a", "/t/a"), "EACCES", caller=U)
S("rename_immutable_file", [F("/a"), ("set_flags", "/a", True)], ("rename", "/a", "/b"),
  "EPERM")
S("rename_append_only_file", [F("/a"), ("set_flags", "/a", False, True)],
  ("rename", "/a", "/b"), "EPERM")
S("rename_over_immutable_file", [F("/a"), F("/b"), ("set_flags", "/b", True)],
  ("rename", "/a", "/b"), "EPERM")
S("rename_into_immutable_dir", [F("/a"), D("/p"), ("set_flags", "/p", True)],
  ("rename", "/a", "/p/a"), "EPERM")
S("rename_sticky_source_other", [D("/t", 0o1777), F("/t/a"), own("/t/a", 1001)],
  ("rename", "/t/a", "/t/b"), "EPERM", caller=U)
S("rename_sticky_source_owner", [D("/t", 0o1777), F("/t/a"), own("/t/a", 1000)],
  ("rename", "/t/a", "/t/b"), caller=U)
S("rename_sticky_target_other", [D("/t", 0o1777), F("/t/a"), own("/t/a", 1000), F("/t/b"),
                                 own("/t/b", 1001)],
  ("rename", "/t/a", "/t/b"), "EPERM", caller=U)
S("rename_sticky_cap_fowner", [D("/t", 0o1777), F("/t/a"), own("/t/a", 1001)],
  ("rename", "/t/a", "/t/b"), caller=user(1000, caps=["CAP_FOWNER"]))
S("rename_dir_other_parent_needs_write_on_it",
  [D("/p", 0o777), D("/q", 0o777), D("/p/d", 0o555), own("/p/d", 1000)],
  ("rename", "/p/d", "/q/d"), "EACCES", caller=U)
S("rename_dir_same_parent_no_write_on_it",
  [D("/p", 0o777), D("/p/d", 0o555), own("/p/d", 1000)], ("rename", "/p/d", "/p/e"), caller=U)
S("rename_dir_other_parent_with_write_on_it",
  [D("/p", 0o777), D("/q", 0o777), D("/p/d", 0o755), own("/p/d", 1000)],
  ("rename", "/p/d", "/q/d"), caller=U,
  after=[("/q/d", {"type": "dir"}), ("/p", {"nlink": {"btrfs": 1, "*": 2}}),
         ("/q", {"nlink": {"btrfs": 1, "*": 3}})])
S("rename_file_other_parent_no_write_on_it",
  [D("/p", 0o777), D("/q", 0o777), F("/p/f", 0o444), own("/p/f", 1000)],
  ("rename", "/p/f", "/q/f"), caller=U)
S("rename_immutable_dir_other_parent", [D("/p"), D("/q"), D("/p/d"), ("set_flags", "/p/d", True)],
  ("rename", "/p/d", "/q/d"), "EPERM")

# --------------------------------------------------------------- chmod
S("chmod_root", [F("/f")], ("chmod", "/f", 0o4711), after=[("/f", {"mode": 0o4711})])
S("chmod_owner", [F("/f"), own("/f", 1000)], ("chmod", "/f", 0o600), caller=U,
  after=[("/f", {"mode": 0o600})])
S("chmod_non_owner", [F("/f", 0o666)], ("chmod", "/f", 0o600), "EPERM", caller=U)
S("chmod_cap_fowner", [F("/f")], ("chmod", "/f", 0o600), caller=user(1000, caps=["CAP_FOWNER"]),
  after=[("/f", {"mode": 0o600})])
S("chmod_root_without_caps", [F("/f"), own("/f", 5)], ("chmod", "/f", 0o600), "EPERM",
  caller=ROOT_NOCAPS)
S("chmod_sgid_not_in_group", [F("/f"), own("/f", 1000, 500)], ("chmod", "/f", 0o2755),
  caller=U, after=[("/f", {"mode": 0o755})])
S("chmod_sgid_in_group", [F("/f"), own("/f", 1000, 500)], ("chmod", "/f", 0o2755),
  caller=user(1000, groups=[500]), after=[("/f", {"mode": 0o2755})])
S("chmod_sgid_cap_fsetid", [F("/f"), own("/f", 1000, 500)], ("chmod", "/f", 0o2755),
  caller=user(1000, caps=["CAP_FSETID"]), after=[("/f", {"mode": 0o2755})])
S("chmod_sgid_dir_not_in_group", [D("/d"), own("/d", 1000, 500)], ("chmod", "/d", 0o2775),
  caller=U, after=[("/d", {"mode": 0o775})])
S("chmod_sgid_root_any_group", [F("/f"), own("/f", 1000, 500)], ("chmod", "/f", 0o2755),
  after=[("/f", {"mode": 0o2755})])
S("chmod_suid_owner", [F("/f"), own("/f", 1000)], ("chmod", "/f", 0o4755), caller=U,
  after=[("/f", {"mode": 0o4755})])
S("chmod_sticky_file_owner", [F("/f"), own("/f", 1000)], ("chmod", "/f", 0o1644), caller=U,
  after=[("/f", {"mode": 0o1644})])
S("chmod_high_bits_ignored", [F("/f")], ("chmod", "/f", REG | DIR | 0o640),
  after=[("/f", {"type": "reg", "mode": 0o640})])
S("chmod_through_symlink", [F("/f"), L("f", "/l")], ("chmod", "/l", 0o600),
  after=[("/f", {"mode": 0o600}), ("/l", {"mode": 0o777})])
S("chmod_dangling_symlink", [L("nope", "/l")], ("chmod", "/l", 0o600), "ENOENT")
S("chmod_missing", [], ("chmod", "/nope", 0o600), "ENOENT")
S("chmod_immutable", [F("/f"), ("set_flags", "/f", True)], ("chmod", "/f", 0o600), "EPERM")
S("chmod_append_only", [F("/f"), ("set_flags", "/f", False, True)], ("chmod", "/f", 0o600),
  "EPERM")
S("chmod_read_only", [F("/f"), RO_ROOT], ("chmod", "/f", 0o600), "EROFS")
S("chmod_read_only_non_owner", [F("/f"), RO_ROOT], ("chmod", "/f", 0o600), "EROFS", caller=U)

# --------------------------------------------------------------- chown
S("chown_root", [F("/f")], ("chown", "/f", 1000, 500),
  after=[("/f", {"uid": 1000, "gid": 500})])
S("chown_minus_one", [F("/f"), own("/f", 7, 8)], ("chown", "/f", -1, 500),
  after=[("/f", {"uid": 7, "gid": 500})])
S("chown_user_gives_away", [F("/f"), own("/f", 1000)], ("chown", "/f", 1001, -1), "EPERM",
  caller=U)
S("chown_user_same_uid", [F("/f"), own("/f", 1000)], ("chown", "/f", 1000, -1), caller=U)
S("chown_cap_chown", [F("/f")], ("chown", "/f", 1001, 1001),
  caller=user(1000, caps=["CAP_CHOWN"]), after=[("/f", {"uid": 1001, "gid": 1001})])
S("chown_root_without_cap_chown", [F("/f")], ("chown", "/f", 1000, -1), "EPERM",
  caller=user(0, caps=["CAP_FOWNER"]))
S("chown_owner_to_supplementary_group", [F("/f"), own("/f", 1000)], ("chown", "/f", -1, 500),
  caller=user(1000, groups=[500]), after=[("/f", {"uid": 1000, "gid": 500})])
S("chown_owner_to_foreign_group", [F("/f"), own("/f", 1000)], ("chown", "/f", -1, 500),
  "EPERM", caller=U)
S("chown_owner_to_own_primary_group", [F("/f"), own("/f", 1000, 500)],
  ("chown", "/f", -1, 1000), caller=U, after=[("/f", {"gid": 1000})])
S("chown_non_owner_to_his_group", [F("/f"), own("/f", 1001)], ("chown", "/f", -1, 1000),
  "EPERM", caller=U)
S("chown_minus_one_non_owner", [F("/f")], ("chown", "/f", -1, -1), caller=U)
S("chown_minus_one_non_owner_setuid", [F("/f"), chmod("/f", 0o4755)], ("chown", "/f", -1, -1),
  "EPERM", caller=U)
S("chown_minus_one_root_clears_setuid", [F("/f"), chmod("/f", 0o4755)],
  ("chown", "/f", -1, -1), after=[("/f", {"mode": 0o755})])
S("chown_clears_setuid_even_for_root", [F("/f"), chmod("/f", 0o4755)],
  ("chown", "/f", 1000, 1000), after=[("/f", {"mode": 0o755, "uid": 1000})])
S("chown_clears_setgid_group_exec", [F("/f"), chmod("/f", 0o2755)], ("chown", "/f", 1000, 1000),
  after=[("/f", {"mode": 0o755})])
S("chown_keeps_setgid_without_group_exec", [F("/f"), chmod("/f", 0o2745)],
  ("chown", "/f", 1000, 1000), after=[("/f", {"mode": 0o2745})])
S("chown_dir_keeps_setuid_setgid", [D("/d"), chmod("/d", 0o6755)], ("chown", "/d", 1000, 1000),
  after=[("/d", {"mode": 0o6755})])
S("chown_owner_chgrp_clears_setgid", [F("/f"), own("/f", 1000), chmod("/f", 0o2755)],
  ("chown", "/f", -1, 500), caller=user(1000, groups=[500]), after=[("/f", {"mode": 0o755})])
S("chown_through_symlink", [F("/f"), L("f", "/l")], ("chown", "/l", 1000, 1000),
  after=[("/f", {"uid": 1000}), ("/l", {"uid": 0})])
S("lchown_symlink", [F("/f"), L("f", "/l")], ("lchown", "/l", 1000, 1000),
  after=[("/f", {"uid": 0}), ("/l", {"uid": 1000, "gid": 1000})])
S("lchown_dangling_symlink", [L("nope", "/l")], ("lchown", "/l", 1000, 1000),
  after=[("/l", {"uid": 1000})])
S("chown_dangling_symlink", [L("nope", "/l")], ("chown", "/l", 1000, 1000), "ENOENT")
S("lchown_symlink_non_owner", [L("x", "/l")], ("lchown", "/l", 1000, -1), "EPERM", caller=U)
S("chown_immutable", [F("/f"), ("set_flags", "/f", True)], ("chown", "/f", 1000, 1000),
  "EPERM")
S("chown_append_only", [F("/f"), ("set_flags", "/f", False, True)],
  ("chown", "/f", 1000, 1000), "EPERM")
S("chown_minus_one_immutable", [F("/f"), ("set_flags", "/f", True)], ("chown", "/f", -1, -1),
  {"ext4": "EPERM", "*": "ok"})
S("chown_read_only", [F("/f"), RO_ROOT], ("chown", "/f", 1000, 1000), "EROFS")
S("chown_missing", [], ("chown", "/nope", 0, 0), "ENOENT")

# ---------------------------------------------------------------- open
S("open_read", [F("/f")], ("open", "/f", RO), result=3)
S("open_fd_numbering_next", [F("/f"), ("open", "/f", RO), ("open", "/f", RO)],
  ("open", "/f", RO), result=5)
S("open_fd_numbering_reuses_lowest", [F("/f"), ("open", "/f", RO), ("open", "/f", RO),
                                      ("open", "/f", RO), ("close", 4), ("close", 3)],
  ("open", "/f", RO), result=3)
S("close_bad_fd", [], ("close", 3), "EBADF")
S("close_o_path_fd", [F("/f"), ("open", "/f", O_PATH)], ("close", 3))
S("open_missing", [], ("open", "/nope", RO), "ENOENT")
S("open_creat", [], ("open", "/f", WO | CREAT, 0o640), result=3,
  after=[("/f", {"type": "reg", "mode": 0o640, "uid": 0})])
S("open_creat_umask", [("umask", 0o077)], ("open", "/f", WO | CREAT, 0o666),
  after=[("/f", {"mode": 0o600})])
S("open_creat_owner", [D("/t", 0o777)], ("open", "/t/f", RW | CREAT, 0o000),
  caller=user(1000, 1234), after=[("/t/f", {"uid": 1000, "gid": 1234, "mode": 0})])
S("open_creat_setgid_dir", [D("/g"), own("/g", 0, 500), chmod("/g", 0o2777)],
  ("open", "/g/f", WO | CREAT, 0o2755), caller=U, after=[("/g/f", {"gid": 500, "mode": 0o755})])
S("open_creat_existing", [F("/f", 0o600)], ("open", "/f", RW | CREAT, 0o777),
  after=[("/f", {"mode": 0o600})])
S("open_creat_excl_existing", [F("/f")], ("open", "/f", WO | CREAT | EXCL), "EEXIST")
S("open_creat_excl_dangling_symlink", [L("nope", "/l")], ("open", "/l", WO | CREAT | EXCL),
  "EEXIST", after=[("/nope", GONE)])
S("open_creat_excl_dir", [D("/d")], ("open", "/d", WO | CREAT | EXCL), "EEXIST")
S("open_creat_dangling_symlink_creates_target", [L("nope", "/l")],
  ("open", "/l", WO | CREAT, 0o600), after=[("/nope", {"type": "reg", "mode": 0o600})])
S("open_creat_nofollow_dangling_symlink", [L("nope", "/l")],
  ("open", "/l", WO | CREAT | NOFOLLOW, 0o600), "ELOOP", after=[("/nope", GONE)])
S("open_creat_no_write", [], ("open", "/f", WO | CREAT), "EACCES", caller=U)
S("open_creat_existing_no_dir_write", [F("/f", 0o666)], ("open", "/f", WO | CREAT), caller=U)
S("open_creat_immutable_dir", [D("/p"), ("set_flags", "/p", True)],
  ("open", "/p/f", WO | CREAT), "EPERM")
S("open_creat_read_only", [RO_ROOT], ("open", "/f", WO | CREAT), "EROFS")
S("open_creat_read_only_existing_read", [F("/f"), RO_ROOT], ("open", "/f", RO | CREAT))
S("open_creat_missing_parent", [], ("open", "/nope/f", WO | CREAT), "ENOENT")
S("open_creat_trailing_slash", [], ("open", "/f/", WO | CREAT), "EISDIR")
S("open_creat_trailing_slash_existing_dir", [D("/d")], ("open", "/d/", RO | CREAT), "EISDIR")
S("open_creat_existing_dir", [D("/d")], ("open", "/d", RO | CREAT), "EISDIR")
S("open_creat_directory", [], ("open", "/f", RO | CREAT | DIRECTORY), "EINVAL")
S("open_creat_directory_existing_dir", [D("/d")], ("open", "/d", RO | CREAT | DIRECTORY),
  "EINVAL")
S("open_nofollow_symlink", [F("/f"), L("f", "/l")], ("open", "/l", RO | NOFOLLOW), "ELOOP")
S("open_nofollow_middle_symlink", [D("/d"), F("/d/f"), L("d", "/l")],
  ("open", "/l/f", RO | NOFOLLOW))
S("open_follows_symlink", [F("/f"), L("f", "/l")], ("open", "/l", RO))
S("open_directory_on_file", [F("/f")], ("open", "/f", RO | DIRECTORY), "ENOTDIR")
S("open_directory_on_dir", [D("/d")], ("open", "/d", RO | DIRECTORY))
S("open_directory_on_symlink_to_dir", [D("/d"), L("d", "/l")], ("open", "/l", RO | DIRECTORY))
S("open_directory_nofollow_symlink", [D("/d"), L("d", "/l")],
  ("open", "/l", RO | DIRECTORY | NOFOLLOW), "ENOTDIR")
S("open_trailing_slash_file", [F("/f")], ("open", "/f/", RO), "ENOTDIR")
S("open_dir_read", [D("/d")], ("open", "/d", RO))
S("open_dir_write", [D("/d")], ("open", "/d", WO), "EISDIR")
S("open_dir_read_write", [D("/d")], ("open", "/d", RW), "EISDIR")
S("open_dir_trunc", [D("/d")], ("open", "/d", RO | TRUNC), "EISDIR")
S("open_dir_write_no_permission", [D("/d", 0o555)], ("open", "/d", WO), "EISDIR", caller=U)
S("open_read_denied", [F("/f", 0o600)], ("open", "/f", RO), "EACCES", caller=U)
S("open_write_denied", [F("/f", 0o644)], ("open", "/f", WO), "EACCES", caller=U)
S("open_owner_bits_apply", [F("/f", 0o044), own("/f", 1000)], ("open", "/f", RO), "EACCES",
  caller=U)
S("open_group_read", [F("/f", 0o640), own("/f", 0, 500)], ("open", "/f", RO),
  caller=user(1000, groups=[500]))
S("open_trunc_needs_write", [F("/f", 0o444), own("/f", 1000)], ("open", "/f", RO | TRUNC),
  "EACCES", caller=U)
S("open_dac_override", [F("/f", 0o000)], ("open", "/f", RW),
  caller=user(1000, caps=["CAP_DAC_OVERRIDE"]))
S("open_dac_read_search_read_only", [F("/f", 0o000)], ("open", "/f", WO), "EACCES",
  caller=user(1000, caps=["CAP_DAC_READ_SEARCH"]))
S("open_read_only_mount_read", [F("/f"), RO_ROOT], ("open", "/f", RO))
S("open_read_only_mount_write", [F("/f"), RO_ROOT], ("open", "/f", WO), "EROFS")
S("open_read_only_mount_trunc", [F("/f"), RO_ROOT], ("open", "/f", RO | TRUNC), "EROFS")
S("open_read_only_mount_dir_write", [D("/d"), RO_ROOT], ("open", "/d", WO), "EISDIR")
S("open_read_only_mount_fifo_rdwr", [("mknod", "/p", FIFO | 0o666, 0), RO_ROOT],
  ("open", "/p", RW | NONBLOCK))
S("open_read_only_mount_write_denied", [F("/f", 0o644), RO_ROOT], ("open", "/f", WO), "EACCES",
  caller=U)
S("open_read_only_mount_trunc_denied", [F("/f", 0o644), RO_ROOT], ("open", "/f", RO | TRUNC),
  "EROFS", caller=U)
S("open_append_only_write", [F("/f"), ("set_flags", "/f", False, True)], ("open", "/f", WO),
  "EPERM")
S("open_append_only_append", [F("/f"), ("set_flags", "/f", False, True)],
  ("open", "/f", WO | APPEND))
S("open_append_only_append_trunc", [F("/f"), ("set_flags", "/f", False, True)],
  ("open", "/f", WO | APPEND | TRUNC), "EPERM")
S("open_append_only_read", [F("/f"), ("set_flags", "/f", False, True)], ("open", "/f", RO))
S("open_append_only_read_trunc", [F("/f"), ("set_flags", "/f", False, True)],
  ("open", "/f", RO | TRUNC), "EPERM")
S("open_immutable_write", [F("/f"), ("set_flags", "/f", True)], ("open", "/f", WO | APPEND),
  "EPERM")
S("open_immutable_read", [F("/f"), ("set_flags", "/f", True)], ("open", "/f", RO))
S("open_immutable_trunc", [F("/f"), ("set_flags", "/f", True)], ("open", "/f", RO | TRUNC),
  "EPERM")
S("open_immutable_write_denied_by_mode", [F("/f", 0o644), ("set_flags", "/f", True)],
  ("open", "/f", WO), "EPERM", caller=U)
S("open_trunc_kills_setuid", [F("/f"), chmod("/f", 0o4777)], ("open", "/f", WO | TRUNC),
  caller=U, after=[("/f", {"mode": 0o777})])
S("open_trunc_kills_setgid_not_in_group", [F("/f"), chmod("/f", 0o2767)],
  ("open", "/f", WO | TRUNC), caller=U, after=[("/f", {"mode": 0o767})])
S("open_trunc_root_keeps_setuid", [F("/f"), chmod("/f", 0o4777)], ("open", "/f", WO | TRUNC),
  after=[("/f", {"mode": 0o4777})])
S("open_fifo_write_no_reader", [("mknod", "/p", FIFO | 0o666, 0)],
  ("open", "/p", WO | NONBLOCK), "ENXIO")
S("open_fifo_read", [("mknod", "/p", FIFO | 0o666, 0)], ("open", "/p", RO | NONBLOCK))
S("open_fifo_write_with_reader", [("mknod", "/p", FIFO | 0o666, 0),
                                  ("open", "/p", RO | NONBLOCK)],
  ("open", "/p", WO | NONBLOCK), result=4)
S("open_fifo_rdwr", [("mknod", "/p", FIFO | 0o666, 0)], ("open", "/p", RW | NONBLOCK))
S("open_fifo_write_denied", [("mknod", "/p", FIFO | 0o644, 0)], ("open", "/p", WO | NONBLOCK),
  "EACCES", caller=U)
S("open_fifo_trunc_no_reader", [("mknod", "/p", FIFO | 0o666, 0)],
  ("open", "/p", WO | TRUNC | NONBLOCK), "ENXIO")
S("open_char_device_no_driver", [("mknod", "/c", CHR | 0o666, NODEV_CHR)], ("open", "/c", RO),
  "ENXIO")
S("open_block_device_no_driver", [("mknod", "/b", BLK | 0o666, NODEV_BLK)], ("open", "/b", RO),
  "ENXIO")
S("open_whiteout", [("mknod", "/c", CHR | 0o666, 0)], ("open", "/c", RO), "ENXIO")
S("open_device_denied", [("mknod", "/c", CHR | 0o600, NODEV_CHR)], ("open", "/c", RO),
  "EACCES", caller=U)
S("open_socket", [("mknod", "/s", SOCK | 0o666, 0)], ("open", "/s", RO), "ENXIO")
S("open_dev_null", [("mknod", "/null", CHR | 0o666, os.makedev(1, 3))],
  ("open", "/null", RW))
S("open_path_unreadable_file", [F("/f", 0o000)], ("open", "/f", O_PATH), caller=U, result=3)
S("open_path_dir", [D("/d", 0o000)], ("open", "/d", O_PATH | DIRECTORY), caller=U)
S("open_path_fifo", [("mknod", "/p", FIFO | 0o000, 0)], ("open", "/p", O_PATH | WO))
S("open_path_socket", [("mknod", "/s", SOCK | 0o000, 0)], ("open", "/s", O_PATH))
S("open_path_device", [("mknod", "/c", CHR | 0o000, NODEV_CHR)], ("open", "/c", O_PATH))
S("open_path_symlink_nofollow", [L("nope", "/l")], ("open", "/l", O_PATH | NOFOLLOW))
S("open_path_dangling_symlink", [L("nope", "/l")], ("open", "/l", O_PATH), "ENOENT")
S("open_path_directory_on_file", [F("/f")], ("open", "/f", O_PATH | DIRECTORY), "ENOTDIR")
S("open_path_missing", [], ("open", "/nope", O_PATH), "ENOENT")
S("open_path_no_search", [D("/d"), F("/d/f"), chmod("/d", 0o700)], ("open", "/d/f", O_PATH),
  "EACCES", caller=U)
S("open_path_read_only_mount", [F("/f"), RO_ROOT], ("open", "/f", O_PATH | RW))
S("open_path_immutable", [F("/f"), ("set_flags", "/f", True)], ("open", "/f", O_PATH | WO))

# ----------------------------------------------------------- set_flags
S("set_flags_root_immutable", [F("/f")], ("set_flags", "/f", True))
S("set_flags_root_dir", [D("/d")], ("set_flags", "/d", False, True))
S("set_flags_clear_immutable", [F("/f"), ("set_flags", "/f", True)], ("set_flags", "/f", False))
S("set_flags_owner_no_cap", [F("/f"), own("/f", 1000)], ("set_flags", "/f", True), "EPERM",
  caller=U)
S("set_flags_owner_no_change", [F("/f"), own("/f", 1000)], ("set_flags", "/f", False), caller=U)
S("set_flags_owner_cap_linux_immutable", [F("/f"), own("/f", 1000)],
  ("set_flags", "/f", False, True), caller=user(1000, caps=["CAP_LINUX_IMMUTABLE"]))
S("set_flags_non_owner", [F("/f")], ("set_flags", "/f", False), "EPERM", caller=U)
S("set_flags_non_owner_cap_linux_immutable", [F("/f")], ("set_flags", "/f", True), "EPERM",
  caller=user(1000, caps=["CAP_LINUX_IMMUTABLE"]))
S("set_flags_non_owner_fowner_and_immutable", [F("/f")], ("set_flags", "/f", True),
  caller=user(1000, caps=["CAP_LINUX_IMMUTABLE", "CAP_FOWNER"]))
S("set_flags_unreadable", [F("/f", 0o000), own("/f", 1000)], ("set_flags", "/f", False),
  "EACCES", caller=U)
S("set_flags_through_symlink", [F("/f"), L("f", "/l")], ("set_flags", "/l", True))
S("set_flags_fifo", [("mknod", "/p", FIFO | 0o644, 0)], ("set_flags", "/p", True),
  {"xfs": "ok", "*": "ENOTTY"})
S("set_flags_socket", [("mknod", "/s", SOCK | 0o644, 0)], ("set_flags", "/s", True), "ENXIO")
S("set_flags_ramfs_file", [F("/f")], ("set_flags", "/f", False), "ENOTTY", fses=("ramfs",))
S("set_flags_ramfs_dir", [D("/d")], ("set_flags", "/d", False), "ENOTTY", fses=("ramfs",))
S("set_flags_read_only", [F("/f"), RO_ROOT], ("set_flags", "/f", True), "EROFS")
S("set_flags_read_only_non_owner", [F("/f"), RO_ROOT], ("set_flags", "/f", True), "EROFS",
  caller=U)
S("set_flags_immutable_add_append", [F("/f"), ("set_flags", "/f", True)],
  ("set_flags", "/f", True, True), {"ext4": "EPERM", "*": "ok"})

# ------------------------------------------------------------- remount
S("remount_ro_with_file_open_for_write", [F("/f"), ("open", "/f", WO)], ("remount", "/", True),
  "EBUSY")
S("remount_ro_with_file_open_rdwr", [F("/f"), ("open", "/f", RW)], ("remount", "/", True),
  "EBUSY")
S("remount_ro_with_file_open_for_read", [F("/f"), ("open", "/f", RO)], ("remount", "/", True))
S("remount_ro_with_unlinked_file_open_for_write", [F("/f"), ("open", "/f", WO),
                                                   ("unlink", "/f")],
  ("remount", "/", True), "EBUSY")
S("remount_ro_after_close", [F("/f"), ("open", "/f", WO), ("close", 3)], ("remount", "/", True))
S("remount_ro_with_fifo_open_for_write", [("mknod", "/p", FIFO | 0o666, 0),
                                          ("open", "/p", RW | NONBLOCK)],
  ("remount", "/", True))
S("remount_ro_with_o_path_fd", [F("/f"), ("open", "/f", O_PATH | WO)], ("remount", "/", True))
S("remount_ro_other_mount_busy_is_independent", [D("/m"), ("mount", "/m", "tmpfs"),
                                                 F("/m/f"), ("open", "/m/f", WO)],
  ("remount", "/", True))
S("remount_ro_then_umask", [RO_ROOT], ("umask", 0o022), result=0)


# ------------------------------------------------------- more corner cases
S("lookup_missing_then_long_name", [], ("stat", "/nope/" + "a" * 256), "ENOENT")
S("lookup_no_search_then_long_name", [D("/d", 0o700)], ("stat", "/d/" + "a" * 256),
  "EACCES", caller=U)
S("lookup_symlink_to_root_dotdot", [L("/", "/r")], ("stat", "/r/.."), same_as="/")
S("lookup_40_symlinks_across_components",
  [D("/d"), L("d", "/a0")] + [L(f"a{i - 1}", f"/a{i}") for i in range(1, 21)]
  + [F("/d/t"), L("t", "/d/b0")] + [L(f"b{i - 1}", f"/d/b{i}") for i in range(1, 19)],
  ("stat", "/a20/b18"), same_as="/d/t")
S("lookup_41_symlinks_across_components",
  [D("/d"), L("d", "/a0")] + [L(f"a{i - 1}", f"/a{i}") for i in range(1, 21)]
  + [F("/d/t"), L("t", "/d/b0")] + [L(f"b{i - 1}", f"/d/b{i}") for i in range(1, 20)],
  ("stat", "/a20/b19"), "ELOOP")
S("mkdir_through_dangling_symlink_parent", [L("nope", "/l")], ("mkdir", "/l/d", 0o755),
  "ENOENT")
S("mkdir_in_removed_cwd", [D("/d"), ("chdir", "/d"), ("rmdir", "/d")], ("mkdir", "x", 0o755),
  "ENOENT")
S("mknod_in_removed_cwd", [D("/d"), ("chdir", "/d"), ("rmdir", "/d")],
  ("mknod", "f", REG | 0o644, 0), "ENOENT")
S("open_creat_in_removed_cwd", [D("/d"), ("chdir", "/d"), ("rmdir", "/d")],
  ("open", "f", WO | CREAT), "ENOENT")
S("stat_removed_cwd", [D("/d"), ("chdir", "/d"), ("rmdir", "/d")], ("stat", "."),
  after=[("/d", GONE)])
S("rmdir_cwd", [D("/d"), ("chdir", "/d")], ("rmdir", "/d"), after=[("/d", GONE)])
S("mknod_device_exists_beats_cap", [D("/t", 0o777), F("/t/c")],
  ("mknod", "/t/c", CHR | 0o600, os.makedev(1, 3)), "EEXIST", caller=U)
S("mknod_directory_type_read_only", [RO_ROOT], ("mknod", "/d", DIR | 0o755, 0), "EPERM")
S("link_cross_mount_target_exists", [F("/f"), D("/m"), ("mount", "/m", "tmpfs"), F("/m/g")],
  ("link", "/f", "/m/g"), "EEXIST")
S("link_read_only_missing_source", [RO_ROOT], ("link", "/nope", "/g"), "ENOENT")
S("link_into_append_only_dir", [F("/f"), D("/p"), ("set_flags", "/p", False, True)],
  ("link", "/f", "/p/g"))
S("unlink_read_only_no_write", [F("/f"), RO_ROOT], ("unlink", "/f"), "EROFS", caller=U)
S("rmdir_mount_point_no_write", [D("/m"), ("mount", "/m", "tmpfs")], ("rmdir", "/m"),
  "EACCES", caller=U)
S("rename_read_only_missing", [RO_ROOT], ("rename", "/nope", "/b"), "EROFS")
S("rename_onto_dot", [D("/a"), D("/b")], ("rename", "/a", "/b/."), "EBUSY")
S("rename_file_trailing_slash_onto_dir", [F("/a"), D("/b")], ("rename", "/a", "/b/"),
  "ENOTDIR")
S("rename_mount_root_dot_elsewhere", [D("/m"), ("mount", "/m", "tmpfs")],
  ("rename", "/m/.", "/n"), "EXDEV")
S("rename_mount_root_dot_inside", [D("/m"), ("mount", "/m", "tmpfs")],
  ("rename", "/m/.", "/m/n"), "EBUSY")
S("rename_in_append_only_dir", [D("/p"), F("/p/a"), ("set_flags", "/p", False, True)],
  ("rename", "/p/a", "/p/b"), "EPERM")
S("rename_into_append_only_dir", [F("/a"), D("/p"), ("set_flags", "/p", False, True)],
  ("rename", "/a", "/p/a"))
S("chown_dir_owner_chgrp_keeps_sgid", [D("/d"), own("/d", 1000), chmod("/d", 0o2775)],
  ("chown", "/d", -1, 500), caller=user(1000, groups=[500]), after=[("/d", {"mode": 0o2775})])
S("chown_cap_chown_setuid_file_needs_fowner", [F("/f"), chmod("/f", 0o4755)],
  ("chown", "/f", 1001, 1001), "EPERM", caller=user(1000, caps=["CAP_CHOWN"]))
S("chown_cap_chown_keeps_sgid_without_group_exec", [F("/f"), own("/f", 1000), chmod("/f", 0o2745)],
  ("chown", "/f", -1, 500), caller=user(1000, caps=["CAP_CHOWN"]),
  after=[("/f", {"mode": 0o2745, "gid": 500})])
S("chown_kill_suid_drops_sgid_of_foreign_new_group", [F("/f"), chmod("/f", 0o6745)],
  ("chown", "/f", -1, 500), caller=user(1000, caps=["CAP_CHOWN", "CAP_FOWNER"]),
  after=[("/f", {"mode": 0o745, "gid": 500})])
S("chown_minus_one_read_only", [F("/f"), RO_ROOT], ("chown", "/f", -1, -1), "EROFS")
S("open_excl_without_creat", [F("/f")], ("open", "/f", RO | EXCL))
S("open_creat_excl_trailing_slash", [], ("open", "/f/", WO | CREAT | EXCL), "EISDIR")
S("open_creat_excl_root", [], ("open", "/", RO | CREAT | EXCL), "EEXIST")
S("open_creat_root", [], ("open", "/", RO | CREAT), "EISDIR")
S("open_creat_dot", [D("/d")], ("open", "/d/.", RO | CREAT), "EISDIR")
S("open_creat_excl_symlink_to_file", [F("/f"), L("f", "/l")], ("open", "/l", WO | CREAT | EXCL),
  "EEXIST")
S("open_creat_symlink_target_trailing_slash", [L("nope/", "/l")], ("open", "/l", WO | CREAT),
  "EISDIR", after=[("/nope", GONE)])
S("open_creat_symlink_into_missing_dir", [L("nope/f", "/l")], ("open", "/l", WO | CREAT),
  "ENOENT")
S("open_creat_existing_no_write", [F("/f", 0o644)], ("open", "/f", WO | CREAT), "EACCES",
  caller=U)
S("open_creat_existing_in_immutable_dir", [D("/p"), F("/p/f"), ("set_flags", "/p", True)],
  ("open", "/p/f", WO | CREAT))
S("open_directory_dangling_symlink", [L("nope", "/l")], ("open", "/l", RO | DIRECTORY),
  "ENOENT")
S("open_path_nofollow_directory_symlink", [D("/d"), L("d", "/l")],
  ("open", "/l", O_PATH | NOFOLLOW | DIRECTORY), "ENOTDIR")
S("open_fifo_read_trunc_needs_write", [("mknod", "/p", FIFO | 0o644, 0)],
  ("open", "/p", RO | TRUNC | NONBLOCK), "EACCES", caller=U)
S("open_device_read_trunc_needs_write", [("mknod", "/c", CHR | 0o644, NODEV_CHR)],
  ("open", "/c", RO | TRUNC), "EACCES", caller=U)
S("open_socket_read_trunc_needs_write", [("mknod", "/s", SOCK | 0o644, 0)],
  ("open", "/s", RO | TRUNC), "EACCES", caller=U)
S("open_fifo_trunc_read_only_mount", [("mknod", "/p", FIFO | 0o666, 0), RO_ROOT],
  ("open", "/p", RW | TRUNC | NONBLOCK))
S("open_socket_write", [("mknod", "/s", SOCK | 0o666, 0)], ("open", "/s", WO), "ENXIO")
S("open_socket_denied", [("mknod", "/s", SOCK | 0o000, 0)], ("open", "/s", RO), "EACCES",
  caller=U)
S("open_append_only_fifo_xfs", [("mknod", "/p", FIFO | 0o666, 0),
                                ("set_flags", "/p", False, True)],
  ("open", "/p", RW | NONBLOCK), "EPERM", fses=("xfs",))
S("open_immutable_fifo_xfs", [("mknod", "/p", FIFO | 0o666, 0), ("set_flags", "/p", True)],
  ("open", "/p", RW | NONBLOCK), "EPERM", fses=("xfs",))
S("set_flags_char_device", [("mknod", "/c", CHR | 0o644, NODEV_CHR)], ("set_flags", "/c", True),
  "ENXIO")
S("umask_returns_previous", [("umask", 0o022)], ("umask", 0o077), result=0o022)

# ------------------------------------------------------- mounts, cwd, odd flags
NOATIME = getattr(os, "O_NOATIME", 0o1000000)
ACCMODE3 = os.O_ACCMODE  # O_WRONLY|O_RDWR: needs read and write permission, gives neither
S("lookup_mount_hides_underlying", [D("/m"), F("/m/x"), ("mount", "/m", "tmpfs")],
  ("stat", "/m/x"), "ENOENT")
S("lookup_dot_in_covered_cwd", [D("/a", 0o700), ("chdir", "/a"), ("mount", "/a", "tmpfs")],
  ("stat", "."), returns={"mode": 0o700})
S("lookup_dotdot_onto_covered_dir", [D("/a", 0o700), D("/a/b"), ("chdir", "/a/b"),
                                     ("mount", "/a", "tmpfs")],
  ("stat", ".."), same_as="/a", returns={"mode": 0o1777})
S("mknod_in_covered_cwd", [D("/m"), ("chdir", "/m"), ("mount", "/m", "tmpfs")],
  ("mknod", "f", REG | 0o644, 0), after=[("/m/f", GONE)])
S("lookup_dotdot_needs_search", [D("/d", 0o700)], ("stat", "/d/.."), "EACCES", caller=U)
S("lookup_dot_needs_search", [D("/d", 0o700)], ("stat", "/d/."), "EACCES", caller=U)
S("lookup_trailing_slash_needs_no_search_on_itself", [D("/d", 0o700)], ("stat", "/d/"),
  caller=U)
S("rmdir_sticky_mount_point_owned_by_caller",
  [D("/t", 0o1777), D("/t/m"), own("/t/m", 1000), ("mount", "/t/m", "tmpfs")],
  ("rmdir", "/t/m"), "EBUSY", caller=U)
S("unlink_sticky_mount_point_owned_by_caller",
  [D("/t", 0o1777), D("/t/m"), own("/t/m", 1000), ("mount", "/t/m", "tmpfs")],
  ("unlink", "/t/m"), "EISDIR", caller=U)
S("rename_sticky_mount_point_owned_by_caller",
  [D("/t", 0o1777), D("/t/m"), own("/t/m", 1000), ("mount", "/t/m", "tmpfs")],
  ("rename", "/t/m", "/t/n"), "EBUSY", caller=U)
S("link_symlink_to_dir_trailing_slash", [D("/d"), L("d", "/l")], ("link", "/l/", "/h"), "EPERM")
S("link_read_only_protected", [F("/f", 0o600), RO_ROOT], ("link", "/f", "/g"), "EROFS",
  caller=U)
S("rename_file_onto_ancestor_dir", [D("/a"), F("/a/f")], ("rename", "/a/f", "/a"), "ENOTEMPTY")
S("rename_onto_own_hardlink_no_permission", [D("/p"), F("/p/a"), ("link", "/p/a", "/p/b")],
  ("rename", "/p/a", "/p/b"), caller=U, after=[("/p/a", {"nlink": 2})])
S("rename_dir_over_empty_dir_nlink", [D("/p"), D("/p/a"), D("/p/b")],
  ("rename", "/p/a", "/p/b"), after=[("/p", {"nlink": {"btrfs": 1, "*": 3}})])
S("chown_minus_one_append_only_setuid", [F("/f"), chmod("/f", 0o4755),
                                         ("set_flags", "/f", False, True)],
  ("chown", "/f", -1, -1), {"ext4": "EPERM", "*": "ok"}, after=[("/f", {"mode": 0o755})])
S("chown_minus_one_immutable_setuid", [F("/f"), chmod("/f", 0o4755), ("set_flags", "/f", True)],
  ("chown", "/f", -1, -1), {"ext4": "EPERM", "*": "ok"},
  after=[("/f", {"mode": 0o755})])
S("open_creat_excl_existing_no_write", [F("/f")], ("open", "/f", WO | CREAT | EXCL), "EEXIST",
  caller=U)
S("open_creat_excl_existing_read_only", [F("/f"), RO_ROOT], ("open", "/f", WO | CREAT | EXCL),
  "EEXIST")
S("open_creat_read_only_no_write", [RO_ROOT], ("open", "/f", WO | CREAT), "EROFS", caller=U)
S("open_creat_excl_dot_trailing_slash", [D("/d")], ("open", "/d/./", RO | CREAT | EXCL),
  "EEXIST")
S("open_creat_excl_dotdot_trailing_slash", [D("/d")], ("open", "/d/../", RO | CREAT | EXCL),
  "EEXIST")
S("open_creat_dot_trailing_slash", [D("/d")], ("open", "/d/./", RO | CREAT), "EISDIR")
S("open_dir_unreadable", [D("/d", 0o711)], ("open", "/d", RO), "EACCES", caller=U)
S("open_trunc_kills_setgid_group_exec_owner", [F("/f"), own("/f", 1000), chmod("/f", 0o2775)],
  ("open", "/f", WO | TRUNC), caller=U, after=[("/f", {"mode": 0o775})])
S("open_creat_trunc_kills_setuid", [F("/f"), chmod("/f", 0o4777)],
  ("open", "/f", WO | CREAT | TRUNC), caller=U, after=[("/f", {"mode": 0o777})])
S("open_noatime_non_owner", [F("/f", 0o644)], ("open", "/f", RO | NOATIME), "EPERM", caller=U)
S("open_noatime_owner", [F("/f", 0o644), own("/f", 1000)], ("open", "/f", RO | NOATIME),
  caller=U)
S("open_noatime_cap_fowner", [F("/f", 0o644)], ("open", "/f", RO | NOATIME),
  caller=user(1000, caps=["CAP_FOWNER"]))
S("open_noatime_o_path", [F("/f", 0o644)], ("open", "/f", O_PATH | NOATIME), caller=U)
S("open_accmode3_needs_read_write", [F("/f", 0o644)], ("open", "/f", ACCMODE3), "EACCES",
  caller=U)
S("open_accmode3_dir", [D("/d")], ("open", "/d", ACCMODE3), "EISDIR")
S("open_accmode3_read_only_mount", [F("/f"), RO_ROOT], ("open", "/f", ACCMODE3))
S("open_accmode3_fifo", [("mknod", "/p", FIFO | 0o666, 0)], ("open", "/p", ACCMODE3 | NONBLOCK),
  "EINVAL")
S("remount_ro_with_accmode3_fd", [F("/f"), ("open", "/f", ACCMODE3)], ("remount", "/", True))
S("open_fifo_write_with_rdwr_reader", [("mknod", "/p", FIFO | 0o666, 0),
                                       ("open", "/p", RW | NONBLOCK)],
  ("open", "/p", WO | NONBLOCK))
S("open_fifo_write_reader_closed", [("mknod", "/p", FIFO | 0o666, 0),
                                    ("open", "/p", RO | NONBLOCK), ("close", 3)],
  ("open", "/p", WO | NONBLOCK), "ENXIO")
S("open_fifo_write_reader_via_hardlink", [("mknod", "/p", FIFO | 0o666, 0), ("link", "/p", "/q"),
                                          ("open", "/q", RO | NONBLOCK)],
  ("open", "/p", WO | NONBLOCK))
S("open_fifo_write_o_path_is_no_reader", [("mknod", "/p", FIFO | 0o666, 0),
                                          ("open", "/p", O_PATH | RO)],
  ("open", "/p", WO | NONBLOCK), "ENXIO")
S("lookup_40_dot_symlinks", [D("/d"), L(".", "/d/l")], ("stat", "/d/" + "l/" * 40),
  same_as="/d")
S("lookup_41_dot_symlinks", [D("/d"), L(".", "/d/l")], ("stat", "/d/" + "l/" * 41), "ELOOP")
S("lookup_loop_trailing_slash_lstat", [L("l2", "/l1"), L("l1", "/l2")], ("lstat", "/l1/"),
  "ELOOP")
S("lookup_symlink_target_unsearchable", [D("/d"), F("/d/f"), chmod("/d", 0o700), L("/d/f", "/l")],
  ("stat", "/l"), "EACCES", caller=U)
S("open_path_symlink_loop", [L("l2", "/l1"), L("l1", "/l2")], ("open", "/l1", O_PATH), "ELOOP")
S("open_path_symlink_loop_nofollow", [L("l2", "/l1"), L("l1", "/l2")],
  ("open", "/l1", O_PATH | NOFOLLOW))
S("open_creat_mode_7777", [], ("open", "/f", WO | CREAT, 0o7777), after=[("/f", {"mode": 0o7777})])
S("open_creat_user_setgid_own_group", [D("/t", 0o777)], ("open", "/t/f", WO | CREAT, 0o2755),
  caller=U, after=[("/t/f", {"mode": 0o2755, "gid": 1000})])
S("mknod_fifo_mode_7777", [], ("mknod", "/p", FIFO | 0o7777, 0),
  after=[("/p", {"mode": 0o7777, "type": "fifo"})])
S("close_negative_fd", [], ("close", -1), "EBADF")
S("close_twice", [F("/f"), ("open", "/f", RO), ("close", 3)], ("close", 3), "EBADF")
S("chown_uid_4294967295_means_unchanged", [F("/f"), own("/f", 7, 8)],
  ("chown", "/f", 4294967295, 4294967295), after=[("/f", {"uid": 7, "gid": 8})])
S("chown_uid_4294967294", [F("/f")], ("chown", "/f", 4294967294, -1),
  after=[("/f", {"uid": 4294967294})])
S("rename_missing_target_parent", [F("/a")], ("rename", "/a", "/nope/b"), "ENOENT")
S("rename_target_parent_is_file", [F("/a"), F("/f")], ("rename", "/a", "/f/b"), "ENOTDIR")

# ------------------------------------------------ where SimKernel is wrong
# (scenario, fs or "*") -> diagnosis.  The kernel is the truth: these are strict xfails
# of the SimKernel test only; the same scenarios pass on the real kernel.

SIM_DISAGREES: dict[tuple[str, str], str] = {
}


# ---------------------------------------------------------------- running

class SetupError(Exception):
    pass


def _fields(st, fs):
    return {
        "exists": True,
        "type": next((n for n, t in TYPES.items() if stat.S_IFMT(st.st_mode) == t), "?"),
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "nlink": st.st_nlink,
        "size": st.st_size,
        "rdev": st.st_rdev,
    }


def run(k, sc: Scenario, fs: str):
    """Run one scenario on backend ``k``; returns (outcome, result, exception)."""
    k.chmod("/", 0o755)
    for step in sc.setup:
        try:
            getattr(k, step[0])(*step[1:])
        except OSError as exc:
            raise SetupError(f"{sc.name} on {fs}: setup step {_show(step)} failed: "
                             f"{errno.errorcode.get(exc.errno, exc.errno)}") from exc
    ctx = k.become(*sc.caller) if sc.caller is not None else contextlib.nullcontext()
    result = exc = None
    with ctx:
        try:
            result = getattr(k, sc.call[0])(*sc.call[1:])
            outcome = "ok"
        except OSError as e:
            exc = e
            outcome = errno.errorcode.get(e.errno, str(e.errno))
    return outcome, result, exc


def verify(k, sc: Scenario, fs: str, outcome, result):
    """Assert that the scenario ended as the table says (stat checks run as root)."""
    expected = sc.outcome(fs)
    call = _show(sc.call)
    assert outcome == expected, f"{call} on {fs}: expected {expected}, got {outcome}"
    if outcome != "ok":
        return
    if sc.result is not None:
        assert result == sc.result, f"{call} on {fs}: returned {result!r}, expected {sc.result!r}"
    if sc.same_as is not None:
        ref = k.stat(sc.same_as)
        assert (result.st_dev, result.st_ino) == (ref.st_dev, ref.st_ino), (
            f"{call} on {fs}: not the inode of {sc.same_as}")
    for key, value in sc.returns:
        got = _fields(result, fs)[key]
        value = pick(value, fs)
        assert got == value, (f"{call} on {fs}: returned {key} {_fmt(key, got)}, "
                              f"expected {_fmt(key, value)}")
    for path, want in sc.after:
        try:
            got = _fields(k.lstat(path), fs)
        except FileNotFoundError:
            got = {"exists": False}
        for key, value in want.items():
            value = pick(value, fs)
            assert got.get(key) == value, (
                f"after {call} on {fs}: {path} {key} is {_fmt(key, got.get(key))}, "
                f"expected {_fmt(key, value)}")


def _fmt(key, value):
    return oct(value) if key == "mode" and isinstance(value, int) else repr(value)


def _show(step):
    args = []
    for a in step[1:]:
        if isinstance(a, str) and len(a) > 40:
            args.append(f"<{len(a)}-byte path>")
        elif isinstance(a, int) and not isinstance(a, bool) and a > 7:
            args.append(oct(a))
        else:
            args.append(repr(a))
    return f"{step[0]}({', '.join(args)})"


def _params(sim: bool):
    out = []
    for sc in SCENARIOS:
        for fs in sc.fses:
            marks = ()
            if sim:
                reason = SIM_DISAGREES.get((sc.name, fs)) or SIM_DISAGREES.get((sc.name, "*"))
                if reason:
                    marks = (pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError),)
            out.append(pytest.param(sc, fs, id=f"{sc.name}-{fs}", marks=marks))
    return out


def test_table_is_wide():
    assert len(SCENARIOS) >= 120
    for key in SIM_DISAGREES:
        assert any(sc.name == key[0] and (key[1] == "*" or key[1] in sc.fses)
                   for sc in SCENARIOS), key


@pytest.mark.parametrize(("scenario", "fs"), _params(sim=True))
def test_simkernel(scenario, fs):
    k = SimKernel(fs)
    outcome, result, exc = run(k, scenario, fs)
    if exc is not None:
        rule = getattr(exc, "rule", None)
        assert rule is not None, f"{_show(scenario.call)} on {fs}: {exc!r} carries no rule"
        assert rule.errno == exc.errno, (
            f"{_show(scenario.call)} on {fs}: rule {rule.id} says {rule.errno}, raised {exc.errno}")
    verify(k, scenario, fs, outcome, result)


@pytest.fixture(scope="module")
def host_make(request):
    """(fs, factory of fresh HostKernels) on one scratch filesystem per fs, for the module."""
    fs = request.param
    with contextlib.ExitStack() as stack:
        make = stack.enter_context(scratch_host_factory(Situation(fs)))
        yield fs, make


@pytest.mark.privileged
@pytest.mark.parametrize(("scenario", "host_make"), _params(sim=False), indirect=["host_make"])
def test_hostkernel(scenario, host_make):
    fs, make = host_make
    with make() as k:
        outcome, result, _ = run(k, scenario, fs)
        verify(k, scenario, fs, outcome, result)
