"""Hostile layers for the applier and the reader (the catalogue in shared/research/attacks.md).

Three parts:

* **Raw tar** — :func:`header`, :func:`member`, :func:`pax`, :func:`gnu_long`,
  :func:`layer`: every block written by hand (checksum, octal or base-256
  numbers, PAX records with their self-counting length), so malformed shapes
  ``tarfile`` refuses to write are one keyword away (``patch={offset: bytes}``,
  ``size=`` that disagrees with the data, raw ``bytes`` for any numeric field).
* **Targets** — :func:`make_target` / :func:`make_site`: an extraction root with
  canaries around it, and ``read_outside()`` (a snapshot of everything outside
  the root) and ``read_inside()`` (the same for the root's own tree). A *kind*
  is one function ``tmp_path -> Site`` registered in :data:`KINDS`;
  :func:`site_on_kernel` lays the canaries out on any backend with the
  syscall-shaped interface (SimKernel, HostKernel, or
  :class:`fsmodel.testing.backends.OsCalls` over a real directory).
* **Cases** — :data:`CASES`: the P/L/W/D attacks as data (layers, allowed
  outcomes, and a ``check`` for the right answer where there is one), shared by
  ``tests/unit/test_attacks.py`` and ``tests/kernel/test_attacks_kernel.py``.

Absolute link targets in the cases name ``/outside/...`` (the canary directory).
On a simulated or chrooted backend that is the canary; a real-filesystem kind
without a chroot should know that a confinement bug would point them at the
host's own ``/outside``.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field

from fsmodel.layer import Data, Limits, MalformedLayer, iter_layer
from fsmodel.layer.apply import Applier, ExtractionFailed, KernelTarget, UnsafeEntry
from fsmodel.layer.policies import get_policy

BLOCK = 512
DEFAULT_LIMITS = Limits()

# =========================================================================== raw tar

USTAR, GNU, V7, STAR = "ustar", "gnu", "v7", "star"


def _b(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


def octal(n: int, width: int) -> bytes:
    """``width-1`` zero-padded octal digits and a NUL (what Go and tarfile write)."""
    digits = b"%0*o" % (width - 1, n)
    if len(digits) > width - 1:
        raise ValueError(f"{n} does not fit {width - 1} octal digits; use base256()")
    return digits + b"\0"


def base256(n: int, width: int) -> bytes:
    """GNU base-256: 0x80 and a big-endian value, or a negative two's complement (0xff...)."""
    if n >= 0:
        return b"\x80" + n.to_bytes(width - 1, "big")
    raw = n.to_bytes(width, "big", signed=True)
    assert raw[0] == 0xFF
    return raw


def _field(value, width: int, numeric: bool) -> bytes:
    if isinstance(value, int) and numeric:
        value = octal(value, width) if value >= 0 and len(b"%o" % value) < width \
            else base256(value, width)
    raw = _b(value)
    if len(raw) > width:
        raise ValueError(f"{raw!r} is longer than the {width}-byte field")
    return raw.ljust(width, b"\0")


def checksum(block: bytes, signed: bool = False) -> int:
    rest = block[:148] + b" " * 8 + block[156:]
    if signed:
        return sum(b - 256 if b > 127 else b for b in rest)
    return sum(rest)


def with_checksum(block: bytes, value: int | bytes | None = None, signed: bool = False) -> bytes:
    """``block`` with its checksum field rewritten (``value``: raw field bytes or a number)."""
    if value is None:
        value = checksum(block, signed)
    if isinstance(value, int):
        value = b"%06o\0 " % value
    return block[:148] + value.ljust(8, b"\0")[:8] + block[156:]


def patched(block: bytes, patch: dict[int, bytes], fix_checksum: bool = True) -> bytes:
    """``block`` with raw bytes written at offsets, checksum recomputed."""
    buf = bytearray(block)
    for offset, raw in patch.items():
        buf[offset:offset + len(raw)] = raw
    return with_checksum(bytes(buf)) if fix_checksum else bytes(buf)


def header(name, typeflag: bytes = b"0", *, mode=0o644, uid=0, gid=0, size=0, mtime=0,
           linkname=b"", fmt: str = USTAR, uname=b"root", gname=b"root", devmajor=0,
           devminor=0, prefix=b"", patch: dict[int, bytes] | None = None,
           signed_checksum: bool = False) -> bytes:
    """One 512-byte header block. Numeric fields take an int (octal, or base-256 when it
    does not fit) or raw ``bytes``; ``patch`` overwrites raw bytes before the checksum."""
    buf = bytearray(BLOCK)

    def put(offset, width, value, numeric=False):
        buf[offset:offset + width] = _field(value, width, numeric)

    put(0, 100, name)
    put(100, 8, mode, True)
    put(108, 8, uid, True)
    put(116, 8, gid, True)
    put(124, 12, size, True)
    put(136, 12, mtime, True)
    buf[156:157] = typeflag
    put(157, 100, linkname)
    if fmt == USTAR or fmt == STAR:
        buf[257:265] = b"ustar\x0000"
    elif fmt == GNU:
        buf[257:265] = b"ustar  \0"
    if fmt != V7:
        put(265, 32, uname)
        put(297, 32, gname)
        put(329, 8, devmajor, True)
        put(337, 8, devminor, True)
    if fmt == USTAR:
        put(345, 155, prefix)
    elif fmt == STAR:
        put(345, 131, prefix)
        buf[508:512] = b"tar\0"
    for offset, raw in (patch or {}).items():
        buf[offset:offset + len(raw)] = raw
    return with_checksum(bytes(buf), signed=signed_checksum)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def pax_record(key, value) -> bytes:
    """``"<len> <key>=<value>\\n"`` with the self-counting length."""
    payload = b" " + _b(key) + b"=" + _b(value) + b"\n"
    n = len(payload) + len(str(len(payload)))
    if len(str(n)) + len(payload) != n:
        n += 1
    return str(n).encode() + payload


def pax(records, typeflag: bytes = b"x", *, name=b"././@PaxHeader", size=None,
        body: bytes | None = None) -> bytes:
    """A PAX ``x`` (or ``g``) header and its body. ``records``: ``(key, value)`` pairs;
    ``body`` replaces the encoded records (raw, possibly malformed); ``size`` lies."""
    if body is None:
        body = b"".join(pax_record(k, v) for k, v in records)
    declared = len(body) if size is None else size
    return header(name, typeflag, size=declared, mode=0o644) + pad(body)


def gnu_long(name, typeflag: bytes = b"L", *, nul: bool = True, size=None) -> bytes:
    """A GNU ``L`` (long name) or ``K`` (long link) extension header and its body."""
    body = _b(name) + (b"\0" if nul else b"")
    declared = len(body) if size is None else size
    return header(b"././@LongLink", typeflag, size=declared, fmt=GNU, mode=0) + pad(body)


_TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "chr": b"3", "blk": b"4",
              "dir": b"5", "fifo": b"6", "contig": b"7"}


