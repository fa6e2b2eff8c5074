#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora and their libFuzzer dictionaries and options.

    python fuzz/make_seeds.py            write corpus/<target>/<sha1> for every target,
                                         and fuzz/<target>_fuzzer.dict and .options
    python fuzz/make_seeds.py --check    write nothing; exit 1 naming every file that is
                                         stale, missing or extra

Inputs that campaigns found and merged (``fsmodel fuzz``, or ``-merge=1`` by hand) live
beside the generated seeds under their sha1 names; ``--check`` leaves them alone.

Everything is deterministic: tar seeds are laid out with fsmodel.fuzzing.mutator's
header/PAX helpers (fixed mtime, owner root), choice streams for the syscall targets come
from ``random.Random`` with fixed seeds, dictionaries and options from
``fsmodel.fuzzing.targets.TARGETS``.  Seed files are named by the sha1 of their bytes,
as OSS-Fuzz names corpus files.  ``corpus/<target>/regressions/`` (crash reproducers
saved by the campaign runner) is neither written nor checked here.

The tar seeds hold the shapes worth starting from: the creator-ee layer in miniature
(``user.*`` on a symlink), whiteouts and opaque markers over the ``layer`` target's lower
layer, hardlinks (to a symlink, to a lower file), devices and a FIFO, GNU long names and
links, PAX global headers, LIBARCHIVE and RHT xattrs, file capabilities, overlay and ACL
xattrs with 255/256-byte names and a bare ``user.``, traversal and symlink escapes,
base-256 and boundary ids.  For ``layer`` some seeds carry a byte after the end marker:
the policy/host selector (fsmodel.fuzzing.harnesses.layer_selection).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if (ROOT / "fsmodel" / "__init__.py").is_file():
    sys.path.insert(0, str(ROOT))

from fsmodel.fuzzing.mutator import (  # noqa: E402
    CAP_V2,
    CAP_V3,
    Member,
    Tar,
    header,
    pax_body,
    pax_member,
    serialise,
    xattr_record,
)
from fsmodel.fuzzing.targets import TARGETS, dictionary_text, options_text  # noqa: E402

CORPUS = ROOT / "corpus"


def _file(name: bytes, content: bytes = b"", **kw) -> Member:
    return Member(header(name, b"0", **kw), content)


def _dir(name: bytes, **kw) -> Member:
    return Member(header(name.rstrip(b"/") + b"/", b"5", mode=0o755, **kw))


def _with_xattrs(member: Member, *records) -> list[Member]:
    return [pax_member(list(records)), member]


def _base256_ids(block: bytearray) -> bytearray:
    """uid 2**21 (one past the largest octal uid) and gid 2**32-2, GNU base-256."""
    block[108:116] = b"\x80" + (2**21).to_bytes(7, "big")
    block[116:124] = b"\x80" + (2**32 - 2).to_bytes(7, "big")
    return block


def _tar(*groups, trailer: bytes = b"") -> bytes:
    members = []
    for group in groups:
        members += group if isinstance(group, list) else [group]
    return serialise(Tar(members, trailer))


