"""The applier: a layer's operations executed on a backend, confined to a root, under a policy.

Theory of operation
-------------------
The reader turns bytes into operations; the applier carries them out on any
backend with the syscall-shaped interface (:class:`~fsmodel.SimKernel`,
:class:`~fsmodel.HostKernel`, fake_linux's ``OsBackend``) through
:class:`KernelTarget`, or on the real filesystem through
:class:`~fsmodel.layer.dirtarget.DirTarget`, following the OCI changeset rules.
Targets take root-relative component tuples, never path strings to resolve.

* **Names** are cleaned lexically (leading ``/`` and ``.`` components dropped);
  a ``..`` that would climb above the root makes the entry
  :class:`UnsafeEntry`.  An entry naming the root itself must be a directory.
* **Confinement**: every parent is resolved component by component inside the
  root, symlinks included (absolute targets restart at the root, ``..`` stops
  at it — what filepath-securejoin and openat2(RESOLVE_IN_ROOT) do); the final
  component is never followed.  So no entry, symlink or hardlink can make the
  applier create, link, chown, chmod, set an xattr on or delete anything
  outside the root.
* **Replacement**: a directory over a directory keeps the directory (its
  attributes are updated); anything else replaces what was there.  Missing
  parents are created (0755, root).
* **Whiteouts** ``.wh.NAME`` remove ``NAME`` from lower layers; opaque markers
  ``.wh..wh..opq`` remove every lower child of their directory; both apply
  only to what lower layers put there, never to what this layer wrote,
  wherever the marker appears in the archive, and their directories are
  resolved inside the root like any parent.  ``.wh.``, ``.wh..`` and
  ``.wh...`` are refused; AUFS metadata (``.wh..wh.*``) is skipped.
* **Removal** (replacement, whiteouts) never crosses into another filesystem
  mounted below: EBUSY before anything is removed.
* **Ids**: ``4294967295`` (``(uid_t)-1``, which chown ignores) is refused.
* **Metadata** in the order the policy's tool uses (create, chown, xattrs,
  chmod; or xattrs last); directory times are not modelled (backends keep
  their own clocks).
* **Work**: a directory this layer created holds only what the layer put
  there, so entries below it skip the existence check, and parent
  resolutions are remembered until something is removed.
* **Xattrs**: only the encodings the policy reads, minus what it never sets;
  each kernel error is failed, warned or collected as the policy says
  (:mod:`fsmodel.layer.policies`).  A failure raises
  :class:`ExtractionFailed` with the message the tool would print.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from .._rules.verdict import errno_name
from .ops import (
    AufsMetadata,
    Data,
    Device,
    Directory,
    EndOfLayer,
    Entry,
    Fifo,
    File,
    Hardlink,
    Opaque,
    Symlink,
    Whiteout,
)
from .policies import COLLECT, FAIL, WARN, Policy, entry_kind

__all__ = ["Applier", "ExtractionFailed", "KernelTarget", "Report", "UnsafeEntry", "Warning"]

MAXSYMLINKS = 40
_NO_ID = 0xFFFFFFFF


def _makedev(major: int, minor: int) -> int:
    """glibc's ``makedev`` for any 32-bit major and minor (os.makedev stops at 2**31)."""
    return (((major & 0xFFFFF000) << 32) | ((major & 0xFFF) << 8)
            | ((minor & 0xFFFFFF00) << 12) | (minor & 0xFF))


class UnsafeEntry(Exception):
    """An entry that would leave the root, or that no extractor may apply.

    The archive's fault: a name or link climbing out of the root, an invalid
    whiteout, a non-directory entry for the root itself.  Nothing outside the
    root was touched; do not apply the layer.
    """

    def __init__(self, index: int, path: str, reason: str):
        super().__init__(f"entry {index} ({path!r}): {reason}")
        self.index, self.path, self.reason = index, path, reason