def member(name, kind: str = "file", data: bytes = b"", *, target="", mode=None, uid=0, gid=0,
           xattrs: dict | None = None, records: list | None = None, major=0, minor=0,
           fmt: str = USTAR, size=None, typeflag: bytes | None = None, mtime=0,
           patch: dict[int, bytes] | None = None) -> bytes:
    """One archive member: an optional PAX ``x`` header (``records``, ``SCHILY.xattr.``
    for ``xattrs``, ``path``/``linkpath`` when a name does not fit 100 bytes), the
    header block, and ``data`` padded to a block. ``size`` overrides the declared size."""
    name_b, target_b = _b(name), _b(target)
    extra = list(records or [])
    if len(name_b) > 100:
        extra.append(("path", name_b))
        name_b = name_b[:50]
    if len(target_b) > 100:
        extra.append(("linkpath", target_b))
        target_b = target_b[:50]
    for key, value in (xattrs or {}).items():
        extra.append((b"SCHILY.xattr." + _b(key), _b(value)))
    if mode is None:
        mode = 0o755 if kind == "dir" else 0o644
    declared = len(data) if size is None else size
    out = pax(extra) if extra else b""
    out += header(name_b, typeflag or _TYPEFLAGS[kind], mode=mode, uid=uid, gid=gid,
                  size=declared, linkname=target_b, fmt=fmt, devmajor=major, devminor=minor,
                  mtime=mtime, patch=patch)
    return out + pad(data)


m = member  # the cases below use it a lot

EOF_BLOCKS = bytes(2 * BLOCK)


def layer(*parts: bytes, eof: bool = True) -> bytes:
    """Members (and raw blocks) in order, then the two zero blocks."""
    return b"".join(parts) + (EOF_BLOCKS if eof else b"")


# =========================================================================== snapshots

Node = namedtuple("Node", "type mode uid gid size target rdev nlink ino xattrs")
"""One path of a snapshot: ``type`` is dir/file/symlink/fifo/chr/blk/sock; ``size``
only for files (the simulation keeps sizes, not bytes), ``target`` only for symlinks,
``rdev`` only for devices; ``xattrs`` a sorted tuple of (name, value)."""

_TYPES = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
          stat.S_IFIFO: "fifo", stat.S_IFCHR: "chr", stat.S_IFBLK: "blk",
          stat.S_IFSOCK: "sock"}


def node_of(k, path: str) -> Node:
    st = k.lstat(path)
    kind = _TYPES.get(stat.S_IFMT(st.st_mode), "?")
    xattrs = []
    for name in k.llistxattr(path):
        try:
            xattrs.append((name, k.lgetxattr(path, name)))
        except OSError as exc:
            xattrs.append((name, f"errno {exc.errno}"))
    return Node(kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                st.st_size if kind == "file" else None,
                k.readlink(path) if kind == "symlink" else None,
                st.st_rdev if kind in ("chr", "blk") else None,
                st.st_nlink, st.st_ino, tuple(sorted(xattrs)))


def walk(k, start: str, exclude=None, relative: bool = False) -> dict[str, Node]:
    """Every path under ``start`` (itself included, the subtrees of ``exclude`` — a path
    or a collection of paths — left out), by lstat.

    Iterative, so a hostile 10 000-deep tree does not exhaust Python's stack."""
    start = start.rstrip("/") or "/"
    excluded = {exclude} if isinstance(exclude, str) else set(exclude or ())
    out: dict[str, Node] = {}
    stack = [start]
    while stack:
        path = stack.pop()
        if path in excluded:
            continue
        node = node_of(k, path)
        key = path
        if relative:
            key = "/" + path[len(start):].lstrip("/") if path != start else "/"
        out[key] = node
        if node.type == "dir":
            base = path.rstrip("/")
            stack.extend(base + "/" + name for name in k.listdir(path))
    return out


def diff(before: dict, after: dict) -> str:
    lines = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a != b:
            lines.append(f"  {path}: {a} -> {b}")
    return "\n".join(lines)


# =========================================================================== targets

@dataclass
class Site:
    """An extraction root on a backend, with canaries around it.

    ``read_outside()`` snapshots everything outside the root (the canaries, the
    root's parent); ``read_inside()`` the root's own tree, keyed ``"/"``,
    ``"/a"``... ``kernel`` is the backend (``None`` if the kind has none)."""

    target: KernelTarget
    read_outside: Callable[[], dict]
    read_inside: Callable[[], dict]
    kernel: object = None


#: Canaries, relative to the layout's base. Files carry content and an xattr.
CANARY_FILES = {
    "canary": (b"parent-of-root canary\n", 0o644),
    "outside/canary": (b"canary\n", 0o644),
    "outside/sub/inner": (b"inner canary\n", 0o600),
    "outside/setuid": (b"\x7fELF", 0o755),
    "root-evil/f": (b"sibling-prefix canary\n", 0o644),
    "etc/passwd": (b"root:x:0:0::/root:/bin/sh\n", 0o644),
    "etc/shadow": (b"root:*:1::::::\n", 0o640),
}
CANARY_DIRS = ("outside", "outside/sub", "outside/empty", "root-evil", "etc")
CANARY_LINKS = {"outside/link": "canary", "outside/abs": "/outside/canary",
                "outside/up": ".."}


def plant_canaries(k, base: str = "/") -> None:
    """The canary layout under ``base`` (the extraction root is ``base/root``)."""
    b = base.rstrip("/")
    k.chmod(b or "/", 0o755)
    for d in CANARY_DIRS:
        k.mkdir(f"{b}/{d}", 0o755)
        k.chmod(f"{b}/{d}", 0o755)
        k.lsetxattr(f"{b}/{d}", "user.canary", d.encode())
    for rel, (content, mode) in CANARY_FILES.items():
        path = f"{b}/{rel}"
        fd = k.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        k.write(fd, content)
        k.close(fd)
        k.lchown(path, 1000, 1000)
        k.chmod(path, mode)
        k.lsetxattr(path, "user.canary", rel.encode())
    for rel, target in CANARY_LINKS.items():
        k.symlink(target, f"{b}/{rel}")
    k.mkdir(f"{b}/root", 0o755)
    k.chmod(f"{b}/root", 0o755)


def site_on_kernel(k, base: str = "/") -> Site:
    """Canaries on backend ``k`` under ``base``, and a target rooted at ``base/root``."""
    plant_canaries(k, base)
    b = base.rstrip("/")
    root = f"{b}/root"
    return Site(
        target=KernelTarget(k, root),
        read_outside=lambda: walk(k, b or "/", exclude=root),
        read_inside=lambda: walk(k, root, relative=True),
        kernel=k,
    )


def _sim_site(tmp_path) -> Site:
    from fsmodel import SimKernel

    return site_on_kernel(SimKernel("ext4"))


#: kind -> function(tmp_path) -> Site. Add a kind with one function returning a Site; e.g.
#: a real directory: the target over ``tmp_path/root``, ``read_outside=lambda: walk(OsCalls(),
#: str(tmp_path), exclude=root)``, ``read_inside=lambda: walk(OsCalls(), root, relative=True)``
#: after ``plant_canaries(OsCalls(), str(tmp_path))`` (``kernel=None`` skips the mount test).
KINDS: dict[str, Callable[[object], Site]] = {"sim": _sim_site}


def make_site(kind: str, tmp_path) -> Site:
    return KINDS[kind](tmp_path)


def make_target(kind: str, tmp_path):
    """``(target, read_outside)`` for ``kind`` (see :data:`KINDS`)."""
    site = make_site(kind, tmp_path)
    return site.target, site.read_outside


# =========================================================================== applying

ANY = frozenset({"ok", "unsafe", "malformed", "failed"})


