"""Container images: a source path in, its layers out as verified tar streams.

House rules
-----------
* Everything that decides what a source *is* and which bytes are its layers
  lives here: format detection, JSON shapes, blob paths, digests, sizes,
  decompression. What the layers' entries mean is the layer reader's and the
  applier's business (:mod:`fsmodel.layer.reader`, :mod:`fsmodel.layer.apply`).
* The image is attacker data. Every problem with it raises
  :class:`MalformedImage` with one line naming the file or blob at fault; no
  other exception type comes out for any input (``KeyError``, ``TypeError``,
  ``zlib.error``… are all turned into it). A *missing* source is the caller's
  problem: ``FileNotFoundError``.
* Nothing is followed that the image could point elsewhere: blob paths are
  relative, without ``..``, and resolve to a regular file, in a directory
  one component at a time without following any symlink, in a tar archive to
  a regular member whose parent paths are not links either.
* Memory stays bounded whatever the blob sizes: blobs pass through in
  64 KiB chunks, a decompressor never returns more than 64 KiB at once, JSON
  documents are capped at 4 MiB, and ``max_total_bytes`` stops a layer that
  inflates without end.

Theory of operation
-------------------
:func:`open_image` looks at the source once: a directory is an image layout
(``manifest.json`` → ``docker save``; ``oci-layout`` + ``index.json`` → OCI);
a file is sniffed by its magic bytes (:data:`_MAGIC`): compressed → a single
layer; an uncompressed tar is indexed with :mod:`tarfile` (headers only, the
file is seekable) and is an image if it holds those same names, a single layer
otherwise, as is anything tarfile cannot read (the layer reader judges it).

Then it reads the small documents (manifests, configs, index), checks their
shapes and digests, and checks each layer blob up front: its path, that it is
a regular file, its declared size, and its magic bytes. So an image that
cannot be applied whole fails before its first layer is applied, except for
what needs every byte: a blob's digest, its DiffID and its compressed data,
which :class:`LayerStream` checks as the bytes pass and at their end.

Identities (image-spec ``config.md``): a blob's *digest* hashes the blob as
stored, possibly compressed; the config's ``rootfs.diff_ids[i]`` (the
*DiffID*) hashes layer ``i``'s uncompressed tar. A ``docker save`` legacy
archive declares no blob digests; its ``blobs/<alg>/<hex>`` form (Docker 25+)
and OCI layouts do, by path and descriptor.
"""

from __future__ import annotations

import bz2
import errno
import hashlib
import json
import lzma
import os
import platform
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

import zstandard

__all__ = ["Image", "LayerBlob", "LayerStream", "MalformedImage", "open_image",
           "sniff_compression"]

KiB, MiB, GiB = 2**10, 2**20, 2**30

#: Bytes read from a blob, and at most returned by a decompressor, at a time.
CHUNK = 64 * KiB
#: Largest manifest.json, index.json, oci-layout, manifest or config accepted.
MAX_JSON_BYTES = 4 * MiB
#: Members indexed in an image archive (a docker save tar has a few per layer).
MAX_ARCHIVE_MEMBERS = 64 * KiB
#: One PAX or GNU long-name header body, as the layer reader's Limits allow.
MAX_EXTENSION_BYTES = 1 * MiB
#: Image indexes nested in index.json, deepest allowed.
MAX_INDEX_DEPTH = 8
#: Memory the xz decoder may take (xz -9 needs 65 MiB).
XZ_MEMLIMIT = 256 * MiB


class MalformedImage(Exception):
    """The image source is not an image this reader accepts, or its bytes do not
    match what it declares.

    Raised by :func:`open_image` for the structure (JSON documents and their
    shapes, blob paths, missing or non-regular blobs, declared sizes, layer
    counts, digest syntax) and by :class:`LayerStream` for what needs every
    byte: a blob's digest and size, a layer's DiffID, compressed data that is
    truncated or corrupt, and more uncompressed bytes than ``max_total_bytes``.

    Whose fault: the image's, never the caller's: it is damaged, truncated,
    hostile, or in a shape this reader does not know. Do not use the layers
    already applied from it. If only ``max_total_bytes`` is in the way and the
    image is trusted, open it again with a larger limit.

    ``str(exc)`` is one line naming the document or blob, then what is wrong:
    ``"blob sha256:ab12…: digest mismatch (got sha256:…)"``.
    """


# --- magic bytes -----------------------------------------------------------------

#: (prefix, compression), first match wins. bzip2 is "BZh", a block size digit,
#: then a block or end-of-stream magic: "BZh" alone would also claim a plain tar
#: whose first entry is named "BZh…". Zstd includes skippable frames (RFC 8878).
_MAGIC = (
    (re.compile(rb"\x1f\x8b\x08", re.S), "gzip"),
    (re.compile(rb"\x28\xb5\x2f\xfd", re.S), "zstd"),
    (re.compile(rb"[\x50-\x5f]\x2a\x4d\x18", re.S), "zstd"),
    (re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)", re.S), "bzip2"),
    (re.compile(rb"\xfd7zXZ\x00", re.S), "xz"),
)
_SNIFF_BYTES = 10


def sniff_compression(head: bytes) -> str:
    """The compression of a stream that starts with ``head``, by magic bytes:
    ``"gzip"``, ``"zstd"``, ``"bzip2"``, ``"xz"``, or ``"none"`` for anything
    else (a plain tar, or bytes no decompressor claims). Give it the first 10
    bytes; fewer can only match the shorter magics."""
    head = bytes(head[:_SNIFF_BYTES])
    for pattern, name in _MAGIC:
        if pattern.match(head):
            return name
    return "none"


