"""The sans-I/O layer reader: tar bytes in, typed frozen operations out.

House rules
-----------
* Nothing here touches a filesystem, a clock or a socket. The caller feeds
  bytes (:meth:`Reader.feed`, :meth:`Reader.feed_eof`) and pulls events
  (:meth:`Reader.next_event`); :func:`iter_layer` is the only place that reads
  a source, and only to feed a :class:`Reader`.
* Every decision about the archive's *format* is made here, once: which bytes
  form a header, a PAX record, a file's content. Decisions about what the
  entries *mean* for a filesystem (confinement, policy, errnos) are not.
* Any input that is not accepted raises :class:`MalformedLayer` with the
  entry index and the byte offset of the offending header or record. No other
  exception type comes out for any bytes. After it, the reader stays failed.
* Memory is bounded by :class:`Limits`, whatever the layer's size: file
  content passes through as :class:`Data` chunks and is never accumulated;
  only a header block or one entry's extension headers is ever held whole.

Theory of operation
-------------------
A tar stream is a sequence of 512-byte blocks. A header block describes one
member; a regular file's content follows it, padded to a block boundary.
Extension headers are members too, but describe the member that follows:
PAX ``x`` (records for the next entry), PAX ``g`` (records for every later
entry until overridden), GNU ``L`` and ``K`` (the next entry's long name and
link name). The archive ends with two zero blocks; readers also accept the
stream's end at a header boundary.

The reader is a small state machine (``_State``): ``HEADER`` reads a block
and either records an extension header (→ ``EXTENSION``, which holds the
whole body, bounded by ``Limits.max_extension_bytes``) or emits the entry's op
(→ ``CONTENT`` for a file's bytes, then ``PADDING``); a zero block leads to
``SECOND_ZERO``; the end marker to ``DONE``; a :class:`MalformedLayer` to
``ERROR``. Each state needs a known number of bytes; when they are not yet
fed, :meth:`Reader.next_event` returns :data:`NEED_DATA`, and after
:meth:`Reader.feed_eof` a shortfall is a truncated archive.

What is accepted, and why
-------------------------
The reference readers are Go's ``archive/tar`` (what containerd, moby and
containers/storage use) and CPython's ``tarfile``; where they agree we agree,
and where they disagree on the *framing* of the stream (where entries start),
the input is rejected, because a layer that two tools read differently can
smuggle content past one of them.

* Headers: POSIX ustar (magic ``ustar\\0``: 155-byte prefix joined with ``/``),
  star (same, 131-byte prefix), GNU (``ustar  \\0``: no prefix, the area holds
  times, except Go's fallback for its own pre-1.8 writer), anything else V7
  (name, link and numbers only). The checksum must match the unsigned or the
  signed byte sum.
* Numbers: octal with leading spaces and trailing NULs/spaces (all-blank is
  0; digits after a NUL are rejected, see ``_octal``), or GNU base-256 (first
  byte ``0x80`` positive, ``0xff`` negative). Negative values are accepted
  only for mtime; uid/gid and device numbers must fit 32 bits (a larger uid
  wraps in ``chown``, 2**32 to root). ``(uid_t)-1`` is passed on: what it means
  (``chown`` leaves the owner unchanged) is the applier's business.
* Types: ``0``/``\\0``/``7`` file (``\\0`` with a trailing ``/`` is a directory,
  as in V7), ``1``..``6``. Links, devices, FIFOs and directories carry no
  content whatever their size field says (POSIX; Go and tarfile agree).
  Sparse files (GNU ``S``, PAX ``GNU.sparse.*``, ``SUN.holesdata``), dumpdirs
  ``D``, volume labels ``V``, multi-volume ``M``, old long names ``N``, Solaris
  ``X`` and unknown typeflags are rejected: OCI layers never hold them, and
  reading a sparse map as content would produce the wrong file.
* PAX records: exactly ``"<len> <key>=<value>\\n"`` with ``len`` plain decimal
  (no sign, space or leading zero) equal to the record's length, a non-empty
  NUL-free key, and nothing else in the body. Values are bytes; ``path``,
  ``linkpath``, ``uname`` and ``gname`` must not hold NUL (as in Go).
  ``size``/``uid``/``gid`` are decimal digits, times ``[-]digits[.digits]``.
* Global headers apply to every later entry until overridden, and an empty
  value deletes that global key (POSIX; tarfile applies them too but keeps the
  empty value). Go ignores global headers altogether (``pax_globals=False``
  reads like Go: the records are checked, not applied), so a global ``size``,
  which would move every later header for one reader and not the other, is
  rejected.
* Precedence, per field: a per-entry PAX record, then a GNU long name/link,
  then a global PAX record, then the header block. A per-entry PAX ``path``
  together with a GNU ``L`` (or ``linkpath`` with ``K``) is rejected: Go
  takes the GNU name, tarfile whichever came first. Of several ``x`` headers
  (or ``L``, or ``K``) before one entry the last wins, as in Go — unless an
  earlier one gives a file another ``size`` (tarfile keeps the first of each
  key, so it would skip a different amount of content): rejected; a ``g``
  between an extension header and its entry is rejected.
* The end: two zero blocks, or the stream's end at a header boundary or
  inside the last content's padding; data after the end marker is ignored.
  One zero block followed by a non-zero block is rejected (Go rejects it,
  tarfile stops there, libarchive reads on). An extension header that applies
  to no entry is rejected.
"""