@dataclass
class Outcome:
    """How applying the layers ended: ``ok``, ``unsafe`` (UnsafeEntry), ``malformed``
    (MalformedLayer) or ``failed`` (ExtractionFailed); ``layer`` is the index of the
    layer that ended it. Any other exception is not caught: it is a bug."""

    kind: str
    error: Exception | None = None
    layer: int = 0
    reports: list = field(default_factory=list)

    @property
    def warnings(self):
        return [w for r in self.reports for w in r.warnings]


def apply_layers(target, layers, policy: str = "containerd", *, privilege: str = "root",
                 limits: Limits = DEFAULT_LIMITS, chunk_size: int = 65536) -> Outcome:
    """Apply ``layers`` bottom to top, one Applier each, stopping at the first refusal."""
    reports = []
    for i, data in enumerate(layers):
        applier = Applier(target, get_policy(policy), privilege=privilege,
                          layer=f"sha256:layer{i}")
        try:
            reports.append(applier.apply(iter_layer(
                data, chunk_size=chunk_size, limits=limits,
                pax_globals=applier.policy.pax_globals)))
        except UnsafeEntry as exc:
            return Outcome("unsafe", exc, i, reports)
        except MalformedLayer as exc:
            return Outcome("malformed", exc, i, reports)
        except ExtractionFailed as exc:
            return Outcome("failed", exc, i, reports)
    return Outcome("ok", None, len(layers), reports)


def attack(site: Site, layers, policy: str = "containerd", **kw) -> Outcome:
    """Apply ``layers`` and assert that nothing outside the root changed."""
    before = site.read_outside()
    outcome = apply_layers(site.target, layers, policy, **kw)
    after = site.read_outside()
    assert after == before, (f"outside the root changed ({outcome.kind}: {outcome.error}):\n"
                             + diff(before, after))
    return outcome


# =========================================================================== reading

def merged(events) -> list:
    """Events with consecutive Data chunks of one entry joined (chunking-independent)."""
    out = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data) \
                and out[-1].index == event.index:
            out[-1] = Data(event.index, out[-1].chunk + event.chunk)
        else:
            out.append(event)
    return out


def read(data: bytes, chunk_size: int = 65536, limits: Limits = DEFAULT_LIMITS):
    """``("events", [...])`` or ``("malformed", index, offset, reason)``; any other
    exception propagates."""
    try:
        return ("events", merged(iter_layer(data, chunk_size=chunk_size, limits=limits)))
    except MalformedLayer as exc:
        return ("malformed", exc.index, exc.offset, exc.reason)


def read_consistently(data: bytes, limits: Limits = DEFAULT_LIMITS, chunk_sizes=None):
    """Read ``data`` whole and in small chunks (1 byte when it is small); assert the
    results agree and return one."""
    if chunk_sizes is None:
        chunk_sizes = (1, 65536) if len(data) <= 96 * 1024 else (509, 4096, 1 << 20)
    results = [read(data, n, limits) for n in chunk_sizes]
    for n, result in zip(chunk_sizes[1:], results[1:]):
        assert result == results[0], (f"chunk_size={chunk_sizes[0]} and {n} disagree:\n"
                                      f"{results[0]!r:.2000}\n{result!r:.2000}")
    return results[0]


# =========================================================================== cases

@dataclass(frozen=True)
class Case:
    """One attack: ``layers`` applied bottom to top. ``allowed``: the outcome kinds
    that are acceptable; ``check(inside, outcome)`` asserts the right answer on the
    root's tree. ``heavy`` cases run under one policy only."""

    cls: str
    id: str
    layers: tuple
    allowed: frozenset = ANY
    check: Callable | None = None
    heavy: bool = False

    def __repr__(self):
        return f"{self.cls}-{self.id}"


CASES: list[Case] = []


def case(cls, id, *layers, allowed=ANY, check=None, heavy=False):
    if isinstance(allowed, str):
        allowed = frozenset({allowed})
    CASES.append(Case(cls, id, tuple(layers), frozenset(allowed), check, heavy))


def cases(cls: str) -> list[Case]:
    return [c for c in CASES if c.cls == cls]


def run_case(site: Site, c: Case, policy: str = "containerd") -> Outcome:
    """The property every P/L/W/D case keeps, then its own right answer."""
    outcome = attack(site, c.layers, policy)
    assert outcome.kind in c.allowed, (
        f"{c!r}: {outcome.kind} ({outcome.error}), expected one of {sorted(c.allowed)}")
    if c.check is not None:
        c.check(site.read_inside(), outcome)
    return outcome


# -- checks: each returns check(inside, outcome)

def checks(*fns):
    def check(inside, outcome):
        for fn in fns:
            fn(inside, outcome)
    return check


def is_(path, type=None, **fields):
    def check(inside, outcome):
        assert path in inside, f"{path} missing; the root holds {sorted(inside)}"
        node = inside[path]
        if type is not None:
            assert node.type == type, f"{path} is a {node.type}, expected a {type}"
        for name, value in fields.items():
            assert getattr(node, name) == value, \
                f"{path}.{name} = {getattr(node, name)!r}, expected {value!r}"
    return check


def gone(path):
    def check(inside, outcome):
        assert path not in inside, f"{path} still exists: {inside[path]}"
    return check


def children(path, names):
    def check(inside, outcome):
        prefix = path.rstrip("/") + "/"
        got = {p[len(prefix):] for p in inside if p.startswith(prefix) and p != prefix
               and "/" not in p[len(prefix):]}
        assert got == set(names), f"{path} holds {sorted(got)}, expected {sorted(names)}"
    return check


def same_inode(a, b):
    def check(inside, outcome):
        assert inside[a].ino == inside[b].ino, f"{a} and {b} are different inodes"
    return check


def when_ok(*fns):
    """Checks that apply only if the layers were applied."""
    inner = checks(*fns)

    def check(inside, outcome):
        if outcome.kind == "ok":
            inner(inside, outcome)
    return check


def root_is_directory(inside, outcome):
    assert inside["/"].type == "dir", f"the root became a {inside['/'].type}"


def no_whiteout_leaves(inside, outcome):
    """No whiteout or AUFS entry was created as itself (only as an implied parent dir)."""
    bad = [p for p, n in inside.items() if p.rsplit("/", 1)[-1].startswith(".wh.")
           and n.type != "dir"]
    assert not bad, f"whiteout entries were created: {bad}"


D = b"pwned!"  # content a hostile entry tries to write


# -- P1 '..' traversal: refused, whatever spelling ------------------------------------------

for _id, _name in [("dotdot", "../../evil"), ("inner-dotdot", "a/../../evil"),
                   ("dot-dotdot", "./../evil"), ("deep-dotdot", "a/b/../../../evil"),
                   ("canary", "../outside/canary"), ("deep-canary", "x/y/../../../outside/canary")]:
    case("P1", _id, layer(m(_name, data=D, mode=0o4777)), allowed="unsafe")
case("P1", "dir", layer(m("../outside/sub/", "dir", mode=0o777, uid=1000)), allowed="unsafe")
case("P1", "symlink", layer(m("../outside/link", "symlink", target="/")), allowed="unsafe")
case("P1", "hardlink-name", layer(m("x", data=b"x"), m("../outside/h", "hardlink", target="x")),
     allowed="unsafe")
case("P1", "fifo", layer(m("../outside/fifo", "fifo")), allowed="unsafe")
case("P1", "pax-path", layer(pax([("path", "../outside/canary")]) + m("benign", data=D)),
     allowed="unsafe")