# --- media types -------------------------------------------------------------------

_INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
_MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
_CONFIG_TYPES = frozenset({
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
})
#: Layer media types and the compression each announces. Only announces: the
#: magic bytes choose the decompressor, a disagreement becomes an Image note.
_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}
_REF_NAME = "org.opencontainers.image.ref.name"

#: ``platform.machine()`` → the GOARCH names image platforms use.
_ARCHITECTURES = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "i386": "386", "i686": "386", "armv7l": "arm", "armv6l": "arm",
}


def _host_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine)


# --- the public values -----------------------------------------------------------------

@dataclass(frozen=True)
class LayerBlob:
    """One layer of an :class:`Image`, as declared and as checked by
    :func:`open_image` (its blob exists, is a regular file, has the declared
    size). :meth:`open` it for its uncompressed bytes."""

    index: int
    """0 for the bottom layer."""
    name: str
    """The member or blob path inside the image, or the file's path for a plain layer."""
    digest: str | None
    """The blob's digest as declared (``"sha256:…"``), hashing the blob as stored."""
    diff_id: str | None
    """The DiffID the image's config declares; None for a plain layer."""
    media_type: str | None
    """The descriptor's media type (OCI layouts only)."""
    compression: str
    """``"none"``, ``"gzip"``, ``"zstd"``, ``"bzip2"`` or ``"xz"``, from the magic bytes."""
    size: int | None
    """The blob's size as declared (OCI layouts only)."""
    _container: object = field(default=None, repr=False, compare=False)
    _max_total_bytes: int = field(default=64 * GiB, repr=False, compare=False)

    def open(self, *, diff_id: bool = True) -> LayerStream:
        """A new stream of this layer's uncompressed tar bytes, from the start.

        ``diff_id=False`` skips computing the DiffID when nothing declares one to
        verify (a plain layer): ``finish()`` then returns None."""
        if self._container is None:
            raise ValueError("this LayerBlob belongs to no open Image")
        raw, _ = self._container.open(self.name, f"layer {self.index}")
        return LayerStream(self, raw, self._max_total_bytes,
                           diff_id=diff_id or self.diff_id is not None)


@dataclass(frozen=True)
class Image:
    """An opened image source: its layers bottom to top, and what was chosen.

    Holds the source open (an archive's file, a directory's descriptor) until
    :meth:`close`; use it as a context manager.
    """

    source: str
    kind: str
    """``"layer"``, ``"docker-save"``, ``"docker-save-oci"`` (Docker 25+) or ``"oci-layout"``."""
    layers: tuple[LayerBlob, ...]
    ref: str | None
    """The first RepoTag, or the index's ``org.opencontainers.image.ref.name``."""
    manifest_digest: str | None = None
    """The image manifest chosen from an OCI index."""
    notes: tuple[str, ...] = ()
    """What was chosen or tolerated: the manifest taken among several, a media
    type that disagrees with the magic bytes. One line each; none is an error."""
    _container: object = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- LayerStream -----------------------------------------------------------------------------

class LayerStream:
    """A layer's uncompressed tar bytes, checked as they pass.

    Iterate for ``bytes`` chunks of at most 64 KiB. Reaching the end verifies
    the blob's size and digest and the DiffID, so a consumer that reads
    everything gets a :class:`MalformedImage` from the iteration itself.
    :meth:`finish` drains what was not read, verifies, and returns the computed
    DiffID; call it after a consumer that may stop early (a tar reader stops at
    the end-of-archive marker). Use as a context manager; leaving closes the
    blob without verifying.
    """

    def __init__(self, blob: LayerBlob, raw: BinaryIO, max_total_bytes: int, *,
                 diff_id: bool = True):
        self._blob = blob
        self._label = f"layer {blob.index} ({blob.name})"
        self._raw = _BlobReader(raw, blob, self._label)
        self._decoder = _decoder(blob.compression, self._raw)
        self._diff = hashlib.new(_algorithm(blob.diff_id)) if diff_id else None
        self._total = 0
        self._limit = max_total_bytes
        self._result: str | None = None
        self._error: MalformedImage | None = None
        self._closed = False

    @property
    def diff_id(self) -> str | None:
        """The computed DiffID, once the stream has been read to its end and verified."""
        return self._result

    def __iter__(self) -> LayerStream:
        return self

    def __next__(self) -> bytes:
        if self._result is not None:
            raise StopIteration
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError("I/O operation on a closed LayerStream")
        try:
            chunk = self._read()
            if not chunk:
                self._verify()
        except MalformedImage as exc:
            self._error = exc
            self._raw.close()
            raise
        if not chunk:
            raise StopIteration
        return chunk

    def finish(self) -> str:
        """Read what is left, verify, and return the computed DiffID (in the
        declared DiffID's algorithm, else sha256). Idempotent: later calls
        return the same value, or raise the same error."""
        for _ in self:
            pass
        return self._result or None

    def close(self) -> None:
        self._closed = True
        self._raw.close()

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self) -> bytes:
        try:
            chunk = self._decoder.read()
        except _DECODE_ERRORS as exc:
            if self._raw.io_error is not None:
                raise self._raw.io_error from None
            self._blob_first(f"{self._label}: corrupt or truncated "
                             f"{self._blob.compression} data ({_one_line(exc)})")
        self._total += len(chunk)
        if self._total > self._limit:
            self._blob_first(f"{self._label}: more than max_total_bytes={self._limit} "
                             f"bytes uncompressed")
        if self._diff is not None:
            self._diff.update(chunk)
        return chunk

    def _blob_first(self, message: str):
        """Raise ``message``, unless the blob's own digest or size is wrong:
        then that is the cause, and what is raised."""
        if self._blob.digest is not None or self._blob.size is not None:
            self._raw.drain()
            self._raw.verify()
        raise MalformedImage(message)

    def _verify(self) -> None:
        self._raw.drain()
        self._raw.verify()
        if self._diff is None:
            self._result = ""          # read and verified; no DiffID computed
            self._raw.close()
            return
        computed = f"{self._diff.name}:{self._diff.hexdigest()}"
        if self._blob.diff_id is not None and computed != self._blob.diff_id:
            raise MalformedImage(f"{self._label}: DiffID mismatch (config says "
                                 f"{self._blob.diff_id}, got {computed})")
        self._result = computed
        self._raw.close()


