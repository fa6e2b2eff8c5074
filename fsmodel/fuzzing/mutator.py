"""A tar-aware custom mutator and crossover for libFuzzer (atheris).

Byte-level mutation mostly breaks a tar archive's framing (checksums, octal fields, PAX
length prefixes), so the reader rejects the input in its first header.  This mutator
parses the input into members, changes one member-level thing, and writes the archive
back with valid checksums and sizes, so that the fuzzer spends its time past the header
parser, in the applier and the kernel model.  About 20% of the calls (and every input
that does not parse) get plain byte mutation instead, so that malformed headers keep
being explored.

Theory of operation
-------------------
:func:`parse` is lenient on purpose and keeps what it does not understand: a member is
its raw 512-byte header block (every odd field — GNU times, base-256 numbers, star
prefixes, junk typeflags — survives untouched) and its payload, as long as the entry's
last ``x`` header's size record says (else, or if that does not parse, the header's); the bytes after the end
of the archive are the ``trailer`` (the ``layer`` target reads its policy selector from
the last byte).  PAX bodies are split into ``(key, value)`` records on demand.  It
fails (:class:`ParseError`) only where it cannot tell where the next header starts.

:func:`serialise` writes each header with the size of its payload (kept as written when
it already says so) and a recomputed checksum, then two zero blocks and the trailer.
Only members whose type carries content (``0``, ``\\0``, ``7``, ``x``, ``g``, ``L``,
``K`` and unknown typeflags, as Go and tarfile read them) are followed by a payload.

:func:`mutate` picks one of the member-level mutations below (sometimes two or three)
with a ``random.Random(seed)``, so that libFuzzer can replay it; the structured branch
uses no other source of randomness.  :func:`crossover` splices the member lists of two
archives at entry boundaries (an extension header stays with its entry).  Both keep
the result within the size libFuzzer allows, falling back to byte-level work.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

__all__ = [
    "BLOCK",
    "DICTIONARY",
    "Member",
    "ParseError",
    "Tar",
    "crossover",
    "header",
    "mutate",
    "parse",
    "pax_body",
    "pax_member",
    "pax_record",
    "pax_records",
    "serialise",
    "xattr_record",
]

BLOCK = 512
ZERO = bytes(BLOCK)
STRUCTURED_SHARE = 0.8

#: typeflags after which no content follows (POSIX; Go and tarfile agree)
HEADER_ONLY = frozenset(b"123456")
#: extension headers: they describe the member that follows
EXTENSIONS = frozenset(b"xLK")
TYPEFLAGS = b"0\x00123456 7xgLKSDVMNX"

#: xattr names the kernel treats specially (namespaces, bare prefixes, the 255-byte limit)
XATTR_NAMES = (
    b"user.rpm.origin", b"user.ok", b"user.overlay.impure", b"user.overlay.opaque", b"user.",
    b"user", b"trusted.overlay.opaque", b"trusted.overlay.redirect", b"trusted.",
    b"security.capability", b"security.selinux", b"security.ima", b"security.",
    b"system.posix_acl_access", b"system.posix_acl_default", b"system.nfs4_acl",
    b"system.foo", b"btrfs.compression", b"foo.bar", b"",
    b"user." + b"n" * 250, b"user." + b"n" * 251, b"trusted." + b"m" * 248,
)
CAP_V2 = (b"\x01\x00\x00\x02" + (1 << 13).to_bytes(4, "little") + bytes(12))
CAP_V3 = (b"\x01\x00\x00\x03" + (1 << 13).to_bytes(4, "little") + bytes(16))
ACL_MIN = (b"\x02\x00\x00\x00" + b"\x01\x00\x07\x00\xff\xff\xff\xff"
           + b"\x04\x00\x05\x00\xff\xff\xff\xff" + b"\x20\x00\x00\x00\xff\xff\xff\xff")
XATTR_VALUES = (b"", b"y", b"krb5-libs", b"1", CAP_V2, CAP_V3, CAP_V3[:-1], ACL_MIN,
                ACL_MIN[:-2], b"\x00", b"x" * 255, b"system_u:object_r:bin_t:s0", b"zstd")

#: names aimed at the applier: traversal, absolute, whiteouts, the lower layer's paths
NAMES = (
    b"a", b"a/keep", b"a/gone", b"b/x", b"b/sub/y", b"c/", b"d/", b"d/f", b"lnk", b"lnk/x",
    b"../x", b"../../outside", b"a/../../x", b"./../x", b"/etc/passwd", b"//etc/x", b"./",
    b".", b"", b"/", b"a//b/", b"a/./b", b"dev/null", b".wh.a", b"a/.wh.gone",
    b"b/.wh..wh..opq", b".wh..wh..opq", b".wh..wh..plnk", b".wh..wh..plnk/1.2", b".wh.",
    b".wh..", b".wh...", b"x" * 100, b"y" * 101, b"z/" * 60 + b"deep",
    "é/ü".encode(), b"\xff\xfe",
)
LINKS = (b"../", b"..", b"/", b"/etc/passwd", b"../../outside", b"a/keep", b"a", b"lnk",
         b"missing", b"", b"/rootfs", b"b/sub", b".")

PAX_KEYS = (b"path", b"linkpath", b"uid", b"gid", b"uname", b"gname", b"mtime", b"atime",
            b"size", b"comment", b"hdrcharset", b"GNU.sparse.major", b"SCHILY.acl.access",
            b"RHT.security.selinux")
PAX_VALUES = (b"", b"0", b"1000", b"4294967295", b"4294967296", b"-1", b"1.5", b"a/b",
              b"../x", b"/abs", b"BINARY", b"99999999999999999999", b"y" * 300)

#: raw values of an 8-byte number field (mode, uid, gid, devmajor, devminor)
NUMBERS8 = (b"0000000\x00", b"0000755\x00", b"0007777\x00", b"0004755\x00", b"7777777\x00",
            b"0177777\x00", b"       \x00", b"\x00" * 8, b"0000000 ", b" 000001 ",
            b"\x80" + (2**21).to_bytes(7, "big"), b"\x80" + (2**32 - 1).to_bytes(7, "big"),
            b"\x80" + (2**32).to_bytes(7, "big"), b"\x80" + bytes(7), b"\xff" * 8,
            b"\x80" + b"\xff" * 7, b"0000008\x00", b"\x00\x00\x00\x00\x00\x001\x00")
NUMBERS12 = (b"00000000000\x00", b"14242540600\x00", b"77777777777\x00", b"\x80" + bytes(11),
             b"\xff" * 12, b"\x80" + (2**40).to_bytes(11, "big"), b"           \x00")

#: libFuzzer dictionary tokens for tar inputs (written to fuzz/*.dict by make_seeds.py)
DICTIONARY = tuple(dict.fromkeys((
    b"ustar\x0000", b"ustar  \x00", b"tar\x00", b"././@LongLink", b"PaxHeader/",
    b" path=", b" linkpath=", b" size=", b" uid=", b" gid=", b" mtime=", b" uname=",
    b" hdrcharset=BINARY", b"SCHILY.xattr.", b"LIBARCHIVE.xattr.", b"RHT.security.selinux",
    b"GNU.sparse.", b"SCHILY.acl.access",
    b"security.capability", b"security.selinux", b"trusted.overlay.opaque",
    b"user.overlay.impure", b"system.posix_acl_access", b"system.posix_acl_default",
    b"user.", b"trusted.", b"../", b"/etc/", b".wh.", b".wh..wh..opq", b".wh..wh..plnk",
    b"0000644\x00", b"0000755\x00", b"0007777\x00", b"\x80\x00\x00\x00\xff\xff\xff\xff",
    b"\xff\xff\xff\xff\xff\xff\xff\xff", b"00000000000\x00",
)))


class ParseError(ValueError):
    """The bytes are not framed as a tar archive this mutator can edit."""


@dataclass
class Member:
    """One archive member: its raw header block and the payload that follows it."""

    header: bytearray
    payload: bytes = b""

    @property
    def typeflag(self) -> int:
        return self.header[156]

    @property
    def name(self) -> bytes:
        return _cstring(self.header[0:100])

    @property
    def linkname(self) -> bytes:
        return _cstring(self.header[157:257])

    def copy(self) -> Member:
        return Member(bytearray(self.header), self.payload)


@dataclass
class Tar:
    """A parsed archive: members in order, then what followed the end marker."""

    members: list[Member] = field(default_factory=list)
    trailer: bytes = b""


def _cstring(raw) -> bytes:
    raw = bytes(raw)
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _number(raw: bytes) -> int | None:
    """An octal or base-256 number field, read leniently; None if it is neither."""
    if raw and raw[0] == 0x80:
        return int.from_bytes(raw[1:], "big")
    if raw and raw[0] == 0xFF:
        return int.from_bytes(raw, "big", signed=True)
    digits = _cstring(raw).strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        return None


def carries_content(typeflag: int) -> bool:
    return typeflag not in HEADER_ONLY


def parse(data: bytes) -> Tar:
    """Members and trailer of ``data`` (see the module docstring): framed as Go and the
    reader frame it (an ``x`` header's size record sets its entry's content), or, when
    that does not parse (a lying size), by the header blocks' sizes alone."""
    try:
        return _parse(data, True)
    except ParseError:
        return _parse(data, False)


