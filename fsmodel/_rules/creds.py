"""Callers and the permission primitives every rule is built from.

fs/namei.c: ``generic_permission``, ``acl_permission_check``; fs/posix_acl.c:
``posix_acl_permission``; fs/inode.c: ``inode_owner_or_capable``;
kernel/groups.c: ``in_group_p``.  Only the initial user namespace is
modelled: every id is mapped and ``capable_wrt_inode_uidgid`` is ``capable``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from . import codecs as _acl
from .constants import (
    ALL_CAPS,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    S_IFDIR,
    S_IFMT,
    caps_mask,
    caps_names,
)


@dataclass(frozen=True, slots=True)
class Cred:
    """A caller: fsuid/fsgid, supplementary groups and effective capabilities (bit mask)."""

    uid: int = 0
    gid: int = 0
    groups: frozenset = frozenset()
    caps: int = ALL_CAPS

    @classmethod
    def make(cls, uid: int, gid: int | None = None, groups=(), caps=None) -> "Cred":
        """What ``become(uid, gid, groups, caps)`` means.

        gid None -> gid = uid; caps None -> every capability for uid 0, none
        otherwise; else an iterable of names such as ``"CAP_SYS_ADMIN"``.
        """
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 <= uid < 0xFFFFFFFF:
            raise ValueError(f"uid={uid!r} is not a valid user id")
        gid = uid if gid is None else gid
        if not isinstance(gid, int) or isinstance(gid, bool) or not 0 <= gid < 0xFFFFFFFF:
            raise ValueError(f"gid={gid!r} is not a valid group id")
        groups = frozenset(int(g) for g in groups)
        mask = (ALL_CAPS if uid == 0 else 0) if caps is None else caps_mask(caps)
        return cls(uid, gid, groups, mask)

    def capable(self, bit: int) -> bool:
        return bool(self.caps & bit)

    def in_group(self, gid: int) -> bool:
        """``in_group_p``: the fsgid or a supplementary group."""
        return gid == self.gid or gid in self.groups

    def describe(self) -> str:
        if self.caps == ALL_CAPS:
            caps = "all capabilities"
        elif not self.caps:
            caps = "no capabilities"
        else:
            caps = ", ".join(caps_names(self.caps))
        groups = f" groups={sorted(self.groups)}" if self.groups else ""
        return f"uid={self.uid} gid={self.gid}{groups} ({caps})"


ROOT = Cred()


def owner_or_capable(cred: Cred, inode) -> bool:
    """``inode_owner_or_capable``: the owner, or CAP_FOWNER."""
    return cred.uid == inode.uid or bool(cred.caps & CAP_FOWNER)


def _acl_permission(cred: Cred, inode, acl, want: int) -> int:
    """``posix_acl_permission``: 0 or EACCES (the owner was handled by the caller)."""
    found = False
    mask = _acl.acl_mask_perm(acl)
    for tag, perm, ident in acl:
        if tag == _acl.ACL_USER:
            if ident == cred.uid:
                if mask is not None:
                    perm &= mask
                return 0 if perm & want == want else errno.EACCES
        elif tag == _acl.ACL_GROUP_OBJ or tag == _acl.ACL_GROUP:
            gid = inode.gid if tag == _acl.ACL_GROUP_OBJ else ident
            if cred.in_group(gid):
                found = True
                if perm & want == want:
                    if mask is not None and (perm & mask & want) != want:
                        return errno.EACCES
                    return 0
        elif tag == _acl.ACL_OTHER:
            if found:
                return errno.EACCES
            return 0 if perm & want == want else errno.EACCES
    return errno.EACCES


def dac_check(cred: Cred, inode, mask: int) -> int:
    """``acl_permission_check``: mode bits (and the access ACL), no capabilities."""
    mode = inode.mode
    if cred.uid == inode.uid:
        return errno.EACCES if mask & 7 & ~(mode >> 6) else 0
    if mode & 0o070:
        acl = inode.acl_access
        if acl is not None:
            return _acl_permission(cred, inode, acl, mask & 7)
    mask &= 7
    if mask & (mode ^ (mode >> 3)) and cred.in_group(inode.gid):
        mode >>= 3
    return errno.EACCES if mask & ~mode else 0


def generic_permission(cred: Cred, inode, mask: int) -> int:
    """``generic_permission``: 0 or EACCES, with CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH."""
    mode = inode.mode
    if cred.uid == inode.uid:
        if not mask & 7 & ~(mode >> 6):
            return 0
    elif not dac_check(cred, inode, mask):
        return 0
    caps = cred.caps
    if mode & S_IFMT == S_IFDIR:
        if not mask & MAY_WRITE and caps & CAP_DAC_READ_SEARCH:
            return 0
        if caps & CAP_DAC_OVERRIDE:
            return 0
        return errno.EACCES
    mask &= MAY_READ | MAY_WRITE | MAY_EXEC
    if mask == MAY_READ and caps & CAP_DAC_READ_SEARCH:
        return 0
    if (not mask & MAY_EXEC or mode & 0o111) and caps & CAP_DAC_OVERRIDE:
        return 0
    return errno.EACCES