def tar_shapes() -> dict[str, bytes]:
    acl = (b"\x02\x00\x00\x00\x01\x00\x06\x00\xff\xff\xff\xff\x04\x00\x04\x00\xff\xff\xff\xff"
           b"\x20\x00\x04\x00\xff\xff\xff\xff")
    long_dir = b"usr/share/" + b"very-long-directory-name/" * 6
    shapes = {
        "creator-ee": _tar(
            _dir(b"etc"), _dir(b"etc/krb5.conf.d"), _dir(b"etc/crypto-policies/back-ends"),
            _with_xattrs(_file(b"etc/krb5.conf", b"[libdefaults]\n"),
                         xattr_record(b"user.ok", b"1")),
            _file(b"etc/crypto-policies/back-ends/krb5.config", b"permitted_enctypes\n"),
            _with_xattrs(Member(header(b"etc/krb5.conf.d/crypto-policies", b"2",
                                       linkname=b"/etc/crypto-policies/back-ends/krb5.config",
                                       mode=0o777)),
                         xattr_record(b"user.rpm.origin", b"krb5-libs"))),
        "whiteouts": _tar(
            _dir(b"a"), _file(b"a/.wh.gone"), _dir(b"b"), _file(b"b/new", b"new\n"),
            _file(b"b/.wh..wh..opq"), _dir(b"c"), _file(b"c/.wh..wh..opq"),
            _file(b"c/mine", b"mine\n"), _file(b".wh.lnk"), _dir(b".wh..wh..plnk"),
            _file(b".wh..wh..plnk/1.2", b"x")),
        "hardlinks": _tar(
            _dir(b"d2"), _file(b"d2/file", b"shared\n"),
            Member(header(b"links/file-1", b"1", linkname=b"d2/file")),
            Member(header(b"other/file-2", b"1", linkname=b"d2/file")),
            Member(header(b"d2/sym", b"2", linkname=b"file")),
            Member(header(b"links/sym-hard", b"1", linkname=b"d2/sym")),
            Member(header(b"links/keep", b"1", linkname=b"a/keep")),
            Member(header(b"links/lower-pair", b"1", linkname=b"data/file"))),
        "devices": _tar(
            _dir(b"dev"),
            Member(header(b"dev/null", b"3", mode=0o666, major=1, minor=3)),
            _with_xattrs(Member(header(b"dev/zero", b"3", mode=0o666, major=1, minor=5)),
                         xattr_record(b"user.dev", b"1")),
            Member(header(b"dev/loop0", b"4", mode=0o660, major=7, minor=0)),
            _with_xattrs(Member(header(b"run/fifo", b"6")),
                         xattr_record(b"security.selinux", b"system_u:object_r:fifo_t:s0"))),
        "gnu-long-names": _tar(
            Member(header(b"././@LongLink", b"L"), long_dir + b"file.txt\0"),
            _file((long_dir + b"file.txt")[:100], b"long\n"),
            Member(header(b"././@LongLink", b"K"), long_dir + b"file.txt\0"),
            Member(header(b"short-link", b"2", linkname=(long_dir + b"file.txt")[:100])),
            Member(header(b"././@LongLink", b"L"), b"x" * 120 + b"/\0"),
            Member(header(b"x" * 100, b"5", mode=0o755))),
        "pax-globals": _tar(
            pax_member([xattr_record(b"user.global", b"1"), (b"comment", b"hello")], b"g",
                       b"pax_global_header"),
            _dir(b"g"), _file(b"g/one", b"1\n"),
            pax_member([(b"SCHILY.xattr.user.global", b"")], b"g", b"pax_global_header"),
            _file(b"g/two", b"2\n")),
        "libarchive-xattrs": _tar(
            _with_xattrs(_file(b"lib", b"bsdtar\n"),
                         xattr_record(b"user.lib x", b"\x00\x01binary", "LIBARCHIVE"),
                         xattr_record(b"security.selinux", b"system_u:object_r:bin_t:s0",
                                      "RHT"),
                         xattr_record(b"user.both", b"schily"),
                         xattr_record(b"user.both", b"libarchive", "LIBARCHIVE"))),
        "capabilities": _tar(
            _dir(b"usr/bin"),
            _with_xattrs(_file(b"usr/bin/ping", b"\x7fELF", mode=0o755),
                         xattr_record(b"security.capability", CAP_V2)),
            _with_xattrs(_file(b"usr/bin/arping", b"\x7fELF", mode=0o755),
                         xattr_record(b"security.capability", CAP_V3)),
            _with_xattrs(_file(b"usr/bin/bad", b"\x7fELF", mode=0o755),
                         xattr_record(b"security.capability", CAP_V2[:-1]))),
        "overlay-acl-names": _tar(
            _with_xattrs(_dir(b"etc"), xattr_record(b"user.overlay.impure", b"y"),
                         xattr_record(b"trusted.overlay.opaque", b"y")),
            _with_xattrs(_file(b"etc/acl", b"acl\n", mode=0o640),
                         xattr_record(b"system.posix_acl_access", acl),
                         xattr_record(b"user." + b"n" * 250, b"255"),
                         xattr_record(b"user." + b"n" * 251, b"256"),
                         xattr_record(b"user.", b"bare"),
                         xattr_record(b"foo.bar", b"no namespace"))),
        "traversal": _tar(_file(b"a/../../x", b"up\n"), _file(b"../x", b"up\n")),
        "escapes": _tar(
            _file(b"/etc/passwd", b"abs\n"), _file(b"a/../b/x", b"inside\n"),
            Member(header(b"esc", b"2", linkname=b"../../outside")), _file(b"esc/x", b"!\n"),
            _file(b"lnk/through", b"lower symlink\n"), _file(b"abs/passwd", b"abs link\n"),
            Member(header(b"hl", b"1", linkname=b"../outside")),
            Member(header(b"hl2", b"1", linkname=b"lnk"))),
        "ids-and-modes": _tar(
            Member(_base256_ids(header(b"base256", b"0", mode=0o7777)), b"b256\n"),
            _with_xattrs(_file(b"paxids", b"x"), (b"uid", b"65536"), (b"gid", b"1000"),
                         (b"mtime", b"1654041600.5")),
            _with_xattrs(_file(b"noid", b"x"), (b"uid", b"4294967295")),
            Member(header(b"name", b"0", prefix=b"ustar/prefix/dir"), b"prefixed\n"),
            Member(header(b"v7-file", b"\x00", magic=b"\x00" * 8), b"v7\n"),
            Member(header(b"v7-dir/", b"\x00", magic=b"\x00" * 8))),
    }
    return shapes