case("P1", "pax-path-long", layer(m("a/" * 60 + "../" * 61 + "outside/canary", data=D)),
     allowed="unsafe")
case("P1", "gnu-longname", layer(gnu_long("../outside/canary") + m("benign", data=D, fmt=GNU)),
     allowed="unsafe")
case("P1", "after-benign", layer(m("ok", data=b"1"), m("../outside/canary", data=D)),
     allowed="unsafe")

# -- P2 absolute names: root-relative ---------------------------------------------------------

for _id, _name in [("abs", "/outside/canary"), ("double-slash", "//outside/canary"),
                   ("many-slashes", "////outside/canary")]:
    case("P2", _id, layer(m(_name, data=D, mode=0o4755)), allowed="ok",
         check=is_("/outside/canary", "file", size=len(D), mode=0o4755))
case("P2", "abs-pax", layer(pax([("path", "/outside/canary")]) + m("x", data=D)), allowed="ok",
     check=is_("/outside/canary", "file", size=len(D)))
case("P2", "abs-dir", layer(m("/outside/sub/", "dir", mode=0o777)), allowed="ok",
     check=is_("/outside/sub", "dir", mode=0o777))
case("P2", "abs-dotdot", layer(m("/../outside/canary", data=D)), allowed="unsafe")
case("P2", "abs-hardlink-target", layer(m("h", "hardlink", target="/outside/canary")),
     allowed="failed")
for _id, _name in [("drive", "C:\\x"), ("drive-relative", "C:x"), ("unc", "\\\\srv\\x"),
                   ("backslash-rooted", "\\x")]:
    case("P2", _id, layer(m(_name, data=D)), allowed={"ok", "unsafe"},
         check=when_ok(is_("/" + _name, "file")))

# -- P3 symlink, then write through it (same layer) -------------------------------------------

_w = {"data": D, "mode": 0o4777, "uid": 0, "xattrs": {"user.pwned": "1"}}
case("P3", "abs-dir-link", layer(m("a", "symlink", target="/outside"), m("a/canary", **_w)),
     check=when_ok(is_("/a", "symlink", target="/outside"),
                   is_("/outside/canary", "file", size=len(D))))
case("P3", "rel-dir-link",
     layer(m("a", "symlink", target="../../../outside"), m("a/canary", **_w)),
     check=when_ok(is_("/outside/canary", "file", size=len(D))))
case("P3", "dot-chain",
     layer(m("a", "symlink", target="."), m("b", "symlink", target="a/.."),
           m("b/outside/canary", **_w)),
     check=when_ok(is_("/outside/canary", "file")))
case("P3", "dotdot-link",
     layer(m("a", "symlink", target=".."), m("a/outside/canary", **_w)),
     check=when_ok(is_("/outside/canary", "file")))
case("P3", "parent-of-root",
     layer(m("a", "symlink", target="../"), m("a/canary", **_w)),
     check=when_ok(is_("/canary", "file", size=len(D))))
case("P3", "dir-then-link",
     layer(m("a/", "dir"), m("a", "symlink", target="/outside"), m("a/canary", **_w)),
     check=when_ok(is_("/a", "symlink")))
case("P3", "dir-through-link",
     layer(m("a", "symlink", target="/outside"), m("a/sub/", "dir", mode=0o777, uid=1000)),
     check=when_ok(is_("/outside/sub", "dir", mode=0o777, uid=1000)))
case("P3", "link-through-link",
     layer(m("a", "symlink", target="/outside"), m("a/link", "symlink", target="/")),
     check=when_ok(is_("/outside/link", "symlink", target="/")))
case("P3", "hardlink-through-link",
     layer(m("a", "symlink", target="/outside"), m("h", "hardlink", target="a/canary")),
     allowed={"failed", "unsafe"})
case("P3", "hardlink-into-link",
     layer(m("a", "symlink", target="../outside"), m("f", data=b"x"),
           m("a/canary", "hardlink", target="f")),
     check=when_ok(same_inode("/f", "/outside/canary")))
case("P3", "fifo-through-root-link",
     layer(m("a", "symlink", target="/"), m("a/outside/fifo", "fifo")),
     check=when_ok(is_("/outside/fifo", "fifo")))
case("P3", "device-through-link",
     layer(m("a", "symlink", target="/outside"), m("a/null", "chr", major=1, minor=3)),
     check=when_ok(is_("/outside/null", "chr", rdev=os.makedev(1, 3))))
case("P3", "file-link-then-file",
     layer(m("a", "symlink", target="/outside/canary"), m("a", data=D, mode=0o4777, uid=1)),
     allowed="ok", check=is_("/a", "file", size=len(D), mode=0o4777, uid=1))
case("P3", "file-link-then-dir",
     layer(m("a", "symlink", target="../outside/canary"), m("a/", "dir", mode=0o700)),
     allowed="ok", check=is_("/a", "dir", mode=0o700))
case("P3", "xattr-on-link",
     layer(m("a", "symlink", target="/outside/canary",
             xattrs={"user.pwned": "1", "security.pwned": "1", "trusted.pwned": "1"})),
     allowed={"ok", "failed"})
case("P3", "long-relative",
     layer(m("a", "symlink", target="../" * 40 + "outside"), m("a/canary", **_w)),
     check=when_ok(is_("/outside/canary", "file")))
case("P3", "nested-link",
     layer(m("a/b/", "dir"), m("a/b/c", "symlink", target="../../../outside"),
           m("a/b/c/canary", **_w), m("a/b/c/sub/inner", **_w)),
     check=when_ok(is_("/outside/canary", "file"), is_("/outside/sub/inner", "file")))

# -- P4 symlink planted by one layer, used by the next -----------------------------------------

case("P4", "usr-lib",
     layer(m("usr/", "dir"), m("usr/lib", "symlink", target="/outside")),
     layer(m("usr/lib/canary", **_w), m("usr/lib/sub/inner", **_w)),
     check=when_ok(is_("/outside/canary", "file"), is_("/outside/sub/inner", "file")))
case("P4", "cve-2025-45582",
     layer(m("x", "symlink", target="../../outside")),
     layer(m("x/authorized_keys", data=b"ssh-ed25519 AAAA attacker\n")),
     check=when_ok(is_("/outside/authorized_keys", "file")))
case("P4", "deep-relative",
     layer(m("a/b/", "dir"), m("a/b/c", "symlink", target="../../../../outside")),
     layer(m("a/b/c/sub/", "dir", mode=0o777), m("a/b/c/sub/f", **_w)),
     check=when_ok(is_("/outside/sub/f", "file")))
case("P4", "hardlink-next-layer",
     layer(m("l", "symlink", target="/outside")),
     layer(m("h", "hardlink", target="l/canary")), allowed={"failed", "unsafe"})
case("P4", "self-absolute",
     layer(m("outside", "symlink", target="/outside")),
     layer(m("outside/canary", data=D)), allowed={"unsafe", "failed"})
case("P4", "three-layers",
     layer(m("a", "symlink", target="b")),
     layer(m("b", "symlink", target="/outside")),
     layer(m("a/canary", **_w)),
     check=when_ok(is_("/outside/canary", "file")))
case("P4", "dir-over-link",
     layer(m("a", "symlink", target="/outside")),
     layer(m("a/", "dir", mode=0o700, uid=1000)), allowed="ok",
     check=is_("/a", "dir", mode=0o700, uid=1000))