def _algorithm(digest: str | None) -> str:
    return digest.split(":", 1)[0] if digest else "sha256"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _BlobReader:
    """The blob's bytes as stored: counted, hashed, held to the declared size.

    Remembers an ``OSError`` of the underlying file, so that a decompressor's
    ``OSError`` about the *data* is not confused with one about the disk."""

    def __init__(self, raw: BinaryIO, blob: LayerBlob, label: str):
        self._raw = raw
        self._blob = blob
        self._label = f"blob {blob.digest}" if blob.digest else label
        self._hash = hashlib.new(_algorithm(blob.digest)) if blob.digest else None
        self.count = 0
        self.tap: Callable[[bytes], None] | None = None
        self.io_error: OSError | None = None

    def read(self, size: int = CHUNK) -> bytes:
        try:
            data = self._raw.read(min(size, CHUNK) if size and size > 0 else CHUNK)
        except tarfile.TarError as exc:
            raise MalformedImage(f"{self._label}: {_one_line(exc)}") from None
        except OSError as exc:
            self.io_error = exc
            raise
        self.count += len(data)
        if self._blob.size is not None and self.count > self._blob.size:
            raise MalformedImage(f"{self._label}: size mismatch (declared {self._blob.size}, "
                                 f"the blob is longer)")
        if self._hash is not None:
            self._hash.update(data)
        if self.tap is not None:
            self.tap(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass

    def verify(self) -> None:
        if self._blob.size is not None and self.count != self._blob.size:
            raise MalformedImage(f"{self._label}: size mismatch (declared {self._blob.size}, "
                                 f"got {self.count})")
        if self._hash is not None:
            got = f"{self._hash.name}:{self._hash.hexdigest()}"
            if got != self._blob.digest:
                raise MalformedImage(f"{self._label}: digest mismatch (got {got})")

    def close(self) -> None:
        self._raw.close()


# --- decompressors ------------------------------------------------------------------------------

_DECODE_ERRORS = (zlib.error, lzma.LZMAError, zstandard.ZstdError, OSError, EOFError)


class _Plain:
    def __init__(self, raw: _BlobReader):
        self._raw = raw

    def read(self) -> bytes:
        return self._raw.read()


class _Stdlib:
    """gzip (zlib), bzip2 and xz, one shape: members or streams may follow one
    another, each read returns at most CHUNK bytes, and b"" only at the end of
    the data on a member's boundary (anything else is ``EOFError``). Data after
    a member that does not start another is an error of the next decompressor,
    as in Go's gzip reader."""

    def __init__(self, raw: _BlobReader, make: Callable[[], object]):
        self._raw = raw
        self._make = make
        self._d = make()
        self._in = b""

    def read(self) -> bytes:
        while True:
            d = self._d
            if d.eof:
                data = d.unused_data or self._raw.read()
                if not data:
                    return b""
                d = self._d = self._make()
                self._in = data
            elif not self._in and getattr(d, "needs_input", True):
                # zlib has no needs_input: an empty unconsumed_tail means it wants more.
                self._in = self._raw.read()
                if not self._in:
                    out = d.decompress(b"", CHUNK)
                    if out:
                        return out
                    if d.eof:
                        continue
                    raise EOFError("the data ends inside a compressed stream")
            out = d.decompress(self._in, CHUNK)
            self._in = getattr(d, "unconsumed_tail", b"")
            if out:
                return out


class _ZstdFrames:
    """Where zstd frames end, walked in the compressed bytes as they pass.

    python-zstandard's stream reader returns b"" when its input ends, in the
    middle of a frame too, so a truncated layer would read as a short one. This
    walk over frame and block headers (RFC 8878 §3.1.1) tells them apart; the
    decompressor still checks everything else."""

    def __init__(self):
        self._buf = bytearray()
        self._need = 4
        self._skip = 0
        self._step = self._magic
        self._checksum = 0
        self.frames = 0
        self.bad = False

    def feed(self, data: bytes) -> None:
        view, i = memoryview(data), 0
        while i < len(view) and not self.bad:
            if self._skip:
                n = min(self._skip, len(view) - i)
                self._skip -= n
                i += n
                continue
            n = min(self._need - len(self._buf), len(view) - i)
            self._buf += view[i:i + n]
            i += n
            if len(self._buf) == self._need:
                header = bytes(self._buf)
                self._buf.clear()
                self._step(header)

    def complete(self) -> bool:
        return (not self.bad and self.frames > 0 and self._step == self._magic
                and not self._buf and not self._skip)

    def _expect(self, need: int, step, skip: int = 0) -> None:
        self._need, self._step, self._skip = need, step, skip

    def _magic(self, b: bytes) -> None:
        if b == b"\x28\xb5\x2f\xfd":
            self._expect(1, self._descriptor)
        elif b[0] & 0xF0 == 0x50 and b[1:] == b"\x2a\x4d\x18":
            self._expect(4, self._skippable)
        else:
            self.bad = True

    def _skippable(self, b: bytes) -> None:
        self.frames += 1
        self._expect(4, self._magic, skip=int.from_bytes(b, "little"))

    def _descriptor(self, b: bytes) -> None:
        fhd = b[0]
        single = fhd >> 5 & 1
        content_size = (single, 2, 4, 8)[fhd >> 6]
        dictionary = (0, 1, 2, 4)[fhd & 3]
        self._checksum = 4 if fhd & 4 else 0
        self.bad = bool(fhd & 0x08)  # reserved bit
        self._expect(3, self._block, skip=(1 - single) + dictionary + content_size)

    def _block(self, b: bytes) -> None:
        header = int.from_bytes(b, "little")
        kind, size = header >> 1 & 3, header >> 3
        self.bad = kind == 3  # reserved block type
        content = 1 if kind == 1 else size  # an RLE block holds one byte
        if header & 1:  # last block
            self.frames += 1
            self._expect(4, self._magic, skip=content + self._checksum)
        else:
            self._expect(3, self._block, skip=content)


class _Zstd:
    def __init__(self, raw: _BlobReader):
        self._frames = _ZstdFrames()
        raw.tap = self._frames.feed
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=CHUNK, read_across_frames=True, closefd=False)

    def read(self) -> bytes:
        out = self._reader.read(CHUNK)
        if not out and not self._frames.complete():
            raise EOFError("the data ends inside a zstd frame" if not self._frames.bad
                           else "bytes that are not a zstd frame")
        return out


