"""Value formats the kernel parses: POSIX ACL xattrs and file capabilities.

POSIX ACL (include/uapi/linux/posix_acl_xattr.h, fs/posix_acl.c): a 4-byte
header ``a_version`` (le32, 2) and 8-byte entries ``e_tag`` (le16), ``e_perm``
(le16), ``e_id`` (le32).  File capabilities (include/uapi/linux/capability.h,
security/commoncap.c): ``vfs_cap_data`` v2 (20 bytes) and ``vfs_ns_cap_data``
v3 (24 bytes, with the namespace root uid).

Decoders return errno values rather than raising, because they are checks of
a pipeline: a malformed value is the caller's error, reported as the kernel
reports it.
"""

from __future__ import annotations

import errno
import struct

# ---------------------------------------------------------------- POSIX ACLs

POSIX_ACL_XATTR_VERSION = 2
ACL_USER_OBJ = 0x01
ACL_USER = 0x02
ACL_GROUP_OBJ = 0x04
ACL_GROUP = 0x08
ACL_MASK = 0x10
ACL_OTHER = 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF
ACL_READ, ACL_WRITE, ACL_EXECUTE = 4, 2, 1

ACL_ACCESS = "system.posix_acl_access"
ACL_DEFAULT = "system.posix_acl_default"

_ENTRY = struct.Struct("<HHI")

#: An ACL as the kernel holds it: a tuple of (tag, perm, id) with id None for
#: the *_OBJ, MASK and OTHER entries.
Acl = tuple


def acl_decode(value: bytes) -> "Acl | None | int":
    """``posix_acl_from_xattr``: an ACL, None for "no ACL", or an errno.

    size < 4 -> EINVAL; version != 2 -> EOPNOTSUPP; a partial entry -> EINVAL;
    header only -> None (removal); unknown tag or an unmappable id
    (0xFFFFFFFF) -> EINVAL.
    """
    if len(value) < 4:
        return errno.EINVAL
    if struct.unpack_from("<I", value)[0] != POSIX_ACL_XATTR_VERSION:
        return errno.EOPNOTSUPP
    body = len(value) - 4
    if body % 8:
        return errno.EINVAL
    if body == 0:
        return None
    entries = []
    for off in range(4, len(value), 8):
        tag, perm, ident = _ENTRY.unpack_from(value, off)
        if tag in (ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER):
            entries.append((tag, perm, None))
        elif tag in (ACL_USER, ACL_GROUP):
            if ident == ACL_UNDEFINED_ID:
                return errno.EINVAL
            entries.append((tag, perm, ident))
        else:
            return errno.EINVAL
    return tuple(entries)


def acl_valid(acl: Acl) -> int:
    """``posix_acl_valid``: 0 or EINVAL (order, mask, permission bits).

    Duplicate or unsorted named entries are accepted, as by the kernel.
    """
    state = ACL_USER_OBJ
    needs_mask = False
    for tag, perm, _ in acl:
        if perm & ~7:
            return errno.EINVAL
        if tag == ACL_USER_OBJ:
            if state != ACL_USER_OBJ:
                return errno.EINVAL
            state = ACL_USER
        elif tag == ACL_USER:
            if state != ACL_USER:
                return errno.EINVAL
            needs_mask = True
        elif tag == ACL_GROUP_OBJ:
            if state != ACL_USER:
                return errno.EINVAL
            state = ACL_GROUP
        elif tag == ACL_GROUP:
            if state != ACL_GROUP:
                return errno.EINVAL
            needs_mask = True
        elif tag == ACL_MASK:
            if state != ACL_GROUP:
                return errno.EINVAL
            state = ACL_OTHER
        elif tag == ACL_OTHER:
            if state == ACL_OTHER or (state == ACL_GROUP and not needs_mask):
                state = 0
            else:
                return errno.EINVAL
        else:
            return errno.EINVAL
    return 0 if state == 0 else errno.EINVAL