case("P4", "chmod-chown-via-link",
     layer(m("a", "symlink", target="/outside")),
     layer(m("a/", "dir", mode=0o777, uid=1234), m("a/setuid", data=b"", mode=0o6777, uid=0)),
     allowed="ok", check=checks(is_("/a", "dir"), is_("/a/setuid", "file", mode=0o6777)))


# -- P5 symlink chains that defeat realpath ----------------------------------------------------

def _pep706(comp_len: int, steps: str, link_len: int) -> bytes:
    """gh-135034's shape: nested long dirs each with a sibling symlink stepping into it,
    a link at the bottom climbing back up, and an escape through it."""
    comp = "d" * comp_len
    parts, path, step_path = [], "", ""
    for s in steps:
        parts.append(m(f"{path}{comp}", "dir"))
        parts.append(m(f"{path}{s}", "symlink", target=comp))
        path += comp + "/"
        step_path += s + "/"
    linkpath = step_path + "l" * link_len
    parts.append(m(linkpath, "symlink", target="../" * len(steps)))
    parts.append(m("escape", "symlink", target=linkpath + "/../../outside"))
    parts.append(m("escape/canary", data=D, mode=0o4777))
    parts.append(m("hl", "hardlink", target="escape/canary"))
    return layer(*parts)


case("P5", "pep706-short", _pep706(100, "abcdefgh", 100),
     check=when_ok(is_("/outside/canary", "file")))
case("P5", "pep706-pathmax", _pep706(247, "abcdefghijklmnop", 254))
case("P5", "forty-one-hops",
     layer(*[m(f"s{i}", "symlink", target=f"s{i + 1}") for i in range(41)],
           m("s41", "symlink", target="/outside"), m("s0/canary", data=D)),
     allowed={"unsafe", "failed"})
case("P5", "self-loop", layer(m("s", "symlink", target="s"), m("s/x", data=D)),
     allowed={"unsafe", "failed"})
case("P5", "mutual-loop-dotdot",
     layer(m("a", "symlink", target="b/.."), m("b", "symlink", target="a/.."),
           m("a/outside/canary", data=D)), allowed={"unsafe", "failed"})

# -- P6 the root replaced, or the root entry abused -------------------------------------------

for _id, _part in [
        ("dot-slash-symlink", m("./", "symlink", target="/")),
        ("slash-symlink-outside", m("/", "symlink", target="/outside")),
        ("dot-symlink-rel", m(".", "symlink", target="../outside")),
        ("dot-file", m(".", data=D)),
        ("empty-name-file", m("", data=D)),
        ("dot-hardlink", m("f", data=b"x") + m(".", "hardlink", target="f")),
        ("dot-fifo", m("./", "fifo")),
        ("dot-chr", m(".", "chr", major=1, minor=3)),
        ("pax-dot-symlink", pax([("path", ".")]) + m("x", "symlink", target="/outside"))]:
    case("P6", _id, layer(_part, m("after", data=D)), allowed="unsafe",
         check=checks(root_is_directory, is_("/", "dir", mode=0o755), gone("/after")))
case("P6", "refused-then-next-layer",
     layer(m("./", "symlink", target="/outside")), allowed="unsafe", check=root_is_directory)
case("P6", "dot-dir-mode-0000",
     layer(m("./", "dir", mode=0), m("a/b", data=D), m("c/", "dir")), allowed="ok",
     check=checks(is_("/", "dir", mode=0), is_("/a/b", "file"), is_("/c", "dir")))
case("P6", "dot-dir-owner",
     layer(m("./", "dir", mode=0o700, uid=1000, gid=1000)), allowed="ok",
     check=is_("/", "dir", mode=0o700, uid=1000, gid=1000))

# -- P7 sibling-prefix confusion: /root vs /root-evil -----------------------------------------

case("P7", "hardlink-sibling", layer(m("h", "hardlink", target="../root-evil/f")),
     allowed="unsafe")
case("P7", "file-sibling", layer(m("../root-evil/f", data=D)), allowed="unsafe")
case("P7", "symlink-sibling-dir",
     layer(m("s", "symlink", target="../root-evil"), m("s/f", data=D)), allowed="ok",
     check=checks(is_("/s", "symlink"), is_("/root-evil/f", "file", size=len(D))))
case("P7", "abs-symlink-sibling",
     layer(m("s", "symlink", target="/root-evil"), m("s/f", data=D)), allowed="ok",
     check=is_("/root-evil/f", "file", size=len(D)))
case("P7", "hardlink-to-sibling-link",
     layer(m("s", "symlink", target="../root-evil/f"), m("h", "hardlink", target="s", mode=0o4777)),
     allowed="ok", check=checks(is_("/h", "symlink", target="../root-evil/f"),
                                same_inode("/h", "/s")))

# -- P8 names the platform cannot hold ---------------------------------------------------------

case("P8", "name-max", layer(m("n" * 255, data=D)), allowed="ok",
     check=is_("/" + "n" * 255, "file"))
case("P8", "name-too-long", layer(m("n" * 256, data=D)), allowed={"failed", "unsafe"})
case("P8", "dir-name-too-long", layer(m("n" * 256 + "/f", data=D)),
     allowed={"failed", "unsafe"})
case("P8", "path-too-long", layer(m("/".join(["p" * 250] * 17) + "/f", data=D)),
     allowed={"failed", "unsafe"})
case("P8", "deep-10000", layer(m("a/" * 10000 + "f", data=D)), allowed={"failed", "unsafe"},
     heavy=True)
case("P8", "pax-nul-path", layer(pax([("path", b"ok\0../../outside/canary")]) + m("x", data=D)),
     allowed="malformed")
case("P8", "gnu-long-nul",
     layer(gnu_long(b"good\0../../outside/canary", nul=True) + m("x", data=D, fmt=GNU)),
     allowed={"ok", "malformed"}, check=when_ok(is_("/good", "file"), children("/", ["good"])))
case("P8", "ustar-nul-in-name",
     layer(m("x", data=D, patch={0: b"ok\0../../outside/canary"})), allowed="ok",
     check=checks(is_("/ok", "file"), children("/", ["ok"])))
case("P8", "not-utf8", layer(m(b"caf\xe9", data=D)), allowed="ok",
     check=is_("/caf\udce9", "file"))
case("P8", "hdrcharset-binary",
     layer(pax([("hdrcharset", "BINARY"), ("path", b"\xff\xfe/../\xfe")]) + m("x", data=D)),
     allowed="ok", check=is_("/\udcfe", "file"))

# -- P9 empty, dot and trailing-slash names ----------------------------------------------------

case("P9", "empty-file", layer(m("", data=D)), allowed="unsafe", check=root_is_directory)
case("P9", "dot-dir", layer(m(".", "dir", mode=0o711)), allowed="ok",
     check=is_("/", "dir", mode=0o711))
case("P9", "slashes-dir", layer(m("///", "dir", mode=0o750)), allowed="ok",
     check=is_("/", "dir", mode=0o750))
case("P9", "slashes-file", layer(m("///", data=D)), allowed="unsafe", check=root_is_directory)
case("P9", "dot-dotdot", layer(m("./..", "dir")), allowed="unsafe")
case("P9", "trailing-slash-file", layer(m("a/", data=D, typeflag=b"0")), allowed={"ok", "unsafe"},
     check=when_ok(is_("/a")))
case("P9", "v7-trailing-slash", layer(m("a/", typeflag=b"\0")), allowed="ok",
     check=is_("/a", "dir"))
