"""What each fuzz target does with one input, and the invariants it checks.

Every target is a function of the input bytes that returns normally or raises
:class:`InvariantViolation` (an ``AssertionError``: libFuzzer records a crash), whose
message names the target and the invariant.  The checks are separate functions over
plain state (a kernel, two event lists), so the tests can show that each one fails on
a deliberately broken state.

The code under test is imported inside the functions: ``targets.main()`` imports this
module *before* atheris' instrumentation block (the harness is not what we want
coverage of) and fsmodel's modules inside it.

* ``layer`` — the bytes as one layer, applied by :class:`~fsmodel.layer.apply.Applier`
  to a SimKernel under a policy and a host chosen by the input's **last byte**
  ``s``: policy ``LAYER_POLICIES[s % 10]`` and host ``LAYER_HOSTS[s // 10 % 4]`` (so
  0, what an archive ending in zero blocks has, is containerd as root on ext4).  The
  root (``/rootfs``) already holds a small lower layer, symlinks escaping it included;
  beside it lie files the layer must never reach.
* ``reader`` — the sans-I/O reader, whole and chunked, and against ``tarfile``.
* ``xattr`` — syscall sequences of :class:`~fsmodel.testing.differential.OpSpace` on a
  SimKernel, every choice read from a ``FuzzedDataProvider``.
* ``kernel_diff`` — the same sequences on SimKernel and the real kernel (HostKernel on
  a tmpfs mounted once per process), compared call by call.  Needs root.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import io
import itertools
import os
import stat
import zlib

__all__ = [
    "InvariantViolation",
    "LAYER_HOSTS",
    "LAYER_POLICIES",
    "check_layer_world",
    "check_sim_invariants",
    "compare_with_tarfile",
    "kernel_diff_one_input",
    "private_mounts",
    "layer_one_input",
    "layer_selection",
    "read_layer",
    "reader_one_input",
    "xattr_one_input",
]


class InvariantViolation(AssertionError):
    """A fuzz target's invariant does not hold for an input: a bug (in fsmodel, or in the
    harness's statement of the invariant).  ``target`` and ``invariant`` name it."""

    def __init__(self, target: str, invariant: str, detail: str):
        super().__init__(f"[{target}] invariant broken: {invariant}\n{detail}")
        self.target, self.invariant, self.detail = target, invariant, detail


# -- layer -------------------------------------------------------------------------------------

#: containerd first: the selector byte of an archive that ends in zero blocks is 0
LAYER_POLICIES = ("containerd", "containerd-legacy", "moby", "moby-legacy",
                  "containers-storage", "umoci", "gnu-tar", "gnu-tar-all", "bsdtar", "strict")
LAYER_HOSTS = ("root-ext4", "rootless-ext4", "root-tmpfs", "root-noxattr")
ROOTFS = "/rootfs"
#: outside the root: what no entry may create, change or link to
OUTSIDE = ("/outside", "/etc", "/etc/passwd")


