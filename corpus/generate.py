#!/usr/bin/env python3
"""Write fsmodel's seed corpus: small container-image layers and two image archives.

    python corpus/generate.py              rewrite the corpus next to this file
    python corpus/generate.py --check      exit 1, naming every file that differs from
                                           what would be written (or is missing, or extra)
    python corpus/generate.py --out DIR    write into (or, with --check, compare) DIR

README.md (beside this file) says what each file holds and which runtime behaviour it
exhibits. The output is byte-for-byte deterministic, on any machine and any Python 3.11+:

* Archives are laid out block by block here, not with ``tarfile``: every member has
  mtime 2022-06-01 00:00:00 UTC, uid/gid 0, empty uname/gname, a POSIX ustar header
  (directories named with a trailing ``/``, as Go's archive/tar writes them) and, when it
  carries xattrs, a PAX ``x`` header before it with one ``SCHILY.xattr.<name>=<value>``
  record per xattr, the value as raw bytes. ``tarfile`` can write a binary value (a
  ``pax_headers`` str decoded with surrogateescape) but then adds ``hdrcharset=BINARY``,
  a record no container tool writes. Archives end with two zero blocks, unpadded.
* Gzip streams have mtime 0, no file name and OS 255, and their DEFLATE data is written
  here too (one block with the fixed Huffman codes; runs of a repeated byte become
  distance-1 matches). The ``gzip`` module's output depends on the zlib it is linked
  against (zlib and zlib-ng compress differently), which would change the ``.gz`` bytes
  and every OCI digest from one machine to another; any gunzip reads this stream.
* JSON is written with sorted keys and no spaces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import tarfile
import zlib
from bisect import bisect_right
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Checked-in files of the corpus directory that the generator does not write.
NOT_GENERATED = frozenset({"README.md", "generate.py"})

MTIME = 1654041600  # 2022-06-01 00:00:00 UTC
CREATED = "2022-06-01T00:00:00Z"
IMAGE_REPO, IMAGE_TAG = "fsmodel/corpus", "creator-ee"
BLOCK = 512


# --- tar ------------------------------------------------------------------------------

def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def _octal(value: int, width: int) -> bytes:
    """A ustar number field: zero-padded octal digits and a NUL."""
    digits = b"%0*o" % (width - 1, value)
    if len(digits) != width - 1:
        raise ValueError(f"value={value!r}, but only {width - 1} octal digits fit the field")
    return digits + b"\0"


def _text(value: bytes, width: int) -> bytes:
    if len(value) > width:
        raise ValueError(f"value={value!r}, but only {width} bytes fit the field")
    return value.ljust(width, b"\0")


def _header(name: bytes, typeflag: bytes, mode: int, size: int = 0, link: bytes = b"",
            major: int = 0, minor: int = 0) -> bytes:
    """One POSIX ustar header block (name in the 100-byte field, no prefix)."""
    block = b"".join([
        _text(name, 100), _octal(mode, 8), _octal(0, 8), _octal(0, 8),  # mode uid gid
        _octal(size, 12), _octal(MTIME, 12), b" " * 8, typeflag, _text(link, 100),
        b"ustar\x0000", _text(b"", 32), _text(b"", 32),  # magic version uname gname
        _octal(major, 8), _octal(minor, 8), _text(b"", 155),
    ]).ljust(BLOCK, b"\0")
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def _pax_record(key: bytes, value: bytes) -> bytes:
    """``"<len> <key>=<value>\\n"`` where ``len`` counts the whole record, itself included."""
    body = b" %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length += 1
    return b"%d%s" % (length, body)


def member(path: str, typeflag: bytes, *, mode: int, data: bytes = b"", link: str = "",
           major: int = 0, minor: int = 0, xattrs: dict[str, bytes] | None = None) -> bytes:
    """One archive member: its PAX header (when it has xattrs), header block and content."""
    out = b""
    if xattrs:
        records = b"".join(_pax_record(b"SCHILY.xattr." + name.encode(), value)
                           for name, value in xattrs.items())
        out += _header(b"././@PaxHeader", tarfile.XHDTYPE, 0o644, len(records)) + _pad(records)
    return out + _header(path.encode(), typeflag, mode, len(data), link.encode(),
                         major, minor) + _pad(data)


def directory(path: str, *, mode: int = 0o755, xattrs: dict[str, bytes] | None = None) -> bytes:
    return member(path + "/", tarfile.DIRTYPE, mode=mode, xattrs=xattrs)


def regular(path: str, data: bytes, *, mode: int = 0o644,
            xattrs: dict[str, bytes] | None = None) -> bytes:
    return member(path, tarfile.REGTYPE, mode=mode, data=data, xattrs=xattrs)


def symlink(path: str, target: str, *, xattrs: dict[str, bytes] | None = None) -> bytes:
    return member(path, tarfile.SYMTYPE, mode=0o777, link=target, xattrs=xattrs)


def hardlink(path: str, target: str, *, mode: int = 0o644) -> bytes:
    return member(path, tarfile.LNKTYPE, mode=mode, link=target)


def tar(*members: bytes) -> bytes:
    return b"".join(members) + b"\0" * (2 * BLOCK)


# --- gzip -----------------------------------------------------------------------------

_LENGTH_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                67, 83, 99, 115, 131, 163, 195, 227, 258)
_LENGTH_EXTRA = (0,) * 8 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 4 + (5,) * 4 + (0,)


def _deflate(data: bytes) -> bytes:
    """Raw DEFLATE (RFC 1951): one final block with the fixed Huffman codes (3.2.6), whose
    only back-references repeat the previous byte (distance 1, lengths 3..258)."""
    out = bytearray()
    bits = nbits = 0

    def put(value: int, count: int) -> None:  # plain values go least significant bit first
        nonlocal bits, nbits
        bits |= value << nbits
        nbits += count
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8

    def code(value: int, count: int) -> None:  # Huffman codes go most significant bit first
        put(int(format(value, f"0{count}b")[::-1], 2), count)

    def symbol(sym: int) -> None:
        if sym < 144:
            code(0x30 + sym, 8)
        elif sym < 256:
            code(0x190 + sym - 144, 9)
        elif sym < 280:
            code(sym - 256, 7)
        else:
            code(0xC0 + sym - 280, 8)

    put(1, 1)  # BFINAL
    put(1, 2)  # BTYPE 01: fixed Huffman codes
    i = 0
    while i < len(data):
        run = 0
        while i and run < 258 and i + run < len(data) and data[i + run] == data[i - 1]:
            run += 1
        if run >= 3:
            k = bisect_right(_LENGTH_BASE, run) - 1
            symbol(257 + k)
            put(run - _LENGTH_BASE[k], _LENGTH_EXTRA[k])
            code(0, 5)  # distance code 0: distance 1
            i += run
        else:
            symbol(data[i])
            i += 1
    symbol(256)  # end of block
    if nbits:
        out.append(bits)
    return bytes(out)


def gzip_bytes(data: bytes) -> bytes:
    """A gzip member (RFC 1952): no flags (no file name), mtime 0, XFL 0, OS 255."""
    return (b"\x1f\x8b\x08\x00" + b"\0\0\0\0" + b"\x00\xff" + _deflate(data)
            + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))


# --- layers ---------------------------------------------------------------------------

KRB5_CONF = b"""\
# To opt out of the system crypto-policies configuration of krb5, remove the
# symlink at /etc/krb5.conf.d/crypto-policies which will not be recreated.
includedir /etc/krb5.conf.d/