case("P9", "double-slash", layer(m("a//b", data=D)), allowed="ok", check=is_("/a/b", "file"))
case("P9", "dot-inside", layer(m("a/./b", data=D)), allowed="ok", check=is_("/a/b", "file"))
case("P9", "dotdot-inside", layer(m("a/../b", data=D)), allowed="ok",
     check=checks(is_("/b", "file"), children("/", ["b"])))
case("P9", "dot-prefix-dir", layer(m("./a/./b/", "dir", mode=0o700)), allowed="ok",
     check=is_("/a/b", "dir", mode=0o700))

# -- P10 case and Unicode folding collisions ---------------------------------------------------

case("P10", "case", layer(m("ABC", "symlink", target="/outside"), m("abc/canary", data=D)),
     allowed="ok", check=checks(is_("/ABC", "symlink"), is_("/abc/canary", "file")))
case("P10", "sharp-s", layer(m("ß", "symlink", target="/outside"), m("ss/canary", data=D)),
     allowed="ok", check=is_("/ss/canary", "file"))
case("P10", "nfc-nfd",
     layer(m("\u00e9", "symlink", target="../outside"), m("e\u0301/canary", data=D)),
     allowed="ok", check=is_("/e\u0301/canary", "file"))

# -- L1 hardlink to a file outside the root, then write ----------------------------------------

case("L1", "dotdot-target", layer(m("h", "hardlink", target="../../../outside/canary")),
     allowed="unsafe")
case("L1", "dotdot-then-write",
     layer(m("h", "hardlink", target="../outside/canary"), m("h", data=D)), allowed="unsafe")
case("L1", "abs-target", layer(m("h", "hardlink", target="/outside/canary"), m("h", data=D)),
     allowed="failed")
case("L1", "abs-target-via-link",
     layer(m("s", "symlink", target="/outside"), m("h", "hardlink", target="s/canary"),
           m("h", data=D)), allowed={"failed", "unsafe"})
case("L1", "overwrite-lower-link",
     layer(m("secret/shadow", data=b"abc")),
     layer(m("h", "hardlink", target="/secret/shadow"), m("h", data=b"0123456789")),
     allowed="ok",
     check=checks(is_("/secret/shadow", "file", size=3, nlink=1), is_("/h", "file", size=10)))
case("L1", "overwrite-same-layer-link",
     layer(m("x", data=b"abc"), m("h", "hardlink", target="x"), m("x", data=b"0123456")),
     allowed="ok", check=checks(is_("/h", "file", size=3, nlink=1),
                                is_("/x", "file", size=7, nlink=1)))
_smuggled = m("../outside/canary", data=D)
case("L1", "hardlink-with-smuggled-body",
     layer(m("f", data=b"abc"), m("h", "hardlink", target="f", size=len(_smuggled)) + _smuggled),
     allowed={"unsafe", "malformed"})
case("L1", "hardlink-with-data",
     layer(m("f", data=b"abc"), m("h", "hardlink", D, target="f")),
     allowed={"malformed", "ok"}, check=when_ok(is_("/f", "file", size=3)))

# -- L2 hardlink to a symlink: links the symlink itself ---------------------------------------

for _id, _target in [("abs", "/outside/canary"), ("rel", "../outside/canary"),
                     ("dir", "/outside")]:
    case("L2", _id,
         layer(m("s", "symlink", target=_target),
               m("h", "hardlink", target="s", mode=0o4777, uid=1000,
                 xattrs={"user.pwned": "1"})),
         allowed="ok",
         check=checks(is_("/h", "symlink", target=_target, nlink=2), same_inode("/h", "/s")))
case("L2", "then-write-through",
     layer(m("s", "symlink", target="/outside"), m("h", "hardlink", target="s"),
           m("h/canary", data=D)),
     allowed="ok", check=checks(is_("/h", "symlink"), is_("/outside/canary", "file")))
case("L2", "lower-layer-symlink",
     layer(m("s", "symlink", target="/outside/setuid")),
     layer(m("h", "hardlink", target="s", mode=0o6777, uid=0)), allowed="ok",
     check=is_("/h", "symlink", target="/outside/setuid"))

# -- L3 deferred fix-ups that would follow a later symlink ------------------------------------

case("L3", "dir-then-symlink",
     layer(m("d/", "dir", mode=0o7777, uid=1000), m("d", "symlink", target="/outside")),
     allowed="ok", check=is_("/d", "symlink", target="/outside"))
case("L3", "dir-child-then-symlink",
     layer(m("d/", "dir", mode=0o700), m("d/x", data=D),
           m("d", "symlink", target="../outside")),
     allowed="ok", check=is_("/d", "symlink"))
case("L3", "dir-xattrs-then-symlink",
     layer(m("d/", "dir", mode=0o777, xattrs={"user.d": "1", "trusted.d": "1"}),
           m("d", "symlink", target="/outside/canary")),
     check=when_ok(is_("/d", "symlink")))
case("L3", "across-layers",
     layer(m("d/", "dir", mode=0o777)),
     layer(m("d", "symlink", target="/outside")),
     layer(m("d/", "dir", mode=0o700)), allowed="ok", check=is_("/d", "dir", mode=0o700))

# -- L4 hardlink edge cases -------------------------------------------------------------------

case("L4", "before-target", layer(m("h", "hardlink", target="f"), m("f", data=D)),
     allowed="failed")
case("L4", "target-dir", layer(m("d/", "dir"), m("h", "hardlink", target="d")),
     allowed="failed")
case("L4", "self", layer(m("a", "hardlink", target="a")), allowed="failed")
case("L4", "self-existing", layer(m("a", data=b"abc"), m("a", "hardlink", target="a")),
     allowed={"failed", "ok"})
case("L4", "whiteouted-target",
     layer(m("f", data=b"abc")),
     layer(m(".wh.f"), m("h", "hardlink", target="f")), allowed="ok",
     check=checks(is_("/h", "file", size=3, nlink=1), gone("/f")))
case("L4", "missing-parent", layer(m("h", "hardlink", target="missing/dir/f")),
     allowed="failed")
case("L4", "root-target", layer(m("h", "hardlink", target=".")), allowed={"unsafe", "failed"})
case("L4", "loop-target",
     layer(m("l1", "symlink", target="l2"), m("l2", "symlink", target="l1"),
           m("h", "hardlink", target="l1/x")), allowed={"unsafe", "failed"})
case("L4", "chain",
     layer(m("f", data=b"abc"), m("h1", "hardlink", target="f"), m("h2", "hardlink", target="h1")),
     allowed="ok", check=checks(is_("/f", nlink=3), same_inode("/f", "/h2")))
case("L4", "many-links",
     layer(m("f", data=b"abc"), *[m(f"h{i}", "hardlink", target="f") for i in range(2000)]),
     allowed={"ok", "failed"}, check=when_ok(is_("/f", nlink=2001)), heavy=True)

# -- W1 whiteout names that escape: refused ---------------------------------------------------

_lower_abc = layer(m("a/b/c", data=b"c"), m("a/keep", data=b"k"))
for _id, _name in [("root-dotdot", ".wh..."), ("grandparent", "a/b/.wh..."),
                   ("self-deep", "a/b/.wh.."), ("empty-deep", "a/b/.wh."),
                   ("escape", "../.wh.outside"), ("escape-canary", "../outside/.wh.canary"),
                   ("escape-deep", "a/../../outside/.wh.canary"),
                   ("dir-typed", "a/b/.wh.../")]:
    case("W1", _id, _lower_abc, layer(m(_name)), allowed="unsafe",
         check=checks(is_("/a/b/c", "file"), is_("/a/keep", "file")))