def layer_selection(data: bytes) -> tuple[str, str]:
    """(policy name, host name) the ``layer`` target uses for ``data`` (its last byte)."""
    selector = data[-1] if data else 0
    return (LAYER_POLICIES[selector % len(LAYER_POLICIES)],
            LAYER_HOSTS[selector // len(LAYER_POLICIES) % len(LAYER_HOSTS)])


def boot_layer_world(host):
    """A SimKernel for ``host`` with files outside ``ROOTFS`` and a lower layer inside it
    (regular files, a hardlinked pair, directories, and symlinks that point out of the
    root: relative ``lnk -> ../../outside``, absolute ``abs -> /etc``)."""
    from .._rules.creds import USERNS_BASE
    from .._sim.kernel import SimKernel
    from ..layer.hosts import FILESYSTEMS

    k = SimKernel(FILESYSTEMS[host.fs], host.kernel)
    k.mkdir("/etc", 0o755)
    for path in ("/outside", "/etc/passwd"):
        k.close(k.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    if host.fs != "noxattr":
        k.lsetxattr("/outside", "trusted.keep", b"1")
    k.mkdir(ROOTFS, 0o755)
    for d in ("a", "b", "b/sub", "c", "data", "links"):
        k.mkdir(f"{ROOTFS}/{d}", 0o755)
    for f in ("a/keep", "a/gone", "b/x", "b/sub/y", "data/file"):
        k.close(k.open(f"{ROOTFS}/{f}", os.O_WRONLY | os.O_CREAT, 0o644))
    k.link(f"{ROOTFS}/data/file", f"{ROOTFS}/links/file")
    k.symlink("../../outside", f"{ROOTFS}/lnk")
    k.symlink("/etc", f"{ROOTFS}/abs")
    if host.userns:
        for path, _, _ in list(k.tree(ROOTFS)):
            k.lchown(path, USERNS_BASE, USERNS_BASE)
    return k


def _state(mount, inode) -> tuple:
    """What must not change about an inode outside the root: number, type and mode,
    owner (kernel ids), links, size, device number and xattrs."""
    return (mount.sb.dev, inode.ino, inode.mode, inode.uid, inode.gid, inode.nlink,
            inode.size, inode.rdev, tuple(sorted(inode.xattrs.items())))


def _snapshot(k, skip: str = ROOTFS) -> dict:
    """Everything outside ``skip``: path -> :func:`_state` of its inode."""
    inside = skip + "/"
    return {path: _state(mount, inode) for path, mount, inode in k.inodes("/")
            if path != skip and not path.startswith(inside)}


def check_layer_world(k, before: dict, target: str = "layer") -> None:
    """The ``layer`` invariants on the kernel's state after an extraction:

    * nothing outside the root was created, removed or changed (``before`` is
      :func:`_snapshot` of the kernel before the layer);
    * no ``user.*`` xattr sits on a symlink, device, FIFO or socket inside the root;
    * every non-directory inode has exactly as many names as its link count: every
      hardlinked inode is reachable under each of its names and no name dangles.

    One walk of the kernel's own inodes serves all three (the harness's cost is the
    fuzzer's speed; SimKernel.tree would build an lstat and copy the xattrs of each).
    """
    after, names, nlinks, special = {}, {}, {}, None
    inside = ROOTFS + "/"
    for path, mount, inode in k.inodes("/"):
        mode = inode.mode
        if path.startswith(inside):
            if (special is None and inode.xattrs and not stat.S_ISREG(mode)
                    and not stat.S_ISDIR(mode)):
                user = sorted(n for n in inode.xattrs if n.startswith("user."))
                if user:
                    special = f"{path} (mode {mode:o}) carries {user}"
        elif path != ROOTFS:
            after[path] = _state(mount, inode)
        if not stat.S_ISDIR(mode):
            key = (mount.sb.dev, inode.ino)
            names[key] = names.get(key, 0) + 1
            nlinks[key] = inode.nlink
    if after != before:
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        raise InvariantViolation(target, "nothing outside the root is created, removed or "
                                 "changed", "\n".join(f"{p}: {before.get(p)} -> {after.get(p)}"
                                                      for p in changed[:10]))
    if special is not None:
        raise InvariantViolation(target, "no user.* xattr on a special file (symlink, "
                                 "device, FIFO, socket)", special)
    if names != nlinks:
        (dev, ino), nlink = next((key, n) for key, n in nlinks.items() if names[key] != n)
        paths = [path for path, mount, inode in k.inodes("/", sort=True)
                 if mount.sb.dev == dev and inode.ino == ino]
        raise InvariantViolation(target, "every hardlink resolves: an inode's names equal "
                                 "its link count",
                                 f"inode {ino} has nlink {nlink} but is reachable as {paths}")


#: host name -> (a freshly booted world, its snapshot outside the root, the layer's
#: caller).  Booting is deterministic, so it happens once per host, and the world then
#: takes the layer's caller for good; each input gets a clone of it (SimKernel.clone: a
#: copy of ~20 inodes, a fifth of the cost of the ~20 calls that booted it)
_WORLDS: dict[str, tuple] = {}


def layer_world(host_name: str):
    """(a fresh world for the host ``host_name``, as the layer's caller, and its
    snapshot outside the root)."""
    from ..layer.hosts import get_host

    world = _WORLDS.get(host_name)
    if world is None:
        host = get_host(host_name)
        k = boot_layer_world(host)
        caller = k.become(0, 0, userns=host.userns)
        caller.__enter__()          # never left: the clones inherit the caller
        world = _WORLDS[host_name] = (k, _snapshot(k), caller)
    return world[0].clone(), world[1]


def layer_one_input(data: bytes) -> None:
    from ..layer.apply import Applier, ExtractionFailed, KernelTarget, UnsafeEntry
    from ..layer.errors import MalformedLayer
    from ..layer.hosts import get_host
    from ..layer.policies import get_policy
    from ..layer.reader import iter_layer

    policy_name, host_name = layer_selection(data)
    policy, host = get_policy(policy_name), get_host(host_name)
    events = iter_layer(data, pax_globals=policy.pax_globals)
    k = before = None
    try:
        # A layer rejected before its first event reaches no applier, so no kernel: the
        # world is cloned (and checked) only for one that has an event to apply.  A
        # third of mutated inputs or more end there (a broken first header).
        first = next(events)
        k, before = layer_world(host_name)
        applier = Applier(KernelTarget(k, ROOTFS), policy, privilege=host.privilege)
        applier.apply(itertools.chain((first,), events))
    except (MalformedLayer, UnsafeEntry, ExtractionFailed):
        pass
    except Exception as exc:
        raise InvariantViolation(
            "layer", "an extraction ends in success, MalformedLayer, UnsafeEntry or the "
            "policy's ExtractionFailed", f"{policy_name} on {host_name}: "
            f"{type(exc).__name__}: {exc}") from exc
    if k is not None:
        check_layer_world(k, before)


# -- reader ------------------------------------------------------------------------------------

def chunk_sizes(data: bytes) -> list[int]:
    """Feeding sizes derived from the input, cycled: four from its CRC-32, the first
    1..16 bytes (splitting headers and PAX records), the others up to 1024."""
    crc = zlib.crc32(data)
    return [1 + (crc & 0xF), 1 + (crc >> 4) % 1024, 1 + (crc >> 14) % 1024,
            1 + (crc >> 24) % 1024]


def read_layer(data: bytes, sizes: list[int] | None = None, target: str = "reader",
               limits=None):
    """``(events, None)`` or ``(events before, (index, offset, reason))``, feeding ``data``
    whole or in pieces of ``sizes`` (cycled) to a Reader with ``limits`` (default: the
    defaults); Data events of one file are joined."""
    from ..layer.errors import MalformedLayer
    from ..layer.ops import Data, EndOfLayer
    from ..layer.reader import NEED_DATA, Limits, Reader

    reader = Reader(Limits() if limits is None else limits)
    events: list = []

    def drain() -> bool:
        while (event := reader.next_event()) is not NEED_DATA:
            if isinstance(event, Data) and events and isinstance(events[-1], Data) \
                    and events[-1].index == event.index:
                event = Data(event.index, events[-1].chunk + event.chunk)
                events.pop()
            events.append(event)
            if isinstance(event, EndOfLayer):
                return True
        return False

    try:
        pos = step = 0
        while pos < len(data):
            size = len(data) if not sizes else sizes[step % len(sizes)]
            reader.feed(data[pos:pos + size])
            pos, step = pos + size, step + 1
            if drain():
                return events, None
        reader.feed_eof()
        drain()
        return events, None
    except MalformedLayer as exc:
        if not 0 <= exc.offset <= len(data):
            raise InvariantViolation(target, "a MalformedLayer's offset lies in the input",
                                     f"offset {exc.offset} of {len(data)} bytes: {exc}") from exc
        return events, (exc.index, exc.offset, exc.reason)
    except Exception as exc:
        raise InvariantViolation(target, "the reader raises MalformedLayer and nothing else",
                                 f"{type(exc).__name__}: {exc}") from exc


def _tarfile_members(data: bytes):
    """tarfile's members of ``data`` (mode ``r:``), or None where tarfile refuses it."""
    import tarfile

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            return archive.getmembers()
    except (tarfile.TarError, ValueError, OverflowError):
        # tarfile's own error, and what it leaks for bad numbers and encodings
        # (tests/unit/test_reader.py: test_read_format_tar_V_negative_size.tar)
        return None


def _tarfile_xattrs(info) -> list:
    import base64
    from urllib.parse import unquote_to_bytes

    out = []
    for key, value in info.pax_headers.items():
        raw = value.encode("utf-8", "surrogateescape")
        if key.startswith("SCHILY.xattr."):
            out.append((key[len("SCHILY.xattr."):], raw, "SCHILY"))
        elif key.startswith("LIBARCHIVE.xattr."):
            name = unquote_to_bytes(key[len("LIBARCHIVE.xattr."):]
                                    .encode("utf-8", "surrogateescape"))
            out.append((name.decode("utf-8", "surrogateescape"),
                        base64.b64decode(raw + b"=" * (-len(raw) % 4)), "LIBARCHIVE"))
        elif key == "RHT.security.selinux":
            out.append(("security.selinux", raw, "RHT"))
    return sorted(out)


_MARKERS = ("Whiteout", "Opaque", "AufsMetadata")


def _reader_rows(events) -> list[dict]:
    from ..layer.ops import Device, Entry, File, Hardlink, Opaque, Symlink

    rows = []
    for op in events:
        if not isinstance(op, Entry):
            continue
        path = op.path
        if isinstance(op, Opaque):
            path = f"{op.path}/.wh..wh..opq" if op.path else ".wh..wh..opq"
        row = {"path": path.rstrip("/"), "kind": type(op).__name__,
               "xattrs": sorted((x.name, x.value, x.encoding) for x in op.xattrs)}
        if isinstance(op, File):
            row["size"] = op.size
        elif isinstance(op, (Symlink, Hardlink)):
            row["target"] = op.target
        elif isinstance(op, Device):
            row["kind"] = f"Device-{op.kind}"
        rows.append(row)
    return rows


def _tarfile_rows(members) -> list[dict]:
    rows = []
    for info in members:
        row = {"path": info.name.rstrip("/"), "xattrs": _tarfile_xattrs(info)}
        if info.isreg():
            row.update(kind="File", size=info.size)
        elif info.isdir():
            row["kind"] = "Directory"
        elif info.issym() or info.islnk():
            row.update(kind="Symlink" if info.issym() else "Hardlink", target=info.linkname)
        elif info.ischr() or info.isblk():
            row["kind"] = "Device-chr" if info.ischr() else "Device-blk"
        elif info.isfifo():
            row["kind"] = "Fifo"
        else:
            row["kind"] = f"tarfile type {info.type!r}"
        rows.append(row)
    return rows


def _documented_differences(data: bytes) -> dict[int, set[str]]:
    """Per entry index, the fields where tarfile is known to read differently.

    Each is a deliberate, documented difference of fsmodel's reader (reader.py's
    docstring, tests/unit/test_reader.py DIFFERENT), recognised in the raw archive:

    * several PAX ``x`` headers before one entry: the last wins whole (Go); tarfile
      merges them, keeping the first of each key — path, target, xattrs, size;
    * several GNU ``L`` (or ``K``) before one entry: the last wins (Go), tarfile keeps
      the first — path (target);
    * a PAX global record with an empty value deletes the key for later entries
      (POSIX); tarfile sets the field to '' — that key's field on every later entry;
    * a header without PAX path or GNU long name whose prefix area (bytes 345..500) is
      not blank and which is not POSIX ustar: tarfile joins that area as a prefix for
      any magic, Go and the reader only for ustar (star: its 131 bytes) or when GNU
      times do not parse — path;
    * a GNU ``L`` (``K``) under a PAX global ``path`` (``linkpath``) with an ``x`` header
      before the same entry: tarfile's ``x`` applies its copy of the global records
      after the GNU name, so the global one wins there; the reader lets the GNU name
      win (per-entry before global, as without the ``x``) — path (target);
    * typeflag NUL where the header's own name and the name its extension headers
      (global ones included) give disagree on a trailing ``/``: Go and the reader type
      the entry by the given name, tarfile by the header's own (V7 directories) — kind,
      size.  With content on either
      side the reader rejects the archive (tests/unit/test_reader.py
      test_nul_typeflag_named_a_directory_one_way_only_is_rejected), so only empty
      entries get here.
    """
    from .mutator import EXTENSIONS, ParseError, _cstring, parse, pax_records

    try:
        tar = parse(data)
    except ParseError:
        return {}
    skip: dict[int, set[str]] = {}
    deleted: set[str] = set()
    global_path = global_link = None
    index = 0
    pending: list = []
    for member in tar.members:
        flag = member.typeflag
        if flag == ord("g"):
            for key, value in pax_records(member.payload) or []:
                if not value:
                    deleted.add(_field_of(key))
                if key == b"path":
                    global_path = value or None
                elif key == b"linkpath":
                    global_link = value or None
            continue
        if flag in EXTENSIONS:
            pending.append(member)
            continue
        fields = set(deleted)
        kinds = [m.typeflag for m in pending]
        if kinds.count(ord("x")) > 1:
            fields |= {"path", "target", "xattrs", "size"}
        if kinds.count(ord("L")) > 1:
            fields.add("path")
        if kinds.count(ord("K")) > 1:
            fields.add("target")
        if ord("x") in kinds:
            if ord("L") in kinds and global_path is not None:
                fields.add("path")
            if ord("K") in kinds and global_link is not None:
                fields.add("target")
        block = bytes(member.header)
        local = None   # the name the entry's own extension headers give, the last one's
        for m in pending:
            if m.typeflag == ord("L"):
                local = _cstring(bytes(m.payload))
            elif m.typeflag == ord("x"):
                for key, value in pax_records(m.payload) or []:
                    if key == b"path":
                        local = value
        overridden = local is not None
        given = global_path if local is None else local
        if (flag == 0 and given is not None
                and given.endswith(b"/") != _cstring(block[0:100]).endswith(b"/")):
            fields |= {"kind", "size"}
        if not overridden and _cstring(block[345:500]):
            posix = block[257:263] == b"ustar\x00"
            star = posix and block[508:512] == b"tar\x00"
            if not posix or (star and _cstring(block[345:476]) != _cstring(block[345:500])):
                fields.add("path")
        if fields:
            skip[index] = fields
        index += 1
        pending = []
    return skip


def _tarfile_stops_at_v7_device_field(data: bytes, entry: int) -> bool:
    """Whether tarfile ends the archive at entry ``entry`` only because a V7 header of it
    (no ustar magic; the entry's own or an extension or global header before it) holds bytes in the
    area where ustar keeps the device numbers (329..345), which V7 has not: tarfile
    parses them for every header and silently ends the archive on an invalid one after
    the first member; Go and the reader do not read them in a V7 header."""
    import tarfile

    from .mutator import EXTENSIONS, ParseError, checksum, parse

    try:
        members = parse(data).members
    except ParseError:
        return False
    groups, pending = [], []
    for m in members:
        pending.append(m)   # global headers too: tarfile parses theirs alike
        if m.typeflag not in EXTENSIONS and m.typeflag != ord("g"):
            groups.append(pending)
            pending = []
    if entry >= len(groups):
        return False
    for member in groups[entry]:
        block = bytes(member.header)
        if block[257:262] == b"ustar":
            continue
        try:
            tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            continue
        except tarfile.HeaderError:
            pass
        cleared = bytearray(block[:329] + bytes(16) + block[345:])
        if block[148:156] == checksum(block):   # a checksum tarfile accepted stays valid
            cleared[148:156] = checksum(cleared)
        try:
            tarfile.TarInfo.frombuf(bytes(cleared), "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            return False   # tarfile refuses the header for another reason too
        return True
    return False


def _field_of(key: bytes) -> str:
    if key == b"path":
        return "path"
    if key == b"linkpath":
        return "target"
    if key.startswith((b"SCHILY.xattr.", b"LIBARCHIVE.xattr.", b"RHT.")):
        return "xattrs"
    return "other"


def compare_with_tarfile(data: bytes, events, target: str = "reader") -> None:
    """Where the reader and tarfile both accept ``data``, they read the same members:
    names, types, sizes, link names and xattrs, but for :func:`_documented_differences`
    and two normalisations of tarfile's: trailing ``/`` stripped from names (both sides),
    and whiteout/opaque markers, which the reader classifies by name (their type is not
    compared)."""
    members = _tarfile_members(data)
    if members is None:
        return
    ours, theirs = _reader_rows(events), _tarfile_rows(members)
    if len(theirs) < len(ours) and _tarfile_stops_at_v7_device_field(data, len(theirs)):
        ours = ours[:len(theirs)]
    if len(ours) != len(theirs):
        raise InvariantViolation(target, "the reader and tarfile read the same members",
                                 f"{len(ours)} entries against tarfile's {len(theirs)}:\n"
                                 f"reader:  {[r['path'] for r in ours][:12]}\n"
                                 f"tarfile: {[r['path'] for r in theirs][:12]}")
    skip = _documented_differences(data)
    for index, (mine, its) in enumerate(zip(ours, theirs)):
        ignored = skip.get(index, set())
        keys = ["path", "xattrs"]
        if mine["kind"] not in _MARKERS:
            keys += ["kind", "size", "target"]
        for key in keys:
            if key in ignored:
                continue
            if mine.get(key) != its.get(key):
                raise InvariantViolation(target, "the reader and tarfile read the same members",
                                         f"entry {index}, {key}: reader {mine.get(key)!r:.300}"
                                         f", tarfile {its.get(key)!r:.300}\n"
                                         f"reader:  {mine!r:.400}\ntarfile: {its!r:.400}")


def reader_one_input(data: bytes) -> None:
    from ..layer.ops import EndOfLayer

    whole = read_layer(data)
    chunked = read_layer(data, chunk_sizes(data))
    if chunked != whole:
        raise InvariantViolation("reader", "whole and chunked feeding give the same events",
                                 f"sizes {chunk_sizes(data)}:\nwhole:   {whole!r:.600}\n"
                                 f"chunked: {chunked!r:.600}")
    events, error = whole
    if error is not None:
        return
    if not events or events[-1] != EndOfLayer():
        raise InvariantViolation("reader", "an accepted layer ends with EndOfLayer",
                                 f"last event {events[-1:]!r}")
    compare_with_tarfile(data, events)


# -- xattr -------------------------------------------------------------------------------------

#: the filesystem profiles of tests/property/test_sim_invariants.py
XATTR_FS = (("tmpfs", {}), ("tmpfs", {"nr_inodes": 64}), ("ext4", {}),
            ("ext4", {"block_size": 1024}), ("ext4", {"ea_inode": True}), ("xfs", {}),
            ("btrfs", {}), ("ramfs", {}))
MAX_STEPS = 120


def _chooser(fdp):
    def choose(options):
        options = list(options)
        return options[fdp.ConsumeIntInRange(0, len(options) - 1)]
    return choose


def check_sim_invariants(k, target: str = "xattr") -> None:
    """The SimKernel invariants, checked as root (tests/property/test_sim_invariants.py):

    * on every path of the OpSpace world, ``llistxattr`` lists distinct names, its size-0
      answer is the listing's length, and every listed name reads back with
      ``lgetxattr`` whose size-0 answer is the value's length (an empty
      ``security.capability`` is listed but EINVAL to read, as in the kernel);
    * capacity accounting: tmpfs' pool stays within 0..nr_inodes KiB; no ext4 inode's
      in-body or block region holds more than fits.
    """
    from ..testing.differential import BASE, DIRS, PATHS

    for path in (BASE,) + PATHS + DIRS:
        try:
            names = k.llistxattr(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue
            raise InvariantViolation(target, "listxattr of an existing path succeeds as root",
                                     f"llistxattr({path!r}): {exc}") from exc
        length = sum(len(n.encode("utf-8", "surrogateescape")) + 1 for n in names)
        if k.llistxattr(path, 0) != length or len(set(names)) != len(names):
            raise InvariantViolation(target, "listxattr's size-0 answer is its listing's length "
                                     "and names are distinct",
                                     f"{path}: {names!r:.300}, size 0 -> "
                                     f"{k.llistxattr(path, 0)}, listing {length} bytes")
        for name in names:
            try:
                value = k.lgetxattr(path, name)
            except OSError as exc:
                if (name, exc.errno) == ("security.capability", errno.EINVAL):
                    continue
                raise InvariantViolation(target, "listxattr and getxattr agree",
                                         f"{path}: {name!r} is listed but lgetxattr "
                                         f"fails: {exc}") from exc
            if k.lgetxattr(path, name, 0) != len(value):
                raise InvariantViolation(target, "getxattr's size-0 answer is the value's length",
                                         f"{path} {name!r}: {k.lgetxattr(path, name, 0)} "
                                         f"for {len(value)} bytes")
    mount = k._root_mount
    profile = mount.fs
    if k.fs == "tmpfs":
        free, limit = mount.state["free_ispace"], profile.opts["nr_inodes"] * 1024
        if not 0 <= free <= limit:
            raise InvariantViolation(target, "tmpfs' xattr space stays within 0..nr_inodes KiB",
                                     f"free_ispace {free}, limit {limit}")
    elif k.fs == "ext4":
        stack = [mount.root]
        while stack:
            inode = stack.pop()
            if inode.fsdata:
                body = sum(profile._used(inode, inode.fsdata["body"]))
                block = sum(profile._used(inode, inode.fsdata["block"]))
                if body > max(profile.ibody_size - 4, 0) or block > profile.block_size - 36:
                    raise InvariantViolation(target, "ext4's in-inode and block xattr regions "
                                             "never overflow",
                                             f"inode {inode.ino}: body {body} of "
                                             f"{profile.ibody_size - 4}, block {block} of "
                                             f"{profile.block_size - 36}")
            stack.extend((inode.children or {}).values())


def xattr_one_input(data: bytes) -> None:
    import atheris

    from .._sim.kernel import SimKernel
    from ..testing.differential import OpSpace, _caller_args, call

    fdp = atheris.FuzzedDataProvider(data)
    fs, options = XATTR_FS[fdp.ConsumeIntInRange(0, len(XATTR_FS) - 1)]
    k = SimKernel(fs, **options)
    space = OpSpace(fs)
    choose = _chooser(fdp)
    steps = list(space.setup())
    done = []
    while steps or (fdp.remaining_bytes() and len(done) < MAX_STEPS):
        step = steps.pop(0) if steps else space.next_step(choose)
        done.append(step)
        if step.method == "become":
            continue
        with k.become(*_caller_args(step.caller)):
            result = call(k, step.method, step.args)
        if result[0] == "raised":
            raise InvariantViolation("xattr", "a call fails with OSError, never another "
                                     "exception", f"{fs}{options or ''}: {step} -> {result}\n"
                                     "after:\n" + "\n".join(f"  {s}" for s in done[:-1]))
        space.observe(step, result)
    k.remount("/", False)
    check_sim_invariants(k)


# -- kernel_diff -------------------------------------------------------------------------------

_scratch: dict = {}
CLONE_NEWNS = 0x00020000


def private_mounts() -> None:
    """Move this process into a mount namespace of its own, with private propagation.

    libFuzzer ends a run with ``_exit`` (``-max_total_time``, ``-runs``, a crash, a
    ``-fork`` job), so no atexit handler unmounts what the target mounted; in a private
    namespace the tmpfs and the bind mounts go away with the process.  Called by
    ``targets.main()`` for root-only targets before libFuzzer starts its threads
    (unsharing the mount namespace is refused to a multithreaded process).
    """
    import ctypes
    import subprocess

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNS): {os.strerror(code)}")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    _scratch["private"] = True


def _tmpfs() -> str:
    """The tmpfs this process compares on: mounted on first use, unmounted at exit.

    In a private mount namespace (:func:`private_mounts`) it covers one fixed directory
    that every fuzzing process shares (each sees only its own mount there), so that no
    empty mount point is left behind per process either."""
    if "mountpoint" not in _scratch:
        from .. import _mounts

        stack = contextlib.ExitStack()
        if _scratch.get("private"):
            import tempfile

            target = os.path.join(tempfile.gettempdir(), "fsmodel-fuzz-kernel_diff")
            os.makedirs(target, exist_ok=True)
            stack.callback(_mounts.mount_fresh("tmpfs", target).unmount)
            _scratch["mountpoint"] = target
        else:
            _scratch["mountpoint"] = stack.enter_context(_mounts.scratch_mount("tmpfs"))
        atexit.register(stack.close)
    return _scratch["mountpoint"]


def kernel_pair(mountpoint: str):
    """A factory of (SimKernel like this host, HostKernel in a fresh directory of
    ``mountpoint``) pairs; each directory is deleted when its pair is done."""
    import shutil

    from ..crosscheck import _sim_like_host, host_kernel_version
    from ..testing.backends import Situation, host_factory, pair_factory

    sim = _sim_like_host(Situation("tmpfs", {}, host_kernel_version()))
    hosts = host_factory(mountpoint)

    @contextlib.contextmanager
    def host():
        with hosts() as kernel:
            root = kernel.root
            yield kernel
        shutil.rmtree(root, ignore_errors=True)

    return pair_factory(sim, host)


def run_diff(data: bytes, make_pair, fs: str = "tmpfs", target: str = "kernel_diff") -> None:
    """Drive one OpSpace sequence chosen by ``data`` through ``make_pair()``'s two
    backends; any disagreement is an InvariantViolation."""
    import atheris

    from ..testing.differential import OpSpace, run_sequence

    fdp = atheris.FuzzedDataProvider(data)
    length = min(len(data) // 4, 60)
    with make_pair() as pair:
        mismatch = run_sequence(pair, OpSpace(fs), _chooser(fdp), length, fs)
    if mismatch is not None:
        raise InvariantViolation(target, "SimKernel and the real kernel agree on every call",
                                 str(mismatch))


def kernel_diff_one_input(data: bytes) -> None:
    run_diff(data, kernel_pair(_tmpfs()))