def _parse(data: bytes, pax_sizes: bool) -> Tar:
    tar = Tar()
    pos = 0
    pax_size = None   # a 'size' record of the entry's 'x' header (the last one, as Go)
    while pos + BLOCK <= len(data):
        block = data[pos:pos + BLOCK]
        if block == ZERO:
            end = pos + BLOCK
            if data[end:end + BLOCK] == ZERO:
                end += BLOCK
            tar.trailer = data[end:]
            return tar
        pos += BLOCK
        payload = b""
        extension = block[156] in EXTENSIONS
        if carries_content(block[156]):
            size = _number(block[124:136])
            if pax_sizes and not extension and pax_size is not None:
                size = pax_size
            if size is None or size < 0 or size > len(data) - pos:
                raise ParseError(f"member at {pos - BLOCK} has an unreadable or too large size")
            payload = data[pos:pos + size]
            pos += size + (-size % BLOCK)
        if block[156] == ord("x"):
            sizes = [v for k, v in pax_records(payload) or [] if k == b"size"]
            pax_size = int(sizes[-1]) if sizes and sizes[-1].isdigit() else None
        elif not extension:
            pax_size = None
        tar.members.append(Member(bytearray(block), payload))
    tar.trailer = data[pos:] if pos < len(data) else b""
    if tar.trailer:
        raise ParseError("the data ends inside a header block")
    return tar


