"""Filesystem profiles: what each filesystem's xattr handlers do.

Theory of operation
-------------------
The VFS pipelines (``xattr.py``) decide everything that is common to all
filesystems.  What differs is delegated to a profile, one class per
filesystem, each a small table of facts plus the handler methods the kernel
calls at the end of a pipeline:

* ``handlers``: the prefixes of ``sb->s_xattr``, in order; ``resolve`` is
  ``xattr_resolve_name`` over them (no match -> EOPNOTSUPP, bare prefix ->
  EINVAL, no xattr support -> EOPNOTSUPP).
* ``set`` / ``remove``: the handler's ``set``: existence flags (EEXIST,
  ENODATA), capacity (ENOSPC) in the order that filesystem checks them, and
  the effect on the inode's stored attributes.
* ``set_acl``: the filesystem's ``->set_acl`` (storage of an ACL, its cost).
* ``names``: ``->listxattr``: which names a caller sees, in the order that
  filesystem returns them.
* ``reserve_inode`` / ``release_inode``: per-inode accounting (tmpfs).

Each inode carries ``xattrs`` (full name -> stored bytes; ACLs are stored
under their ``system.posix_acl_*`` names in the POSIX xattr encoding) and
``fsdata``, private to the profile (the ext4 in-inode/block layout).
Numbers and formulas: kernel-xattr-rules.md §4.
"""

from __future__ import annotations

import errno

from . import codecs
from .constants import CAP_SYS_ADMIN, S_IFDIR, S_IFMT, S_IFREG, XATTR_CREATE, XATTR_REPLACE
from .crc import btrfs_name_hash, xfs_da_hashname
from .kernel import KernelFeatures
from .verdict import Rule

ACL_NAMES = (codecs.ACL_ACCESS, codecs.ACL_DEFAULT)

_RESOLVE = "fs/xattr.c: xattr_resolve_name"
NO_XATTR = Rule("R2.3-no-xattr-support", errno.EOPNOTSUPP,
                "This filesystem has no extended attribute support (the inode lacks IOP_XATTR).",
                _RESOLVE)
NO_HANDLER = Rule("R2.1-unknown-namespace", errno.EOPNOTSUPP,
                  "No xattr handler of this filesystem matches the name's prefix.", _RESOLVE)
BARE_PREFIX = Rule("R2.2-bare-prefix", errno.EINVAL,
                   "The name is a namespace prefix with an empty suffix.", _RESOLVE)


def _fs_rules(fs: str, source: str):
    return (
        Rule("R5.1-create-exists", errno.EEXIST,
             f"XATTR_CREATE was given but the attribute already exists ({fs}).", source),
        Rule("R5.1-replace-missing", errno.ENODATA,
             f"XATTR_REPLACE was given but the attribute does not exist ({fs}).", source),
        Rule("R5.3-remove-missing", errno.ENODATA,
             f"The attribute to remove does not exist ({fs}).", source),
    )


