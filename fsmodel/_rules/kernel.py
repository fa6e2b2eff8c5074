"""Kernel versions and the behaviour each one selects.

The model is parameterised by a kernel version (default 6.18, the kernel the
specification was verified on).  Everything version-dependent is a field of
:class:`KernelFeatures`, decided here and nowhere else; the pipelines and the
filesystem profiles only read the fields.  See kernel-xattr-rules.md §5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_KERNEL = "6.18"

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class KernelFeatures:
    version: tuple[int, int]
    #: 6.13: flags/name/size are validated before path lookup, mnt_want_write
    #: and fd resolution (``path_*xattrat``); before, lookup came first.
    args_before_lookup: bool
    #: 6.6: tmpfs supports ``user.*`` and charges xattrs to its inode space.
    tmpfs_user_xattr: bool
    #: ≈6.15 ("dfd >= 0" fix): f{get,set}xattr(AT_FDCWD) act on the cwd.
    fdcwd_is_cwd: bool
    #: 7.1: sockets accept ``user.*`` ("xattr: support extended attributes on sockets").
    socket_user_xattr: bool
    #: 6.2..6.x: tmpfs lists in descending name order (rbtree, reversed comparator);
    #: from 7.0 simple_xattr is an rhashtable (hash order).
    tmpfs_hash_order: bool
    #: ≈6.10: XFS treats XATTR_CREATE|XATTR_REPLACE as create (xfs_xattr_flags_to_op).
    xfs_both_flags_create: bool
    #: 4.14: v3 (namespaced) file capabilities are accepted.
    vfs_caps_v3: bool

    @property
    def name(self) -> str:
        return "%d.%d" % self.version


def parse_version(text: str) -> tuple[int, int]:
    """``"6.18"``, ``"6.18.44-fc"`` or ``"5.15.0-91-generic"`` -> (major, minor)."""
    if isinstance(text, tuple):
        return (int(text[0]), int(text[1]))
    m = _VERSION.match(str(text))
    if not m:
        raise ValueError(f"kernel={text!r} is not a kernel version like '6.18' or '5.15.0-91'")
    major, minor = int(m.group(1)), int(m.group(2))
    if not (3, 0) <= (major, minor) < (100, 0):
        raise ValueError(f"kernel={text!r}: only kernels 3.0 and later are modelled")
    return (major, minor)


@lru_cache(maxsize=None)
def features(kernel: str | tuple[int, int] = DEFAULT_KERNEL) -> KernelFeatures:
    v = parse_version(kernel)
    return KernelFeatures(
        version=v,
        args_before_lookup=v >= (6, 13),
        tmpfs_user_xattr=v >= (6, 6),
        fdcwd_is_cwd=v >= (6, 15),
        socket_user_xattr=v >= (7, 1),
        tmpfs_hash_order=v >= (7, 0),
        xfs_both_flags_create=v >= (6, 10),
        vfs_caps_v3=v >= (4, 14),
    )