from __future__ import annotations

import base64
import enum
import re
import struct
from dataclasses import dataclass, fields
from urllib.parse import unquote_to_bytes

from .errors import MalformedLayer
from .ops import (
    AufsMetadata,
    Data,
    Device,
    Directory,
    EndOfLayer,
    Entry,
    Event,
    Fifo,
    File,
    Hardlink,
    Opaque,
    Symlink,
    Whiteout,
    Xattr,
    _trusted,
)

__all__ = ["NEED_DATA", "Limits", "Reader", "iter_layer"]

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
#: The largest Data chunk the reader emits.
DATA_CHUNK = 64 * KiB
#: uid_t/gid_t are 32 bits. A larger id would wrap when passed to chown (2**32
#: becomes root); 2**32-1 is (uid_t)-1, "leave unchanged" to chown, passed on for
#: the applier to refuse (testtar.tar's gnu/regtype-gnu-uid has it).
MAX_ID = 2**32 - 1
MAX_DEVICE = 2**32 - 1
MAX_MODE = 0o7777777
INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on what one layer may ask of the reader; exceeding one is a
    :class:`MalformedLayer` whose message names the field to raise.

    The defaults let every layer a real builder produces through, and keep the
    reader's memory around a megabyte whatever the input:

    * ``max_pax_record_size`` (128 KiB): one PAX record, length digits to
      newline; fits a 64 KiB xattr value base64-encoded with a 255-byte name.
    * ``max_extension_bytes`` (1 MiB, Go's cap since CVE-2022-2879): the
      bodies of all PAX ``x`` and GNU ``L``/``K`` headers before one entry; also
      one global ``g`` header, and the global records in force.
    * ``max_name_length`` (64 KiB): a path or link target, in bytes, after
      overrides. Far above ``PATH_MAX`` on purpose: ``ENAMETOOLONG`` is the
      applier's to model.
    * ``max_xattrs`` (1024): xattr records applying to one entry.
    * ``max_xattr_value_size`` (64 KiB, Linux's ``XATTR_SIZE_MAX``): one value,
      decoded.
    * ``max_total_bytes`` (64 GiB): the uncompressed tar stream; the guard
      against decompression bombs, whichever decompressor feeds the reader.
    * ``max_entries`` (4 Mi): members in the layer.
    """

    max_pax_record_size: int = 128 * KiB
    max_extension_bytes: int = 1 * MiB
    max_name_length: int = 64 * KiB
    max_xattrs: int = 1024
    max_xattr_value_size: int = 64 * KiB
    max_total_bytes: int = 64 * GiB
    max_entries: int = 4 * MiB

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name}={value!r}, but it must be a positive int")


class _NeedData:
    __slots__ = ()

    def __repr__(self):
        return "NEED_DATA"


#: Returned by :meth:`Reader.next_event` when it needs more bytes to go on.
NEED_DATA = _NeedData()


class _State(enum.Enum):
    HEADER = "expecting a header block"
    SECOND_ZERO = "after one zero block"
    EXTENSION = "expecting an extension header's body"
    CONTENT = "inside a file's content"
    PADDING = "inside the padding after content"
    DONE = "after the end of the archive"
    ERROR = "after a MalformedLayer"


class _Bad(Exception):
    """A format error found by a helper; the Reader adds index and offset."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _PositionedBad(_Bad):
    """A format error at ``position`` inside a PAX body."""

    def __init__(self, position: int, reason: str):
        super().__init__(reason)
        self.position = position


def _size(n: int) -> str:
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} bytes"


def _padded(n: int) -> int:
    return -n % BLOCK


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstring(field: bytes) -> bytes:
    """A header string field: its bytes up to the first NUL (Go and tarfile)."""
    return field.partition(b"\0")[0]


# -- header blocks ---------------------------------------------------------------------------

_CHECKSUM = slice(148, 156)
_HIGH_BYTES = bytes(range(128, 256))


def _checksum_ok(block: bytes) -> bool:
    """The stored checksum equals the unsigned or the signed sum of the block,
    the checksum field counted as eight spaces (old Sun/HP-UX tars signed)."""
    field = block[_CHECKSUM]
    stored = _octal(field, "checksum")
    unsigned = sum(block) - sum(field) + 8 * 0x20
    if stored == unsigned:
        return True
    rest = block[:148] + block[156:]
    high = len(rest) - len(rest.translate(None, _HIGH_BYTES))
    return stored == unsigned - 256 * high


_OCTAL = re.compile(rb" *([0-7]*)[ \0]*")
_OCTAL_DIGITS = b"01234567"


def _octal(field: bytes, what: str) -> int:
    """Leading spaces, octal digits, then only NULs and spaces; blank is 0.

    Stricter than Go, which also trims leading NULs: a size field of seven NULs
    then ``0016`` and a NUL is 14 to Go and 0 to tarfile and libarchive, which
    stop at the first NUL; a size read two ways moves every later header, so it
    is rejected (libarchive's test_read_format_tar_timestamp_overflow.tar).
    """
    digits = field.rstrip(b" \0").lstrip(b" ")
    if digits and not digits.translate(None, _OCTAL_DIGITS):
        return int(digits, 8)   # the common case, without the regex
    match = _OCTAL.fullmatch(field)
    if not match:
        raise _Bad(f"{what} field {bytes(field)!r} is not an octal number")
    return int(match[1] or b"0", 8)


def _numeric(field: bytes, what: str) -> int:
    """Octal, or GNU base-256: 0x80 then a big-endian value, or 0xff and the
    whole field a two's-complement negative number."""
    first = field[0]
    if first < 0x80:
        return _octal(field, what)
    if first == 0x80:
        return int.from_bytes(field[1:], "big")
    if first == 0xFF:
        return int.from_bytes(field, "big", signed=True)
    raise _Bad(f"{what} field starts with byte {first:#04x}: neither octal nor base-256")


def _ranged(value: int, what: str, maximum: int) -> int:
    if value < 0:
        raise _Bad(f"negative {what} {value}")
    if value > maximum:
        raise _Bad(f"{what} {value} is out of range (at most {maximum})")
    return value


class _Format(enum.Enum):
    V7 = "v7"
    USTAR = "ustar"
    STAR = "star"
    GNU = "gnu"


def _format(block: bytes) -> _Format:
    magic, version = block[257:263], block[263:265]
    if magic == b"ustar\0":   # any version, as Go (moby's broken.tar has " \0")
        return _Format.STAR if block[508:512] == b"tar\0" else _Format.USTAR
    if magic == b"ustar " and version == b" \0":
        return _Format.GNU
    return _Format.V7


_FILE, _DIRECTORY, _HARDLINK, _SYMLINK, _CHR, _BLK, _FIFO = (
    "file", "directory", "hard link", "symbolic link", "character device", "block device",
    "FIFO")
_ENTRY_TYPES = {b"0": _FILE, b"\0": _FILE, b"7": _FILE, b"1": _HARDLINK, b"2": _SYMLINK,
                b"3": _CHR, b"4": _BLK, b"5": _DIRECTORY, b"6": _FIFO}
_EXTENSION_TYPES = {b"x": "PAX extended header", b"g": "PAX global header",
                    b"L": "GNU long name", b"K": "GNU long link name"}
_UNSUPPORTED_TYPES = {b"S": "GNU sparse file", b"D": "GNU dumpdir (incremental archive)",
                      b"V": "GNU volume label", b"M": "GNU multi-volume continuation",
                      b"N": "GNU old-style long name", b"X": "Solaris extended header"}


@dataclass(slots=True)
class _Header:
    """The fields of one entry's header block, before extension overrides."""

    typeflag: bytes
    kind: str
    name: bytes
    linkname: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    uname: bytes
    gname: bytes
    major: int
    minor: int


def _go17_prefix(block: bytes) -> bytes:
    """Go before 1.8 wrote GNU headers with a ustar prefix where GNU keeps atime
    and ctime. Go's reader takes the area as a prefix when those times do not
    parse and it is ASCII (golang/go#12594, #21005); so do we, and so, for any
    magic, does tarfile. moby's broken.tar is a real layer written that way."""
    try:
        for field in (block[345:357], block[357:369]):
            if field[0]:
                _numeric(field, "GNU time")
    except _Bad:
        prefix = _cstring(block[345:500])
        if prefix.isascii():
            return prefix
    return b""


#: The numbers as Go and GNU tar write them, in bytes 100-148 (mode, uid, gid, size,
#: mtime) and 329-345 (devmajor and devminor, or left empty as Go leaves them for other
#: entries): octal digits filling the field but its last byte, a NUL.  Checked in one
#: match each; anything else takes the slow path.
_PLAIN_NUMBERS = re.compile(rb"[0-7]{7}\0[0-7]{7}\0[0-7]{7}\0[0-7]{11}\0[0-7]{11}\0")
_PLAIN_DEVICE = re.compile(rb"\0{16}|[0-7]{7}\0[0-7]{7}\0")


def _plain_ustar(block: bytes) -> bool:
    """A POSIX ustar header (not star) whose numbers are all written plainly."""
    return (block[257:265] == b"ustar\x0000" and block[508:512] != b"tar\0"
            and _PLAIN_NUMBERS.fullmatch(block, 100, 148) is not None
            and _PLAIN_DEVICE.fullmatch(block, 329, 345) is not None)


#: A POSIX ustar header (magic "ustar\\0" version "00"), field by field.
_USTAR = struct.Struct("100s8s8s8s12s12s8x1x100s8s32s32s8s8s155s12x")


def _parse_entry_header(block: bytes, typeflag: bytes) -> _Header:
    """The header's fields (see :func:`_parse_header_slowly`, which decides every case).

    Most layers are written by Go or GNU tar in plain ustar: every number is
    octal digits ended by one NUL.  Those are parsed in one unpack; anything
    else (GNU and star layouts, base-256, spaces, devices) takes the slow path.
    """
    if typeflag not in (b"3", b"4") and _plain_ustar(block):
        (name, mode, uid, gid, size, mtime, linkname, _, uname, gname, _, _,
         prefix) = _USTAR.unpack(block)
        name = _cstring(name)
        prefix = _cstring(prefix)
        if prefix:
            name = prefix + b"/" + name
        return _Header(typeflag, _ENTRY_TYPES[typeflag], name, _cstring(linkname),
                       int(mode[:7], 8), int(uid[:7], 8), int(gid[:7], 8), int(size[:11], 8),
                       int(mtime[:11], 8), _cstring(uname), _cstring(gname), 0, 0)
    return _parse_header_slowly(block, typeflag)


def _parse_header_slowly(block: bytes, typeflag: bytes) -> _Header:
    fmt = _format(block)
    name = _cstring(block[0:100])
    prefix = b""
    if fmt is _Format.USTAR:
        prefix = _cstring(block[345:500])
    elif fmt is _Format.STAR:
        prefix = _cstring(block[345:476])
    elif fmt is _Format.GNU:
        prefix = _go17_prefix(block)
    if prefix:
        name = prefix + b"/" + name
    kind = _ENTRY_TYPES[typeflag]
    major = minor = 0
    if kind in (_CHR, _BLK):
        major = _ranged(_numeric(block[329:337], "devmajor"), "device major", MAX_DEVICE)
        minor = _ranged(_numeric(block[337:345], "devminor"), "device minor", MAX_DEVICE)
    elif fmt is not _Format.V7:
        _numeric(block[329:337], "devmajor")   # Go parses them on every entry
        _numeric(block[337:345], "devminor")
    return _Header(
        typeflag=typeflag,
        kind=kind,
        name=name,
        linkname=_cstring(block[157:257]),
        mode=_ranged(_numeric(block[100:108], "mode"), "mode", MAX_MODE),
        uid=_ranged(_numeric(block[108:116], "uid"), "uid", MAX_ID),
        gid=_ranged(_numeric(block[116:124], "gid"), "gid", MAX_ID),
        size=_ranged(_numeric(block[124:136], "size"), "size", INT64),
        mtime=_numeric(block[136:148], "mtime"),
        uname=b"" if fmt is _Format.V7 else _cstring(block[265:297]),
        gname=b"" if fmt is _Format.V7 else _cstring(block[297:329]),
        major=major,
        minor=minor,
    )


# -- PAX records -----------------------------------------------------------------------------

_DIGITS = re.compile(rb"[0-9]+")
_TIME = re.compile(rb"(-?)([0-9]+)(?:\.([0-9]+))?")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*")
_SCHILY = b"SCHILY.xattr."
_LIBARCHIVE = b"LIBARCHIVE.xattr."
_RHT_SELINUX = b"RHT.security.selinux"
#: Records that become Entry fields rather than ``pax`` pairs.
_FIELD_KEYS = frozenset({b"path", b"linkpath", b"size", b"uid", b"gid", b"uname", b"gname",
                         b"mtime"})


def _pax_int(value: bytes, key: bytes) -> int:
    if not _DIGITS.fullmatch(value):
        raise _Bad(f"PAX {_text(key)} {_text(value)!r} is not a decimal number")
    significant = value.lstrip(b"0") or b"0"
    if len(significant) > 19 or int(significant) > INT64:
        raise _Bad(f"PAX {_text(key)} {_text(value)!r} is out of range")
    return int(significant)


def _pax_time(value: bytes, key: bytes) -> int | float:
    match = _TIME.fullmatch(value)
    if not match:
        raise _Bad(f"PAX {_text(key)} {_text(value)!r} is not a time ([-]seconds[.fraction])")
    sign, seconds, fraction = match.groups()
    seconds = seconds.lstrip(b"0") or b"0"
    if len(seconds) > 19 or int(seconds) > INT64:
        raise _Bad(f"PAX {_text(key)} {_text(value)!r} is out of range")
    if fraction is None:
        return -int(seconds) if sign else int(seconds)
    return float(_text(value))


def _base64(value: bytes) -> bytes:
    """Standard alphabet, padding optional (libarchive writes none)."""
    body = value.rstrip(b"=")
    padding = len(value) - len(body)
    if (not _BASE64.fullmatch(body) or len(body) % 4 == 1 or padding > 2
            or (padding and len(value) % 4)):
        raise _Bad(f"LIBARCHIVE.xattr value {_text(value[:40])!r} is not base64")
    return base64.b64decode(body + b"=" * (-len(body) % 4))


@dataclass(frozen=True, slots=True)
class _Record:
    """One interpreted PAX record: ``text`` is the value decoded like a path;
    ``parsed`` is an int/float for numeric keys, an :class:`Xattr` for xattr
    keys, else the text."""

    text: str
    parsed: object


def _interpret(key: bytes, value: bytes, limits: Limits) -> _Record:
    parsed: object
    if key in (b"path", b"linkpath", b"uname", b"gname"):
        if b"\0" in value:
            raise _Bad(f"PAX {_text(key)} holds a NUL byte")
        parsed = _text(value)
    elif key in (b"size", b"uid", b"gid"):
        parsed = _pax_int(value, key)
        if key != b"size" and parsed > MAX_ID:
            raise _Bad(f"PAX {_text(key)} {parsed} is out of range (at most {MAX_ID})")
    elif key in (b"mtime", b"atime", b"ctime"):
        parsed = _pax_time(value, key)
    elif key.startswith(b"GNU.sparse.") or key == b"SUN.holesdata":
        raise _Bad(f"unsupported: sparse file (PAX record {_text(key)})")
    elif key.startswith(_SCHILY):
        parsed = Xattr(_text(key[len(_SCHILY):]), value, "SCHILY")
    elif key.startswith(_LIBARCHIVE):
        name = unquote_to_bytes(key[len(_LIBARCHIVE):])
        if b"\0" in name:
            raise _Bad(f"PAX {_text(key)} names an xattr with a NUL byte")
        parsed = Xattr(_text(name), _base64(value), "LIBARCHIVE")
    elif key == _RHT_SELINUX:
        parsed = Xattr("security.selinux", value, "RHT")
    else:
        parsed = _text(value)
    if isinstance(parsed, Xattr) and len(parsed.value) > limits.max_xattr_value_size:
        raise _Bad(f"xattr {parsed.name!r} value of {len(parsed.value)} bytes exceeds the "
                   f"{_size(limits.max_xattr_value_size)} limit (Limits.max_xattr_value_size)")
    return _Record(_text(value), parsed)


def _pax_records(body: bytes, limits: Limits):
    """Yield ``(position, key, value)`` for each record of a PAX body, checking
    the grammar strictly; _Bad carries the failing record's position."""
    pos, end_of_body = 0, len(body)
    while pos < end_of_body:
        space = body.find(b" ", pos, min(end_of_body, pos + 21))
        digits = body[pos:space] if space > pos else b""
        if not digits.isdigit() or digits.startswith(b"0"):
            shown = body[pos:pos + 20]
            raise _PositionedBad(pos, f"PAX record does not start with a decimal length "
                                      f"(no sign, space or leading zero): {shown!r}")
        length = int(digits)
        if length > limits.max_pax_record_size:
            raise _PositionedBad(pos, f"PAX record length {length} exceeds the "
                                      f"{_size(limits.max_pax_record_size)} limit "
                                      f"(Limits.max_pax_record_size)")
        end = pos + length
        if end > end_of_body:
            raise _PositionedBad(pos, f"PAX record length {length} runs past the end of the "
                                      f"header ({end_of_body - pos} bytes left)")
        if body[end - 1] != 0x0A:
            raise _PositionedBad(pos, f"PAX record of length {length} does not end with a "
                                      f"newline")
        key, equals, value = body[space + 1:end - 1].partition(b"=")
        if not equals:
            raise _PositionedBad(pos, "PAX record has no '=' between keyword and value")
        if not key:
            raise _PositionedBad(pos, "PAX record has an empty keyword")
        if b"\0" in key:
            raise _PositionedBad(pos, f"PAX keyword {_text(key)!r} holds a NUL byte")
        yield pos, key, value
        pos = end


# -- the state machine -----------------------------------------------------------------------

class Reader:
    """Turns the bytes of one uncompressed tar layer into :mod:`~fsmodel.layer.ops`.

    h11 style: :meth:`feed` bytes as they arrive (any chunk sizes, one byte
    at a time included), call :meth:`feed_eof` at the end, and call
    :meth:`next_event` until it returns :data:`NEED_DATA` (feed more) or
    :class:`~fsmodel.layer.ops.EndOfLayer`. Events for the same bytes are the
    same whatever the chunking, except that :class:`Data` chunks may be split
    differently. Malformed input raises :class:`MalformedLayer` from
    :meth:`next_event` (then again on every later call).
    """

    def __init__(self, limits: Limits = Limits(), *, pax_globals: bool = True):
        if not isinstance(limits, Limits):
            raise TypeError(f"limits={limits!r}, but it must be a Limits")
        self._limits = limits
        #: apply PAX global records (POSIX, GNU tar, libarchive) or only check them (Go)
        self._apply_globals = bool(pax_globals)
        #: did the layer hold a PAX global header?
        self.saw_global = False
        self._buf = bytearray()
        self._pos = 0                 # first unconsumed byte of _buf
        self._offset = 0              # stream offset of _buf[_pos]
        self._eof = False
        self._state = _State.HEADER
        self._error: MalformedLayer | None = None
        self._index = 0               # index of the next entry
        self._globals: dict[bytes, _Record] = {}
        self._reset_pending()
        self._extension: tuple[bytes, int, int] = (b"", 0, 0)   # typeflag, size, offset
        self._content_index = 0
        self._content_offset = 0
        self._content_emit = False
        self._remaining = 0
        self._padding = 0

    # -- public surface ----------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet consumed: what the reader holds in memory."""
        return len(self._buf) - self._pos

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed so far."""
        return self._offset

    def feed(self, data: bytes) -> None:
        """Append bytes of the tar stream. Bytes fed after the end of the archive
        (or after an error) are dropped: trailing data is ignored."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data={data!r:.60}, but it must be bytes")
        if self._eof:
            raise RuntimeError("feed() after feed_eof(): the stream has already ended")
        if self._state in (_State.DONE, _State.ERROR):
            return
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def feed_eof(self) -> None:
        """Declare the end of the stream; a shortfall is then a truncated archive."""
        self._eof = True

    def next_event(self) -> Event | _NeedData:
        """The next event, or :data:`NEED_DATA` if more bytes must be fed first;
        :class:`EndOfLayer` again on every call after the end.

        Raises :class:`MalformedLayer` (and the same again on every later call)
        when the bytes are not an archive this reader accepts."""
        if self._state is _State.ERROR:
            raise self._error.with_traceback(None)
        try:
            return self._next()
        except MalformedLayer as exc:
            self._state = _State.ERROR
            self._error = exc
            self._buf = bytearray()
            self._pos = 0
            raise

    # -- buffer ------------------------------------------------------------------------------

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int) -> bytes:
        start = self._pos
        self._pos += n
        self._offset += n
        with memoryview(self._buf) as view:   # one copy, and the view is gone at once
            chunk = view[start:self._pos].tobytes()
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        return chunk

    def _skip(self, n: int) -> None:
        """Consume ``n`` bytes nobody reads (padding) without copying them."""
        self._pos += n
        self._offset += n
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0

    def _fail(self, offset: int, reason: str) -> MalformedLayer:
        return MalformedLayer(self._index, offset, reason)

    # -- states ------------------------------------------------------------------------------

    def _next(self) -> Event | _NeedData:
        while True:
            state = self._state
            if state is _State.DONE:
                return EndOfLayer()
            if state is _State.CONTENT:
                event = self._content()
                if event is not None:
                    return event
                continue
            if state is _State.PADDING:
                need = self._padding
                if self._available() < need:
                    if not self._eof:
                        return NEED_DATA
                    need = self._available()   # the end inside the last padding is the end
                self._skip(need)
                self._state = _State.HEADER
                continue
            if state is _State.EXTENSION:
                typeflag, size, offset = self._extension
                if self._available() < size + _padded(size):
                    if not self._eof:
                        return NEED_DATA
                    raise self._fail(offset, f"the stream ends inside a "
                                             f"{_EXTENSION_TYPES[typeflag]} (body of {size} "
                                             f"bytes and {_padded(size)} of padding "
                                             f"declared, {self._available()} bytes present)")
                body = self._take(size)
                self._skip(_padded(size))
                self._state = _State.HEADER
                self._on_extension(typeflag, body, offset)
                continue
            # HEADER or SECOND_ZERO: a block
            available = self._available()
            if available < BLOCK:
                if not self._eof:
                    return NEED_DATA
                if available == 0 or (state is _State.SECOND_ZERO
                                      and not self._buf[self._pos:].strip(b"\0")):
                    return self._end()
                raise self._fail(self._offset, f"the stream ends inside a header block "
                                               f"({available} of {BLOCK} bytes)")
            offset = self._offset
            if offset + BLOCK > self._limits.max_total_bytes:
                raise self._fail(offset, f"the layer exceeds the "
                                         f"{_size(self._limits.max_total_bytes)} limit "
                                         f"(Limits.max_total_bytes)")
            block = self._take(BLOCK)
            if state is _State.SECOND_ZERO:
                if block == ZERO_BLOCK:
                    return self._end()
                raise self._fail(offset, "a single zero block is followed by a header: "
                                         "readers disagree on whether the archive ended there")
            if block == ZERO_BLOCK:
                self._state = _State.SECOND_ZERO
                continue
            event = self._on_header(block, offset)
            if event is not None:
                return event

    def _content(self) -> Data | None:
        if self._remaining == 0:
            self._state = _State.PADDING
            return None
        available = self._available()
        if available == 0:
            if not self._eof:
                return NEED_DATA
            raise MalformedLayer(self._content_index, self._content_offset,
                                 f"the stream ends inside the entry's content "
                                 f"({self._remaining} bytes missing)")
        n = min(available, self._remaining, DATA_CHUNK)
        self._remaining -= n
        chunk = self._take(n)
        return Data(self._content_index, chunk) if self._content_emit else None

    def _end(self) -> EndOfLayer:
        if self._pending_offset is not None:
            raise self._fail(self._pending_offset, "the archive ends after an extension header "
                                                   "that applies to no entry")
        self._state = _State.DONE
        self._buf = bytearray()
        self._pos = 0
        return EndOfLayer()

    # -- headers -----------------------------------------------------------------------------

    def _reset_pending(self) -> None:
        self._pending_offset: int | None = None   # first extension header of the entry
        self._pending_bytes = 0
        self._local: dict[bytes, _Record] | None = None
        self._first_size: int | None = None   # the first 'x' size record (tarfile's)
        self._long_name: bytes | None = None
        self._long_link: bytes | None = None

    def _on_header(self, block: bytes, offset: int) -> Entry | None:
        try:
            if not _checksum_ok(block):
                raise _Bad("header checksum does not match (not a tar header, or corrupted)")
            typeflag = block[156:157]
            if typeflag in _EXTENSION_TYPES:
                self._start_extension(typeflag, block, offset)
                return None
            if typeflag in _UNSUPPORTED_TYPES:
                raise _Bad(f"unsupported: {_UNSUPPORTED_TYPES[typeflag]} "
                           f"(typeflag {typeflag.decode('latin-1')!r})")
            if typeflag not in _ENTRY_TYPES:
                raise _Bad(f"unknown typeflag {typeflag!r}")
            if self._index >= self._limits.max_entries:
                raise _Bad(f"more than {self._limits.max_entries} entries "
                           f"(Limits.max_entries)")
            header = _parse_entry_header(block, typeflag)
            op, size = self._entry(header, offset)
            if offset + BLOCK + size + _padded(size) > self._limits.max_total_bytes:
                raise _Bad(f"entry declares {size} bytes of content: the layer would exceed "
                           f"the {_size(self._limits.max_total_bytes)} limit "
                           f"(Limits.max_total_bytes)")
        except _Bad as exc:
            raise self._fail(offset, exc.reason) from None
        self._index += 1
        self._reset_pending()
        if size:
            self._state = _State.CONTENT
            self._content_index = op.index
            self._content_offset = offset
            self._content_emit = isinstance(op, File)
            self._remaining = size
            self._padding = _padded(size)
        return op

    def _start_extension(self, typeflag: bytes, block: bytes, offset: int) -> None:
        # Go's readHeader parses every numeric field of every header, an extension's
        # too, and ends the archive with ErrHeader on one that does not parse
        # (tarfile stops there): unused here, the fields must still be numbers.
        if _plain_ustar(block):
            size = int(block[124:135], 8)
        else:
            size = _ranged(_numeric(block[124:136], "size"), "size", INT64)
            for field, what in ((block[100:108], "mode"), (block[108:116], "uid"),
                                (block[116:124], "gid"), (block[136:148], "mtime")):
                _numeric(field, what)
            if _format(block) is not _Format.V7:
                _numeric(block[329:337], "devmajor")
                _numeric(block[337:345], "devminor")
        limit = self._limits.max_extension_bytes
        if typeflag == b"g":
            if self._pending_offset is not None:
                raise _Bad("a PAX global header between an extension header and its entry")
            if size > limit:
                raise _Bad(f"PAX global header of {size} bytes exceeds the {_size(limit)} "
                           f"limit (Limits.max_extension_bytes)")
        else:
            if self._pending_bytes + size > limit:
                raise _Bad(f"{_EXTENSION_TYPES[typeflag]} of {size} bytes brings the entry's "
                           f"extension headers over the {_size(limit)} limit "
                           f"(Limits.max_extension_bytes)")
            self._pending_bytes += size
            if self._pending_offset is None:
                self._pending_offset = offset
        if offset + BLOCK + size + _padded(size) > self._limits.max_total_bytes:
            raise _Bad(f"{_EXTENSION_TYPES[typeflag]} of {size} bytes: the layer would exceed "
                       f"the {_size(self._limits.max_total_bytes)} limit "
                       f"(Limits.max_total_bytes)")
        self._extension = (typeflag, size, offset)
        self._state = _State.EXTENSION

    def _on_extension(self, typeflag: bytes, body: bytes, offset: int) -> None:
        if typeflag in (b"L", b"K"):
            name = _cstring(body)
            if not name:
                raise self._fail(offset, f"{_EXTENSION_TYPES[typeflag]} is empty")
            if typeflag == b"L":
                self._long_name = name
            else:
                self._long_link = name
            return
        records = self._parse_pax(body, offset + BLOCK, is_global=typeflag == b"g")
        if typeflag == b"x":
            if self._first_size is None and b"size" in records:
                self._first_size = records[b"size"].parsed
            self._local = records   # the last 'x' before an entry wins, as in Go
            return
        self.saw_global = True
        if not self._apply_globals:
            return
        for key, record in records.items():
            if record is None:
                self._globals.pop(key, None)
            else:
                self._globals[key] = record
        total = sum(len(key) + len(record.text) for key, record in self._globals.items())
        if total > self._limits.max_extension_bytes:
            raise self._fail(offset, f"global PAX records in force exceed the "
                                     f"{_size(self._limits.max_extension_bytes)} limit "
                                     f"(Limits.max_extension_bytes)")

    def _parse_pax(self, body: bytes, base: int, is_global: bool) -> dict[bytes, _Record | None]:
        """Records of one PAX body by key (a later duplicate replaces an earlier
        one); in a global header an empty value maps to None: delete."""
        records: dict[bytes, _Record | None] = {}
        position = 0
        try:
            for position, key, value in _pax_records(body, self._limits):
                if is_global and key == b"size":
                    raise _Bad("a PAX global header sets size: Go ignores global headers, "
                               "so readers would disagree on where every later entry starts")
                if is_global and not value:
                    records[key] = None
                else:
                    records[key] = _interpret(key, value, self._limits)
        except _PositionedBad as exc:
            raise self._fail(base + exc.position, exc.reason) from None
        except _Bad as exc:
            raise self._fail(base + position, exc.reason) from None
        return records

    def _plain_entry(self, header: _Header, offset: int) -> tuple[Entry, int]:
        """:meth:`_entry` for a header no extension record applies to (most of them)."""
        path = _text(header.name)
        target = _text(header.linkname)
        kind = header.kind
        if kind == _FILE and header.typeflag == b"\0" and path.endswith("/"):
            kind = _DIRECTORY
        size = header.size if kind == _FILE else 0
        common = {"index": self._index, "offset": offset, "path": path,
                  "mode": header.mode & 0o7777, "uid": header.uid, "gid": header.gid,
                  "uname": _text(header.uname), "gname": _text(header.gname),
                  "mtime": header.mtime, "xattrs": (), "pax": ()}
        return self._typed(common, kind, path, target, header, size)

    def _entry(self, header: _Header, offset: int) -> tuple[Entry, int]:
        """The op for an entry header with its extension headers applied, and the
        number of content bytes that follow it."""
        if (self._local is None and not self._globals and self._long_name is None
                and self._long_link is None
                and max(len(header.name), len(header.linkname)) <= self._limits.max_name_length):
            return self._plain_entry(header, offset)
        local = self._local or {}
        merged = {**self._globals, **local}

        def override(key: bytes, long: bytes | None, raw: bytes, what: str) -> str:
            value = _text(raw)
            if key in self._globals:
                value = self._globals[key].parsed
            if long is not None:
                if key in local:
                    raise _Bad(f"both a GNU {what} and a PAX {_text(key)} record apply: "
                               f"readers disagree on which wins")
                value = _text(long)
            if key in local:
                value = local[key].parsed
            if len(value.encode("utf-8", "surrogateescape")) > self._limits.max_name_length:
                raise _Bad(f"{_text(key)} longer than {self._limits.max_name_length} bytes "
                           f"(Limits.max_name_length)")
            return value

        path = override(b"path", self._long_name, header.name, "long name")
        target = override(b"linkpath", self._long_link, header.linkname, "long link name")

        def field(key: bytes, default):
            return merged[key].parsed if key in merged else default

        xattrs = tuple(r.parsed for r in merged.values() if isinstance(r.parsed, Xattr))
        if len(xattrs) > self._limits.max_xattrs:
            raise _Bad(f"{len(xattrs)} xattrs on one entry exceed the limit of "
                       f"{self._limits.max_xattrs} (Limits.max_xattrs)")
        common = {
            "index": self._index,
            "offset": offset,
            "path": path,
            "mode": header.mode & 0o7777,
            "uid": field(b"uid", header.uid),
            "gid": field(b"gid", header.gid),
            "uname": field(b"uname", _text(header.uname)),
            "gname": field(b"gname", _text(header.gname)),
            "mtime": field(b"mtime", header.mtime),
            "xattrs": xattrs,
            "pax": tuple((_text(key), r.text) for key, r in merged.items()
                         if key not in _FIELD_KEYS and not isinstance(r.parsed, Xattr)),
        }
        kind = header.kind
        if kind == _FILE and header.typeflag == b"\0":
            # V7 spelled directories as files named "dir/". Go decides by the name
            # the extension headers give, tarfile by the header's own name; when
            # they differ and the file has content, one of them reads that content
            # as the next header.
            if path.endswith("/") != header.name.endswith(b"/") and field(b"size",
                                                                         header.size):
                raise _Bad(f"typeflag NUL with the name {_text(header.name)!r} in the header "
                           f"and {path!r} from its extension headers: one names a directory, "
                           f"one a file with content, so readers would disagree on where "
                           f"the next entry starts")
            if path.endswith("/"):
                kind = _DIRECTORY
        size = field(b"size", header.size) if kind == _FILE else 0
        if kind == _FILE and self._first_size is not None and self._first_size != size:
            # tarfile lets the first of several 'x' headers win each key, Go the last
            # header whole: they would skip different amounts of content.
            raise _Bad(f"several PAX extended headers give the entry {self._first_size} and "
                       f"{size} bytes: readers disagree on which wins, so on where the next "
                       f"entry starts")
        return self._typed(common, kind, path, target, header, size)

    @staticmethod
    def _typed(common: dict, kind: str, path: str, target: str, header: _Header,
               size: int) -> tuple[Entry, int]:
        stripped = path.rstrip("/")
        directory, _, base = stripped.rpartition("/")
        if base == ".wh..wh..opq":
            return _trusted(Opaque, **{**common, "path": directory}), size
        if base.startswith(".wh..wh."):
            return _trusted(AufsMetadata, **common), size
        if base.startswith(".wh."):
            return _trusted(Whiteout, **common, target=base[4:]), size
        if kind == _FILE:
            return _trusted(File, **common, size=size), size
        if kind == _DIRECTORY:
            return _trusted(Directory, **common), 0
        if kind == _SYMLINK:
            return _trusted(Symlink, **common, target=target), 0
        if kind == _HARDLINK:
            return _trusted(Hardlink, **common, target=target), 0
        if kind == _FIFO:
            return _trusted(Fifo, **common), 0
        return _trusted(Device, **common, kind="chr" if kind == _CHR else "blk",
                        major=header.major, minor=header.minor), 0


