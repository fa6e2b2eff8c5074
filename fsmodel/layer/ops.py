"""What a layer asks for: frozen, self-validating operations and stream events.

The reader turns tar bytes into a sequence of events:

* one :class:`Entry` subclass per archive member (:class:`Directory`,
  :class:`File`, :class:`Symlink`, :class:`Hardlink`, :class:`Device`,
  :class:`Fifo`, or, classified by the basename, :class:`Whiteout`,
  :class:`Opaque` and :class:`AufsMetadata`);
* after a :class:`File` whose size is not zero, its content as :class:`Data`
  chunks (bounded in size; their concatenation is the file's content);
* :class:`EndOfLayer` once, at the end.

House rules. Ops carry what the archive says, decoded but not interpreted:
paths are ``str`` decoded from the archive's bytes with UTF-8 and
``surrogateescape`` (so ``path.encode("utf-8", "surrogateescape")`` gives back
the archive's bytes exactly), after the GNU long-name and PAX overrides, and
without normalisation: ``"./a//b/"``, ``"/etc/passwd"`` and ``"../x"`` arrive
as written. Normalising, confining to the root and deciding what is allowed
are the applier's job. Paths and link targets never contain NUL (the reader
rejects or truncates as tar readers do). Every op checks its own fields when
built, so an op built by hand in a test is as trustworthy as one from the
reader; a bad field is a programming error (``TypeError``/``ValueError``),
never a :class:`~fsmodel.layer.MalformedLayer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "XATTR_ENCODINGS",
    "AufsMetadata",
    "Data",
    "Device",
    "Directory",
    "EndOfLayer",
    "Entry",
    "Event",
    "Fifo",
    "File",
    "Hardlink",
    "Opaque",
    "Symlink",
    "Whiteout",
    "Xattr",
]

#: How an extended attribute was spelled in the archive's PAX records:
#: ``SCHILY`` (``SCHILY.xattr.NAME=raw value``: Go, containerd, moby, GNU tar),
#: ``LIBARCHIVE`` (``LIBARCHIVE.xattr.<percent-encoded NAME>=<base64 value>``:
#: libarchive/bsdtar only) and ``RHT`` (``RHT.security.selinux``: GNU tar
#: ``--selinux``). Runtimes differ in which they read; a policy filters on it.
XATTR_ENCODINGS = frozenset({"SCHILY", "LIBARCHIVE", "RHT"})


def _require_int(name: str, value: object, minimum: int = 0, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}, but it must be an int")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f"..{maximum:#o}" if name == "mode" else f"..{maximum}"
        raise ValueError(f"{name}={value!r}, but only {minimum}{upper or ' or more'} is valid")


def _require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r}, but it must be a str")
    if "\x00" in value:
        raise ValueError(f"{name}={value!r}, but a NUL byte cannot be part of a name")


_MAKERS: dict = {}


def _trusted(cls, **fields):
    """An op built from fields the reader has already checked: every field given,
    no ``__post_init__`` (which would check them all again, per entry)."""
    make = _MAKERS.get(cls)
    if make is None:
        make = _MAKERS[cls] = _maker(cls)
    return make(**fields)


def _maker(cls):
    """A function of every field of ``cls`` (keywords) that builds one, setting each slot
    through its own descriptor (a frozen ``__setattr__`` is not involved): straight-line
    code, as ``dataclasses`` writes ``__init__``, since this runs for every entry."""
    slots = {name: slot.__set__ for klass in reversed(cls.__mro__)
             for name, slot in vars(klass).items() if type(slot).__name__ == "member_descriptor"}
    names = list(slots)
    lines = [f"def make(*, {', '.join(names)}):", "    op = new(cls)"]
    lines += [f"    set_{name}(op, {name})" for name in names]
    lines.append("    return op")
    scope = {"new": object.__new__, "cls": cls, **{f"set_{n}": f for n, f in slots.items()}}
    exec("\n".join(lines), scope)   # the names are the class's own slots
    return scope["make"]


@dataclass(frozen=True, slots=True)
class Xattr:
    """One extended attribute from the entry's PAX records.

    ``name`` is the full attribute name (``"user.foo"``, ``"security.selinux"``)
    decoded like paths (UTF-8, ``surrogateescape``); for ``LIBARCHIVE`` it is
    already percent-decoded. ``value`` is the raw bytes (base64-decoded for
    ``LIBARCHIVE``); values may hold NULs and need not be UTF-8. Names are not
    checked against the kernel's rules (empty, over 255 bytes, unknown
    namespace): that is the applier's, which answers with the kernel's errno.
    """

    name: str
    value: bytes
    encoding: str

    def __post_init__(self):
        _require_str("name", self.name)
        if not isinstance(self.value, bytes):
            raise TypeError(f"value={self.value!r}, but it must be bytes")
        if self.encoding not in XATTR_ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r}, but only "
                             f"{', '.join(sorted(XATTR_ENCODINGS))} are valid")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """Fields every archive member carries.

    ``index`` is the 0-based position of the member in the layer (extension
    headers do not count), ``offset`` the byte offset of its own header block
    in the uncompressed stream. ``mode`` holds the permission bits including
    setuid/setgid/sticky (the file type comes from the typeflag, never from
    the mode). ``mtime`` is an ``int``, or a ``float`` when a PAX record gives
    a fractional time. ``xattrs`` are in archive record order (global records
    first); the same name may appear under two encodings. ``pax`` holds the
    other PAX records that applied (``atime``, ``comment``, ``SCHILY.acl.*``,
    vendor keys...) as ``(key, value)`` strings decoded like paths.
    """

    index: int
    offset: int
    path: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int | float = 0
    xattrs: tuple[Xattr, ...] = ()
    pax: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        _require_int("index", self.index)
        _require_int("offset", self.offset)
        if not isinstance(self.path, str):
            raise TypeError(f"path={self.path!r}, but it must be a str")
        if "\x00" in self.path:
            raise ValueError(f"path={self.path!r}, but a NUL byte cannot be part of a path")
        _require_int("mode", self.mode, 0, 0o7777)
        _require_int("uid", self.uid)
        _require_int("gid", self.gid)
        for name in ("uname", "gname"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name}={getattr(self, name)!r}, but it must be a str")
        if (isinstance(self.mtime, bool) or not isinstance(self.mtime, (int, float))
                or not math.isfinite(self.mtime)):
            raise TypeError(f"mtime={self.mtime!r}, but it must be a finite int or float")
        if not isinstance(self.xattrs, tuple) or not all(isinstance(x, Xattr) for x in self.xattrs):
            raise TypeError(f"xattrs={self.xattrs!r}, but it must be a tuple of Xattr")
        if not isinstance(self.pax, tuple) or not all(
                isinstance(r, tuple) and len(r) == 2 and all(isinstance(s, str) for s in r)
                for r in self.pax):
            raise TypeError(f"pax={self.pax!r}, but it must be a tuple of (str, str) pairs")
        self._check()

    def _check(self) -> None:
        """Validate the fields a subclass adds (called after the common ones)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory(Entry):
    """A directory (typeflag ``5``, or ``\\0`` with a name ending in ``/``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class File(Entry):
    """A regular file (typeflag ``0``, ``\\0`` or ``7``); ``size`` bytes of
    content follow as :class:`Data` events (none when ``size`` is 0)."""

    size: int

    def _check(self):
        _require_int("size", self.size)


@dataclass(frozen=True, slots=True, kw_only=True)
class Symlink(Entry):
    """A symbolic link to ``target`` (as written: may be absolute, dangling, empty)."""

    target: str

    def _check(self):
        _require_str("target", self.target)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hardlink(Entry):
    """A hard link to the earlier member, or lower-layer file, named ``target``."""

    target: str

    def _check(self):
        _require_str("target", self.target)


@dataclass(frozen=True, slots=True, kw_only=True)
class Device(Entry):
    """A character (``kind="chr"``, typeflag ``3``) or block (``"blk"``, ``4``) device."""

    kind: str
    major: int
    minor: int

    def _check(self):
        if self.kind not in ("chr", "blk"):
            raise ValueError(f"kind={self.kind!r}, but only 'chr' or 'blk' are valid")
        _require_int("major", self.major)
        _require_int("minor", self.minor)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fifo(Entry):
    """A named pipe (typeflag ``6``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Whiteout(Entry):
    """``DIR/.wh.NAME``: delete ``NAME`` of ``DIR`` from the lower layers.

    ``path`` is the whiteout entry's own path as archived (``"a/.wh.b"``);
    ``target`` is the raw ``NAME`` after ``.wh.`` (``"b"``) and
    :attr:`directory` the raw text before the last ``/`` (``"a"``, ``""`` at the
    top level). Classification looks only at the basename (trailing ``/``
    ignored) and ignores the entry's type and size: any ``.wh.*`` member is a
    whiteout, and content it carries is consumed, not reported. ``.wh.``,
    ``.wh..`` and ``.wh...`` are reported too, with ``target`` ``""``, ``"."``
    and ``".."``: they are invalid (they name nothing, the directory itself, or
    its parent), and rejecting them is the applier's decision, made where the
    path is resolved.
    """

    target: str

    def _check(self):
        if not isinstance(self.target, str):
            raise TypeError(f"target={self.target!r}, but it must be a str")
        if "/" in self.target:
            raise ValueError(f"target={self.target!r}, but a whiteout names one component")

    @property
    def directory(self) -> str:
        """The raw text of ``path`` before its last ``/`` (``""`` at the top level)."""
        return self.path.rstrip("/").rpartition("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Opaque(Entry):
    """``DIR/.wh..wh..opq``: hide every lower-layer child of ``DIR``.

    Here ``path`` is the directory, the raw text before ``/.wh..wh..opq``
    (``""`` for a marker at the top level, i.e. the layer root).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class AufsMetadata(Entry):
    """A member whose basename starts with ``.wh..wh.`` but is not the opaque
    marker (``.wh..wh..plnk``, ``.wh..wh.aufs``, ``.wh..wh.orph``): AUFS
    bookkeeping that Docker-era layers may carry. Never to be created as such.
    Members *inside* such a directory (``.wh..wh..plnk/123.456``) keep their
    own kind; ``path`` is the entry's path as archived.
    """


@dataclass(frozen=True, slots=True)
class Data:
    """A chunk of the content of the :class:`File` with the same ``index``."""

    index: int
    chunk: bytes

    def __post_init__(self):
        _require_int("index", self.index)
        if not isinstance(self.chunk, bytes):
            raise TypeError(f"chunk={self.chunk!r}, but it must be bytes")
        if not self.chunk:
            raise ValueError("chunk=b'', but a Data event carries at least one byte")


@dataclass(frozen=True, slots=True)
class EndOfLayer:
    """The archive ended (two zero blocks, or the stream's end at a header boundary)."""


Event = Entry | Data | EndOfLayer