def _decoder(compression: str, raw: _BlobReader):
    if compression == "gzip":
        return _Stdlib(raw, lambda: zlib.decompressobj(wbits=16 + zlib.MAX_WBITS))
    if compression == "bzip2":
        return _Stdlib(raw, bz2.BZ2Decompressor)
    if compression == "xz":
        return _Stdlib(raw, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT))
    if compression == "zstd":
        return _Zstd(raw)
    return _Plain(raw)


# --- paths, digests and JSON shapes -------------------------------------------------------

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def _digest(value: str, where: str) -> str:
    if not _DIGEST.fullmatch(value):
        raise MalformedImage(f"{where}: {value[:140]!r} is not a sha256 or sha512 digest "
                             f"(lowercase hex)")
    return value


def _blob_path(digest: str) -> str:
    algorithm, encoded = digest.split(":", 1)
    return f"blobs/{algorithm}/{encoded}"


def _path(value: str, where: str) -> str:
    """The normalized form of a path an image document names (dropping ``.``
    and empty components); refuses what could leave the image."""
    if not value:
        raise MalformedImage(f"{where}: empty path")
    if "\0" in value:
        raise MalformedImage(f"{where}: path {value[:140]!r} contains NUL")
    if value.startswith("/"):
        raise MalformedImage(f"{where}: path {value[:140]!r} is absolute")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MalformedImage(f"{where}: path {value[:140]!r} has a '..' component")
    if not parts:
        raise MalformedImage(f"{where}: path {value[:140]!r} names the image's top directory")
    return "/".join(parts)


def _digest_of_path(path: str, where: str) -> str | None:
    """The digest a ``blobs/<alg>/<encoded>`` path names, None for other paths."""
    parts = path.split("/")
    if parts[0] != "blobs":
        return None
    if len(parts) != 3:
        raise MalformedImage(f"{where}: {path[:140]!r} is not blobs/<algorithm>/<digest>")
    return _digest(f"{parts[1]}:{parts[2]}", where)


_JSON_KINDS = {"object": dict, "array": list, "string": str, "integer": int}
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "a number", float: "a number", type(None): "null"}


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _json_kind(value) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _expect(value, kind: str, where: str):
    if not isinstance(value, _JSON_KINDS[kind]) or isinstance(value, bool):
        raise MalformedImage(f"{where}: expected {_a(kind)}, got {_json_kind(value)}")
    return value


def _member(obj: dict, key: str, kind: str, where: str, *, optional: bool = False):
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise MalformedImage(f"{where}: {key!r} is missing" if key not in obj
                             else f"{where}.{key}: expected {_a(kind)}, got null")
    return _expect(value, kind, f"{where}.{key}")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate[:80]!r}")
    return dict(pairs)