case("W1", "pax-path", _lower_abc, layer(pax([("path", "a/b/.wh...")]) + m("x")),
     allowed="unsafe", check=is_("/a/b/c", "file"))

# -- W2 whiteout / opaque through a symlinked directory ----------------------------------------

_lower_link = layer(m("link", "symlink", target="/outside"), m("rel", "symlink", target="../outside"),
                    m("up", "symlink", target=".."))
for _id, _name in [("whiteout", "link/.wh.canary"), ("opaque", "link/.wh..wh..opq"),
                   ("deep-whiteout", "link/sub/.wh.inner"), ("whiteout-dir", "link/.wh.sub"),
                   ("deep-opaque", "link/sub/.wh..wh..opq"),
                   ("rel-deep-opaque", "rel/sub/.wh..wh..opq"),
                   ("rel-whiteout", "rel/.wh.canary"),
                   ("dotdot-link-opaque", "up/outside/sub/.wh..wh..opq"),
                   ("dotdot-link-whiteout", "up/outside/.wh.canary"),
                   ("canary-link-opaque", "link/up/outside/.wh..wh..opq")]:
    case("W2", _id, _lower_link, layer(m(_name)), check=when_ok(is_("/link", "symlink")))
case("W2", "same-layer-deep-opaque",
     layer(m("link", "symlink", target="/outside"), m("link/sub/.wh..wh..opq")))
case("W2", "whiteout-the-link", _lower_link, layer(m(".wh.link")), allowed="ok",
     check=checks(gone("/link"), is_("/rel", "symlink")))

# -- W3 opaque at the root --------------------------------------------------------------------

_lower_tree = layer(m("a/x", data=b"x"), m("b", data=b"b"), m("c/d/e", data=b"e"),
                    m("link", "symlink", target="/outside"))
for _id, _name in [("plain", ".wh..wh..opq"), ("slash", "/.wh..wh..opq"),
                   ("dot-slash", "./.wh..wh..opq")]:
    case("W3", _id, _lower_tree,
         layer(m("new", data=b"n"), m("a/mine", data=b"m"), m(_name), m("later/f", data=b"f")),
         allowed="ok",
         check=checks(root_is_directory, is_("/", mode=0o755), children("/", ["new", "a", "later"]),
                      children("/a", ["mine"]), is_("/later/f", "file")))

# -- W4 ordering inside one layer --------------------------------------------------------------

case("W4", "a-create-then-whiteout",
     layer(m("a/x", data=b"abc"), m("a/.wh.x")), allowed="ok", check=is_("/a/x", "file", size=3))
case("W4", "b-whiteout-then-create",
     layer(m("a/x", data=b"abc")),
     layer(m("a/.wh.x"), m("a/x", data=b"01234")), allowed="ok",
     check=is_("/a/x", "file", size=5))
_w4c = checks(children("/a", ["b"]), is_("/a/b/c/foo", "file"))
case("W4", "c-opaque-after", layer(m("a/old", data=b"o"), m("a/b/old", data=b"o")),
     layer(m("a/b/c/foo", data=b"f"), m("a/.wh..wh..opq")), allowed="ok",
     check=checks(_w4c, children("/a/b", ["c"])))
case("W4", "c-opaque-before", layer(m("a/old", data=b"o"), m("a/b/old", data=b"o")),
     layer(m("a/.wh..wh..opq"), m("a/b/c/foo", data=b"f")), allowed="ok",
     check=checks(_w4c, children("/a/b", ["c"])))
case("W4", "d-whiteout-then-child", layer(m("d/old", data=b"o")),
     layer(m(".wh.d"), m("d/child", data=b"c")), allowed="ok", check=children("/d", ["child"]))
case("W4", "d-child-then-whiteout", layer(m("d/old", data=b"o")),
     layer(m("d/child", data=b"c"), m(".wh.d")), allowed="ok", check=children("/d", ["child"]))

# -- W5 whiteouts with a non-regular type, content or children ---------------------------------

_lower_foo = layer(m("foo/x", data=b"x"), m("bar", data=b"b"))
for _id, _part in [
        ("symlink", m(".wh.foo", "symlink", target="/outside")),
        ("hardlink", m(".wh.foo", "hardlink", target="/outside/canary")),
        ("fifo", m(".wh.foo", "fifo")),
        ("chr", m(".wh.foo", "chr", major=1, minor=3)),
        ("dir", m(".wh.foo/", "dir", mode=0o777)),
        ("data", m(".wh.foo", data=b"\0" * 1000 + m("../outside/canary", data=D))),
        ("xattrs", m(".wh.foo", xattrs={"user.x": "1", "trusted.overlay.opaque": "y"}))]:
    case("W5", _id, _lower_foo, layer(_part, m("after", data=b"a")), allowed="ok",
         check=checks(gone("/foo"), is_("/bar", "file"), is_("/after", "file"),
                      no_whiteout_leaves))
case("W5", "dir-with-children", _lower_foo,
     layer(m(".wh.foo/", "dir"), m(".wh.foo/child", data=b"c")),
     allowed={"ok", "unsafe"}, check=checks(no_whiteout_leaves, when_ok(gone("/foo"))))

# -- W6 AUFS metadata --------------------------------------------------------------------------

case("W6", "plnk-hardlink",
     layer(m(".wh..wh..plnk/", "dir"), m(".wh..wh..plnk/123.456", data=b"abc"),
           m("h", "hardlink", target=".wh..wh..plnk/123.456")),
     allowed={"ok", "failed"}, check=checks(no_whiteout_leaves, when_ok(is_("/h", "file", size=3))))
case("W6", "aufs-marker", layer(m(".wh..wh.aufs", data=D), m(".wh..wh.orph/", "dir")),
     allowed="ok", check=checks(gone("/.wh..wh.aufs"), gone("/.wh..wh.orph")))
case("W6", "orph-child", layer(m(".wh..wh.orph/x", data=D)), allowed={"ok", "unsafe"},
     check=no_whiteout_leaves)
case("W6", "plnk-symlink",
     layer(m(".wh..wh..plnk", "symlink", target="/outside"), m(".wh..wh..plnk/canary", data=D)),
     allowed={"ok", "unsafe"}, check=no_whiteout_leaves)
case("W6", "plnk-escape", layer(m("h", "hardlink", target=".wh..wh..plnk/../../outside/canary")),
     allowed="unsafe")

# -- W7 whiteout for a missing path or parent --------------------------------------------------

case("W7", "missing-parents", layer(m("nonexistent/dir/.wh.x")), allowed="ok",
     check=no_whiteout_leaves)
case("W7", "missing-opaque", layer(m("nonexistent/.wh..wh..opq")), allowed="ok",
     check=no_whiteout_leaves)
case("W7", "under-link", layer(m("link", "symlink", target="/outside")),
     layer(m("link/missing/.wh.x")), allowed="ok", check=is_("/link", "symlink"))
case("W7", "under-dangling-link", layer(m("dl", "symlink", target="/nowhere")),
     layer(m("dl/.wh.x")), allowed="ok")
case("W7", "under-file", layer(m("file", data=b"f")), layer(m("file/.wh.x")),
     allowed={"ok", "failed"}, check=when_ok(is_("/file", "file")))