def checksum(block) -> bytes:
    """The ``chksum`` field for ``block``: the unsigned sum with the field as spaces."""
    total = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    return b"%06o\x00 " % total


def _size_field(size: int) -> bytes:
    if size < 8**11:
        return b"%011o\x00" % size
    return b"\x80" + size.to_bytes(11, "big")


def serialise(tar: Tar) -> bytes:
    """The archive's bytes: every header with its payload's size and a valid checksum."""
    out = bytearray()
    for member in tar.members:
        block = bytearray(member.header)
        payload = member.payload if carries_content(block[156]) else b""
        if carries_content(block[156]) and _number(bytes(block[124:136])) != len(payload):
            block[124:136] = _size_field(len(payload))
        block[148:156] = checksum(block)
        out += block
        out += payload
        out += bytes(-len(payload) % BLOCK)
    out += ZERO + ZERO
    out += tar.trailer
    return bytes(out)


def header(name: bytes = b"", typeflag: bytes = b"0", *, linkname: bytes = b"",
           mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 1654041600,
           major: int = 0, minor: int = 0, magic: bytes = b"ustar\x0000",
           prefix: bytes = b"") -> bytearray:
    """A ustar header block (checksum left to :func:`serialise`); names are cut to fit."""
    block = bytearray(BLOCK)
    block[0:100] = name[:100].ljust(100, b"\0")
    block[100:108] = b"%07o\x00" % mode
    block[108:116] = b"%07o\x00" % uid
    block[116:124] = b"%07o\x00" % gid
    block[124:136] = b"%011o\x00" % 0
    block[136:148] = b"%011o\x00" % mtime
    block[156:157] = typeflag
    block[157:257] = linkname[:100].ljust(100, b"\0")
    block[257:265] = magic
    block[329:337] = b"%07o\x00" % major
    block[337:345] = b"%07o\x00" % minor
    block[345:500] = prefix[:155].ljust(155, b"\0")
    return block