def malformed_shapes(shapes: dict[str, bytes]) -> dict[str, bytes]:
    good = shapes["creator-ee"]
    bad_sum = bytearray(good)
    bad_sum[148:156] = b"0000000\0"
    lone_zero = shapes["devices"][:512] + bytes(512) + shapes["devices"][512:]
    bad_pax = serialise(Tar([Member(header(b"PaxHeader/x", b"x"), b"99 path=x\n"),
                             Member(header(b"x"), b"")]))
    return {"bad-checksum": bytes(bad_sum), "truncated": good[:700],
            "lone-zero-block": lone_zero, "bad-pax-length": bad_pax,
            "sparse": serialise(Tar([Member(header(b"sparse", b"S"), b"")]))}


def choice_streams(seed: str, count: int, length: int, first=None) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        head = bytes([i if first is None else first])
        out.append(head + bytes(rng.randrange(256) for _ in range(length)))
    return out


def seeds() -> dict[str, list[bytes]]:
    shapes = tar_shapes()
    layer = list(shapes.values())
    # selectors: containerd-legacy as root, moby as root, containerd rootless,
    # umoci rootless, gnu-tar on tmpfs, moby on a filesystem without xattrs
    for shape, selector in (("creator-ee", 1), ("creator-ee", 2), ("creator-ee", 10),
                            ("devices", 15), ("overlay-acl-names", 26), ("creator-ee", 32),
                            ("capabilities", 11), ("escapes", 8), ("hardlinks", 4)):
        layer.append(shapes[shape] + bytes([selector]))
    reader = list(shapes.values()) + list(malformed_shapes(shapes).values())
    xattr = choice_streams("xattr", 8, 240) + [bytes(64), b"\xff" * 64]
    kernel_diff = choice_streams("kernel_diff", 6, 240, first=None)
    return {"layer": layer, "reader": reader, "xattr": xattr, "kernel_diff": kernel_diff}


def expected() -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for target, datas in seeds().items():
        for data in datas:
            files[CORPUS / target / hashlib.sha1(data).hexdigest()] = data
    for name, target in TARGETS.items():
        files[HERE / f"{name}_fuzzer.dict"] = dictionary_text(target).encode()
        files[HERE / f"{name}_fuzzer.options"] = options_text(target).encode()
    return files


def stale(files: dict[Path, bytes]) -> list[str]:
    problems = []
    for path, data in sorted(files.items()):
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from what make_seeds.py writes")
    for target in TARGETS:
        directory = CORPUS / target
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if (path.is_file() and path not in files
                        and path.name != hashlib.sha1(path.read_bytes()).hexdigest()):
                    problems.append(f"{path}: neither written by make_seeds.py nor named by "
                                    f"its sha1 as a campaign's input (remove it, or move a "
                                    f"crash reproducer to {directory}/regressions/)")
    for path in sorted(HERE.glob("*_fuzzer.dict")) + sorted(HERE.glob("*_fuzzer.options")):
        if path not in files:
            problems.append(f"{path}: not written by make_seeds.py (remove it)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any file is stale, missing or extra")
    args = parser.parse_args(argv)
    files = expected()
    if args.check:
        problems = stale(files)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `python fuzz/make_seeds.py` to rewrite them", file=sys.stderr)
        return 1 if problems else 0
    for path, data in files.items():
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {os.path.relpath(path, ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