def _load_json(data: bytes, where: str):
    try:
        return json.loads(data, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise MalformedImage(f"{where}: not valid JSON ({_one_line(exc)[:200]})") from None


def _read_file(container, name: str, where: str, size: int | None = None) -> bytes:
    raw, actual = container.open(name, where)
    with raw:
        if size is not None and actual != size:
            raise MalformedImage(f"{where}: size mismatch (declared {size}, got {actual})")
        if actual > MAX_JSON_BYTES:
            raise MalformedImage(f"{where}: {actual} bytes, more than the {MAX_JSON_BYTES} "
                                 f"a JSON document may have")
        try:
            data = raw.read(MAX_JSON_BYTES + 1)
        except tarfile.TarError as exc:
            raise MalformedImage(f"{where}: {_one_line(exc)}") from None
    if len(data) != actual:
        raise MalformedImage(f"{where}: changed while being read")
    return data


def _check_digest(data: bytes, digest: str, where: str) -> None:
    algorithm = _algorithm(digest)
    got = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    if got != digest:
        raise MalformedImage(f"{where}: digest mismatch (got {got})")


@dataclass(frozen=True)
class _Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None
    annotations: dict


def _descriptor(value, where: str) -> _Descriptor:
    d = _expect(value, "object", where)
    media_type = _member(d, "mediaType", "string", where)
    digest = _digest(_member(d, "digest", "string", where), f"{where}.digest")
    size = _member(d, "size", "integer", where)
    if size < 0:
        raise MalformedImage(f"{where}.size: {size} is negative")
    platform_ = _member(d, "platform", "object", where, optional=True)
    annotations = _member(d, "annotations", "object", where, optional=True) or {}
    return _Descriptor(media_type, digest, size, platform_, annotations)


def _read_blob_json(container, desc: _Descriptor, where: str):
    if desc.size > MAX_JSON_BYTES:
        raise MalformedImage(f"{where}: declared {desc.size} bytes, more than the "
                             f"{MAX_JSON_BYTES} a JSON document may have")
    data = _read_file(container, _blob_path(desc.digest), where, desc.size)
    _check_digest(data, desc.digest, f"blob {desc.digest}")
    return _load_json(data, where)


def _schema_version(doc: dict, where: str) -> None:
    version = doc.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise MalformedImage(f"{where}: schemaVersion is {version!r}, not 2")


def _check_layout(container) -> None:
    layout = _expect(_load_json(_read_file(container, "oci-layout", "oci-layout"),
                                "oci-layout"), "object", "oci-layout")
    version = _member(layout, "imageLayoutVersion", "string", "oci-layout")
    if not re.fullmatch(r"1\.[0-9]+\.[0-9]+", version):
        raise MalformedImage(f"oci-layout: imageLayoutVersion {version[:40]!r} is not "
                             f"supported (1.x.y)")


def _diff_ids(config, where: str) -> list[str]:
    config = _expect(config, "object", where)
    rootfs = _member(config, "rootfs", "object", where)
    kind = _member(rootfs, "type", "string", f"{where}.rootfs")
    if kind != "layers":
        raise MalformedImage(f"{where}.rootfs.type: {kind[:40]!r}, not 'layers'")
    ids = _member(rootfs, "diff_ids", "array", f"{where}.rootfs")
    return [_digest(_expect(v, "string", f"{where}.rootfs.diff_ids[{i}]"),
                    f"{where}.rootfs.diff_ids[{i}]") for i, v in enumerate(ids)]


def _layer(container, index: int, name: str, *, digest, diff_id, media_type, size,
           max_total_bytes: int) -> LayerBlob:
    """A LayerBlob, once its blob is known to be a regular file of the declared size."""
    where = f"layer {index}"
    raw, actual = container.open(name, where)
    with raw:
        if size is not None and actual != size:
            raise MalformedImage(f"blob {digest}: size mismatch (declared {size}, got {actual})")
        try:
            head = raw.read(_SNIFF_BYTES)
        except tarfile.TarError as exc:
            raise MalformedImage(f"{where} ({name}): {_one_line(exc)}") from None
    return LayerBlob(index, name, digest, diff_id, media_type, sniff_compression(head), size,
                     _container=container, _max_total_bytes=max_total_bytes)


# --- the three kinds of source ------------------------------------------------------------

_AMBIGUOUS = object()
_EXTENSION_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
#: What tarfile raises, or lets out, for bytes that are not (or no longer) a tar.
_TAR_ERRORS = (tarfile.TarError, ValueError, EOFError, OverflowError)


class _Refused(Exception):
    """A tar header tarfile would read into unbounded memory."""


class _GuardedTarInfo(tarfile.TarInfo):
    """tarfile's TarInfo, refusing the headers its reader would hold whole
    whatever their size: extension headers over MAX_EXTENSION_BYTES and GNU
    sparse maps. (tarfile reads a PAX or long-name body, and a sparse map, into
    memory before returning the member.)"""

    def _proc_member(self, tf):
        if self.type in _EXTENSION_TYPES and self.size > MAX_EXTENSION_BYTES:
            raise _Refused(f"an extension header of {self.size} bytes "
                           f"(at most {MAX_EXTENSION_BYTES})")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _Refused("a GNU sparse member")
        return super()._proc_member(tf)

    def _proc_gnusparse_10(self, next, pax_headers, tf):
        raise _Refused("a PAX sparse member")


def _member_kind(ti: tarfile.TarInfo) -> str:
    if ti.issym():
        return "symlink"
    if ti.islnk():
        return "hardlink"
    if ti.isdir():
        return "directory"
    if ti.isfifo():
        return "FIFO"
    if ti.ischr() or ti.isblk():
        return "device"
    if ti.issparse():
        return "sparse file"
    return f"member of type {ti.type!r}"


def _at(where: str, name: str) -> str:
    """``where: name``, or ``name`` alone when it is what ``where`` names."""
    return name if where == name else f"{where}: {name}"


#: Names the members of docker save archives (both layouts, podman's and crane's
#: variants) and OCI layout tars have: anything else makes the tar a layer.
_IMAGE_MEMBER = re.compile(
    r"(manifest\.json|repositories|oci-layout|index\.json|blobs(/.*)?"
    r"|((sha256|sha512):)?[0-9a-f]{64,128}([./].*)?)\Z")


class _Archive:
    """An image in a tar file, read through tarfile on the seekable file.

    Members are indexed by their normalized name (no ``./``); absolute names
    are never indexed, a name given twice resolves to nothing (different tools
    would pick different copies)."""

    def __init__(self, raw: BinaryIO, tar: tarfile.TarFile, members: dict):
        self._raw = raw
        self._tar = tar
        self._members = members
        self.closed = False

    @classmethod
    def scan(cls, path: str, raw: BinaryIO) -> tuple[_Archive | None, str]:
        """(archive, kind) for an image archive, (None, "layer") for a file
        that is a single layer (whether tarfile can read it or not)."""
        try:
            tar = tarfile.open(fileobj=raw, mode="r:", tarinfo=_GuardedTarInfo)
        except _Refused as exc:
            raise MalformedImage(f"{path}: {exc}") from None
        except _TAR_ERRORS:
            return None, "layer"
        members: dict[str, object] = {}
        names, count = set(), 0
        while True:
            try:
                ti = tar.next()
            except _Refused as exc:
                raise MalformedImage(f"{path}: member {count}: {exc}") from None
            except _TAR_ERRORS as exc:
                raise MalformedImage(f"{path}: damaged tar archive after {count} members "
                                     f"({_one_line(exc)})") from None
            if ti is None:
                break
            # tarfile keeps every TarInfo it reads; a layer can have millions.
            tar.members.clear()
            count += 1
            if ti.name.startswith("/"):
                continue
            name = "/".join(p for p in ti.name.split("/") if p not in ("", "."))
            if name and not _IMAGE_MEMBER.match(name):
                # no image archive holds this name (a rootfs does: "etc/"): a layer,
                # decided at its first member instead of after reading every header
                return None, "layer"
            if name in ("manifest.json", "oci-layout", "index.json"):
                names.add(name)
            if len(members) < MAX_ARCHIVE_MEMBERS or name in members:
                old = members.get(name)
                both_dirs = isinstance(old, tarfile.TarInfo) and old.isdir() and ti.isdir()
                members[name] = ti if old is None or both_dirs else _AMBIGUOUS
        # tarfile ends the archive silently at a header it cannot read (cut
        # short, or garbage); only a zero block or the end of the file is an end.
        raw.seek(tar.offset)
        if raw.read(tarfile.BLOCKSIZE).strip(b"\0"):
            raise MalformedImage(f"{path}: damaged tar archive after {count} members "
                                 f"(no valid header at byte {tar.offset})")
        kind = _kind(names)
        if kind == "layer":
            return None, kind
        if count > MAX_ARCHIVE_MEMBERS:
            raise MalformedImage(f"{path}: {count} members, more than the "
                                 f"{MAX_ARCHIVE_MEMBERS} an image archive may have")
        return cls(raw, tar, members), kind

    def has(self, name: str) -> bool:
        return name in self._members

    def open(self, name: str, where: str) -> tuple[BinaryIO, int]:
        if self.closed:
            raise ValueError("the Image is closed")
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            here = "/".join(parts[:i])
            ti = self._members.get(here)
            if ti is _AMBIGUOUS:
                raise MalformedImage(f"{_at(where, name)}: the archive has more than one {here}")
            if i < len(parts):
                if ti is not None and not ti.isdir():
                    raise MalformedImage(f"{_at(where, name)}: {here} is a {_member_kind(ti)}, "
                                         f"not a directory")
            elif ti is None:
                raise MalformedImage(f"{_at(where, name)}: not in the archive")
            elif not ti.isreg() or ti.issparse():
                raise MalformedImage(f"{_at(where, name)}: is a {_member_kind(ti)}, "
                                     f"not a regular file")
        return self._tar.extractfile(ti), ti.size

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._tar.close()
            self._raw.close()


class _Directory:
    """An image in a directory, opened relative to its descriptor one component
    at a time: each must already be a directory (the last a regular file) by
    ``lstat``, and is opened with ``O_NOFOLLOW`` and checked to be the same
    inode, so no symlink is ever followed, even one swapped in meanwhile."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.closed = False

    def has(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self._fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def open(self, name: str, where: str) -> tuple[BinaryIO, int]:
        if self.closed:
            raise ValueError("the Image is closed")
        parts = name.split("/")
        fd, opened = self._fd, []
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                here = "/".join(parts[:i + 1])
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    raise MalformedImage(f"{_at(where, name)}: not in the image directory"
                                         + ("" if last else f" (no {here})")) from None
                wanted, noun = (stat.S_ISREG, "regular file") if last else (stat.S_ISDIR,
                                                                          "directory")
                if not wanted(st.st_mode):
                    culprit = "" if last else f" {here}"
                    raise MalformedImage(f"{_at(where, name)}:{culprit} is a "
                                         f"{_file_kind(st.st_mode)}, not a {noun}")
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
                try:
                    fd = os.open(part, flags | (0 if last else os.O_DIRECTORY), dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        raise
                    fd = None
                if fd is not None:
                    opened.append(fd)
                    now = os.fstat(fd)
                if fd is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                    raise MalformedImage(f"{_at(where, name)}: {here} changed while being opened")
            final = opened.pop()
        finally:
            for fd in opened:
                os.close(fd)
        return os.fdopen(final, "rb"), now.st_size

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symlink"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISREG, "regular file"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
                       (stat.S_ISBLK, "device")):
        if test(mode):
            return name
    return "special file"


class _File:
    """A single layer: the source file itself, opened again for each stream."""

    def __init__(self, path: str):
        self._path = path
        self.closed = False

    def open(self, name: str, where: str) -> tuple[BinaryIO, int]:
        if self.closed:
            raise ValueError("the Image is closed")
        raw = open(self._path, "rb")
        st = os.fstat(raw.fileno())
        if not stat.S_ISREG(st.st_mode):
            raw.close()
            raise MalformedImage(f"{self._path}: no longer a regular file")
        return raw, st.st_size

    def close(self) -> None:
        self.closed = True


def _kind(names) -> str:
    """The rules of detection, by the names at the top of an archive or directory."""
    if "manifest.json" in names:
        return "docker-save-oci" if {"oci-layout", "index.json"} <= set(names) else "docker-save"
    if {"oci-layout", "index.json"} <= set(names):
        return "oci-layout"
    return "layer"


# --- reading each kind ----------------------------------------------------------------------

def _docker_save(container, kind: str, limit: int) -> dict:
    """docker save: manifest.json's first image, its config's diff_ids, its Layers."""
    if kind == "docker-save-oci":
        _check_layout(container)
    doc = _load_json(_read_file(container, "manifest.json", "manifest.json"), "manifest.json")
    images = _expect(doc, "array", "manifest.json")
    if not images:
        raise MalformedImage("manifest.json: lists no image")
    where = "manifest.json[0]"
    entry = _expect(images[0], "object", where)
    config_name = _path(_member(entry, "Config", "string", where), f"{where}.Config")
    names = [_path(_expect(v, "string", f"{where}.Layers[{i}]"), f"{where}.Layers[{i}]")
             for i, v in enumerate(_member(entry, "Layers", "array", where))]
    tags = _member(entry, "RepoTags", "array", where, optional=True) or []
    for i, tag in enumerate(tags):
        _expect(tag, "string", f"{where}.RepoTags[{i}]")

    config_digest = _digest_of_path(config_name, f"{where}.Config")
    data = _read_file(container, config_name, f"config {config_name}")
    if config_digest is not None:
        _check_digest(data, config_digest, f"blob {config_digest}")
    diff_ids = _diff_ids(_load_json(data, f"config {config_name}"), f"config {config_name}")
    if len(names) != len(diff_ids):
        raise MalformedImage(f"{where}: {len(names)} Layers, but config {config_name} has "
                             f"{len(diff_ids)} diff_ids")
    layers = tuple(
        _layer(container, i, name, digest=_digest_of_path(name, f"{where}.Layers[{i}]"),
               diff_id=diff_ids[i], media_type=None, size=None, max_total_bytes=limit)
        for i, name in enumerate(names))
    notes = ()
    if len(images) > 1:
        notes = (f"manifest.json lists {len(images)} images; took the first "
                 f"({tags[0] if tags else config_name})",)
    return {"layers": layers, "ref": tags[0] if tags else None, "notes": notes}


def _image_manifests(container, index: dict, where: str, ref, depth: int, seen: set):
    """(descriptor, ref, where) for each image manifest ``index`` reaches, in order;
    nested indexes are followed (each once), unknown media types skipped."""
    manifests = index.get("manifests")
    if manifests is None:  # Docker 25.0 wrote "manifests": null for untagged saves
        return
    for i, item in enumerate(_expect(manifests, "array", f"{where}.manifests")):
        here = f"{where}.manifests[{i}]"
        desc = _descriptor(item, here)
        name = desc.annotations.get(_REF_NAME) if depth == 0 else None
        if name is not None:
            _expect(name, "string", f"{here}.annotations[{_REF_NAME!r}]")
        if desc.media_type in _INDEX_TYPES:
            if desc.digest in seen:
                continue
            if depth == MAX_INDEX_DEPTH:
                raise MalformedImage(f"{here}: indexes nested more than {MAX_INDEX_DEPTH} deep")
            seen.add(desc.digest)
            nested_where = f"index {desc.digest}"
            nested = _expect(_read_blob_json(container, desc, nested_where), "object",
                             nested_where)
            _schema_version(nested, nested_where)
            yield from _image_manifests(container, nested, nested_where, name or ref,
                                        depth + 1, seen)
        elif desc.media_type in _MANIFEST_TYPES:
            yield desc, name or ref, here


def _platform(desc: _Descriptor, where: str) -> tuple[str | None, str | None, str]:
    p = desc.platform or {}
    os_ = _member(p, "os", "string", f"{where}.platform", optional=True)
    arch = _member(p, "architecture", "string", f"{where}.platform", optional=True)
    variant = _member(p, "variant", "string", f"{where}.platform", optional=True)
    text = "/".join(x for x in (os_, arch, variant) if x) or "no platform"
    return os_, arch, text


def _is_attestation(desc: _Descriptor) -> bool:
    """BuildKit's attestation manifests: image manifests of platform unknown/unknown."""
    p = desc.platform or {}
    return (desc.annotations.get("vnd.docker.reference.type") == "attestation-manifest"
            or (p.get("os"), p.get("architecture")) == ("unknown", "unknown"))


def _oci_layout(container, limit: int, architecture: str) -> dict:
    """An OCI layout: index.json → the image manifest for linux/architecture
    (else the first) → its config's diff_ids and its layer descriptors."""
    _check_layout(container)
    index = _expect(_load_json(_read_file(container, "index.json", "index.json"),
                               "index.json"), "object", "index.json")
    _schema_version(index, "index.json")
    found = [(d, r, w) for d, r, w in _image_manifests(container, index, "index.json", None, 0,
                                                        set())
             if not _is_attestation(d)]
    if not found:
        raise MalformedImage("index.json: no image manifest")
    platforms = [_platform(d, w) for d, _, w in found]
    match = next((i for i, (os_, arch, _) in enumerate(platforms)
                  if (os_, arch) == ("linux", architecture)), None)
    chosen = 0 if match is None else match
    desc, ref, _ = found[chosen]
    notes = []
    if len(found) > 1:
        why = (f"the one for linux/{architecture}" if match is not None
               else f"none is for linux/{architecture}, took the first")
        notes.append(f"index.json lists {len(found)} image manifests; {why}: {desc.digest} "
                     f"({platforms[chosen][2]})")

    where = f"manifest {desc.digest}"
    manifest = _expect(_read_blob_json(container, desc, where), "object", where)
    _schema_version(manifest, where)
    config = _descriptor(_member(manifest, "config", "object", where), f"{where}.config")
    if config.media_type not in _CONFIG_TYPES:
        raise MalformedImage(f"{where}.config: media type {config.media_type[:80]!r} is not "
                             f"an image config")
    items = _member(manifest, "layers", "array", where)
    config_where = f"config {config.digest}"
    diff_ids = _diff_ids(_read_blob_json(container, config, config_where), config_where)
    if len(items) != len(diff_ids):
        raise MalformedImage(f"{where}: {len(items)} layers, but {config_where} has "
                             f"{len(diff_ids)} diff_ids")
    layers = []
    for i, item in enumerate(items):
        ld = _descriptor(item, f"{where}.layers[{i}]")
        announced = _LAYER_TYPES.get(ld.media_type)
        if announced is None:
            raise MalformedImage(f"{where}.layers[{i}]: media type {ld.media_type[:80]!r} is "
                                 f"not an image layer")
        blob = _layer(container, i, _blob_path(ld.digest), digest=ld.digest,
                      diff_id=diff_ids[i], media_type=ld.media_type, size=ld.size,
                      max_total_bytes=limit)
        if blob.compression != announced:
            notes.append(f"layer {i}: media type {ld.media_type} announces {announced}, "
                         f"the bytes are {blob.compression}; read as {blob.compression}")
        layers.append(blob)
    return {"layers": tuple(layers), "ref": ref, "manifest_digest": desc.digest,
            "notes": tuple(notes)}


def open_image(source: str | os.PathLike, *, max_total_bytes: int = 64 * GiB,
               architecture: str | None = None) -> Image:
    """Open an image source and check its structure; see the module's docstring.

    ``source`` is a layer file (a tar, or a tar compressed with gzip, zstd,
    bzip2 or xz, told by its magic bytes), a ``docker save`` archive or its
    extracted directory (both forms), or an OCI image layout as a directory or
    a tar. ``max_total_bytes`` bounds each layer's uncompressed bytes.
    ``architecture`` (a GOARCH name, default the host's) chooses among the
    linux manifests of a multi-platform OCI index.

    Raises :class:`MalformedImage` for anything wrong with the image,
    ``FileNotFoundError`` if ``source`` does not exist.
    """
    if isinstance(max_total_bytes, bool) or not isinstance(max_total_bytes, int) \
            or max_total_bytes < 1:
        raise ValueError(f"max_total_bytes={max_total_bytes!r}, but it must be a positive int")
    path = os.fsdecode(os.fspath(source))
    architecture = architecture or _host_architecture()
    mode = os.stat(path).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise MalformedImage(f"{path}: not a regular file or a directory")
    if stat.S_ISREG(mode):
        raw, container = open(path, "rb"), None
        try:
            compression = sniff_compression(raw.read(_SNIFF_BYTES))
            raw.seek(0)
            container, kind = (None, "layer") if compression != "none" \
                else _Archive.scan(path, raw)
        finally:
            if container is None:
                raw.close()
        if kind == "layer":
            container = _File(path)
            layer = LayerBlob(0, path, None, None, None, compression, None,
                              _container=container, _max_total_bytes=max_total_bytes)
            return Image(path, "layer", (layer,), None, _container=container)
    else:
        container = _Directory(path)
    try:
        if isinstance(container, _Directory):
            kind = _kind([n for n in ("manifest.json", "oci-layout", "index.json")
                          if container.has(n)])
            if kind == "layer":
                raise MalformedImage(f"{path}: a directory without manifest.json, or "
                                     f"oci-layout and index.json: not an image")
        if kind == "oci-layout":
            found = _oci_layout(container, max_total_bytes, architecture)
        else:
            found = _docker_save(container, kind, max_total_bytes)
    except BaseException:
        container.close()
        raise
    return Image(path, kind, _container=container, **found)