def pax_records(body: bytes) -> list[tuple[bytes, bytes]] | None:
    """The ``(key, value)`` records of a PAX body; None if it breaks the grammar."""
    records = []
    pos = 0
    while pos < len(body):
        space = body.find(b" ", pos, pos + 21)
        if space < 0 or not body[pos:space].isdigit():
            return None
        length = int(body[pos:space])
        end = pos + length
        if length <= space - pos or end > len(body) or body[end - 1] != 0x0A:
            return None
        key, equals, value = body[space + 1:end - 1].partition(b"=")
        if not equals:
            return None
        records.append((key, value))
        pos = end
    return records


def pax_record(key: bytes, value: bytes) -> bytes:
    """``"%d %s=%s\\n"`` with the length that counts its own digits."""
    rest = len(key) + len(value) + 3   # space, '=', newline
    length = rest + 1
    while length != rest + len(str(length)):
        length = rest + len(str(length))
    return b"%d %s=%s\n" % (length, key, value)


def pax_body(records) -> bytes:
    return b"".join(pax_record(k, v) for k, v in records)


def pax_member(records, typeflag: bytes = b"x", name: bytes = b"PaxHeader/x") -> Member:
    return Member(header(name, typeflag), pax_body(records))


def xattr_record(name: bytes, value: bytes, encoding: str = "SCHILY") -> tuple[bytes, bytes]:
    if encoding == "LIBARCHIVE":
        return (b"LIBARCHIVE.xattr." + quote_from_bytes(name, safe="").encode(),
                base64.b64encode(value).rstrip(b"="))
    if encoding == "RHT":
        return (b"RHT.security.selinux", value)
    return (b"SCHILY.xattr." + name, value)


# -- mutations ---------------------------------------------------------------------------------

def _small_bytes(rng: random.Random, raw: bytes, limit: int) -> bytes:
    """A deterministic byte-level change of a short field (name, value)."""
    data = bytearray(raw)
    action = rng.randrange(6)
    if action == 0 and data:
        data[rng.randrange(len(data))] = rng.choice(b"\x00/.\\ =\n\xff0a")
    elif action == 1:
        where = rng.randint(0, len(data))
        data[where:where] = rng.choice(DICTIONARY)
    elif action == 2 and data:
        start = rng.randrange(len(data))
        del data[start:start + rng.randint(1, 8)]
    elif action == 3 and data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif action == 4:
        data += rng.choice((b"/", b"/.", b"/..", b"/x", b"\x00", bytes([rng.randrange(256)])))
    else:
        where = rng.randint(0, len(data))
        data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(data[:limit])


def _entries(tar: Tar) -> list[int]:
    """Indexes of members that are entries (not extension or global headers)."""
    return [i for i, m in enumerate(tar.members) if m.typeflag not in EXTENSIONS
            and m.typeflag != ord("g")]


def _names(tar: Tar) -> list[bytes]:
    return [tar.members[i].name for i in _entries(tar)] or [b"a"]


