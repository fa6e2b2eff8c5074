"""Hypothesis strategies for extended attributes, container layers and syscall sequences.

Everything here only *generates*: whether the kernel accepts a name, a value or
a layer is the rules' to say (:mod:`fsmodel._rules`), and the strategies reuse
the rules' own encoders for ACL and file-capability values.  The conventions
are Hypothesis' own (its ``guides/api-style.rst``): keyword-only arguments,
arguments that vary are strategies, bounds are ``min_size``/``max_size``, bad
arguments raise :class:`hypothesis.errors.InvalidArgument` when the strategy is
built, and the cases the kernel treats specially are generated often by
default (the 255/256-byte name boundary, bare ``user.``, ``security.capability``,
the ACL names, values around each filesystem's size limits and 65536).

The families:

* attribute names and values: :func:`xattr_names`, :func:`xattr_values`,
  :func:`acl_values`, :func:`fcaps_values` and :func:`xattrs` (pairs whose
  value suits the name);
* layers as descriptions: :class:`Layer` of :class:`Entry` values, from
  :func:`file_trees` (no whiteouts) and :func:`layers`; :func:`encode` writes
  one as PAX tar bytes, :func:`pax_layers` generates the bytes directly;
* adversarial archives: :func:`adversarial_layers` (``pax_layers(adversarial=True)``);
* syscall sequences for the simulated kernel: :func:`syscall_sequences`.

>>> from hypothesis import given
>>> from fsmodel import strategies as fst
>>> @given(fst.xattr_names(namespaces={"user"}))
... def test_user_names(name):
...     assert name.startswith("user")
>>> test_user_names()
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._rules.codecs import (
    ACL_ACCESS,
    ACL_DEFAULT,
    ACL_GROUP,
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_UNDEFINED_ID,
    ACL_USER,
    ACL_USER_OBJ,
    CAPS_NAME,
    VFS_CAP_REVISION_1,
    acl_value,
    fcaps_value,
)
from ._rules.constants import NAME_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX
from .fuzzing.mutator import pax_record as _record

__all__ = [
    "ENTRY_KINDS",
    "NAMESPACES",
    "Entry",
    "Layer",
    "SyscallSequence",
    "acl_values",
    "adversarial_layers",
    "encode",
    "fcaps_values",
    "file_trees",
    "layers",
    "pax_layers",
    "syscall_sequences",
    "xattr_names",
    "xattr_values",
    "xattrs",
]

#: The namespaces :func:`xattr_names` knows; ``"other"`` is every name the
#: kernel has no handler for (no dot, an unknown prefix, the empty name).
NAMESPACES = ("user", "trusted", "security", "system", "other")

#: What an :class:`Entry` can be.
ENTRY_KINDS = ("dir", "file", "symlink", "hardlink", "fifo", "chr", "blk", "whiteout",
               "opaque")

_TREE_KINDS = ("dir", "file", "symlink", "hardlink", "fifo", "chr", "blk")
_FILESYSTEMS = ("ext4", "xfs", "btrfs", "tmpfs")


# ------------------------------------------------------------------ validation

def _check_int(name: str, value, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r}, but it must be an int")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r}, but it must be at least {minimum}")


def _check_bounds(lo_name: str, lo, hi_name: str, hi) -> None:
    _check_int(lo_name, lo)
    _check_int(hi_name, hi)
    if lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} is greater than {hi_name}={hi!r}")


def _check_strategy(name: str, value) -> None:
    if not isinstance(value, st.SearchStrategy):
        raise InvalidArgument(f"{name}={value!r}, but it must be a strategy "
                              f"(wrap a fixed value in st.just())")


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise InvalidArgument(f"{name}={value!r}, but only {', '.join(map(repr, allowed))} "
                              f"are valid")


def _blen(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


# ------------------------------------------------------------------ names and values

_PREFIXES = {"user": "user.", "trusted": "trusted.", "security": "security.",
             "system": "system."}

#: Names the kernel (or a runtime) treats specially, by namespace.
_SPECIAL_NAMES = {
    "user": ("user.", "user.a", "user.overlay.impure", "user.rpm.origin", "user.é",
             "user.mime_type", "user.xdg.origin.url"),
    "trusted": ("trusted.", "trusted.overlay.opaque", "trusted.overlay.redirect",
                "trusted.SGI_ACL_FILE", "trusted.t"),
    "security": ("security.", CAPS_NAME, "security.selinux", "security.ima",
                 "security.evm", "security.SMACK64", "security.s"),
    "system": ("system.", ACL_ACCESS, ACL_DEFAULT, "system.nfs4_acl", "system.foo",
               "system.sockprotoname"),
    "other": ("", "user", "trusted", "foo.bar", "gnu.g", "btrfs.compression", "xfs.x",
              "osx.x", "User.a", ".user.a"),
}

#: The hottest of them: bare prefixes, the empty name, capabilities, ACLs.
_HOT_NAMES = frozenset({"user.", "trusted.", "security.", "system.", "", CAPS_NAME,
                        ACL_ACCESS, ACL_DEFAULT})

# Characters of a random name: anything but NUL (which no syscall can carry; Python
# raises ValueError first) and lone surrogates (which are not text).
_NAME_CHARS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))


def _sized_name(prefix: str, size: int, fill: str = "n") -> str | None:
    """``prefix`` padded with ``fill`` to exactly ``size`` bytes (None if impossible)."""
    room = size - _blen(prefix)
    width = _blen(fill)
    if room < 0 or room % width:
        return None
    return prefix + fill * (room // width)


def xattr_names(*, namespaces: Collection[str] = NAMESPACES,
                max_size: int = XATTR_NAME_MAX + 1) -> st.SearchStrategy[str]:
    """Extended attribute names of the given ``namespaces``, at most ``max_size`` bytes.

    ``namespaces`` is a collection of :data:`NAMESPACES` (``"other"``: names the
    kernel has no handler for: ``"foo.bar"``, ``"user"``, ``""``).  Random names
    (any Unicode but NUL) mix with the kernel's special cases, generated often:
    bare prefixes (``"user."``), ``security.capability``, the POSIX ACL names,
    overlayfs' names, and names of exactly 255 bytes (``XATTR_NAME_MAX``, the
    longest the kernel takes) and 256 bytes (``ERANGE``), ASCII and multi-byte.
    The default ``max_size`` of 256 includes the first name too long.

    >>> from hypothesis import find
    >>> len(find(xattr_names(namespaces={"trusted"}), lambda n: len(n) > 255))
    256
    """
    if isinstance(namespaces, str) or not isinstance(namespaces, Collection):
        raise InvalidArgument(f"namespaces={namespaces!r}, but it must be a collection of "
                              f"namespace names such as {{'user', 'trusted'}}")
    unknown = sorted(set(namespaces) - set(NAMESPACES))
    if unknown:
        raise InvalidArgument(f"namespaces={namespaces!r}, but {unknown!r} "
                              f"{'is' if len(unknown) == 1 else 'are'} not one of "
                              f"{', '.join(NAMESPACES)}")
    if not namespaces:
        raise InvalidArgument("namespaces is empty, so no name could be generated")
    _check_int("max_size", max_size, 1)
    chosen = [n for n in NAMESPACES if n in namespaces]

    special = [name for ns in chosen for name in _SPECIAL_NAMES[ns] if _blen(name) <= max_size]
    boundary = []
    for ns in chosen:
        prefix = _PREFIXES.get(ns, "x")
        for size in (XATTR_NAME_MAX, XATTR_NAME_MAX + 1):
            for fill in ("n", "é"):
                name = _sized_name(prefix, size, fill) or _sized_name(prefix + "n", size, fill)
                if name is not None and _blen(name) <= max_size:
                    boundary.append(name)

    def random_names(ns: str):
        prefix = _PREFIXES.get(ns, "")
        room = max_size - _blen(prefix)
        if room < 0:
            return st.nothing()
        tail = st.text(_NAME_CHARS, max_size=min(room, 40))
        if ns == "other":
            # no known prefix: a random word (with or without a dot), never a handled one
            return tail.filter(lambda t: namespace_of_name(t) == "other")
        return tail.map(lambda t: prefix + t).filter(lambda n: _blen(n) <= max_size)

    parts = [random_names(ns) for ns in chosen]
    hot = [name for name in special if name in _HOT_NAMES]
    boosted = [st.sampled_from(hot)] if hot else []
    if special:
        boosted.append(st.sampled_from(special))
    if boundary:
        boosted.append(st.sampled_from(boundary))
    return st.one_of(st.one_of(parts), *boosted)


def namespace_of_name(name: str) -> str:
    prefix, dot, _ = name.partition(".")
    return prefix if dot and prefix in _PREFIXES else "other"


#: Value sizes at which some filesystem's behaviour changes (in-inode / block /
#: leaf limits of ext4, xfs and btrfs; XATTR_SIZE_MAX), each with its neighbours.
_EDGE_SIZES = (0, 1, 68, 69, 100, 255, 256, 968, 969, 3792, 3793, 4040, 4041, 15973, 16222,
               16223, XATTR_SIZE_MAX - 1, XATTR_SIZE_MAX, XATTR_SIZE_MAX + 1)


def xattr_values(*, min_size: int = 0,
                 max_size: int = XATTR_SIZE_MAX + 1) -> st.SearchStrategy[bytes]:
    """Extended attribute values of ``min_size`` to ``max_size`` bytes.

    Small random byte strings mix with values whose sizes sit on a filesystem
    limit or next to it (65535, 65536 = ``XATTR_SIZE_MAX``, 65537 -> ``E2BIG``;
    ext4's and xfs' in-inode and block limits; btrfs' leaf), filled with one
    repeated byte so they are cheap to generate and to shrink.

    >>> from hypothesis import find
    >>> len(find(xattr_values(), lambda v: len(v) > 65536))
    65537
    """
    _check_bounds("min_size", min_size, "max_size", max_size)
    small = st.binary(min_size=min_size, max_size=min(max_size, max(min_size, 64)))
    edges = [n for n in _EDGE_SIZES if min_size <= n <= max_size]
    if not edges:
        return small
    sized = st.builds(lambda n, byte: bytes([byte]) * n, st.sampled_from(edges),
                      st.sampled_from([0x78, 0x00, 0xFF]))
    return st.one_of(small, sized)


_ACL_IDS = st.one_of(st.sampled_from([0, 1, 1000, 65534, 65535, 65536, 100000,
                                      ACL_UNDEFINED_ID - 1]),
                     st.integers(0, ACL_UNDEFINED_ID - 1))
_PERMS = st.integers(0, 7)


@st.composite
def _valid_acl(draw, ids):
    users = draw(st.lists(st.tuples(st.just(ACL_USER), _PERMS, ids), max_size=3))
    groups = draw(st.lists(st.tuples(st.just(ACL_GROUP), _PERMS, ids), max_size=3))
    entries = [(ACL_USER_OBJ, draw(_PERMS), None), *users,
               (ACL_GROUP_OBJ, draw(_PERMS), None), *groups]
    if users or groups or draw(st.booleans()):
        entries.append((ACL_MASK, draw(_PERMS), None))
    entries.append((ACL_OTHER, draw(_PERMS), None))
    return acl_value(*entries)


#: How a broken ACL value is broken (each makes the kernel refuse it).
_ACL_BREAKS = ("short", "version", "partial", "tag", "undefined-id", "order", "no-mask",
               "perm", "twice")


@st.composite
def _broken_acl(draw, ids):
    good = draw(_valid_acl(ids))
    how = draw(st.sampled_from(_ACL_BREAKS))
    if how == "short":   # not empty: an empty value removes the ACL
        return draw(st.binary(min_size=1, max_size=3))
    if how == "version":
        return struct.pack("<I", draw(st.sampled_from([0, 1, 3, 0x02000000]))) + good[4:]
    if how == "partial":
        return good[:-draw(st.integers(1, 7))]
    entries = [struct.unpack_from("<HHI", good, off) for off in range(4, len(good), 8)]
    entries = [(t, p, None if i == ACL_UNDEFINED_ID else i) for t, p, i in entries]
    if how == "tag":
        at = draw(st.integers(0, len(entries) - 1))
        tag = draw(st.sampled_from([0, 0x03, 0x40, 0x8000, 0xFFFF]))
        entries[at] = (tag,) + entries[at][1:]
    elif how == "undefined-id":
        entries.insert(1, (ACL_USER, draw(_PERMS), ACL_UNDEFINED_ID))
        if not any(t == ACL_MASK for t, _, _ in entries):
            entries.insert(-1, (ACL_MASK, 7, None))
    elif how == "order":
        entries.reverse()
    elif how == "no-mask":
        entries = [e for e in entries if e[0] != ACL_MASK]
        entries.insert(1, (ACL_USER, draw(_PERMS), draw(ids)))
    elif how == "perm":
        at = draw(st.integers(0, len(entries) - 1))
        entries[at] = (entries[at][0], draw(st.integers(8, 0xFFFF)), entries[at][2])
    else:  # "twice"
        entries.insert(1, entries[0])
    return acl_value(*entries)


def acl_values(*, valid: bool | None = None,
               ids: st.SearchStrategy[int] = _ACL_IDS) -> st.SearchStrategy[bytes]:
    """POSIX ACL xattr values (``system.posix_acl_access`` / ``_default``).

    ``valid=True``: well-formed ACLs the kernel stores (version 2, entries in
    the kernel's order, a mask whenever there are named entries, permissions
    0-7), named entries with ids from ``ids``.  ``valid=False``: values the
    kernel refuses, each broken one way (too short, wrong version, a partial
    entry, an unknown tag, the undefined id 4294967295 on a named entry, out
    of order, a named entry without a mask, permission bits above 7, USER_OBJ
    twice).  ``valid=None`` (default): both, and the header-only and empty
    values (which remove the ACL).  Built with the rules' own encoder (``acl_value``).

    >>> from hypothesis import find
    >>> find(acl_values(valid=False), lambda v: len(v) < 4)
    b'\\x00'
    """
    if valid is not None and not isinstance(valid, bool):
        raise InvalidArgument(f"valid={valid!r}, but only None, True or False are valid")
    _check_strategy("ids", ids)
    if valid is True:
        return _valid_acl(ids)
    if valid is False:
        return _broken_acl(ids)
    return st.one_of(_valid_acl(ids), _broken_acl(ids), st.sampled_from([acl_value(), b""]))


_ROOT_IDS = st.one_of(st.sampled_from([0, 1, 1000, 100000, 0xFFFFFFFF]),
                      st.integers(0, 0xFFFFFFFF))
_CAP_BITS = st.one_of(st.sampled_from([0, 1 << 10, 1 << 21, (1 << 41) - 1, (1 << 64) - 1]),
                      st.integers(0, (1 << 64) - 1))


@st.composite
def _fcaps(draw, version, valid, rootids):
    if version == 1:
        value = struct.pack("<III", VFS_CAP_REVISION_1 | draw(st.sampled_from([0, 1])),
                            draw(_CAP_BITS) & 0xFFFFFFFF, draw(_CAP_BITS) & 0xFFFFFFFF)
    else:
        value = fcaps_value(permitted=draw(_CAP_BITS), inheritable=draw(_CAP_BITS),
                            effective=draw(st.booleans()),
                            rootid=draw(rootids) if version == 3 else None)
    if valid or version == 1:
        return value  # a v1 value is refused as it is: only v2 and v3 can be set
    how = draw(st.sampled_from(["shorter", "longer", "revision", "other-size"]))
    if how == "shorter":
        return value[:draw(st.integers(0, len(value) - 1))]
    if how == "longer":
        return value + draw(st.binary(min_size=1, max_size=8))
    if how == "revision":
        magic = draw(st.sampled_from([0, 0x04000000, 0xFF000000, 0x00000002]))
        return struct.pack("<I", magic) + value[4:]
    # a v2 header with v3's size or the reverse
    return value[:20] + b"\0\0\0\0" if version == 2 else value[:20]


def fcaps_values(*, version: int | None = None, valid: bool | None = None,
                 rootids: st.SearchStrategy[int] = _ROOT_IDS) -> st.SearchStrategy[bytes]:
    """``security.capability`` values: ``vfs_cap_data`` v1 (12 bytes), v2 (20) or v3 (24).

    ``version`` 1, 2, 3 or None (any); ``valid=True`` gives values the kernel
    stores (v2, or v3 naming a root uid from ``rootids``), ``valid=False``
    values it refuses with EINVAL (wrong size, unknown revision, a v2 header
    with v3's size, and every v1 value: ``cap_convert_nscap`` takes only v2 and
    v3), ``valid=None`` (default) both.  Capability masks boost 0, single
    capabilities, every defined capability and all 64 bits.

    >>> from fsmodel._rules.codecs import fcaps_version
    >>> from hypothesis import find
    >>> fcaps_version(find(fcaps_values(version=3, valid=True), lambda v: True))
    3
    """
    _check_choice("version", version, (None, 1, 2, 3))
    if valid is not None and not isinstance(valid, bool):
        raise InvalidArgument(f"valid={valid!r}, but only None, True or False are valid")
    _check_strategy("rootids", rootids)
    if version == 1 and valid is True:
        raise InvalidArgument("version=1 and valid=True, but the kernel refuses every v1 "
                              "value on setxattr (only v2 and v3 can be set)")
    versions = (version,) if version else ((2, 3) if valid else (1, 2, 3))
    validities = (valid,) if valid is not None else (True, False)
    return st.one_of([_fcaps(v, ok, rootids) for v in versions for ok in validities
                      if not (v == 1 and ok)])


def xattrs(*, names: st.SearchStrategy[str] | None = None,
           values: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[tuple]:
    """``(name, value)`` pairs whose value suits the name often.

    Names come from ``names`` (default :func:`xattr_names`); the value of an
    ACL name is usually from :func:`acl_values`, of ``security.capability``
    usually from :func:`fcaps_values`, otherwise from ``values`` (default
    :func:`xattr_values` up to 128 bytes, which keeps layers small).
    """
    names = xattr_names() if names is None else names
    values = xattr_values(max_size=128) if values is None else values
    _check_strategy("names", names)
    _check_strategy("values", values)

    def value_for(name: str):
        if name in (ACL_ACCESS, ACL_DEFAULT):
            return st.one_of(acl_values(), values)
        if name == CAPS_NAME:
            return st.one_of(fcaps_values(), values)
        return values

    return names.flatmap(lambda n: st.tuples(st.just(n), value_for(n)))


# ------------------------------------------------------------------ layers

@dataclass(frozen=True)
class Entry:
    """One member of a :class:`Layer`, as an archive states it.

    ``path`` is root-relative without a trailing ``/`` (``""``: the root
    itself, only for ``"dir"``).  ``kind`` is one of :data:`ENTRY_KINDS`; for
    ``"whiteout"`` ``path`` names what is deleted (archived as
    ``DIR/.wh.NAME``) and for ``"opaque"`` the directory made opaque (archived
    as ``DIR/.wh..wh..opq``).  ``target`` is a symlink's target or the path a
    hardlink links to; ``device`` ``(major, minor)`` for ``"chr"``/``"blk"``;
    ``data`` a file's content; ``xattrs`` ``(name, value)`` pairs in archive
    order (a name may repeat: the last value wins where each set succeeds).
    """

    path: str
    kind: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""
    xattrs: tuple = ()
    device: tuple | None = None

    def __post_init__(self):
        if self.kind not in ENTRY_KINDS:
            raise ValueError(f"kind={self.kind!r}, but only {', '.join(ENTRY_KINDS)} are valid")
        if self.device is not None and self.kind not in ("chr", "blk"):
            raise ValueError(f"device={self.device!r}, but a {self.kind} has no device number")

    @property
    def member_name(self) -> str:
        """The name this entry is archived under."""
        if self.kind == "whiteout":
            head, _, tail = self.path.rpartition("/")
            return f"{head}/.wh.{tail}" if head else f".wh.{tail}"
        if self.kind == "opaque":
            return f"{self.path}/.wh..wh..opq" if self.path else ".wh..wh..opq"
        if self.kind == "dir":
            return f"{self.path}/" if self.path else "./"
        return self.path


@dataclass(frozen=True)
class Layer:
    """A layer as a sequence of :class:`Entry` values, in archive order.

    Those from :func:`file_trees` and :func:`layers` are consistent: every
    path is unique among its non-marker entries, every parent is a directory
    (declared before or after its children, or only implied by them), and a
    hardlink links to an earlier non-directory entry.
    """

    entries: tuple

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)


#: Path components often special to someone: dots, spaces, Unicode, NAME_MAX.
_SPECIAL_COMPONENTS = ("a", "b", "etc", "...", ".hidden", ".wh", "wh..opq", " ", "a b",
                       "é", "日本", "-", "x" * NAME_MAX, "é" * (NAME_MAX // 2))
_COMPONENT_CHARS = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))


def _components():
    return st.one_of(
        st.sampled_from(_SPECIAL_COMPONENTS),
        st.text(_COMPONENT_CHARS, min_size=1, max_size=12).filter(
            lambda c: c not in (".", "..") and not c.startswith(".wh.")))


_MODES = st.one_of(st.sampled_from([0o644, 0o755, 0o600, 0o000, 0o444, 0o777, 0o4755,
                                    0o2755, 0o1777, 0o7777, 0o2775]),
                   st.integers(0, 0o7777))
_IDS = st.one_of(st.sampled_from([0, 1, 1000, 65534, 65535, 65536, 2**31 - 1, 2**32 - 2]),
                 st.integers(0, 2**32 - 2))
_DEVICES = st.tuples(st.one_of(st.sampled_from([0, 1, 4095]), st.integers(0, 4095)),
                     st.one_of(st.sampled_from([0, 3, 255, 256, 2**20 - 1]),
                               st.integers(0, 2**20 - 1)))


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


@st.composite
def _layer(draw, kinds, min_entries, max_entries, entry_xattrs, max_xattrs, max_depth,
           contents, modes, ids):
    n = draw(st.integers(min_entries, max_entries))
    dirs = [""]              # directories declared or implied, "" the root
    declared: set[str] = set()
    taken: set[str] = set()  # paths of non-marker entries and implied directories
    linkable: list[str] = []
    symlinked: set[str] = set()
    entries: list[Entry] = []
    components = _components()

    def fresh_parent() -> str:
        parent = draw(st.sampled_from(dirs))
        # sometimes a parent nothing declared yet: implied by this entry
        while parent.count("/") + 1 < max_depth and draw(st.integers(0, 3)) == 0:
            name = draw(components)
            path = _join(parent, name)
            if path in taken and path not in dirs:
                break
            if path not in dirs:
                dirs.append(path)
                taken.add(path)
            parent = path
        return parent

    def fresh_path() -> str | None:
        parent = fresh_parent()
        for _ in range(3):
            path = _join(parent, draw(components))
            if path not in taken:
                return path
        return None

    for _ in range(n):
        kind = draw(st.sampled_from(kinds))
        if kind == "hardlink" and not linkable:
            kind = "file" if "file" in kinds else kind
            if kind == "hardlink":
                continue
        pairs = tuple(draw(st.lists(entry_xattrs, max_size=max_xattrs)))
        common = dict(mode=draw(modes), uid=draw(ids), gid=draw(ids), xattrs=pairs)
        if kind == "opaque":
            entries.append(Entry(draw(st.sampled_from(dirs)), "opaque", **common))
            continue
        if kind == "whiteout":
            # names something lower layers may hold: a new name, or one this layer writes
            known = [p for p in taken if p]
            if known and draw(st.booleans()):
                path = draw(st.sampled_from(sorted(known)))
            else:
                path = fresh_path()
            if path is not None:
                entries.append(Entry(path, "whiteout", **common))
            continue
        if kind == "dir":
            undeclared = [d for d in dirs if d not in declared]
            if undeclared and draw(st.integers(0, 2)) == 0:
                path = draw(st.sampled_from(undeclared))   # the root, or an implied parent
            else:
                path = fresh_path()
                if path is None:
                    continue
                dirs.append(path)
            declared.add(path)
            taken.add(path)
            entries.append(Entry(path, "dir", **common))
            continue
        path = fresh_path()
        if path is None:
            continue
        taken.add(path)
        if kind == "file":
            entry = Entry(path, "file", data=draw(contents), **common)
        elif kind == "symlink":
            target = draw(st.one_of(
                st.sampled_from([".", "..", "/", "/etc/passwd", "../../x", "a", "a/b/"]),
                st.lists(components, min_size=1, max_size=3).map("/".join),
                st.sampled_from(sorted(taken)).map(lambda p: "/" + p)))
            entry = Entry(path, "symlink", target=target, **common)
            symlinked.add(path)
        elif kind == "hardlink":
            # boosted: a link to a symlink, which some extractors refuse or follow
            symlinks = [p for p in linkable if p in symlinked]
            pool = symlinks if symlinks and draw(st.integers(0, 2)) == 0 else linkable
            entry = Entry(path, "hardlink", target=draw(st.sampled_from(pool)), **common)
        elif kind in ("chr", "blk"):
            entry = Entry(path, kind, device=draw(_DEVICES), **common)
        else:
            entry = Entry(path, kind, **common)
        linkable.append(path)
        entries.append(entry)
    return Layer(tuple(entries))


def _check_choices(argname: str, value, allowed, refusal: str) -> None:
    """``value`` must be a non-empty collection (not a string) drawn from ``allowed``."""
    if isinstance(value, str) or not isinstance(value, Collection) or not value:
        raise InvalidArgument(f"{argname}={value!r}, but it must be a non-empty collection "
                              f"of {', '.join(allowed)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InvalidArgument(f"{argname}={value!r}, but {refusal} {unknown!r}: "
                              f"only {', '.join(allowed)}")


def _layer_strategy(fname, kinds, allowed, min_entries, max_entries, entry_xattrs, max_xattrs,
                    max_depth, contents, modes, ids):
    _check_choices("kinds", kinds, allowed, f"{fname}() cannot make")
    if set(kinds) == {"hardlink"}:
        raise InvalidArgument("kinds={'hardlink'}, but a hardlink needs an earlier entry "
                              "to link to: add another kind")
    _check_bounds("min_entries", min_entries, "max_entries", max_entries)
    _check_int("max_xattrs", max_xattrs)
    _check_int("max_depth", max_depth, 1)
    for name, value in (("xattrs", entry_xattrs), ("contents", contents), ("modes", modes),
                        ("ids", ids)):
        _check_strategy(name, value)
    ordered = tuple(k for k in allowed if k in kinds)
    return _layer(ordered, min_entries, max_entries, entry_xattrs, max_xattrs, max_depth,
                  contents, modes, ids)


def file_trees(*, kinds: Collection[str] = _TREE_KINDS, min_entries: int = 0,
               max_entries: int = 8, xattrs: st.SearchStrategy[tuple] | None = None,
               max_xattrs: int = 3, max_depth: int = 3,
               contents: st.SearchStrategy[bytes] = st.binary(max_size=64),
               modes: st.SearchStrategy[int] = _MODES,
               ids: st.SearchStrategy[int] = _IDS) -> st.SearchStrategy[Layer]:
    """A :class:`Layer` describing a tree: no whiteouts or opaque markers.

    Entries of ``kinds`` (default every kind but the markers), each with up to
    ``max_xattrs`` attributes from ``xattrs`` (default :func:`xattrs` with
    names of every namespace, ``"="`` excluded since ``SCHILY.xattr`` records
    cannot hold it), at most ``max_depth`` components deep.  Parents exist or
    are implied; directories are sometimes declared after their children;
    hardlinks link to earlier entries of any non-directory kind (symlinks
    included, and boosted); modes, ids and device numbers boost their boundary
    values.

    >>> from hypothesis import find
    >>> tree = find(file_trees(), lambda t: any(e.kind == "hardlink" for e in t))
    >>> [e.kind for e in tree]
    ['file', 'hardlink']
    """
    return _layer_strategy("file_trees", kinds, _TREE_KINDS, min_entries, max_entries,
                           _default_xattrs() if xattrs is None else xattrs, max_xattrs,
                           max_depth, contents, modes, ids)


def layers(*, kinds: Collection[str] = ENTRY_KINDS, min_entries: int = 0,
           max_entries: int = 8, xattrs: st.SearchStrategy[tuple] | None = None,
           max_xattrs: int = 3, max_depth: int = 3,
           contents: st.SearchStrategy[bytes] = st.binary(max_size=64),
           modes: st.SearchStrategy[int] = _MODES,
           ids: st.SearchStrategy[int] = _IDS) -> st.SearchStrategy[Layer]:
    """A :class:`Layer`: :func:`file_trees` plus whiteouts and opaque markers.

    Whiteouts name new paths (what a lower layer would hold) or paths this
    layer writes; opaque markers name any directory, the root included.  The
    arguments are :func:`file_trees`'.

    >>> from hypothesis import find
    >>> find(layers(), lambda l: any(e.kind == "opaque" for e in l)).entries[0].member_name
    '.wh..wh..opq'
    """
    return _layer_strategy("layers", kinds, ENTRY_KINDS, min_entries, max_entries,
                           _default_xattrs() if xattrs is None else xattrs, max_xattrs,
                           max_depth, contents, modes, ids)


def _default_xattrs():
    return xattrs(names=xattr_names().filter(lambda n: "=" not in n))


# ------------------------------------------------------------------ tar encoding

_BLOCK = 512
_TYPEFLAGS = {"dir": b"5", "file": b"0", "symlink": b"2", "hardlink": b"1", "fifo": b"6",
              "chr": b"3", "blk": b"4", "whiteout": b"0", "opaque": b"0"}
_ENCODINGS = ("SCHILY", "LIBARCHIVE")




def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits(text: bytes, width: int) -> bool:
    return len(text) <= width and text.isascii()


class _Member:
    """One archive member being written: header fields, PAX records, content."""

    def __init__(self, name: bytes, typeflag: bytes, mode: int = 0, uid: int = 0, gid: int = 0,
                 size: int = 0, linkname: bytes = b"", device: tuple = (0, 0),
                 records: list | None = None, data: bytes = b""):
        self.fields = {"name": name, "mode": mode, "uid": uid, "gid": gid, "size": size,
                       "typeflag": typeflag, "linkname": linkname, "device": device}
        self.records = list(records or [])
        self.data = data
        #: raw overrides of header fields: field name -> bytes (adversarial archives)
        self.raw: dict[str, bytes] = {}

    def header(self) -> bytes:
        f = self.fields
        name = f["name"]
        if not _fits(name, 100):
            self.records.insert(0, (b"path", name))
            name = name.decode("ascii", "replace").encode("ascii", "replace")[:100]
        link = f["linkname"]
        if not _fits(link, 100):
            self.records.insert(0, (b"linkpath", link))
            link = link.decode("ascii", "replace").encode("ascii", "replace")[:100]
        numbers = {}
        for key, width in (("uid", 8), ("gid", 8), ("size", 12)):
            if f[key] < 8 ** (width - 1):
                numbers[key] = _octal(f[key], width)
            else:
                self.records.append((key.encode(), str(f[key]).encode()))
                numbers[key] = _octal(0, width)
        fields = {
            "name": name.ljust(100, b"\0"), "mode": _octal(f["mode"], 8),
            "uid": numbers["uid"], "gid": numbers["gid"], "size": numbers["size"],
            "mtime": _octal(0, 12), "typeflag": f["typeflag"], "linkname": link.ljust(100, b"\0"),
            "devmajor": _octal(f["device"][0], 8), "devminor": _octal(f["device"][1], 8),
        }
        fields.update(self.raw)
        return _header_block(fields)

    def encode(self) -> bytes:
        block = self.header()
        out = b""
        if self.records:
            # a record keyed None is raw bytes (a lying one, in adversarial archives)
            body = b"".join(v if k is None else _record(k, v) for k, v in self.records)
            out += _header_block({"name": b"PaxHeaders/entry", "mode": _octal(0o644, 8),
                                  "uid": _octal(0, 8), "gid": _octal(0, 8),
                                  "size": _octal(len(body), 12), "mtime": _octal(0, 12),
                                  "typeflag": b"x"})
            out += _padded(body)
        return out + block + _padded(self.data)


_LAYOUT = (("name", 100), ("mode", 8), ("uid", 8), ("gid", 8), ("size", 12), ("mtime", 12),
           ("chksum", 8), ("typeflag", 1), ("linkname", 100), ("magic", 6), ("version", 2),
           ("uname", 32), ("gname", 32), ("devmajor", 8), ("devminor", 8), ("prefix", 155))


def _header_block(fields: dict) -> bytes:
    """A ustar header block of ``fields`` (missing ones empty), its checksum computed."""
    fields = {"magic": b"ustar\0", "version": b"00", **fields, "chksum": b" " * 8}
    block = b"".join(fields.get(name, b"").ljust(width, b"\0")[:width]
                     for name, width in _LAYOUT).ljust(_BLOCK, b"\0")
    chksum = b"%06o\0 " % sum(block)
    return block[:148] + chksum + block[156:]


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % _BLOCK)


def _xattr_record(name: str, value: bytes, encoding: str) -> tuple[bytes, bytes]:
    raw = name.encode("utf-8", "surrogateescape")
    if encoding == "SCHILY":
        if b"=" in raw or b"\0" in raw:
            raise ValueError(f"xattr name {name!r} cannot be written as a SCHILY.xattr "
                             f"record ('=' or NUL); use encoding='LIBARCHIVE'")
        return b"SCHILY.xattr." + raw, value
    return (b"LIBARCHIVE.xattr." + quote_from_bytes(raw, safe="").encode(),
            base64.b64encode(value).rstrip(b"="))


def _members(layer: Layer, encoding: str) -> list[_Member]:
    members = []
    for e in layer:
        records = [_xattr_record(n, v, encoding) for n, v in e.xattrs]
        name = e.member_name.encode("utf-8", "surrogateescape")
        is_file = e.kind == "file"
        members.append(_Member(
            name, _TYPEFLAGS[e.kind], mode=e.mode, uid=e.uid, gid=e.gid,
            size=len(e.data) if is_file else 0,
            linkname=e.target.encode("utf-8", "surrogateescape")
            if e.kind in ("symlink", "hardlink") else b"",
            device=e.device or (0, 0), records=records, data=e.data if is_file else b""))
    return members


def encode(layer: Layer, *, encoding: str = "SCHILY") -> bytes:
    """``layer`` as the bytes of an uncompressed PAX tar stream.

    Deterministic: the same layer gives the same bytes (mtime 0, no user or
    group names).  Attributes are ``SCHILY.xattr.NAME`` records (Go,
    containerd, GNU tar) or, with ``encoding="LIBARCHIVE"``,
    ``LIBARCHIVE.xattr.<percent-encoded NAME>`` with base64 values (bsdtar).
    Long or non-ASCII paths and link targets, and ids or sizes too large for
    the octal fields, go to PAX records as well.  Raises ValueError for a
    name a SCHILY record cannot hold (``=``, NUL).

    >>> import tarfile, io
    >>> data = encode(Layer((Entry("f", "file", data=b"hi", xattrs=(("user.a", b"1"),)),)))
    >>> tarfile.open(fileobj=io.BytesIO(data)).getmember("f").pax_headers
    {'SCHILY.xattr.user.a': '1'}
    """
    if encoding not in _ENCODINGS:
        raise ValueError(f"encoding={encoding!r}, but only {', '.join(_ENCODINGS)} are valid")
    return b"".join(m.encode() for m in _members(layer, encoding)) + bytes(2 * _BLOCK)


def pax_layers(*, layers: st.SearchStrategy[Layer] | None = None,
               encodings: st.SearchStrategy[str] = st.just("SCHILY"),
               adversarial: bool = False) -> st.SearchStrategy[bytes]:
    """PAX tar bytes of layers from ``layers`` (default :func:`layers`), written by
    :func:`encode` with an encoding drawn from ``encodings``.

    With ``adversarial=True``, the archives of :func:`adversarial_layers`
    instead.  To keep the description, draw a layer and call :func:`encode`.

    >>> import io, tarfile
    >>> from hypothesis import find
    >>> data = find(pax_layers(), lambda d: len(d) > 1024)
    >>> len(tarfile.open(fileobj=io.BytesIO(data)).getmembers())
    1
    """
    layers_ = globals()["layers"]() if layers is None else layers
    _check_strategy("layers", layers_)
    _check_strategy("encodings", encodings)
    if not isinstance(adversarial, bool):
        raise InvalidArgument(f"adversarial={adversarial!r}, but it must be True or False")
    if adversarial:
        return adversarial_layers(layers=layers_)
    return st.builds(lambda layer, enc: encode(layer, encoding=enc), layers_,
                     encodings.map(_checked_encoding))


def _checked_encoding(encoding: str) -> str:
    if encoding not in _ENCODINGS:
        raise InvalidArgument(f"encodings drew {encoding!r}, but only "
                              f"{', '.join(_ENCODINGS)} are valid")
    return encoding


# ------------------------------------------------------------------ adversarial archives

_ENTRY_ATTACKS = ("traversal-name", "absolute-name", "symlink-parent", "hardlink-outside",
                  "hardlink-missing", "duplicate", "replace", "bad-whiteout", "no-id")
_BYTE_ATTACKS = ("pax-length", "pax-size", "base256", "non-octal", "spaces", "overflow")
#: What :func:`adversarial_layers` does to an archive.
ATTACKS = _ENTRY_ATTACKS + _BYTE_ATTACKS

_TRAVERSALS = ("../x", "../../etc/passwd", "a/../../x", "./../x", "a/b/../../../x", "..",
               "../", "a/..", "/..")


@st.composite
def _adversarial(draw, base_layers, attacks, byte_attacks):
    layer = draw(base_layers)
    entries = list(layer.entries)
    chosen = draw(st.lists(st.sampled_from(attacks), min_size=1, max_size=3)) if attacks else []
    for attack in chosen:
        at = draw(st.integers(0, len(entries)))
        if attack == "traversal-name":
            entries.insert(at, Entry(draw(st.sampled_from(_TRAVERSALS)), "file", data=b"x"))
        elif attack == "absolute-name":
            entries.insert(at, Entry(draw(st.sampled_from(["/etc/passwd", "/x", "//x", "/"])),
                                     "file", data=b"x"))
        elif attack == "symlink-parent":
            link_target = draw(st.sampled_from(["..", "../..", "/", "/..", "../x", "s", ".", ""]))
            entries[at:at] = [Entry("s", "symlink", target=link_target),
                              Entry(draw(st.sampled_from(["s/x", "s/s/x", "s/../y"])), "file",
                                    data=b"x")]
        elif attack == "hardlink-outside":
            entries.insert(at, Entry("h", "hardlink", target=draw(st.sampled_from(
                ["../x", "/../etc/passwd", "s/x", "..", "/"]))))
        elif attack == "hardlink-missing":
            entries.insert(at, Entry("h", "hardlink", target=draw(st.sampled_from(
                ["missing", "a/missing", "h"]))))
        elif attack == "duplicate" and entries:
            victim = entries[min(at, len(entries) - 1)]
            entries.insert(at, victim)
        elif attack == "replace":
            path = draw(st.sampled_from([e.path for e in entries if e.path] or ["a"]))
            kind = draw(st.sampled_from(["dir", "file", "symlink", "fifo"]))
            target = "/" if kind == "symlink" else ""
            entries.insert(at, Entry(path, kind, target=target, mode=0o755))
        elif attack == "bad-whiteout":
            name = draw(st.sampled_from([".wh.", ".wh..", ".wh...", ".wh..wh..plnk",
                                         "a/.wh..", ".wh..wh.aufs/x", ".wh.a/b"]))
            entries.insert(at, Entry(name, "file"))
        elif attack == "no-id":
            entries.insert(at, Entry("u", "file", uid=0xFFFFFFFF))
    members = _members(Layer(tuple(entries)), "SCHILY")
    if not members:
        members = [_Member(b"f", b"0", mode=0o644)]
    for attack in draw(st.lists(st.sampled_from(byte_attacks), min_size=0 if attacks else 1,
                                max_size=2) if byte_attacks else st.just([])):
        m = draw(st.sampled_from(members))
        _corrupt(draw, m, attack)
    data = b"".join(m.encode() for m in members)
    return data + draw(st.sampled_from([bytes(2 * _BLOCK), bytes(_BLOCK), b""]))


def _corrupt(draw, member: _Member, attack: str) -> None:
    field = draw(st.sampled_from(["mode", "uid", "gid", "size", "devmajor", "mtime"]))
    width = 12 if field in ("size", "mtime") else 8
    if attack == "pax-length":
        key = draw(st.sampled_from([b"path", b"comment", b"SCHILY.xattr.user.a", b"size"]))
        value = draw(st.sampled_from([b"x", b"../../x", b"9" * 20, b""]))
        good = _record(key, value)
        n = len(good) - len(good.split(b" ", 1)[1])
        lie = draw(st.sampled_from([-5, -1, 1, 5, 10**6]))
        length = int(good[:n]) + lie
        bad = (str(length).encode() if length > 0 else b"0") + good[n:]
        member.records.append((None, bad))
    elif attack == "pax-size":
        member.records.append((b"size", draw(st.sampled_from(
            [b"-1", b"1e3", b"99999999999999999999", b"", b"0x10", str(len(member.data) + 1)
             .encode()]))))
    elif attack == "base256":
        member.raw[field] = b"\x80" + draw(st.binary(min_size=width - 1, max_size=width - 1))
    elif attack == "non-octal":
        member.raw[field] = draw(st.sampled_from([b"9" * (width - 1), b"xyz", b"-1", b"0o7",
                                                  b"\xff" * width]))
    elif attack == "spaces":
        member.raw[field] = draw(st.sampled_from([b" " * width, b"  644 \0", b"644" + b" " * 5,
                                                  b"\0" * width, b"   0000644"]))
    else:  # "overflow": the largest value the field can say, or one past it
        member.raw[field] = draw(st.sampled_from([b"7" * width, b"7" * (width - 1) + b"\0",
                                                  b"\x80" + b"\xff" * (width - 1),
                                                  b"\xff" * width]))


def adversarial_layers(*, layers: st.SearchStrategy[Layer] | None = None,
                       attacks: Collection[str] = ATTACKS) -> st.SearchStrategy[bytes]:
    """Tar bytes that attack a reader or an applier: a layer from ``layers``
    with one to three of ``attacks`` (default all of :data:`ATTACKS`).

    Entry-level attacks insert members: names climbing out of the root
    (``../x``, ``a/../../x``) or absolute; a symlink then a member below it
    (``s -> ..``, ``s/x``); hardlinks out of the root or to a missing target;
    the same member twice; a path replaced by another kind; invalid whiteouts
    (``.wh..``, AUFS metadata); uid 4294967295.  Byte-level attacks corrupt a
    header or PAX record (checksums stay correct, so the field parser sees
    them): PAX records whose length lies, bad PAX ``size`` values, base-256,
    non-octal, space-padded and overflowing numeric fields.  The archive may
    also end without its two zero blocks.  A correct reader answers with
    events or :class:`~fsmodel.layer.MalformedLayer`; a correct applier
    applies, refuses (``UnsafeEntry``) or fails as its tool would, and never
    touches anything outside its root.
    """
    layers_ = globals()["layers"](max_entries=4) if layers is None else layers
    _check_strategy("layers", layers_)
    _check_choices("attacks", attacks, ATTACKS, "there are no such attacks as")
    entry_level = tuple(a for a in _ENTRY_ATTACKS if a in attacks)
    byte_level = tuple(a for a in _BYTE_ATTACKS if a in attacks)
    return _adversarial(layers_, entry_level, byte_level)


# ------------------------------------------------------------------ syscall sequences

@dataclass(frozen=True)
class SyscallSequence:
    """Calls for one backend of filesystem ``fs``: :class:`~fsmodel.testing.differential.Step`
    values, starting with the setup every sequence shares."""

    fs: str
    steps: tuple

    def __str__(self):
        return "\n".join([f"# {self.fs}"] + [str(s) for s in self.steps])


def syscall_sequences(*, fs: st.SearchStrategy[str] = st.sampled_from(_FILESYSTEMS),
                      min_size: int = 0, max_size: int = 30,
                      ) -> st.SearchStrategy[SyscallSequence]:
    """Sequences of xattr-relevant calls (xattr calls of every flavour, creation,
    chmod/chown, credentials, fds, inode flags, read-only remounts) for a
    filesystem from ``fs``, ``min_size`` to ``max_size`` calls after the setup.

    The calls come from :class:`fsmodel.testing.OpSpace` (its world of paths,
    names, values and callers), each choice drawn as an index so failures
    shrink toward the first options.  Generation is blind: the space does not
    see results (open fds, created paths), so fd calls name fds that may not be
    open; :func:`fsmodel.testing.differential_machine` steers by results.
    Run one with :class:`fsmodel.testing.differential.Pair` or step by step::

        from fsmodel.testing.differential import call
        for step in seq.steps:
            with k.become(*CALLER[step.caller]): call(k, step.method, step.args)
    """
    _check_strategy("fs", fs)
    _check_bounds("min_size", min_size, "max_size", max_size)
    return _syscalls(fs.map(_checked_fs), min_size, max_size)


def _checked_fs(name: str) -> str:
    if name not in _FILESYSTEMS:
        raise InvalidArgument(f"fs drew {name!r}, but only {', '.join(_FILESYSTEMS)} are valid")
    return name


@st.composite
def _syscalls(draw, fs, min_size, max_size):
    from .testing.differential import OpSpace

    name = draw(fs)
    space = OpSpace(name)

    def choose(options):
        options = list(options)
        return options[draw(st.integers(0, len(options) - 1))]

    count = draw(st.integers(min_size, max_size))
    steps = space.setup() + [space.next_step(choose) for _ in range(count)]
    return SyscallSequence(name, tuple(steps))