def acl_map_ids(acl: Acl, convert) -> "Acl | None":
    """The ACL with the ids of its named entries passed through ``convert``
    (``make_kuid``/``from_kuid`` across a user namespace); None if one has no
    mapping (``convert`` returned None)."""
    out = []
    for tag, perm, ident in acl:
        if ident is not None:
            ident = convert(ident)
            if ident is None:
                return None
        out.append((tag, perm, ident))
    return tuple(out)


def acl_encode(acl: Acl) -> bytes:
    """``posix_acl_to_xattr``: what getxattr returns (ids of *_OBJ entries are -1)."""
    out = [struct.pack("<I", POSIX_ACL_XATTR_VERSION)]
    for tag, perm, ident in acl:
        out.append(_ENTRY.pack(tag, perm, ACL_UNDEFINED_ID if ident is None else ident))
    return b"".join(out)


def acl_equiv_mode(acl: Acl, mode: int) -> tuple[bool, int]:
    """``posix_acl_equiv_mode``: (equivalent to mode bits?, the new permission bits).

    A MASK entry makes the ACL non-equivalent and sets the group bits.
    """
    bits = 0
    equiv = True
    for tag, perm, _ in acl:
        if tag == ACL_USER_OBJ:
            bits |= (perm & 7) << 6
        elif tag == ACL_GROUP_OBJ:
            bits |= (perm & 7) << 3
        elif tag == ACL_OTHER:
            bits |= perm & 7
        elif tag == ACL_MASK:
            bits = (bits & ~0o070) | ((perm & 7) << 3)
            equiv = False
        else:
            equiv = False
    return equiv, (mode & ~0o777) | bits


def acl_from_mode(mode: int) -> Acl:
    """The minimal ACL that a mode stands for (posix_acl_from_mode)."""
    return (
        (ACL_USER_OBJ, (mode >> 6) & 7, None),
        (ACL_GROUP_OBJ, (mode >> 3) & 7, None),
        (ACL_OTHER, mode & 7, None),
    )


def acl_chmod(acl: Acl, mode: int) -> Acl:
    """``__posix_acl_chmod``: a chmod rewrites USER_OBJ, MASK (or GROUP_OBJ) and OTHER."""
    has_mask = any(tag == ACL_MASK for tag, _, _ in acl)
    out = []
    for tag, perm, ident in acl:
        if tag == ACL_USER_OBJ:
            perm = (mode >> 6) & 7
        elif tag == ACL_MASK or (tag == ACL_GROUP_OBJ and not has_mask):
            perm = (mode >> 3) & 7
        elif tag == ACL_OTHER:
            perm = mode & 7
        out.append((tag, perm, ident))
    return tuple(out)


def acl_create_masq(acl: Acl, mode: int) -> tuple[bool, Acl, int]:
    """``posix_acl_create_masq``: inherit a default ACL into a new inode's mode.

    Returns (still an extended ACL?, the inherited ACL, the new mode).
    """
    entries = list(acl)
    has_mask = any(tag == ACL_MASK for tag, _, _ in entries)
    not_equiv = False
    group_idx = None
    for i, (tag, perm, ident) in enumerate(entries):
        if tag == ACL_USER_OBJ:
            perm &= (mode >> 6) | ~7
            mode &= (perm << 6) | ~0o700
        elif tag in (ACL_USER, ACL_GROUP):
            not_equiv = True
        elif tag == ACL_GROUP_OBJ:
            group_idx = i
        elif tag == ACL_OTHER:
            perm &= mode | ~7
            mode &= perm | ~0o007
        elif tag == ACL_MASK:
            not_equiv = True
            perm &= (mode >> 3) | ~7
            mode &= (perm << 3) | ~0o070
        entries[i] = (tag, perm & 7, ident)
    if not has_mask and group_idx is not None:
        tag, perm, ident = entries[group_idx]
        perm &= (mode >> 3) | ~7
        mode &= (perm << 3) | ~0o070
        entries[group_idx] = (tag, perm & 7, ident)
    return not_equiv, tuple(entries), mode