# -- convenience -----------------------------------------------------------------------------

def _chunks(source, chunk_size: int):
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for start in range(0, len(view), chunk_size):
            yield view[start:start + chunk_size]
        return
    if hasattr(source, "read"):
        while True:
            chunk = source.read(chunk_size)
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(f"{source!r}.read() returned {chunk!r:.60}, not bytes "
                                f"(a text-mode or non-blocking file?)")
            if not chunk:
                return
            yield chunk
        return
    for chunk in source:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"the source yielded {chunk!r:.60}, but chunks must be bytes")
        yield chunk


def iter_layer(source, chunk_size: int = 65536, limits: Limits = Limits(), *,
               pax_globals: bool = True):
    """Yield the events of the layer in ``source``, ending with EndOfLayer.

    ``source`` is the uncompressed tar stream as ``bytes`` (fed in
    ``chunk_size`` slices), a binary file object (read ``chunk_size`` bytes at
    a time) or an iterable of byte chunks. Reading stops at the end of the
    archive: trailing data is neither read nor checked. Malformed input raises
    :class:`MalformedLayer`; errors of the source itself (``OSError``, a
    decompressor's error) pass through unchanged.
    """
    if isinstance(source, str) or not (
            isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read")
            or hasattr(source, "__iter__")):
        raise TypeError(f"source={source!r:.60}, but it must be bytes, a binary file "
                        f"object or an iterable of bytes")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r}, but it must be a positive int")
    return _events(Reader(limits, pax_globals=pax_globals), _chunks(source, chunk_size))


def _events(reader: Reader, chunks):
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next_event()) is not NEED_DATA:
            yield event
            if isinstance(event, EndOfLayer):
                return
    reader.feed_eof()
    while True:
        event = reader.next_event()
        yield event
        if isinstance(event, EndOfLayer):
            return