def _pick_entry(rng: random.Random, tar: Tar) -> int | None:
    entries = _entries(tar)
    return rng.choice(entries) if entries else None


def _pax_before(tar: Tar, i: int, create: bool = True) -> Member | None:
    """The PAX 'x' member right before entry ``i`` (inserted when ``create``)."""
    j = i - 1
    while j >= 0 and tar.members[j].typeflag in EXTENSIONS:
        if tar.members[j].typeflag == ord("x"):
            return tar.members[j]
        j -= 1
    if not create:
        return None
    member = pax_member([])
    tar.members.insert(i, member)
    return member


def _set_records(member: Member, records) -> None:
    member.payload = pax_body(records)


def _some_name(rng: random.Random, tar: Tar) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return rng.choice(_names(tar))
    if choice == 1:
        base = rng.choice(_names(tar)).rstrip(b"/")
        directory, _, last = base.rpartition(b"/")
        marker = rng.choice((b".wh." + last, b".wh..wh..opq", b".wh." + last + b"/"))
        return directory + b"/" + marker if directory else marker
    if choice == 2:
        return _small_bytes(rng, rng.choice(_names(tar)), 300)
    return rng.choice(NAMES)


def _set_name(rng: random.Random, tar: Tar, i: int, name: bytes) -> None:
    member = tar.members[i]
    if len(name) <= 100 and rng.random() < 0.8:
        member.header[0:100] = name.ljust(100, b"\0")
        return
    how = rng.randrange(3)
    if how == 0 and b"/" in name[-101:] and bytes(member.header[257:263]) == b"ustar\x00":
        cut = name.rfind(b"/", 0, len(name) - 1)
        if 0 < cut and len(name) - cut - 1 <= 100:
            member.header[0:100] = name[cut + 1:].ljust(100, b"\0")
            member.header[345:500] = name[:cut][:155].ljust(155, b"\0")
            return
    if how == 1:
        tar.members.insert(i, Member(header(b"././@LongLink", b"L"), name + b"\0"))
        member.header[0:100] = name[:100].ljust(100, b"\0")
        return
    pax = _pax_before(tar, i)
    records = [r for r in (pax_records(pax.payload) or []) if r[0] != b"path"]
    _set_records(pax, records + [(b"path", name)])


def _mutate_name(rng, tar):
    i = _pick_entry(rng, tar)
    if i is not None:
        _set_name(rng, tar, i, _some_name(rng, tar))


def _mutate_typeflag(rng, tar):
    if not tar.members:
        return
    member = tar.members[rng.randrange(len(tar.members))]
    member.header[156] = rng.choice(TYPEFLAGS) if rng.random() < 0.9 else rng.randrange(256)
    if not carries_content(member.header[156]):
        member.payload = b""


def _mutate_pax(rng, tar):
    i = _pick_entry(rng, tar)
    if i is None:
        return
    pax = _pax_before(tar, i)
    records = pax_records(pax.payload)
    if records is None:
        pax.payload = _small_bytes(rng, pax.payload, 4096)
        return
    action = rng.randrange(6)
    if action <= 1 or not records:
        if rng.random() < 0.7:
            encoding = rng.choice(("SCHILY", "SCHILY", "SCHILY", "LIBARCHIVE", "RHT"))
            records.append(xattr_record(rng.choice(XATTR_NAMES), rng.choice(XATTR_VALUES),
                                        encoding))
        else:
            records.append((rng.choice(PAX_KEYS), rng.choice(PAX_VALUES)))
    elif action == 2:
        del records[rng.randrange(len(records))]
    elif action == 3:
        k = rng.randrange(len(records))
        key, value = records[k]
        records[k] = (key, _small_bytes(rng, value, 512) if rng.random() < 0.5
                      else rng.choice(XATTR_VALUES + PAX_VALUES))
    elif action == 4:
        k = rng.randrange(len(records))
        key, value = records[k]
        if key.startswith(b"SCHILY.xattr.") and rng.random() < 0.6:
            key = b"SCHILY.xattr." + rng.choice(XATTR_NAMES)
        else:
            key = _small_bytes(rng, key, 300)
        records[k] = (key, value)
    else:
        records.append(rng.choice(records))   # a duplicate key
    _set_records(pax, records)