class Filesystem:
    """Base profile: a filesystem with xattrs and POSIX ACLs, no capacity limit."""

    name = "generic"
    xattr = True
    posix_acl = True
    handlers: tuple[str, ...] = ("user.", "trusted.", "security.")
    #: btrfs lists trusted.* to everybody (btrfs_listxattr has no filter).
    list_trusted_to_all = False
    #: tmpfs (simple_set_acl) runs posix_acl_update_mode even when an access ACL is removed.
    update_mode_on_acl_removal = False
    root_mode = 0o755
    #: FS_IOC_SETFLAGS works on regular files and directories (fileattr_set) ...
    fileattr = True
    #: ... and on special files too (XFS only: its special inodes have fileattr ops).
    fileattr_special = False
    #: ext4: an inode that is and stays immutable cannot have other flags changed
    #: (ext4_ioctl_check_immutable), and ext4_setattr refuses immutable inodes outright.
    immutable_is_final = False
    #: the longest symlink target (the kernel's getname limit; ext4: a block; XFS 1023).
    max_symlink = 4095
    #: btrfs reports every directory with st_nlink 1.
    dir_nlink_one = False
    #: the errno of renaming a directory over a non-empty one (XFS: EEXIST).
    rename_not_empty = "ENOTEMPTY"
    options: dict = {}
    source = "fs/xattr.c: simple_xattr_set"

    def __init__(self, feats: KernelFeatures, **options):
        known = type(self).options
        for key in options:
            if key not in known:
                valid = ", ".join(sorted(known)) or "none"
                raise TypeError(f"{self.name} has no option {key!r} (valid: {valid})")
        self.feats = feats
        self.opts = {**known, **options}
        self._prefixes = {p: p for p in self.active_handlers()}
        self._resolved: dict = {}
        self.EXISTS, self.MISSING, self.REMOVE_MISSING = _fs_rules(self.name, self.source)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.opts.items() if type(self).options[k] != v)
        return f"<{self.name}{' ' + opts if opts else ''}>"

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.opts.items())
        return f"{self.name} ({opts})" if opts else self.name

    # -- per-superblock and per-inode state --------------------------------
    def new_state(self) -> dict:
        return {}

    def reserve_inode(self, state: dict) -> Rule | None:
        return None

    def release_inode(self, state: dict, inode) -> None:
        return None

    def link_inode(self, state: dict) -> Rule | None:
        return None

    def inherit(self, state: dict, parent, inode) -> None:
        """What a new inode takes from its directory besides ACLs (btrfs properties)."""
        return None

    def unlink_inode(self, state: dict) -> None:
        return None

    # -- xattr_resolve_name -------------------------------------------------
    def active_handlers(self) -> tuple[str, ...]:
        return self.handlers

    def resolve(self, name: str) -> Rule | None:
        """``xattr_resolve_name`` (a pure function of the name, cached per profile)."""
        try:
            return self._resolved[name]
        except KeyError:
            pass
        if not self.xattr:
            rule = NO_XATTR
        else:
            dot = name.find(".")
            if dot < 0 or name[: dot + 1] not in self._prefixes:
                rule = NO_HANDLER
            elif dot + 1 == len(name):
                rule = BARE_PREFIX
            else:
                rule = None
        if len(self._resolved) > 8192:
            self._resolved.clear()
        self._resolved[name] = rule
        return rule

    # -- handler ->set / ->get ----------------------------------------------
    def room(self, state: dict, inode, name: str, value: bytes, exists: bool) -> Rule | None:
        """Capacity: None if the value fits, else the filesystem's refusal."""
        return None

    def set(self, state: dict, inode, name: str, value: bytes, flags: int) -> Rule | None:
        exists = name in inode.xattrs
        if flags & XATTR_CREATE and exists:
            return self.EXISTS
        if flags & XATTR_REPLACE and not exists:
            return self.MISSING
        refused = self.room(state, inode, name, value, exists)
        if refused is not None:
            return refused
        self.store(state, inode, name, value)
        return None

    def store(self, state: dict, inode, name: str, value: bytes) -> None:
        inode.xattrs[name] = value

    def remove(self, state: dict, inode, name: str) -> Rule | None:
        if name not in inode.xattrs:
            return self.REMOVE_MISSING
        self.discard(state, inode, name)
        return None

    def discard(self, state: dict, inode, name: str) -> None:
        del inode.xattrs[name]

    def get(self, inode, name: str) -> bytes | None:
        return inode.xattrs.get(name)

    # -- ->set_acl ------------------------------------------------------------
    def set_acl(self, state: dict, inode, name: str, value: bytes | None) -> Rule | None:
        """Store (value) or drop (None) an ACL under its xattr name."""
        if value is None:
            if name in inode.xattrs:
                self.discard(state, inode, name)
            return None
        refused = self.room(state, inode, name, value, name in inode.xattrs)
        if refused is not None:
            return refused
        self.store(state, inode, name, value)
        return None

    # -- ->listxattr ----------------------------------------------------------
    def visible(self, name: str, caps: int) -> bool:
        if name.startswith("trusted.") and not self.list_trusted_to_all:
            return bool(caps & CAP_SYS_ADMIN)
        return True

    def names(self, inode, caps: int, bufsize: int) -> list[str]:
        visible = self.visible
        return [n for n in inode.xattrs if visible(n, caps)]


def _blen(name: str) -> int:
    return len(name) if name.isascii() else len(name.encode("utf-8", "surrogateescape"))


def _nbytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------- tmpfs

class Tmpfs(Filesystem):
    """mm/shmem.c: simple_xattrs in an rbtree; the inode-space pool of ``nr_inodes``.

    Each xattr costs ``40 + strlen(name) + size`` (``simple_xattr_space``) and
    each inode 1024 bytes (``BOGO_INODE_SIZE``), from a pool of
    ``nr_inodes * 1024`` bytes; ``nr_inodes=0`` disables the accounting.
    The charge is taken before the existence check and before the old value
    is released.  ``user.*`` exists from 6.6 on.  ACLs are kept on the
    inode (not charged) and listed first.
    """

    name = "tmpfs"
    handlers = ("security.", "trusted.", "user.")
    update_mode_on_acl_removal = True
    root_mode = 0o1777
    # Default: half the RAM pages of a 24 GiB machine, as the kernel picks.
    options = {"nr_inodes": 3_083_623, "size": None}
    source = "mm/shmem.c: shmem_xattr_handler_set"
    BOGO_INODE_SIZE = 1024

    def active_handlers(self):
        if self.feats.tmpfs_user_xattr:
            return self.handlers
        return ("security.", "trusted.")

    NOSPACE = Rule("R9-tmpfs-ispace", errno.ENOSPC,
                   "The tmpfs inode-space pool (nr_inodes x 1024 bytes) cannot pay "
                   "40 + len(name) + len(value) bytes for this attribute.",
                   "mm/shmem.c: shmem_xattr_handler_set")
    NOINODE = Rule("R9-tmpfs-inodes", errno.ENOSPC,
                   "The tmpfs inode-space pool cannot pay 1024 bytes for another inode.",
                   "mm/shmem.c: shmem_reserve_inode")

    @property
    def accounting(self) -> bool:
        return bool(self.opts["nr_inodes"]) and self.feats.tmpfs_user_xattr

    def new_state(self):
        return {"free_ispace": self.opts["nr_inodes"] * self.BOGO_INODE_SIZE}

    def reserve_inode(self, state):
        if self.opts["nr_inodes"]:
            if state["free_ispace"] < self.BOGO_INODE_SIZE:
                return self.NOINODE
            state["free_ispace"] -= self.BOGO_INODE_SIZE
        return None

    def release_inode(self, state, inode):
        if self.opts["nr_inodes"]:
            freed = self.BOGO_INODE_SIZE
            if self.accounting:
                freed += sum(self.cost(n, v) for n, v in inode.xattrs.items() if n not in ACL_NAMES)
            state["free_ispace"] += freed

    link_inode = reserve_inode

    def unlink_inode(self, state):
        if self.opts["nr_inodes"]:
            state["free_ispace"] += self.BOGO_INODE_SIZE

    @staticmethod
    def cost(name: str, value: bytes) -> int:
        return 40 + _blen(name) + len(value)

    def set(self, state, inode, name, value, flags):
        charge = 0
        if self.accounting:
            charge = self.cost(name, value)
            if state["free_ispace"] < charge:
                return self.NOSPACE
            state["free_ispace"] -= charge
        old = inode.xattrs.get(name)
        if (flags & XATTR_CREATE and old is not None) or (flags & XATTR_REPLACE and old is None):
            state["free_ispace"] += charge
            return self.EXISTS if old is not None else self.MISSING
        inode.xattrs[name] = value
        inode.fsdata = None  # the cached listing order
        if old is not None and self.accounting:
            state["free_ispace"] += self.cost(name, old)
        return None

    def discard(self, state, inode, name):
        old = inode.xattrs.pop(name)
        inode.fsdata = None
        if self.accounting and name not in ACL_NAMES:
            state["free_ispace"] += self.cost(name, old)

    def set_acl(self, state, inode, name, value):
        # ACLs live in inode->i_acl, uncharged.
        if value is None:
            inode.xattrs.pop(name, None)
        else:
            inode.xattrs[name] = value
        inode.fsdata = None
        return None

    def names(self, inode, caps, bufsize):
        order = inode.fsdata
        if order is None:
            xattrs = inode.xattrs
            rest = [n for n in xattrs if n not in ACL_NAMES]
            if not self.feats.tmpfs_hash_order:
                # rbtree keyed by simple_xattr_rbtree_cmp, which reverses strcmp.
                rest.sort(key=_nbytes, reverse=True)
            order = inode.fsdata = [n for n in ACL_NAMES if n in xattrs] + rest
        if caps & CAP_SYS_ADMIN:
            return list(order)
        return [n for n in order if not n.startswith("trusted.")]


