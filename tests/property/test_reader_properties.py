"""Properties of the layer reader over random archives.

1. What tarfile writes, the reader reads as tarfile reads it back: names, types,
   sizes, link targets, modes, ids, times, xattr records and content.
2. Chunking does not matter: whole, byte by byte or in random pieces, the same
   events (Data re-joined) and the same MalformedLayer.
3. Whatever the bytes (valid archives mutated, random headers with good
   checksums, random binary): events, or MalformedLayer, never anything else.
4. Memory stays bounded: a 50 MB file streams through with the reader holding
   less than a block once it has emitted what it was fed.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tracemalloc

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from fsmodel.fuzzing.harnesses import read_layer
from fsmodel.layer import NEED_DATA, Data, EndOfLayer, Limits, MalformedLayer, Reader
from tests.unit.test_reader import reader_view, tarfile_view

BLOCK = 512
FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
DEFAULTS = Limits()


# -- archives written by tarfile ---------------------------------------------------------------

def _segment(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# Path components: printable or any Unicode, or arbitrary bytes (non-UTF-8 names
# arrive as surrogate escapes); never '/', NUL, or a whiteout basename (those are
# classified by name, which tarfile does not do).
SEGMENTS = st.one_of(
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            min_size=1, max_size=12),
    st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b)
    .map(_segment),
).filter(lambda s: not s.startswith(".wh."))


def names(fmt: str):
    # ustar holds 100 bytes of name (+155 of prefix at a '/'); GNU and PAX any length.
    most = 3 if fmt == "ustar" else 25
    return st.lists(SEGMENTS, min_size=1, max_size=most).map("/".join)


KINDS = {"file": tarfile.REGTYPE, "contiguous": tarfile.CONTTYPE, "dir": tarfile.DIRTYPE,
         "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
         "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


@st.composite
def mtimes(draw, fmt: str):
    if fmt == "ustar":
        return draw(st.integers(0, 8**11 - 1))
    whole = draw(st.integers(-(2**40), 2**40))
    if fmt == "pax" and draw(st.booleans()):
        # A fractional PAX time; k/1024 prints without an exponent.
        return whole + draw(st.integers(1, 1023)) / 1024
    return whole


XATTR_NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                    blacklist_characters="="), min_size=1, max_size=20)


@st.composite
def members(draw, fmt: str):
    kind = draw(st.sampled_from(sorted(KINDS)))
    info = tarfile.TarInfo(draw(names(fmt)))
    info.type = KINDS[kind]
    info.mode = draw(st.integers(0, 0o7777))
    biggest_id = 8**7 - 1 if fmt == "ustar" else 2**32 - 1
    info.uid = draw(st.integers(0, biggest_id))
    info.gid = draw(st.integers(0, biggest_id))
    # No NUL: a PAX uname holding one is rejected, as by Go (tarfile truncates).
    info.uname = draw(st.text(st.characters(blacklist_characters="\x00"), max_size=10))
    info.gname = draw(st.text(st.characters(blacklist_characters="\x00"), max_size=10))
    info.mtime = draw(mtimes(fmt))
    data = b""
    if kind in ("file", "contiguous"):
        data = draw(st.binary(max_size=1500))
        info.size = len(data)
    elif kind in ("symlink", "hardlink"):
        info.linkname = draw(names(fmt))
    elif kind in ("chr", "blk"):
        info.devmajor = draw(st.integers(0, 4095))
        info.devminor = draw(st.integers(0, 2**20 - 1))
    if fmt == "pax":
        xattrs = draw(st.dictionaries(XATTR_NAMES, st.binary(max_size=40), max_size=3))
        info.pax_headers = {f"SCHILY.xattr.user.{k}": _segment(v) for k, v in xattrs.items()}
    return info, data


@st.composite
def archives(draw, formats=tuple(FORMATS)):
    fmt = draw(st.sampled_from(formats))
    global_headers = None
    if fmt == "pax" and draw(st.booleans()):
        # Non-empty values, and at least one member: an empty global value deletes
        # the record (POSIX) where tarfile keeps '', and tarfile cannot read an
        # archive holding only a global header (see test_reader.py).
        global_headers = {"comment": draw(st.text(min_size=1, max_size=20)),
                          "SCHILY.xattr.user.global": draw(st.text(min_size=1, max_size=5))}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=FORMATS[fmt],
                      pax_headers=global_headers) as tf:
        for info, data in draw(st.lists(members(fmt), min_size=bool(global_headers),
                                        max_size=6)):
            try:
                tf.addfile(info, io.BytesIO(data))
            except ValueError:   # a name or number this format cannot hold
                reject()
    return buf.getvalue()


@settings(max_examples=150, **SETTINGS)
@given(archives())
def test_reads_what_tarfile_writes_as_tarfile_reads_it(data):
    events = run(data)
    assert events[-1] == EndOfLayer()
    assert reader_view(events) == tarfile_view(data)


# -- chunking ----------------------------------------------------------------------------------

def run(data: bytes, sizes: list[int] | None = None, limits: Limits = DEFAULTS):
    """Feed ``data`` in pieces of ``sizes`` (cycled; whole if None), draining the
    reader after each; the events with Data re-joined, raising MalformedLayer."""
    events, error = read_layer(data, sizes, limits=limits)
    if error is not None:
        raise MalformedLayer(*error)
    return events


CHUNKINGS = st.one_of(st.just([1]), st.lists(st.integers(1, 1100), min_size=1, max_size=8))


@settings(max_examples=150, **SETTINGS)
@given(archives(), CHUNKINGS)
def test_chunking_does_not_change_the_events(data, sizes):
    assert run(data, sizes) == run(data)


# -- arbitrary bytes ---------------------------------------------------------------------------

def fix_checksums(data: bytearray) -> None:
    """Give every block that looks like a ustar header a correct checksum, so that
    mutations get past the checksum to the fields behind it."""
    for start in range(0, len(data) - BLOCK + 1, BLOCK):
        block = data[start:start + BLOCK]
        if block[257:262] == b"ustar":
            block[148:156] = b" " * 8
            data[start + 148:start + 156] = b"%06o\0 " % sum(block)


@st.composite
def mutated(draw):
    data = bytearray(draw(archives()))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "flip", "insert", "delete", "truncate"]))
        if action == "set":
            data[where] = draw(st.sampled_from([0, 0x20, 0x30, 0x37, 0x38, 0x0A, 0x3D, 0x80,
                                                0xFF, draw(st.integers(0, 255))]))
        elif action == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=600))
        elif action == "delete":
            del data[where:where + draw(st.integers(1, 600))]
        else:
            del data[where:]
    if draw(st.booleans()):
        fix_checksums(data)
    return bytes(data)


@st.composite
def random_headers(draw):
    """Blocks of random bytes with the ustar magic and a correct checksum, then
    random bytes: deep into the header parser without a valid archive."""
    data = bytearray()
    for _ in range(draw(st.integers(1, 4))):
        block = bytearray(draw(st.binary(min_size=BLOCK, max_size=BLOCK)))
        block[156:157] = draw(st.sampled_from(list(b"0\x001234567xgLKSDV") + [0xFF])) \
            .to_bytes(1, "big")
        block[257:263] = draw(st.sampled_from([b"ustar\0", b"ustar ", block[257:263]]))
        data += block + draw(st.binary(max_size=700))
    fix_checksums(data)
    return bytes(data)


@settings(max_examples=400, **SETTINGS)
@given(st.one_of(mutated(), random_headers(), st.binary(max_size=3000)), CHUNKINGS,
       st.sampled_from([Limits(), Limits(max_pax_record_size=64, max_extension_bytes=700,
                                         max_name_length=90, max_xattrs=1,
                                         max_xattr_value_size=8, max_total_bytes=5000,
                                         max_entries=3)]))
def test_any_bytes_give_events_or_malformed_layer(data, sizes, limits):
    try:
        whole = run(data, limits=limits)
    except MalformedLayer as exc:
        assert isinstance(exc.index, int) and 0 <= exc.offset <= len(data)
        assert str(exc).startswith(f"entry {exc.index} at byte {exc.offset}: ")
        whole = exc
    try:
        pieces = run(data, sizes, limits=limits)
    except MalformedLayer as exc:
        pieces = exc
    if isinstance(whole, MalformedLayer):
        assert isinstance(pieces, MalformedLayer)
        assert (pieces.index, pieces.offset, pieces.reason) == (whole.index, whole.offset,
                                                                 whole.reason)
    else:
        assert pieces == whole
        assert whole[-1] == EndOfLayer()


# -- memory ------------------------------------------------------------------------------------

def _stream_big_file(size: int, chunk_size: int):
    """The layer bytes of one ``size``-byte file, produced lazily in chunks."""
    info = tarfile.TarInfo("big")
    info.size = size
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    pattern = bytes(range(256)) * (chunk_size // 256 + 1)
    left = size
    while left:
        n = min(left, chunk_size)
        yield pattern[:n]
        left -= n
    yield bytes(-size % BLOCK) + bytes(2 * BLOCK)


def _expected_digest(size: int, chunk_size: int) -> str:
    digest = hashlib.sha256()
    pattern = bytes(range(256)) * (chunk_size // 256 + 1)
    left = size
    while left:
        n = min(left, chunk_size)
        digest.update(pattern[:n])
        left -= n
    return digest.hexdigest()


def stream(size: int, chunk_size: int, sizes: list[int] | None = None):
    """Feed the big file in pieces; return (largest ``buffered`` after draining,
    largest ``buffered`` right after a feed, content digest, Data chunk sizes)."""
    reader = Reader()
    digest = hashlib.sha256()
    after_drain = after_feed = 0
    chunk_lengths = set()
    pending = b""
    step = 0
    for piece in _stream_big_file(size, chunk_size):
        pending += piece
        while pending:
            n = len(pending) if not sizes else sizes[step % len(sizes)]
            step += 1
            reader.feed(pending[:n])
            pending = pending[n:]
            after_feed = max(after_feed, reader.buffered)
            while (event := reader.next_event()) is not NEED_DATA:
                if isinstance(event, Data):
                    digest.update(event.chunk)
                    chunk_lengths.add(len(event.chunk))
                if isinstance(event, EndOfLayer):
                    return after_drain, after_feed, digest.hexdigest(), chunk_lengths
            after_drain = max(after_drain, reader.buffered)
    raise AssertionError("no EndOfLayer")


def test_fifty_megabytes_stream_in_bounded_memory():
    size, chunk = 50 * 10**6, 64 * 1024
    tracemalloc.start()
    try:
        after_drain, after_feed, digest, lengths = stream(size, chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == _expected_digest(size, chunk)
    assert after_drain < BLOCK
    assert after_feed <= chunk + 2 * BLOCK
    assert max(lengths) <= 64 * 1024
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte file"


@settings(max_examples=25, **SETTINGS)
@given(st.integers(0, 300_000), st.lists(st.integers(1, 70_000), min_size=1, max_size=5))
def test_buffered_stays_below_a_block_whatever_the_pieces(size, sizes):
    after_drain, _, digest, _ = stream(size, 4096, sizes)
    assert digest == _expected_digest(size, 4096)
    assert after_drain < BLOCK