def _mutate_global(rng, tar):
    records = [xattr_record(rng.choice(XATTR_NAMES), rng.choice(XATTR_VALUES))
               if rng.random() < 0.6 else (rng.choice(PAX_KEYS), rng.choice(PAX_VALUES))
               for _ in range(rng.randint(1, 3))]
    where = rng.choice([i for i in range(len(tar.members) + 1)
                        if i == 0 or tar.members[i - 1].typeflag not in EXTENSIONS])
    tar.members.insert(where, pax_member(records, b"g", b"pax_global_header"))


def _mutate_linkname(rng, tar):
    i = _pick_entry(rng, tar)
    if i is None:
        return
    member = tar.members[i]
    choice = rng.randrange(4)
    if choice == 0:
        link = member.name
    elif choice == 1:
        link = rng.choice(_names(tar))
    else:
        link = rng.choice(LINKS)
    if rng.random() < 0.5:
        member.header[156] = rng.choice(b"12")
        member.payload = b""
    if len(link) <= 100:
        member.header[157:257] = link.ljust(100, b"\0")
    elif rng.random() < 0.5:
        tar.members.insert(i, Member(header(b"././@LongLink", b"K"), link + b"\0"))
    else:
        pax = _pax_before(tar, i)
        _set_records(pax, (pax_records(pax.payload) or []) + [(b"linkpath", link)])


_NUMBER_FIELDS = ((100, 108), (108, 116), (116, 124), (329, 337), (337, 345), (136, 148))


def _mutate_number(rng, tar):
    if not tar.members:
        return
    member = tar.members[rng.randrange(len(tar.members))]
    start, end = rng.choice(_NUMBER_FIELDS)
    member.header[start:end] = rng.choice(NUMBERS8 if end - start == 8 else NUMBERS12)


def _mutate_payload(rng, tar):
    files = [m for m in tar.members if carries_content(m.typeflag)]
    if not files:
        return
    member = rng.choice(files)
    if rng.random() < 0.3:
        member.payload = rng.choice((b"", b"x", b"\x00" * 600, b"hello\n", CAP_V2))
    else:
        member.payload = _small_bytes(rng, member.payload, 8192)


def _new_entry(rng, tar) -> list[Member]:
    kind = rng.randrange(9)
    name = _some_name(rng, tar)
    if kind == 0:
        return [Member(header(name.rstrip(b"/") + b"/", b"5", mode=0o755))]
    if kind == 1:
        return [Member(header(name, b"2", linkname=rng.choice(LINKS + (name,))))]
    if kind == 2:
        return [Member(header(name, b"1", linkname=rng.choice(_names(tar))))]
    if kind == 3:
        return [Member(header(name, rng.choice((b"3", b"4")), major=rng.choice((0, 1, 7)),
                              minor=rng.choice((3, 5, 0))))]
    if kind == 4:
        return [Member(header(name, b"6"))]
    if kind == 5:
        directory = rng.choice(_names(tar)).rstrip(b"/").rpartition(b"/")[0]
        return [Member(header(directory + b"/.wh..wh..opq" if directory else b".wh..wh..opq"))]
    if kind == 6:
        records = [xattr_record(rng.choice(XATTR_NAMES), rng.choice(XATTR_VALUES))]
        link = rng.choice((b"2", b"0", b"5", b"3", b"6"))
        return [pax_member(records), Member(header(name, link, linkname=b"/etc/x"),
                                            b"" if link != b"0" else b"data")]
    if kind == 7:
        long = b"long/" * 25 + name
        return [Member(header(b"././@LongLink", b"L"), long + b"\0"),
                Member(header(long[:100]), b"content")]
    return [Member(header(name), b"content\n")]