[logging]
    default = FILE:/var/log/krb5libs.log
    kdc = FILE:/var/log/krb5kdc.log
    admin_server = FILE:/var/log/kadmind.log

[libdefaults]
    dns_lookup_realm = false
    ticket_lifetime = 24h
    renew_lifetime = 7d
    forwardable = true
    rdns = false
    pkinit_anchors = FILE:/etc/pki/tls/certs/ca-bundle.crt
    spake_preauth_groups = edwards25519
    default_ccache_name = KEYRING:persistent:%{uid}

[realms]
# EXAMPLE.COM = {
#     kdc = kerberos.example.com
#     admin_server = kerberos.example.com
# }

[domain_realm]
# .example.com = EXAMPLE.COM
# example.com = EXAMPLE.COM
"""

KRB5_POLICY = (b"[libdefaults]\npermitted_enctypes = aes256-cts-hmac-sha1-96 "
               b"aes256-cts-hmac-sha384-192 camellia256-cts-cmac aes128-cts-hmac-sha1-96 "
               b"aes128-cts-hmac-sha256-128 camellia128-cts-cmac\n")


def _script(tool: str) -> bytes:
    return b"#!/bin/sh\n# fsmodel corpus: stands in for %s\nexit 0\n" % tool.encode()


def creator_ee() -> bytes:
    """ansible's creator-ee v0.5.0 layer, in miniature: the user.* xattr on a symlink."""
    return tar(
        directory("etc"),
        directory("etc/crypto-policies"),
        directory("etc/crypto-policies/back-ends"),
        regular("etc/crypto-policies/back-ends/krb5.config", KRB5_POLICY),
        regular("etc/krb5.conf", KRB5_CONF, xattrs={"user.ok": b"1"}),
        directory("etc/krb5.conf.d"),
        symlink("etc/krb5.conf.d/crypto-policies", "/etc/crypto-policies/back-ends/krb5.config",
                xattrs={"user.rpm.origin": b"krb5-libs"}),
        directory("usr"),
        directory("usr/bin"),
        regular("usr/bin/ansible-lint", b"#!/usr/bin/python3\nfrom ansible_lint.__main__ "
                b"import _run_cli_entrypoint\n_run_cli_entrypoint()\n", mode=0o755),
        regular("usr/bin/kdestroy", _script("kdestroy (MIT Kerberos)"), mode=0o755),
        regular("usr/bin/kinit", _script("kinit (MIT Kerberos)"), mode=0o755),
        regular("usr/bin/klist", _script("klist (MIT Kerberos)"), mode=0o755),
        directory("usr/lib"),
        directory("usr/lib/python3.9"),
        directory("usr/lib/python3.9/site-packages"),
        directory("usr/lib/python3.9/site-packages/ansible_lint"),
        regular("usr/lib/python3.9/site-packages/ansible_lint/__init__.py",
                b'"""fsmodel corpus: stands in for ansible-lint."""\n'),
        regular("usr/lib/python3.9/site-packages/ansible_lint/version.py",
                b'__version__ = "6.2.1"\n'),
        directory("usr/lib64"),
        symlink("usr/lib64/libkrb5.so.3", "libkrb5.so.3.3"),
        regular("usr/lib64/libkrb5.so.3.3",
                b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"fsmodel corpus: stands in for libkrb5\n",
                mode=0o755),
        directory("usr/share"),
        directory("usr/share/doc"),
        directory("usr/share/doc/krb5-libs"),
        regular("usr/share/doc/krb5-libs/README",
                b"MIT Kerberos client libraries (fsmodel corpus stand-in).\n"),
        directory("usr/share/licenses"),
        directory("usr/share/licenses/krb5-libs"),
        regular("usr/share/licenses/krb5-libs/LICENSE",
                b"See https://web.mit.edu/kerberos/krb5-latest/doc/mitK5license.html\n"),
        directory("var"),
        directory("var/kerberos"),
        directory("var/kerberos/krb5"),
        directory("var/kerberos/krb5/user", mode=0o700),
    )