class ExtractionFailed(Exception):
    """The extraction failed as the policy's tool would fail.

    ``message`` is the text the tool prints; ``entry``, ``xattr``, ``errno``
    (a name) and ``rule`` (the kernel rule id, when the model decided it)
    say what caused it.
    """

    def __init__(self, message: str, entry: str, xattr: str | None = None,
                 errno: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message, self.entry, self.xattr, self.errno, self.rule = (
            message, entry, xattr, errno, rule)


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the report's own word
    entry: str
    message: str
    xattr: str | None = None
    errno: str | None = None
    rule: str | None = None


@dataclass
class Report:
    """What applying a layer did."""

    entries: int = 0
    warnings: list[Warning] = field(default_factory=list)
    skipped_xattrs: int = 0


def _strerror(code: int) -> str:
    """Go's error text for an errno (lower case, as runtimes print it)."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


# ------------------------------------------------------------------- the target

class KernelTarget:
    """A backend with the syscall interface, seen from a root directory in it.

    Every method takes root-relative components (``("etc", "passwd")``; ``()`` is
    the root) and makes one call on the backend's path for them.
    """

    def __init__(self, kernel, root: str = "/"):
        self.k = kernel
        self.root = root.rstrip("/") or "/"
        self._prefix = "" if self.root == "/" else self.root

    _last = (None, None)

    def path(self, parts) -> str:
        """The backend path of ``parts`` (also what messages show)."""
        last = self._last
        if last[0] is parts:          # an entry's calls all name the same tuple
            return last[1]
        path = self._prefix + "/" + "/".join(parts) if parts else self.root
        self._last = (parts, path)
        return path

    display = path

    def lstat(self, parts):
        try:
            return self.k.lstat(self.path(parts))
        except FileNotFoundError:
            return None

    def readlink(self, parts) -> str:
        return self.k.readlink(self.path(parts))

    def listdir(self, parts) -> list[str]:
        return self.k.listdir(self.path(parts))

    def remove_tree(self, parts) -> None:
        """Remove ``parts`` and everything below it, never crossing into another
        filesystem: a mount point below is EBUSY before anything is removed."""
        k = self.k
        path = self.path(parts)
        st = k.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            k.unlink(path)
            return
        dev = st.st_dev
        order = []          # pre-order: a directory before everything below it
        stack = [path]
        while stack:
            directory = stack.pop()
            order.append((directory, True))
            for name in k.listdir(directory):
                child = directory + "/" + name
                cst = k.lstat(child)
                if cst.st_dev != dev:
                    raise OSError(errno.EBUSY, "a mount point below would be crossed", child)
                if stat.S_ISDIR(cst.st_mode):
                    stack.append(child)
                else:
                    order.append((child, False))
        for p, is_dir in reversed(order):
            (k.rmdir if is_dir else k.unlink)(p)

    def mkdir(self, parts, mode: int) -> None:
        self.k.mkdir(self.path(parts), mode)

    def create(self, parts):
        return self.k.open(self.path(parts),
                           os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)

    def write(self, handle, data: bytes) -> None:
        self.k.write(handle, data)

    def close(self, handle) -> None:
        self.k.close(handle)

    def symlink(self, target: str, parts) -> None:
        self.k.symlink(target, self.path(parts))

    def link(self, source, parts) -> None:
        self.k.link(self.path(source), self.path(parts))

    def mknod(self, parts, mode: int, device: int) -> None:
        self.k.mknod(self.path(parts), mode, device)

    def lchown(self, parts, uid: int, gid: int) -> None:
        self.k.lchown(self.path(parts), uid, gid)

    def chmod(self, parts, mode: int) -> None:
        self.k.chmod(self.path(parts), mode)

    def lsetxattr(self, parts, name: str, value: bytes) -> None:
        self.k.lsetxattr(self.path(parts), name, value)


# ------------------------------------------------------------------- the applier

def clean(index: int, name: str) -> tuple[str, ...]:
    """Lexically clean an archive name into root-relative components."""
    parts = name.strip("/").split("/")
    if "." not in name or not ("." in parts or ".." in parts):
        if "" not in parts:
            return tuple(parts)           # the usual name: nothing to clean
        if parts == [""]:
            return ()
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeEntry(index, name, "the name climbs above the root ('..')")
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def _and_above(text: str):
    """``text`` (root-relative components joined by "/"), then each directory above
    it, up to the root ("")."""
    while True:
        yield text
        if not text:
            return
        text = text[:max(text.rfind("/"), 0)]


def _clean_text(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


class Applier:
    """Applies one layer's events to ``target`` under ``policy``.

    ``privilege`` ("root" or "rootless") selects the policy's rows; ``layer``
    names the layer in failure messages (its DiffID, ``sha256:...``).
    """

    def __init__(self, target, policy: Policy, *, privilege: str = "root",
                 layer: str = "sha256:?"):
        self.target = target
        self.policy = policy
        self.privilege = privilege
        self.layer = layer
        self.report = Report()
        # keys are "/"-joined resolved components: compact for layers of millions
        self._unpacked: set[str] = set()   # what this layer wrote
        self._below: set[str] = set()      # every directory above something it wrote
        self._fresh: set[str] = set()      # directories this layer created (hold only its own)
        # for the end of the layer: directories with nothing below but this layer's
        # entries (made for them, or found empty: the root), and directories already
        # cleared of lower ones.  Never forgotten, since the end of a layer only removes;
        # but a directory made for anything else (a marker's or a hardlink source's
        # missing parent) is lower content to the markers, so its ancestors leave both.
        self._made: set[str] = set()
        self._hidden: set[str] = set()
        self._parents: dict[tuple, tuple] = {}   # resolved parents, until a removal
        self._opaque: list = []
        self._whiteouts: list = []
        self._file = None  # (op, parts, handle) while content streams
        self._warned_once: set[str] = set()
        self._started = False
        # the call in progress, for the message if it fails
        self._doing = ""
        self._where: tuple = ()

    # -- driving
    def apply(self, events) -> Report:
        for event in events:
            self.feed(event)
        return self.report

    def feed(self, event) -> None:
        if isinstance(event, Data):
            if self._file is None:
                raise ValueError("Data event without a File before it")
            op, parts, handle = self._file
            try:
                self.target.write(handle, event.chunk)
            except OSError as exc:
                raise self._failed(op, exc, "write", parts) from exc
            return
        if self._file is not None:
            self._finish_file()
        if isinstance(event, EndOfLayer):
            self._finish_layer()
        elif isinstance(event, Entry):
            if not self._started:
                self._started = True
                self._guard(event, self._start)
            self._guard(event, self._entry, event)

    def _guard(self, op, fn, *args):
        """Run ``fn``; an OSError from the target fails the extraction as the tool would."""
        try:
            return fn(*args)
        except OSError as exc:
            raise self._failed(op, exc, self._doing, self._where) from exc

    def _start(self) -> None:
        """An empty root holds nothing from lower layers: it counts as fresh."""
        self._doing, self._where = "readdir", ()
        if not self.target.listdir(()):
            self._fresh.add("")
            self._made.add("")

    # -- entries
    def _entry(self, op: Entry) -> None:
        if isinstance(op, AufsMetadata):
            return
        if isinstance(op, Opaque):
            self._opaque.append((op.index, clean(op.index, op.path), op))
            return
        if isinstance(op, Whiteout):
            if op.target in ("", ".", "..") or "/" in op.target:
                raise UnsafeEntry(op.index, op.path, f"invalid whiteout name {op.target!r}")
            directory = clean(op.index, op.path)[:-1]
            self._whiteouts.append((op.index, directory + (op.target,), op))
            return
        parts = clean(op.index, op.path)
        self.report.entries += 1
        if op.uid == _NO_ID or op.gid == _NO_ID:
            raise UnsafeEntry(op.index, op.path, "uid or gid 4294967295 is (uid_t)-1: chown "
                              "would leave the owner unchanged")
        target = self.target
        if not parts:
            if not isinstance(op, Directory):
                raise UnsafeEntry(op.index, op.path, "an entry for the root must be a directory")
            self._metadata(op, ())
            return
        parent = self._resolve_parent(op, parts[:-1], own=True)
        key = parent + (parts[-1],)
        text = "/".join(key)
        is_dir = isinstance(op, Directory)
        self._doing, self._where = "lstat", key
        existing = None if self._absent(parent, text) else target.lstat(key)
        if existing is not None and not (is_dir and stat.S_ISDIR(existing.st_mode)):
            if stat.S_ISDIR(existing.st_mode) or stat.S_ISLNK(existing.st_mode):
                self._removed()   # only these can lie on a remembered walk
            self._doing = "remove"
            target.remove_tree(key)
            existing = None
        self._mark(text)
        if is_dir:
            if existing is None:
                self._doing = "mkdir"
                target.mkdir(key, 0o700)
                self._fresh.add(text)
                self._made.add(text)
        elif isinstance(op, File):
            self._doing = "open"
            self._file = (op, key, target.create(key))
            return  # metadata once the content is written
        elif isinstance(op, Symlink):
            self._doing = "symlink"
            target.symlink(op.target, key)
        elif isinstance(op, Hardlink):
            source = self._link_source(op)
            self._doing, self._where = "link", key
            target.link(source, key)
            return  # a hardlink shares its source's metadata
        elif isinstance(op, Device):
            if self.privilege == "rootless" and self.policy.userns_devices != "mknod":
                self._userns_device(op, key, text)
                return
            self._doing = "mknod"
            kind = stat.S_IFCHR if op.kind == "chr" else stat.S_IFBLK
            target.mknod(key, kind | 0o600, _makedev(op.major, op.minor))
        elif isinstance(op, Fifo):
            self._doing = "mknod"
            target.mknod(key, stat.S_IFIFO | 0o600, 0)
        self._metadata(op, key)

    def _mark(self, text: str) -> None:
        self._unpacked.add(text)
        below = self._below
        end = text.rfind("/")
        while end > 0:
            prefix = text[:end]
            if prefix in below:
                break
            below.add(prefix)
            end = text.rfind("/", 0, end)

    def _userns_device(self, op: Device, key: tuple, text: str) -> None:
        """A device entry in a user namespace, as the policy's tool handles it."""
        how = self.policy.userns_devices
        target = self.target
        if how == "empty-file":
            self._doing = "open"
            target.close(target.create(key))
            self._warn(op, "rootless{{{entry}}} creating empty file in place of device "
                       "{major}:{minor}", None, None, None, key)
            self._doing = "chmod"
            target.chmod(key, 0)
            self._xattrs(op, key)
            return
        self._unpacked.discard(text)
        if how == "skip-warn":
            self._warn(op, "skipped device {entry}: mknod is not permitted in a user "
                       "namespace", None, None, None, key)

    def _finish_file(self) -> None:
        op, key, handle = self._file
        self._file = None
        try:
            self.target.close(handle)
        except OSError as exc:
            raise self._failed(op, exc, "close", key) from exc
        self._guard(op, self._metadata, op, key)

    def _resolve_parent(self, op: Entry, parts: tuple[str, ...],
                        own: bool = False) -> tuple[str, ...]:
        """Resolve the parent components inside the root (symlinks too); create what is
        missing (``own``: as the parents of the entry ``op`` itself, which marks them).

        Resolutions are remembered until something is removed: only a removal
        can turn a directory the walk went through into something else.
        """
        cached = self._parents.get(parts)
        if cached is not None:
            return cached
        resolved_parts = self._walk(op, parts, own)
        self._parents[parts] = resolved_parts
        return resolved_parts

    def _absent(self, parent, text: str) -> bool:
        """Known not to exist without asking: a directory this layer created holds only
        what this layer put there, and nothing of it is called ``text``."""
        fresh = self._fresh
        return ("/".join(parent) in fresh and text not in fresh and text not in self._unpacked
                and text not in self._below)

    def _removed(self) -> None:
        self._parents.clear()
        self._fresh.clear()

    def _walk(self, op: Entry, parts: tuple[str, ...], own: bool) -> tuple[str, ...]:
        target = self.target
        resolved: list[str] = []
        pending = list(parts)
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == "..":
                if resolved:
                    resolved.pop()
                continue
            if name in ("", "."):
                continue
            here = tuple(resolved) + (name,)
            text = "/".join(here)
            self._doing, self._where = "lstat", here
            st = None if self._absent(resolved, text) else target.lstat(here)
            if st is None:
                self._doing, self._where = "mkdir", here
                target.mkdir(here, 0o755)
                self._fresh.add(text)
                if own:
                    self._made.add(text)
                else:
                    self._stray(text)
                resolved.append(name)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAXSYMLINKS:
                    raise UnsafeEntry(op.index, op.path, "too many symbolic links in its path")
                self._doing, self._where = "readlink", here
                link = target.readlink(here)
                if link.startswith("/"):
                    resolved = []
                pending = [p for p in link.split("/") if p] + pending
                continue
            resolved.append(name)
        return tuple(resolved)

    def _link_source(self, op: Hardlink) -> tuple:
        parts = clean(op.index, op.target)
        if not parts:
            raise UnsafeEntry(op.index, op.path, "a hardlink to the root")
        return self._resolve_parent(op, parts[:-1]) + (parts[-1],)

    # -- metadata and xattrs
    def _metadata(self, op: Entry, key: tuple) -> None:
        target = self.target
        link = isinstance(op, Symlink)
        self._where = key
        if self.privilege != "rootless" or self.policy.rootless_chown:
            self._doing = "lchown"
            target.lchown(key, op.uid, op.gid)
        if self.policy.order == "last":
            if not link:
                self._doing = "chmod"
                target.chmod(key, op.mode)
            if op.xattrs:
                self._xattrs(op, key)
        else:
            if op.xattrs:
                self._xattrs(op, key)
            if not link:
                self._doing = "chmod"
                target.chmod(key, op.mode)

    def _xattrs(self, op: Entry, key: tuple) -> None:
        policy = self.policy
        collected: list[str] = []
        kind = None
        for x in op.xattrs:
            if x.encoding not in policy.encodings or not policy.includes(x.name):
                self.report.skipped_xattrs += 1
                continue
            if policy.skips(x.name):
                self.report.skipped_xattrs += 1
                if policy.skip_warns:
                    self._warn(op, policy.warn_message, x.name, None, None, key)
                continue
            try:
                self.target.lsetxattr(key, x.name, x.value)
            except OSError as exc:
                code = errno_name(exc.errno) or str(exc.errno)
                rule = getattr(getattr(exc, "rule", None), "id", None)
                if kind is None:
                    kind = entry_kind(op)
                action, message = policy.row(code, x.name, kind, self.privilege)
                if action == FAIL:
                    raise ExtractionFailed(
                        self._format(policy.fail_message, op, key, x.name, exc.errno),
                        op.path, x.name, code, rule) from exc
                if action == WARN:
                    canon = "EOPNOTSUPP" if code == "ENOTSUP" else code
                    if canon in policy.warn_once:
                        if canon in self._warned_once:
                            continue
                        self._warned_once.add(canon)
                    self._warn(op, message or policy.warn_message, x.name, code, rule, key,
                               exc.errno)
                elif action == COLLECT:
                    collected.append(f"lsetxattr {x.name} /{_clean_text(op.path)}: "
                                     f"{_strerror(exc.errno)}")
                    self.report.warnings.append(Warning(op.path, "", x.name, code, rule))
        if collected:
            message = policy.warn_message.format(errors=", ".join(collected))
            for i in range(len(self.report.warnings) - len(collected), len(self.report.warnings)):
                w = self.report.warnings[i]
                self.report.warnings[i] = Warning(w.entry, message, w.xattr, w.errno, w.rule)

    def _format(self, template: str, op: Entry, key: tuple, xattr: str | None, code,
                call: str = "") -> str:
        text = _strerror(code) if code else ""
        name = op.path
        return template.format(layer=self.layer, path=self.target.display(key),
                               entry=_clean_text(name), name=name, key=xattr,
                               strerror=text, Strerror=os.strerror(code) if code else "",
                               errors="", op=call, major=getattr(op, "major", ""),
                               minor=getattr(op, "minor", ""))

    def _warn(self, op, template, xattr, code, rule, key, number=None):
        message = self._format(template, op, key, xattr, number)
        self.report.warnings.append(Warning(op.path, message, xattr, code, rule))

    def _failed(self, op, exc: OSError, call: str, key: tuple) -> ExtractionFailed:
        """The tool's failure for a filesystem call made for an entry (or a marker)."""
        code = errno_name(exc.errno) or str(exc.errno)
        rule = getattr(getattr(exc, "rule", None), "id", None)
        return ExtractionFailed(
            self._format(self.policy.entry_fail_message, op, key, None, exc.errno, call),
            op.path, None, code, rule)

    # -- end of layer: whiteouts and opaque markers, order-independent
    def _mine(self, text: str) -> bool:
        """Did this layer write ``text`` or something below it?"""
        return text in self._unpacked or text in self._below

    def _finish_layer(self) -> None:
        """Whiteouts and opaque markers hide what lower layers put there, never what
        this layer wrote, wherever the marker stands in the archive (image-spec:
        "whiteout files MUST only apply to resources in lower/parent layers").
        Their directories are resolved inside the root like any parent."""
        for index, key, op in self._whiteouts:
            self._guard(op, self._whiteout, op, key)
        for index, key, op in self._opaque:
            self._guard(op, self._opaque_dir, op, key)

    def _opaque_dir(self, op: Opaque, key: tuple) -> None:
        self._hide_lower(op, self._resolve_parent(op, key))

    def _whiteout(self, op: Whiteout, key: tuple) -> None:
        target = self.target
        full = self._resolve_parent(op, key[:-1]) + (key[-1],)
        text = "/".join(full)
        self._doing, self._where = "lstat", full
        if text in self._unpacked:
            # this layer wrote the entry itself: lower content under a directory goes
            st = target.lstat(full)
            if st is not None and stat.S_ISDIR(st.st_mode):
                self._hide_lower(op, full)
        elif text in self._below:
            self._hide_lower(op, full)   # a lower directory this layer wrote into
        elif target.lstat(full) is not None:
            self._removed()
            self._doing = "remove"
            target.remove_tree(full)

    def _stray(self, text: str) -> None:
        """A directory made for no entry of this layer: ``text`` and every directory
        above it may hold lower content again (see ``_made``)."""
        for directory in _and_above(text):
            self._made.discard(directory)
            self._hidden.discard(directory)

    def _cleared(self, text: str) -> bool:
        """Is the directory ``text`` made by this layer, or at or below one already
        cleared of lower entries?"""
        return text in self._made or any(d in self._hidden for d in _and_above(text))

    def _hide_lower(self, op: Entry, key: tuple[str, ...]) -> None:
        """Remove every lower-layer entry below the resolved directory ``key``, keeping
        this layer's (iteratively: depth is the archive's to choose).

        Nothing of a lower layer is below a directory this layer made, nor, once it is
        done, below one this has cleared (the end of a layer only removes): the walk
        skips both, so markers repeated or nested cost one walk, not one each.
        """
        text = "/".join(key)
        if self._cleared(text):
            return
        hidden = self._hidden
        hidden.add(text)
        target = self.target
        made = self._made
        pending = [key]
        while pending:
            directory = pending.pop()
            self._doing, self._where = "lstat", directory
            st = target.lstat(directory)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            self._doing = "readdir"
            for name in target.listdir(directory):
                child = directory + (name,)
                text = "/".join(child)
                if not self._mine(text):
                    self._removed()
                    self._doing, self._where = "remove", child
                    target.remove_tree(child)
                elif text in made or text in hidden:
                    continue                # nothing of a lower layer below
                elif text not in self._unpacked:
                    pending.append(child)   # a lower directory holding this layer's entries
                else:
                    self._doing, self._where = "lstat", child
                    cst = target.lstat(child)
                    if cst is not None and stat.S_ISDIR(cst.st_mode):
                        pending.append(child)