def _mutate_structure(rng, tar):
    members = tar.members
    boundaries = [i for i in range(len(members) + 1)
                  if i == 0 or members[i - 1].typeflag not in EXTENSIONS]
    groups = [members[a:b] for a, b in zip(boundaries, boundaries[1:])]
    action = rng.randrange(5)
    if action == 0 or not groups:
        groups.insert(rng.randint(0, len(groups)), _new_entry(rng, tar))
    elif action == 1:
        del groups[rng.randrange(len(groups))]
    elif action == 2:
        group = rng.choice(groups)
        groups.insert(rng.randint(0, len(groups)), [m.copy() for m in group])
    elif action == 3:
        a, b = rng.randrange(len(groups)), rng.randrange(len(groups))
        groups[a], groups[b] = groups[b], groups[a]
    else:
        group = groups.pop(rng.randrange(len(groups)))
        groups.insert(rng.randint(0, len(groups)), group)
    tar.members = [m for g in groups for m in g]


def _mutate_selector(rng, tar):
    """The byte after the end marker: the ``layer`` target's policy and host selector."""
    tar.trailer = bytes([rng.randrange(256)])


MUTATIONS = (
    (_mutate_name, 4), (_mutate_typeflag, 2), (_mutate_pax, 6), (_mutate_global, 1),
    (_mutate_linkname, 3), (_mutate_number, 2), (_mutate_payload, 2), (_mutate_structure, 4),
    (_mutate_selector, 1),
)
_WEIGHTED = [fn for fn, weight in MUTATIONS for _ in range(weight)]


def mutate_structured(data: bytes, max_size: int, rng: random.Random) -> bytes | None:
    """One to three member-level mutations of ``data``; None if it does not parse or the
    result would exceed ``max_size``."""
    try:
        tar = parse(data)
    except ParseError:
        return None
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        rng.choice(_WEIGHTED)(rng, tar)
    out = serialise(tar)
    return out if len(out) <= max_size else None


def _atheris_mutate(data: bytes, max_size: int) -> bytes:
    import atheris

    return atheris.Mutate(data, max_size)


def mutate(data: bytes, max_size: int, seed: int, *, byte_mutator=None) -> bytes:
    """libFuzzer's custom mutator: structured most of the time, else byte-level.

    ``byte_mutator(data, max_size)`` defaults to ``atheris.Mutate`` (libFuzzer's own);
    tests inject another. The result never exceeds ``max_size``.
    """
    rng = random.Random(seed)
    out = None
    if rng.random() < STRUCTURED_SHARE:
        out = mutate_structured(data, max_size, rng)
    if out is None:
        out = (byte_mutator or _atheris_mutate)(data, max_size)
    return bytes(out[:max_size])


def crossover(data1: bytes, data2: bytes, max_out_size: int, seed: int) -> bytes:
    """libFuzzer's custom crossover: entries of ``data1`` up to a point, then entries of
    ``data2`` from a point (extension headers stay with their entry); a raw splice if
    either does not parse. Never longer than ``max_out_size``."""
    rng = random.Random(seed)
    try:
        a, b = parse(data1), parse(data2)
    except ParseError:
        a = b = None
    if a is not None:
        def cuts(tar):
            return [i for i in range(len(tar.members) + 1)
                    if i == 0 or tar.members[i - 1].typeflag not in EXTENSIONS]

        i, j = rng.choice(cuts(a)), rng.choice(cuts(b))
        members = [m.copy() for m in a.members[:i] + b.members[j:]]
        tar = Tar(members, a.trailer)
        out = serialise(tar)
        while len(out) > max_out_size and tar.members:
            cut = cuts(tar)[-2] if len(cuts(tar)) > 1 else 0
            tar.members = tar.members[:cut]
            out = serialise(tar)
        if len(out) <= max_out_size:
            return out
    i, j = rng.randint(0, len(data1)), rng.randint(0, len(data2))
    return (data1[:i] + data2[j:])[:max_out_size]