class Ramfs(Filesystem):
    """fs/ramfs: no xattr handlers, no IOP_XATTR, no POSIX ACLs; listxattr returns nothing."""

    name = "ramfs"
    xattr = False
    fileattr = False
    posix_acl = False
    handlers = ()
    source = "fs/ramfs/inode.c"

    def names(self, inode, caps, bufsize):
        return []


# ----------------------------------------------------------------------- ext4

_EXT4_INDEX = {"user.": 1, codecs.ACL_ACCESS: 2, codecs.ACL_DEFAULT: 3, "trusted.": 4,
               "security.": 6, "gnu.": 10}


def _round4(n: int) -> int:
    return (n + 3) & ~3


def _ext4_acl_size(value: bytes) -> int:
    """Size of an ACL in ext4's on-disk format (ext4_acl_to_disk): short entries for
    USER_OBJ/GROUP_OBJ/MASK/OTHER, long ones for named users and groups."""
    acl = codecs.acl_decode(value)
    size = 4
    for tag, _, _ in acl:
        size += 8 if tag in (codecs.ACL_USER, codecs.ACL_GROUP) else 4
    return size


class Ext4(Filesystem):
    """fs/ext4/xattr.c: entries in the inode body, then in one shared block.

    ``ext4_xattr_set_handle`` looks the name up first (ENODATA/EEXIST), skips
    an identical value, then tries the inode body and falls back to the block
    (moving the entry between them), ENOSPC when neither has room.  Entry
    cost ``round4(16 + len(suffix))``, value cost ``round4(len)``; the body
    holds ``inode_size - 128 - 32 - 4`` bytes less a 4-byte terminator, the
    block ``block_size - 32 - 4``.  With ``ea_inode``, values larger than
    ``block_size - 56`` (or that fit nowhere else) live in their own inode and
    ``min(block_size/8, 1024)`` bytes of the block stay reserved for entries.
    Listing: body entries in their order, then block entries sorted by
    (name index, suffix length, suffix).
    """

    name = "ext4"
    immutable_is_final = True
    handlers = ("user.", "trusted.", "security.", "gnu.")
    options = {"block_size": 4096, "inode_size": 256, "ea_inode": False}
    source = "fs/ext4/xattr.c: ext4_xattr_set_handle"
    EXTRA_ISIZE = 32

    NOSPACE = Rule("R9-ext4-full", errno.ENOSPC,
                   "Neither the inode body nor the xattr block has room for this attribute "
                   "(ext4 keeps all xattrs of an inode in the inode and one block).",
                   "fs/ext4/xattr.c: ext4_xattr_set_entry")

    def __init__(self, feats, **options):
        super().__init__(feats, **options)
        bs, isz = self.opts["block_size"], self.opts["inode_size"]
        if bs not in (1024, 2048, 4096, 8192, 16384, 32768, 65536):
            raise ValueError(f"ext4 block_size={bs!r}: must be a power of two from 1024 to 65536")
        if isz < 128 or isz & (isz - 1) or isz > bs:
            raise ValueError(f"ext4 inode_size={isz!r}: must be a power of two from 128 to block_size")
        ibody = isz - 128 - self.EXTRA_ISIZE - 4 if isz > 128 else 0
        self.ibody_size = max(ibody, 0)
        self.block_size = bs
        self.max_symlink = min(bs - 1, 4095)  # ext4_symlink: len + 1 <= blocksize
        self.min_large = bs - 20 - 32 - 4
        self.reserve = min(bs // 8, 1024)

    def _key(self, name):
        if name in ACL_NAMES:
            return _EXT4_INDEX[name], ""
        dot = name.find(".")
        return _EXT4_INDEX[name[: dot + 1]], name[dot + 1:]

    def _entry(self, name: str) -> int:
        return _round4(16 + _blen(self._key(name)[1]))

    def _value_size(self, name: str, value: bytes, external: bool) -> int:
        if external:
            return 0
        n = _ext4_acl_size(value) if name in ACL_NAMES else len(value)
        return _round4(n)

    def _layout(self, inode) -> dict:
        fsdata = inode.fsdata
        if fsdata is None:
            fsdata = inode.fsdata = {"body": [], "block": set(), "ext": set()}
        return fsdata

    def _used(self, inode, names, exclude=None) -> tuple[int, int]:
        entries = values = 0
        ext = self._layout(inode)["ext"]
        for n in names:
            if n == exclude:
                continue
            entries += self._entry(n)
            values += self._value_size(n, inode.xattrs[n], n in ext)
        return entries, values

    def _fits_body(self, inode, name, value, external) -> bool:
        if not self.ibody_size:
            return False
        lay = self._layout(inode)
        entries, values = self._used(inode, lay["body"], exclude=name)
        need = self._entry(name) + self._value_size(name, value, external)
        return self.ibody_size - 4 - entries - values >= need

    def _fits_block(self, inode, name, value, external) -> bool:
        lay = self._layout(inode)
        entries, values = self._used(inode, lay["block"], exclude=name)
        new_size = self._value_size(name, value, external)
        free = self.block_size - 32 - 4 - entries - values
        if free < self._entry(name) + new_size:
            return False
        if self.opts["ea_inode"] and new_size and self.block_size - values - new_size < self.reserve:
            return False
        return True

    def _place(self, inode, name, value) -> str | None:
        """Where ext4_xattr_set_handle puts the value: 'body', 'block', '+ext' suffixed, or None."""
        ea = self.opts["ea_inode"]
        external = ea and _round4(len(value)) > self.min_large
        for attempt in (external, True) if ea and not external and value else (external,):
            if self._fits_body(inode, name, value, attempt):
                return "body+ext" if attempt else "body"
            if self._fits_block(inode, name, value, attempt):
                return "block+ext" if attempt else "block"
        return None

    def room(self, state, inode, name, value, exists):
        if exists and inode.xattrs[name] == value:
            return None
        return None if self._place(inode, name, value) else self.NOSPACE

    def store(self, state, inode, name, value):
        if inode.xattrs.get(name) == value:
            return
        where = self._place(inode, name, value)
        lay = self._layout(inode)
        body, block, ext = lay["body"], lay["block"], lay["ext"]
        inode.xattrs[name] = value
        ext.discard(name)
        if where.endswith("+ext"):
            ext.add(name)
        if where.startswith("body"):
            block.discard(name)
            if name not in body:
                body.append(name)
        else:
            if name in body:
                body.remove(name)
            block.add(name)

    def discard(self, state, inode, name):
        del inode.xattrs[name]
        lay = self._layout(inode)
        if name in lay["body"]:
            lay["body"].remove(name)
        lay["block"].discard(name)
        lay["ext"].discard(name)

    def names(self, inode, caps, bufsize):
        lay = self._layout(inode)
        visible = self.visible
        out = [n for n in lay["body"] if visible(n, caps)]
        block = sorted(lay["block"], key=lambda n: (self._key(n)[0], _blen(self._key(n)[1]),
                                                   _nbytes(self._key(n)[1])))
        out.extend(n for n in block if visible(n, caps))
        return out


# ------------------------------------------------------------------------ xfs

from .constants import S_IFLNK as _S_IFLNK
from .constants import XATTR_LIST_MAX as _XATTR_LIST_MAX

# Geometry of an XFS made by mkfs.xfs defaults (xfsprogs 6.1: v5, 512-byte inodes,
# 4 KiB blocks).  All sizes in bytes.
_XFS_LITINO = 512 - 176            # XFS_LITINO: inode size minus the v5 dinode core
_XFS_SF_HDR = 4                    # struct xfs_attr_sf_hdr: totsize, count, padding
_XFS_SF_ENTRY = 3                  # struct xfs_attr_sf_entry: namelen, valuelen, flags
_XFS_SF_ENTSIZE_MAX = 255          # XFS_ATTR_SF_ENTSIZE_MAX: name or value this long -> leaf
_XFS_MIN_DATA = 4 + 3 * 16         # xfs_bmdr_space_calc(MINDBTPTRS): smallest data fork
_XFS_MAXFORKOFF = (_XFS_LITINO - (4 + 2 * 16)) >> 3   # leaves xfs_bmdr_space_calc(MINABTPTRS)
_XFS_DEFAULT_FORKOFF = (4 + 12 * 16) >> 3             # xfs_default_attroffset, inodes > 256 B
_XFS_BLOCK = 4096                  # attr leaf block (= filesystem block)
_XFS_LEAF_HDR = 80                 # struct xfs_attr3_leaf_hdr
_XFS_LEAF_ENTRY = 8                # struct xfs_attr_leaf_entry
_XFS_LOCAL_MAX = (_XFS_BLOCK >> 1) + (_XFS_BLOCK >> 2)   # xfs_attr_leaf_entsize_local_max
_XFS_DIR_SF_HDR = 6                # xfs_dir2_sf_hdr with 4-byte inode numbers
_XFS_DIR_SF_ENTRY = 8              # namelen, offset[2], ftype, 4-byte inumber
_XFS_EXTENT = 16                   # one data fork extent record (block-form directory, remote symlink)
_XFS_SGI = {codecs.ACL_ACCESS: "trusted.SGI_ACL_FILE", codecs.ACL_DEFAULT: "trusted.SGI_ACL_DEFAULT"}
_XFS_SGI_SUFFIX = {codecs.ACL_ACCESS: b"SGI_ACL_FILE", codecs.ACL_DEFAULT: b"SGI_ACL_DEFAULT"}
_XFS_HASH: dict[str, int] = {}


def _xfs_suffix(name: str) -> bytes:
    """The on-disk attribute name: the suffix without its namespace prefix (ACLs are
    stored as trusted SGI_ACL_FILE / SGI_ACL_DEFAULT)."""
    sgi = _XFS_SGI_SUFFIX.get(name)
    if sgi is not None:
        return sgi
    return _nbytes(name[name.find(".") + 1:])


def _xfs_hash(name: str) -> int:
    """xfs_attr_hashname: xfs_da_hashname of the on-disk name (namespace not included)."""
    h = _XFS_HASH.get(name)
    if h is None:
        if len(_XFS_HASH) > 8192:
            _XFS_HASH.clear()
        h = _XFS_HASH[name] = xfs_da_hashname(_xfs_suffix(name))
    return h


def _xfs_valuelen(name: str, value: bytes) -> int:
    """Stored value length; ACLs are kept in xfs_acl_to_disk's format (4 + 12 per entry)."""
    if name in _XFS_SGI:
        return 4 + 12 * ((len(value) - 4) // 8)
    return len(value)


def _round8(n: int) -> int:
    return (n + 7) & ~7


class Xfs(Filesystem):
    """fs/xfs/xfs_xattr.c: values up to 64 KiB, no count limit.

    Flags 3 (CREATE|REPLACE) create a missing name (xfs_xattr_flags_to_op
    tests CREATE first, ≈6.10 on).  ACLs are stored as ``trusted.SGI_ACL_FILE``
    / ``trusted.SGI_ACL_DEFAULT`` in XFS's big-endian format: listed as the
    ``system.posix_acl_*`` name and, to CAP_SYS_ADMIN callers, also under
    that on-disk name.

    Listing order follows the attribute fork's format (``inode.fsdata``):

    * short form (entries packed in the inode, ``xfs_attr_shortform_add``
      appends): fork order, except that ``xfs_attr_shortform_list`` sorts by
      (hash, position) when the caller's buffer is not larger than
      ``if_bytes + 16 * count`` (the size query, buffer 0, does not sort).
      A set of an existing name, even to an identical value, removes it and
      appends it again (``xfs_attr_shortform_addname``); removal closes the gap.
    * leaf/node (``xfs_attr3_leaf_add``): hash order of the name without its
      prefix; equal hashes (``user.x`` and ``trusted.x`` always collide) in
      the order they entered the leaf, a replaced value keeps its place.

    The fork goes short form -> leaf when the new entry has a name or value
    of 255+ bytes or the fork would outgrow the literal area (336 bytes less
    the data fork: ``xfs_attr_shortform_bytesfit``; 280 for an empty file
    or a directory with a small short-form data fork), in fork order.  After
    a removal or replacement in leaf form (``xfs_attr_leaf_remove_attr``,
    ``xfs_attr_leaf_shrink``) it goes back to short form, in hash order,
    when all entries are local and fit (``xfs_attr_shortform_allfit``); a plain
    add never does.  Removing the last entry removes the fork.

    Approximations: the geometry is mkfs.xfs's default (512-byte inodes, 4 KiB
    blocks, 4-byte directory inode numbers); regular files have no data
    extents; directory entry changes are replayed at the next xattr operation
    (removals, then additions); a leaf fork is taken to be one block whenever
    its entries fit one; equal hashes split across leaf blocks of a node fork
    can swap when the blocks are joined (xfs_attr3_leaf_unbalance), which is
    not modelled; ``trusted.SGI_ACL_*`` set directly is a separate entry.
    """

    name = "xfs"
    fileattr_special = True
    rename_not_empty = "EEXIST"
    max_symlink = 1023  # XFS_SYMLINK_MAXLEN
    source = "fs/xfs/xfs_xattr.c: xfs_xattr_set"
    SGI = _XFS_SGI
    #: xfs_init_new_inode(init_xattrs): with CONFIG_SECURITY (sb->s_security set, as on
    #: the measured kernel) inodes made by xfs_create (files, directories, special files;
    #: not symlinks) start with an empty attribute fork at xfs_default_attroffset
    #: (i_forkoff 24: a 192-byte data fork; 1 for device inodes).
    preset_attr_fork = True

    def set(self, state, inode, name, value, flags):
        exists = name in inode.xattrs
        if flags & XATTR_CREATE and flags & XATTR_REPLACE and self.feats.xfs_both_flags_create:
            if exists:
                return self.EXISTS
        elif flags & XATTR_CREATE and exists:
            return self.EXISTS
        elif flags & XATTR_REPLACE and not exists:
            return self.MISSING
        self.store(state, inode, name, value)
        return None

    def get(self, inode, name):
        for acl_name, sgi in self.SGI.items():
            if name == sgi:
                value = inode.xattrs.get(acl_name)
                return None if value is None else self.sgi_encode(value)
        return inode.xattrs.get(name)

    @staticmethod
    def sgi_encode(value: bytes) -> bytes:
        """xfs_acl_to_disk: be32 count, then (be32 tag, be32 id, be16 perm, be16 pad)."""
        import struct

        acl = codecs.acl_decode(value)
        out = [struct.pack(">I", len(acl))]
        for tag, perm, ident in acl:
            out.append(struct.pack(">IIHH", tag, codecs.ACL_UNDEFINED_ID if ident is None else ident,
                                   perm, 0))
        return b"".join(out)

    # -- the attribute fork ---------------------------------------------------
    # fsdata: "fmt" None (no entries: no attribute fork, or an empty one), "sf" or
    # "leaf" (leaf or node); "order" the entries (inode.xattrs keys) in fork order;
    # "forkoff" i_forkoff in 8-byte units (0: no attribute fork); "dlocal" whether the
    # data fork of a directory or symlink is local (short-form directory, inline
    # symlink); "dseen" the directory entries (name -> byte length) last reconciled.

    def _layout(self, inode) -> dict:
        lay = inode.fsdata
        if lay is None:
            fmt = inode.mode & S_IFMT
            forkoff = 0
            if self.preset_attr_fork and fmt != _S_IFLNK:
                forkoff = _XFS_DEFAULT_FORKOFF if fmt in (S_IFREG, S_IFDIR) else 1
            lay = inode.fsdata = {"fmt": None, "order": [], "forkoff": forkoff, "dlocal": True,
                                  "dseen": {}}
            if fmt == _S_IFLNK:
                # xfs_symlink: inline when the target fits the data fork
                lay["dlocal"] = _blen(inode.target or "") <= self._dfork_size(lay)
        return lay

    def _dfork_size(self, lay) -> int:
        """xfs_inode_data_fork_size."""
        return lay["forkoff"] << 3 if lay["forkoff"] else _XFS_LITINO

    def _dsize(self, inode, lay) -> int:
        """The data fork's if_bytes (regular files never have data extents here)."""
        fmt = inode.mode & S_IFMT
        if fmt == S_IFDIR:
            if not lay["dlocal"]:
                return _XFS_EXTENT
            return _XFS_DIR_SF_HDR + sum(_XFS_DIR_SF_ENTRY + n for n in lay["dseen"].values())
        if fmt == _S_IFLNK:
            return _blen(inode.target or "") if lay["dlocal"] else _XFS_EXTENT
        return 0

    def _sync_dir(self, inode, lay) -> None:
        """Replay the directory's entry changes since the last xattr operation on its
        short-form data fork: removals first (block -> short form when the entries fit
        again, xfs_dir2_block_removename), then additions (short form -> block when
        the fork would outgrow the data fork, xfs_dir2_sf_addname)."""
        children = inode.children
        seen = lay["dseen"]
        if children is None or children.keys() == seen.keys():
            return
        limit = self._dfork_size(lay)
        for n in [n for n in seen if n not in children]:
            del seen[n]
            if not lay["dlocal"] and self._dsize_local(seen) <= limit:
                lay["dlocal"] = True
        for n in children:
            if n not in seen:
                seen[n] = _blen(n)
                if lay["dlocal"] and self._dsize_local(seen) > limit:
                    lay["dlocal"] = False

    @staticmethod
    def _dsize_local(seen) -> int:
        return _XFS_DIR_SF_HDR + sum(_XFS_DIR_SF_ENTRY + n for n in seen.values())

    def _bytesfit(self, inode, lay, size: int) -> int:
        """xfs_attr_shortform_bytesfit: the new i_forkoff for a short-form fork of
        ``size`` bytes, 0 if it does not fit."""
        if size > _XFS_LITINO:
            return 0
        offset = (_XFS_LITINO - size) >> 3
        fmt = inode.mode & S_IFMT
        if fmt not in (S_IFREG, S_IFDIR, _S_IFLNK):      # XFS_DINODE_FMT_DEV
            return 1 if offset >= 1 else 0
        forkoff = lay["forkoff"]
        if forkoff and size <= _XFS_LITINO - (forkoff << 3):
            return forkoff
        minforkoff = _round8(max(self._dsize(inode, lay), _XFS_MIN_DATA)) >> 3
        if offset >= _XFS_MAXFORKOFF:
            return _XFS_MAXFORKOFF
        if offset >= minforkoff:
            return offset
        return 0

    def _sf_entsize(self, inode, name, value=None) -> int:
        if value is None:
            value = inode.xattrs[name]
        return _XFS_SF_ENTRY + len(_xfs_suffix(name)) + _xfs_valuelen(name, value)

    def _sf_totsize(self, inode, names) -> int:
        return _XFS_SF_HDR + sum(self._sf_entsize(inode, n) for n in names)

    def _sf_ok(self, inode, name, value) -> bool:
        return (len(_xfs_suffix(name)) < _XFS_SF_ENTSIZE_MAX
                and _xfs_valuelen(name, value) < _XFS_SF_ENTSIZE_MAX)

    def _leaf_insert(self, order, name) -> None:
        """xfs_attr3_leaf_lookup_int + xfs_attr3_leaf_add: after the entries of
        lower or equal hash."""
        h = _xfs_hash(name)
        lo, hi = 0, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            if _xfs_hash(order[mid]) <= h:
                lo = mid + 1
            else:
                hi = mid
        order.insert(lo, name)

    def _add_fork(self, inode, lay, name, value) -> None:
        """xfs_bmap_add_attrfork sized for the first entry, then
        xfs_bmap_add_attrfork_local pushes a local data fork out of the way."""
        size = _XFS_SF_HDR + self._sf_entsize(inode, name, value)
        lay["forkoff"] = self._bytesfit(inode, lay, size) or _XFS_DEFAULT_FORKOFF
        if (inode.mode & S_IFMT in (S_IFDIR, _S_IFLNK) and lay["dlocal"]
                and self._dsize(inode, lay) > lay["forkoff"] << 3):
            lay["dlocal"] = False

    def _shrink(self, inode, lay) -> None:
        """xfs_attr_shortform_allfit + xfs_attr3_leaf_to_shortform after a leaf-form
        removal or replacement: back to short form (in leaf, i.e. hash, order) when
        the fork is one leaf block of local entries that all fit the literal area."""
        order = lay["order"]
        used = _XFS_LEAF_HDR
        size = _XFS_SF_HDR
        for n in order:
            value = inode.xattrs[n]
            nlen = len(_xfs_suffix(n))
            vlen = _xfs_valuelen(n, value)
            local = (_XFS_SF_ENTRY + nlen + vlen + 3) & ~3
            if local >= _XFS_LOCAL_MAX:
                return                          # a remote value: not a single leaf block
            used += _XFS_LEAF_ENTRY + local
            if nlen >= _XFS_SF_ENTSIZE_MAX or vlen >= _XFS_SF_ENTSIZE_MAX:
                size = _XFS_LITINO + 1
            else:
                size += _XFS_SF_ENTRY + nlen + vlen
        if used > _XFS_BLOCK:
            return                              # (approximation: more than one leaf block)
        if not order:
            lay["fmt"], lay["forkoff"] = None, 0    # xfs_attr_fork_remove
            return
        forkoff = self._bytesfit(inode, lay, size)
        if forkoff:
            lay["fmt"], lay["forkoff"] = "sf", forkoff

    def _sync(self, inode) -> dict:
        lay = self._layout(inode)
        if inode.children is not None:
            self._sync_dir(inode, lay)
        return lay

    def store(self, state, inode, name, value):
        lay = self._sync(inode)
        exists = name in inode.xattrs
        fmt = lay["fmt"]
        if fmt is None:
            if not lay["forkoff"]:
                self._add_fork(inode, lay, name, value)
            fmt = lay["fmt"] = "sf"             # xfs_attr_shortform_create
            lay["order"] = []
        order = lay["order"]
        if fmt == "leaf":
            inode.xattrs[name] = value
            if exists:
                self._shrink(inode, lay)        # the old entry is removed after the add
            else:
                self._leaf_insert(order, name)
            return
        # short form: xfs_attr_shortform_addname removes an existing entry first
        if exists:
            order.remove(name)
        inode.xattrs[name] = value
        if self._sf_ok(inode, name, value):
            forkoff = self._bytesfit(inode, lay, self._sf_totsize(inode, order)
                                     + self._sf_entsize(inode, name, value))
            if forkoff:
                lay["forkoff"] = forkoff
                order.append(name)
                return
        # xfs_attr_shortform_to_leaf: re-add the entries in fork order, then the new one;
        # xfs_bmap_local_to_extents_empty -> xfs_bmap_forkoff_reset gives the data fork
        # back at least its default size
        leaf: list[str] = []
        for n in order:
            self._leaf_insert(leaf, n)
        self._leaf_insert(leaf, name)
        lay["fmt"], lay["order"] = "leaf", leaf
        if inode.mode & S_IFMT in (S_IFREG, S_IFDIR, _S_IFLNK):
            lay["forkoff"] = max(lay["forkoff"], _XFS_DEFAULT_FORKOFF)

    def discard(self, state, inode, name):
        lay = self._sync(inode)
        del inode.xattrs[name]
        if name in lay["order"]:
            lay["order"].remove(name)
        if lay["fmt"] == "leaf":
            self._shrink(inode, lay)
        elif lay["fmt"] == "sf" and not lay["order"]:
            lay["fmt"], lay["forkoff"] = None, 0        # xfs_attr_fork_remove

    def set_acl(self, state, inode, name, value):
        """__xfs_set_acl: an upsert (or a removal, ENOATTR ignored) of the SGI entry."""
        if value is not None:
            self.store(state, inode, name, value)
        elif name in inode.xattrs:
            self.discard(state, inode, name)

    # -- ->listxattr ----------------------------------------------------------
    def names(self, inode, caps, bufsize):
        """xfs_vn_listxattr -> xfs_attr_list: fork order (see the class docstring);
        ``bufsize`` is the caller's size, which listxattr() clamps to XATTR_LIST_MAX."""
        lay = self._sync(inode)
        order = lay["order"]
        if lay["fmt"] == "sf" and bufsize:
            bufsize = min(bufsize, _XATTR_LIST_MAX)
            if not self._sf_totsize(inode, order) + 16 * len(order) < bufsize:
                order = sorted(order, key=_xfs_hash)   # stable: (hash, entno)
        admin = caps & CAP_SYS_ADMIN
        out = []
        for n in order:
            sgi = self.SGI.get(n)
            if sgi is not None:
                out.append(n)
                if admin:
                    out.append(sgi)
            elif admin or not n.startswith("trusted."):
                out.append(n)
        return out


# ---------------------------------------------------------------------- btrfs

class Btrfs(Filesystem):
    """fs/btrfs/xattr.c: one leaf item per name, keyed by crc32c(name).

    ``len(full name) + len(value) > nodesize - 101 - 25 - 30`` (16228 with
    16 KiB nodes) -> ENOSPC, checked before the existence flags.  Lists
    trusted.* to everybody, in hash order.  ``btrfs.*`` names are properties:
    only ``btrfs.compression`` exists, with a validated value.
    """

    name = "btrfs"
    handlers = ("security.", "trusted.", "user.", "btrfs.")
    options = {"nodesize": 16384}
    list_trusted_to_all = True
    dir_nlink_one = True
    source = "fs/btrfs/xattr.c: btrfs_setxattr"

    NOSPACE = Rule("R9-btrfs-item", errno.ENOSPC,
                   "The name and value together exceed the largest xattr item a btrfs "
                   "leaf can hold (BTRFS_MAX_XATTR_SIZE).",
                   "fs/btrfs/xattr.c: btrfs_setxattr")
    BAD_PROP = Rule("R2.5-btrfs-property", errno.EINVAL,
                    "btrfs.* names are properties: only btrfs.compression exists, with "
                    "values zlib, lzo, zstd (optionally :level), no, none or empty.",
                    "fs/btrfs/props.c: btrfs_validate_prop")

    def __init__(self, feats, **options):
        super().__init__(feats, **options)
        self.max_item = self.opts["nodesize"] - 101 - 25 - 30

    def _prop_ok(self, inode, name, value: bytes | None) -> bool:
        if name != "btrfs.compression":
            return False
        if not value:
            return True
        if any(value.startswith(t) for t in (b"zlib", b"lzo", b"zstd")):
            return True
        return value in (b"no", b"none")

    def set(self, state, inode, name, value, flags):
        if name.startswith("btrfs."):
            if not self._prop_ok(inode, name, value):
                return self.BAD_PROP
            if inode.mode & S_IFMT not in (S_IFREG, S_IFDIR):
                return None  # btrfs_ignore_prop: accepted and not stored
            if not value:
                if flags & XATTR_REPLACE and name not in inode.xattrs:
                    return self.MISSING
                inode.xattrs.pop(name, None)
                return None
        if _blen(name) + len(value) > self.max_item:
            return self.NOSPACE
        old = inode.xattrs.get(name)
        if flags & XATTR_REPLACE and old is None:
            return self.MISSING
        if flags & XATTR_CREATE and old is not None:
            return self.EXISTS
        if old is not None and self._in_place_full(inode, name, old, value):
            return self.LEAF_FULL
        inode.xattrs[name] = value
        return None

    LEAF_FULL = Rule("R9-btrfs-leaf", errno.ENOSPC,
                     "A replaced value too large for its leaf to be split around it must grow "
                     "in place, and the leaf has no room for the growth.",
                     "fs/btrfs/xattr.c: btrfs_setxattr")

    def _in_place_full(self, inode, name, old: bytes, value: bytes) -> bool:
        """Would replacing ``old`` by ``value`` fail for lack of leaf space?

        btrfs_insert_xattr_item searches with room for the new item
        (30 + name + value bytes); split_leaf can make that room unless the new
        item, the existing one and an item header exceed a leaf
        (BTRFS_LEAF_DATA_SIZE, nodesize - 101): then (-EOVERFLOW) the existing
        item must grow in place, which needs the growth free in its leaf.
        Measured exact on 6.18 for the split condition.  The leaf's free space
        is estimated from the inode's own items (its INODE_ITEM, INODE_REFs,
        xattr items and, for a directory, a DIR_ITEM and DIR_INDEX per entry,
        each with a 25-byte item header); other inodes sharing the leaf are not
        modelled, so in that regime the model can accept a growth the kernel
        refuses.
        """
        leaf = self.opts["nodesize"] - 101
        n = _blen(name)
        if (30 + n + len(value)) + (30 + n + len(old)) + 25 <= leaf:
            return False
        used = 25 + 160 + (25 + 10 + 8) * max(inode.nlink, 1)
        for other, v in inode.xattrs.items():
            used += 25 + 30 + _blen(other) + len(v)
        if inode.children:
            used += sum(2 * (25 + 30 + _blen(c)) for c in inode.children)
        return len(value) - len(old) > leaf - used

    def inherit(self, state, parent, inode):
        """btrfs_inode_inherit_props: regular files and directories take the parent's
        compression type (as "zlib", "lzo" or "zstd", levels dropped)."""
        if inode.mode & S_IFMT not in (S_IFREG, S_IFDIR):
            return
        value = parent.xattrs.get("btrfs.compression")
        if value:
            for kind in (b"zlib", b"lzo", b"zstd"):
                if value.startswith(kind):
                    inode.xattrs["btrfs.compression"] = kind
                    return

    def set_acl(self, state, inode, name, value):
        if value is not None and _blen(name) + len(value) > self.max_item:
            return self.NOSPACE
        return super().set_acl(state, inode, name, value)

    def remove(self, state, inode, name):
        if name.startswith("btrfs."):
            if not self._prop_ok(inode, name, None):
                return self.BAD_PROP
            if inode.mode & S_IFMT not in (S_IFREG, S_IFDIR):
                return None  # btrfs_ignore_prop
        return super().remove(state, inode, name)

    def names(self, inode, caps, bufsize):
        return sorted(inode.xattrs, key=lambda n: btrfs_name_hash(_nbytes(n)))


PROFILES = {"ext4": Ext4, "xfs": Xfs, "btrfs": Btrfs, "tmpfs": Tmpfs, "ramfs": Ramfs}


def make_filesystem(fs: str, feats: KernelFeatures, **options) -> Filesystem:
    try:
        cls = PROFILES[fs]
    except KeyError:
        raise ValueError(
            f"fs={fs!r} is not a modelled filesystem; expected one of {', '.join(PROFILES)}"
        ) from None
    return cls(feats, **options)
