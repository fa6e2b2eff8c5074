"""Callers and the permission primitives every rule is built from.

fs/namei.c: ``generic_permission``, ``acl_permission_check``; fs/posix_acl.c:
``posix_acl_permission``; fs/inode.c: ``inode_owner_or_capable``;
kernel/groups.c: ``in_group_p``; kernel/capability.c: ``capable``,
``capable_wrt_inode_uidgid``.

User namespaces: a caller is in the initial namespace (``userns == 0``) or
in a user namespace mapping its ids ``0 .. userns-1`` to host ids
``USERNS_BASE ..`` (what rootless runtimes get from /etc/subuid).  As in the
kernel, a Cred holds host ids (kuids) and inodes store them; ids cross the
namespace boundary only at the syscall interface (``to_kuid`` for chown's
arguments, ``from_kuid`` for stat, where an unmapped id shows as the
overflow id 65534).  Inside a namespace ``caps`` are the
namespace's capabilities: they count for an inode (``capable_wrt``) only if
its uid and gid are mapped, and never for what needs ``capable()`` in the
initial namespace or ``ns_capable(sb->s_user_ns)`` of a filesystem mounted
there (every filesystem modelled): device nodes, ``trusted.*``, ``security.*``
other than ``security.capability``, the immutable and append-only flags,
mounting.
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


#: The host uid/gid of a user namespace's id 0 (the first subordinate id).
USERNS_BASE = 100000
#: What an unmapped id looks like from inside a namespace (/proc/sys/kernel/overflowuid).
OVERFLOW_ID = 65534


@dataclass(frozen=True, slots=True)
class Cred:
    """A caller: fsuid/fsgid and supplementary groups (host ids), effective
    capabilities (bit mask) and its user namespace (0: the initial one; N: its
    ids 0..N-1 are host ids USERNS_BASE..USERNS_BASE+N-1)."""

    uid: int = 0
    gid: int = 0
    groups: frozenset = frozenset()
    caps: int = ALL_CAPS
    userns: int = 0

    @classmethod
    def make(cls, uid: int, gid: int | None = None, groups=(), caps=None,
             userns: int = 0) -> "Cred":
        """What ``become(uid, gid, groups, caps, userns)`` means.

        gid None -> gid = uid; caps None -> every capability for uid 0, none
        otherwise; else an iterable of names such as ``"CAP_SYS_ADMIN"``.
        userns 0 -> the initial user namespace; N -> a user namespace mapping
        ids 0..N-1 (uid and gid must be mapped).
        """
        if (not isinstance(userns, int) or isinstance(userns, bool)
                or not 0 <= userns <= 0xFFFFFFFF - USERNS_BASE):
            raise ValueError(f"userns={userns!r} is not a number of mapped ids")
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 <= uid < 0xFFFFFFFF:
            raise ValueError(f"uid={uid!r} is not a valid user id")
        gid = uid if gid is None else gid
        if not isinstance(gid, int) or isinstance(gid, bool) or not 0 <= gid < 0xFFFFFFFF:
            raise ValueError(f"gid={gid!r} is not a valid group id")
        groups = frozenset(int(g) for g in groups)
        if userns and not (uid < userns and gid < userns):
            raise ValueError(f"uid={uid} gid={gid} are not mapped in a user namespace of "
                             f"{userns} ids")
        mask = (ALL_CAPS if uid == 0 else 0) if caps is None else caps_mask(caps)
        if userns:
            if any(g >= userns for g in groups):
                raise ValueError(f"groups={sorted(groups)} are not all mapped in a user "
                                 f"namespace of {userns} ids")
            uid, gid = uid + USERNS_BASE, gid + USERNS_BASE
            groups = frozenset(g + USERNS_BASE for g in groups)
        return cls(uid, gid, groups, mask, userns)

    def to_kuid(self, ident: int) -> int | None:
        """``make_kuid``: the host id of one of the caller's ids, None if unmapped."""
        if ident == 0xFFFFFFFF:
            return None
        n = self.userns
        if not n:
            return ident
        return ident + USERNS_BASE if 0 <= ident < n else None

    def from_kuid(self, kuid: int, munged: bool = True) -> int:
        """``from_kuid_munged`` (65534 if unmapped) or, ``munged=False``, ``from_kuid``
        (0xffffffff if unmapped): a host id as the caller sees it."""
        n = self.userns
        if not n:
            return kuid
        if USERNS_BASE <= kuid < USERNS_BASE + n:
            return kuid - USERNS_BASE
        return OVERFLOW_ID if munged else 0xFFFFFFFF

    def owns_or_capable(self, bit: int, inode) -> bool:
        """``inode_owner_or_capable``: the owner, or the capability in a namespace that
        maps the owner's uid (the group does not matter here)."""
        if self.uid == inode.uid:
            return True
        if not self.caps & bit:
            return False
        n = self.userns
        return not n or USERNS_BASE <= inode.uid < USERNS_BASE + n

    def capable(self, bit: int) -> bool:
        """``capable()``: the capability in the initial user namespace."""
        return not self.userns and bool(self.caps & bit)

    def maps_inode(self, inode) -> bool:
        """``privileged_wrt_inode_uidgid``: the inode's uid and gid are both mapped."""
        n = self.userns
        return not n or (USERNS_BASE <= inode.uid < USERNS_BASE + n
                         and USERNS_BASE <= inode.gid < USERNS_BASE + n)

    def capable_wrt(self, bit: int, inode) -> bool:
        """``capable_wrt_inode_uidgid``: the capability, over an inode whose ids are mapped."""
        return bool(self.caps & bit) and self.maps_inode(inode)

    def caps_over(self, inode) -> int:
        """The capabilities ``capable_wrt_inode_uidgid`` grants over this inode."""
        return self.caps if self.maps_inode(inode) else 0

    def init_caps(self) -> int:
        """The capabilities that count where the kernel asks ``capable()``."""
        return 0 if self.userns else self.caps

    def maps(self, ident: int) -> bool:
        """Is this id (the caller's view) mapped (``make_kuid`` valid)?"""
        return self.to_kuid(ident) is not None

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
        see = self.from_kuid
        groups = f" groups={sorted(see(g) for g in self.groups)}" if self.groups else ""
        ns = f", in a user namespace of {self.userns} ids" if self.userns else ""
        return f"uid={see(self.uid)} gid={see(self.gid)}{groups} ({caps}{ns})"


ROOT = Cred()


def owner_or_capable(cred: Cred, inode) -> bool:
    """``inode_owner_or_capable``: the owner, or CAP_FOWNER over a mapped owner."""
    return cred.owns_or_capable(CAP_FOWNER, inode)


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
    caps = cred.caps_over(inode) if cred.userns else cred.caps
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