case("W7", "opaque-under-file", layer(m("file", data=b"f")), layer(m("file/sub/.wh..wh..opq")),
     allowed={"ok", "failed"}, check=when_ok(is_("/file", "file")))

# -- D1 duplicate paths: last wins, unlink before create ---------------------------------------

case("D1", "file-twice", layer(m("x", data=b"abc"), m("x", data=b"0123456")), allowed="ok",
     check=is_("/x", "file", size=7))
case("D1", "file-symlink-file",
     layer(m("x", data=b"abc"), m("x", "symlink", target="/outside/canary"), m("x", data=D)),
     allowed="ok", check=is_("/x", "file", size=len(D), nlink=1))
case("D1", "modes", layer(m("x", mode=0o644), m("x", mode=0o4755, uid=1000, gid=7)),
     allowed="ok", check=is_("/x", "file", mode=0o4755, uid=1000, gid=7))
case("D1", "file-then-dir", layer(m("x", data=b"a"), m("x/", "dir", mode=0o700)), allowed="ok",
     check=is_("/x", "dir", mode=0o700))
case("D1", "dir-then-file", layer(m("x/", "dir"), m("x/y", data=b"y"), m("x", data=b"ab")),
     allowed="ok", check=checks(is_("/x", "file", size=2), gone("/x/y")))
case("D1", "dir-twice",
     layer(m("x/", "dir", mode=0o700), m("x/y", data=b"y"), m("x/", "dir", mode=0o751, uid=5)),
     allowed="ok", check=checks(is_("/x", "dir", mode=0o751, uid=5), is_("/x/y", "file")))
case("D1", "fifo-then-file", layer(m("x", "fifo"), m("x", data=b"abcd")), allowed="ok",
     check=is_("/x", "file", size=4))
case("D1", "symlink-twice",
     layer(m("x", "symlink", target="/outside"), m("x", "symlink", target="../outside")),
     allowed="ok", check=is_("/x", "symlink", target="../outside"))
case("D1", "hardlinked-then-rewritten",
     layer(m("x", data=b"abc"), m("h", "hardlink", target="x"), m("x", data=b"0123456")),
     allowed="ok", check=checks(is_("/h", size=3, nlink=1), is_("/x", size=7, nlink=1)))

# -- D2 directory replaced by a file or symlink mid-archive ------------------------------------

case("D2", "dir-to-link",
     layer(m("d/", "dir"), m("d/a", data=b"a"), m("d", "symlink", target="/outside"),
           m("d/b", data=D)),
     allowed="ok", check=checks(is_("/d", "symlink"), is_("/outside/b", "file")))
case("D2", "file-link-file",
     layer(m("f", data=b"abc"), m("f", "symlink", target="/outside/canary"), m("f", data=D)),
     allowed="ok", check=is_("/f", "file", size=len(D)))
case("D2", "dir-to-file",
     layer(m("d/", "dir"), m("d/a", data=b"a"), m("d/sub/x", data=b"x"), m("d", data=b"abc")),
     allowed="ok", check=checks(is_("/d", "file", size=3), gone("/d/a")))
case("D2", "across-layers",
     layer(m("d/", "dir"), m("d/a", data=b"a")),
     layer(m("d", "symlink", target="/outside")),
     layer(m("d/b", data=D)), allowed="ok",
     check=checks(is_("/d", "symlink"), is_("/outside/b", "file")))
case("D2", "link-to-dir",
     layer(m("d", "symlink", target="/outside")),
     layer(m("d/", "dir", mode=0o700), m("d/x", data=D)), allowed="ok",
     check=checks(is_("/d", "dir", mode=0o700), is_("/d/x", "file")))

# -- D3 replacing an existing tree -------------------------------------------------------------

case("D3", "wide-tree",
     layer(m("d/", "dir"), *[m(f"d/f{i}") for i in range(2000)]),
     layer(m("d", data=b"abc")), allowed="ok", check=is_("/d", "file", size=3), heavy=True)
case("D3", "deep-tree-replaced", layer(m("a/" * 1100 + "f", data=b"f")),
     layer(m("a", data=b"abc")), allowed={"ok", "failed"},
     check=when_ok(is_("/a", "file", size=3)), heavy=True)
case("D3", "deep-tree-whiteout", layer(m("a/" * 1100 + "f", data=b"f")),
     layer(m(".wh.a")), allowed={"ok", "failed"}, check=when_ok(gone("/a")), heavy=True)
case("D3", "tree-of-links",
     layer(m("d/", "dir"), m("d/l1", "symlink", target="/outside"),
           m("d/l2", "symlink", target="../outside/sub"), m("d/sub/l3", "symlink", target="/")),
     layer(m("d", data=b"abc")), allowed="ok", check=is_("/d", "file"))

# -- D4 PAX global headers: Go runtimes ignore them -------------------------------------------

_D4_ALLOWED = {"ok", "malformed"}
case("D4", "global-path",
     layer(pax([("path", "evil")], b"g"), m("a", data=b"a"), m("b", data=b"b")),
     allowed=_D4_ALLOWED,
     check=when_ok(is_("/a", "file"), is_("/b", "file"), gone("/evil")))
case("D4", "global-path-escape",
     layer(pax([("path", "../outside/canary")], b"g"), m("a", data=b"a")),
     allowed=_D4_ALLOWED, check=when_ok(is_("/a", "file")))
case("D4", "global-linkpath",
     layer(pax([("linkpath", "/outside")], b"g"), m("s", "symlink", target="t")),
     allowed=_D4_ALLOWED, check=when_ok(is_("/s", "symlink", target="t")))
case("D4", "global-mtime",
     layer(pax([("mtime", "1")], b"g"), m("a", data=b"a")), allowed="ok",
     check=is_("/a", "file"))
case("D4", "global-only", layer(pax([("comment", "only a global header")], b"g")),
     allowed=_D4_ALLOWED)
case("D4", "global-4gib-absent",
     header(b"pax_global_header", b"g", size=b"40000000000\0") + EOF_BLOCKS,
     allowed="malformed")


# =========================================================================== H, X, M, R inputs

def hardlink_body(body: bytes) -> bytes:
    """A hardlink header claiming ``len(body)`` bytes of content, then ``body``."""
    return m("h", "hardlink", target="f", size=len(body)) + pad(body)


def pax_body_layer(body: bytes) -> bytes:
    """An ``x`` header with a raw (possibly malformed) body, then a small file."""
    return layer(pax(None, body=body) + m("f", data=b"abc"))


def xattr_layer(name, value=b"v", kind: str = "file", **kw) -> bytes:
    """One entry of ``kind`` carrying ``SCHILY.xattr.<name>=<value>`` (raw bytes)."""
    record = (b"SCHILY.xattr." + _b(name), _b(value))
    if kind == "symlink":
        kw.setdefault("target", "/outside/canary")
    return layer(m("e", kind, records=[record], **kw))


def gzip_bomb(n_bytes: int) -> bytes:
    """A gzip stream of a layer holding one file of ``n_bytes`` zeros."""
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [co.compress(header(b"bomb", size=n_bytes))]
    zero = bytes(1 << 20)
    left = n_bytes
    while left:
        out.append(co.compress(zero[:min(left, len(zero))]))
        left -= min(left, len(zero))
    out.append(co.compress(bytes(-n_bytes % BLOCK) + EOF_BLOCKS))
    out.append(co.flush())
    return b"".join(out)
