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

class Xfs(Filesystem):
    """fs/xfs/xfs_xattr.c: values up to 64 KiB, no count limit.

    Flags 3 (CREATE|REPLACE) create a missing name (xfs_xattr_flags_to_op
    tests CREATE first, ≈6.10 on).  ACLs are stored as ``trusted.SGI_ACL_FILE``
    / ``trusted.SGI_ACL_DEFAULT`` in XFS's big-endian format: listed as the
    ``system.posix_acl_*`` name and, to CAP_SYS_ADMIN callers, also under
    that on-disk name.  Short-form attributes list in insertion order.
    """

    name = "xfs"
    fileattr_special = True
    rename_not_empty = "EEXIST"
    source = "fs/xfs/xfs_xattr.c: xfs_xattr_set"
    SGI = {codecs.ACL_ACCESS: "trusted.SGI_ACL_FILE", codecs.ACL_DEFAULT: "trusted.SGI_ACL_DEFAULT"}

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

    def names(self, inode, caps, bufsize):
        out = []
        for n in inode.xattrs:
            if n in self.SGI:
                out.append(n)
                if caps & CAP_SYS_ADMIN:
                    out.append(self.SGI[n])
            elif self.visible(n, caps):
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
        exists = name in inode.xattrs
        if flags & XATTR_REPLACE and not exists:
            return self.MISSING
        if flags & XATTR_CREATE and exists:
            return self.EXISTS
        inode.xattrs[name] = value
        return None

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