def overlay_leak() -> bytes:
    """A builder leaked overlayfs's own bookkeeping xattr into the layer."""
    return tar(
        directory("etc", xattrs={"user.overlay.impure": b"y"}),
        regular("etc/os-release", b'NAME="fsmodel corpus"\nID=fsmodel\nVERSION_ID=1\n'),
    )


def vfs_cap_v2(permitted: int, effective: bool = True) -> bytes:
    """struct vfs_cap_data, revision 2: magic_etc, then (permitted, inheritable) for the low
    and the high 32 capability bits, little-endian."""
    magic = 0x02000000 | (1 if effective else 0)
    return struct.pack("<5I", magic, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0)


def vfs_cap_v3(permitted: int, rootid: int, effective: bool = True) -> bytes:
    """struct vfs_ns_cap_data: revision 3 is revision 2's layout plus the namespace root uid."""
    magic = 0x03000000 | (1 if effective else 0)
    return struct.pack("<6I", magic, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0, rootid)


CAP_SETUID, CAP_NET_RAW = 7, 13


def capabilities() -> bytes:
    return tar(
        directory("usr"),
        directory("usr/bin"),
        regular("usr/bin/newuidmap", _script("newuidmap (shadow-utils)"), mode=0o755,
                xattrs={"security.capability": vfs_cap_v2(1 << CAP_SETUID)}),
        regular("usr/bin/ping", _script("ping (iputils)"), mode=0o755,
                xattrs={"security.capability": vfs_cap_v2(1 << CAP_NET_RAW)}),
        directory("usr/sbin"),
        regular("usr/sbin/arping", _script("arping (iputils)"), mode=0o755,
                xattrs={"security.capability": vfs_cap_v3(1 << CAP_NET_RAW, rootid=0)}),
    )


def whiteouts_base() -> bytes:
    return tar(
        directory("a"),
        regular("a/keep", b"kept: no whiteout names it\n"),
        regular("a/gone", b"deleted by a/.wh.gone\n"),
        directory("b"),
        regular("b/x", b"hidden by b/.wh..wh..opq\n"),
        directory("b/sub"),
        regular("b/sub/y", b"hidden by b/.wh..wh..opq\n"),
        directory("c"),
    )


def whiteouts() -> bytes:
    return tar(
        directory("a"),
        regular("a/.wh.gone", b""),
        directory("b"),
        regular("b/new", b"new in the upper layer: the opaque marker after it must not hide it\n"),
        regular("b/.wh..wh..opq", b""),
        directory("c"),
        regular("c/.wh..wh..opq", b""),
        regular("c/mine", b"new in the upper layer, after the opaque marker\n"),
    )