def acl_mask_perm(acl: Acl) -> int | None:
    for tag, perm, _ in acl:
        if tag == ACL_MASK:
            return perm
    return None


# --------------------------------------------------------- file capabilities

VFS_CAP_REVISION_MASK = 0xFF000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
VFS_CAP_REVISION_1 = 0x01000000
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_REVISION_3 = 0x03000000
XATTR_CAPS_SZ_2 = 20
XATTR_CAPS_SZ_3 = 24
CAPS_NAME = "security.capability"


def _magic(value: bytes) -> int:
    return struct.unpack_from("<I", value)[0]


def fcaps_version(value: bytes) -> int:
    """2 or 3 for a valid header (is_v2header / is_v3header), else 0."""
    n = len(value)
    if n == XATTR_CAPS_SZ_2 and _magic(value) & ~VFS_CAP_FLAGS_EFFECTIVE == VFS_CAP_REVISION_2:
        return 2
    if n == XATTR_CAPS_SZ_3 and _magic(value) & ~VFS_CAP_FLAGS_EFFECTIVE == VFS_CAP_REVISION_3:
        return 3
    return 0


def fcaps_rootid(value: bytes) -> int:
    """The root uid a v3 value names (0 for v2)."""
    return struct.unpack_from("<I", value, 20)[0] if len(value) == XATTR_CAPS_SZ_3 else 0


def fcaps_read_back(value: bytes, userns: int = 0, base: int = 0) -> bytes | int:
    """``cap_inode_getsecurity``: the value a read returns (or an errno).

    The stored root uid (0 for v2) is a host id.  Seen from a user namespace
    mapping ``userns`` ids at host id ``base`` (0: the initial namespace): a
    root uid mapped to a non-zero id -> a v3 value naming that id; the root of
    the caller's namespace or of an ancestor -> a 20-byte v2 value; any other
    -> EOVERFLOW.  Not a valid v2/v3 value (e.g. empty) -> EINVAL.
    """
    version = fcaps_version(value)
    if not version:
        return errno.EINVAL
    root = fcaps_rootid(value)
    if userns:
        mapped = root - base if base <= root < base + userns else None
    else:
        mapped = root
    if mapped is not None and mapped != 0:
        if version == 3 and mapped == root:
            return value
        return fcaps_to_v3(value, mapped)
    if root == 0 or (userns and root == base):
        if version == 2:
            return value
        magic = VFS_CAP_REVISION_2 | (_magic(value) & VFS_CAP_FLAGS_EFFECTIVE)
        return struct.pack("<I", magic) + value[4:20]
    return errno.EOVERFLOW


def fcaps_to_v3(value: bytes, rootid: int) -> bytes:
    """A valid v2/v3 value rewritten as v3 naming ``rootid`` (``cap_convert_nscap``)."""
    magic = VFS_CAP_REVISION_3 | (_magic(value) & VFS_CAP_FLAGS_EFFECTIVE)
    return struct.pack("<I", magic) + value[4:20] + struct.pack("<I", rootid)


def fcaps_value(permitted: int = 0, inheritable: int = 0, effective: bool = False,
                rootid: int | None = None) -> bytes:
    """Build a v2 value, or a v3 value when rootid is given."""
    flag = VFS_CAP_FLAGS_EFFECTIVE if effective else 0
    data = struct.pack("<IIII", permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                       permitted >> 32, inheritable >> 32)
    if rootid is None:
        return struct.pack("<I", VFS_CAP_REVISION_2 | flag) + data
    return struct.pack("<I", VFS_CAP_REVISION_3 | flag) + data + struct.pack("<I", rootid)


def acl_value(*entries: tuple[int, int, int | None], version: int = POSIX_ACL_XATTR_VERSION) -> bytes:
    """Build an ACL xattr value from (tag, perm, id) entries (id None for -1)."""
    out = [struct.pack("<I", version)]
    for tag, perm, ident in entries:
        out.append(_ENTRY.pack(tag, perm, ACL_UNDEFINED_ID if ident is None else ident))
    return b"".join(out)