def hardlinks() -> bytes:
    return tar(
        directory("data"),
        regular("data/file", b"one inode, three names\n"),
        symlink("data/symlink", "file"),
        directory("links"),
        hardlink("links/file-1", "data/file"),
        hardlink("links/symlink-hard", "data/symlink", mode=0o777),
        hardlink("links/keep", "a/keep"),
        directory("other"),
        hardlink("other/file-2", "data/file"),
    )


def devices() -> bytes:
    return tar(
        directory("dev"),
        member("dev/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3),
        member("dev/zero", tarfile.CHRTYPE, mode=0o666, major=1, minor=5),
        member("dev/loop0", tarfile.BLKTYPE, mode=0o660, major=7, minor=0),
        directory("run"),
        member("run/fifo", tarfile.FIFOTYPE, mode=0o644),
    )


# --- images ---------------------------------------------------------------------------

def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image_config(layers: list[tuple[str, bytes]]) -> bytes:
    return _json({
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _sha256(b) for _, b in layers]},
        "history": [{"created": CREATED, "created_by": f"fsmodel corpus: {name}"}
                    for name, _ in layers],
    })


def image_docker(layers: list[tuple[str, bytes]]) -> bytes:
    """`docker save` before Docker 25: <v1 id>/{VERSION,json,layer.tar}, <config>.json,
    manifest.json, repositories. The v1 ids are any stable 64-hex names."""
    config = _image_config(layers)
    config_name = _sha256(config) + ".json"
    members, ids, parent = [], [], None
    for _, layer in layers:
        v1_id = _sha256(f"fsmodel corpus v1 {parent or ''} {_sha256(layer)}".encode())
        v1 = {"id": v1_id, "created": CREATED, "os": "linux", "container_config": {"Cmd": None}}
        if parent:
            v1["parent"] = parent
        members += [directory(v1_id), regular(v1_id + "/VERSION", b"1.0"),
                    regular(v1_id + "/json", _json(v1)),
                    regular(v1_id + "/layer.tar", layer)]
        ids.append(v1_id)
        parent = v1_id
    manifest = [{"Config": config_name, "RepoTags": [f"{IMAGE_REPO}:{IMAGE_TAG}"],
                 "Layers": [i + "/layer.tar" for i in ids]}]
    return tar(*members, regular(config_name, config),
               regular("manifest.json", _json(manifest)),
               regular("repositories", _json({IMAGE_REPO: {IMAGE_TAG: ids[-1]}})))


def image_oci(layers: list[tuple[str, bytes]]) -> bytes:
    """An OCI image layout as a tar, the layers gzip-compressed."""
    config = _image_config(layers)
    blobs = [gzip_bytes(layer) for _, layer in layers]
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + _sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + _sha256(b), "size": len(b)} for b in blobs],
    })
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + _sha256(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": f"docker.io/{IMAGE_REPO}:{IMAGE_TAG}",
                            "org.opencontainers.image.ref.name": IMAGE_TAG},
        }],
    })
    return tar(
        regular("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
        regular("index.json", index),
        directory("blobs"),
        directory("blobs/sha256"),
        *(regular("blobs/sha256/" + _sha256(b), b) for b in [*blobs, config, manifest]),
    )


def build() -> dict[str, bytes]:
    """Every generated file of the corpus: name -> bytes."""
    files = {
        "creator-ee.tar": creator_ee(),
        "overlay-leak.tar": overlay_leak(),
        "capabilities.tar": capabilities(),
        "whiteouts-base.tar": whiteouts_base(),
        "whiteouts.tar": whiteouts(),
        "hardlinks.tar": hardlinks(),
        "devices.tar": devices(),
    }
    stack = [(name, files[name]) for name in ("whiteouts-base.tar", "creator-ee.tar")]
    files["image-docker.tar"] = image_docker(stack)
    files["image-oci.tar"] = image_oci(stack)
    files["creator-ee.tar.gz"] = gzip_bytes(files["creator-ee.tar"])
    return files


# --- command line ---------------------------------------------------------------------

def stale(out: Path, files: dict[str, bytes]) -> list[str]:
    """What in ``out`` differs from ``files``: one line per file, empty when up to date."""
    problems = []
    for name, data in files.items():
        path = out / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from what generate.py writes")
    if out.is_dir():
        for path in sorted(out.iterdir()):
            if path.is_file() and path.name not in files and path.name not in NOT_GENERATED:
                problems.append(f"{path}: not written by generate.py (remove it)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, metavar="DIR",
                        help="directory to write or check (default: the corpus directory)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any file differs from what would be written")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        problems = stale(args.out, files)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `python corpus/generate.py` to rewrite the corpus", file=sys.stderr)
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = args.out / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
