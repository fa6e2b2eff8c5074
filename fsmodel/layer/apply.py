"""The applier: a layer's operations executed on a backend, confined to a root, under a policy.

Theory of operation
-------------------
The reader turns bytes into operations; the applier carries them out on any
backend with the syscall-shaped interface (:class:`~fsmodel.SimKernel`,
:class:`~fsmodel.HostKernel`, fake_linux's ``OsBackend``) through
:class:`KernelTarget`, following the OCI changeset rules:

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
  only to what this layer did not itself create, wherever the marker appears
  in the archive.  ``.wh.``, ``.wh..`` and ``.wh...`` are refused; AUFS
  metadata (``.wh..wh.*``) is skipped.
* **Metadata** in the order the policy's tool uses (create, chown, xattrs,
  chmod; or xattrs last); directory times are not modelled (backends keep
  their own clocks).
* **Xattrs**: only the encodings the policy reads, minus what it never sets;
  each kernel error is failed, warned or collected as the policy says
  (:mod:`fsmodel.layer.policies`).  A failure raises
  :class:`ExtractionFailed` with the message the tool would print.
"""

from __future__ import annotations

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
    """A backend with the syscall interface, seen from a root directory in it."""

    def __init__(self, kernel, root: str = "/"):
        self.k = kernel
        self.root = root.rstrip("/") or "/"

    def path(self, components) -> str:
        rel = "/".join(components)
        if self.root == "/":
            return "/" + rel
        return self.root + ("/" + rel if rel else "")

    def lstat(self, path: str):
        try:
            return self.k.lstat(path)
        except FileNotFoundError:
            return None

    def readlink(self, path: str) -> str:
        return self.k.readlink(path)

    def remove_tree(self, path: str) -> None:
        st = self.k.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            for name in self.k.listdir(path):
                self.remove_tree(path + "/" + name)
            self.k.rmdir(path)
        else:
            self.k.unlink(path)

    def listdir(self, path: str) -> list[str]:
        return self.k.listdir(path)

    def mkdir(self, path: str, mode: int) -> None:
        self.k.mkdir(path, mode)

    def create(self, path: str):
        return self.k.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)

    def write(self, handle, data: bytes) -> None:
        self.k.write(handle, data)

    def close(self, handle) -> None:
        self.k.close(handle)

    def symlink(self, target: str, path: str) -> None:
        self.k.symlink(target, path)

    def link(self, src: str, dst: str) -> None:
        self.k.link(src, dst)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self.k.mknod(path, mode, device)

    def lchown(self, path: str, uid: int, gid: int) -> None:
        self.k.lchown(path, uid, gid)

    def chmod(self, path: str, mode: int) -> None:
        self.k.chmod(path, mode)

    def lsetxattr(self, path: str, name: str, value: bytes) -> None:
        self.k.lsetxattr(path, name, value)


# ------------------------------------------------------------------- the applier

def clean(index: int, name: str) -> tuple[str, ...]:
    """Lexically clean an archive name into root-relative components."""
    parts: list[str] = []
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


class Applier:
    """Applies one layer's events to ``target`` under ``policy``.

    ``privilege`` ("root" or "rootless") selects the policy's rows; ``layer``
    names the layer in failure messages (its DiffID, ``sha256:...``).
    """

    def __init__(self, target: KernelTarget, policy: Policy, *, privilege: str = "root",
                 layer: str = "sha256:?"):
        self.target = target
        self.policy = policy
        self.privilege = privilege
        self.layer = layer
        self.report = Report()
        self._unpacked: set[tuple[str, ...]] = set()
        self._opaque: list[tuple[int, tuple[str, ...]]] = []
        self._whiteouts: list[tuple[int, tuple[str, ...], Whiteout]] = []
        self._file = None  # (op, components, path, handle) while content streams

    # -- driving
    def apply(self, events) -> Report:
        for event in events:
            self.feed(event)
        return self.report

    def feed(self, event) -> None:
        if isinstance(event, Data):
            if self._file is None:
                raise ValueError("Data event without a File before it")
            self.target.write(self._file[3], event.chunk)
            return
        self._finish_file()
        if isinstance(event, EndOfLayer):
            self._finish_layer()
        elif isinstance(event, Entry):
            self._entry(event)

    # -- entries
    def _entry(self, op: Entry) -> None:
        if isinstance(op, AufsMetadata):
            return
        if isinstance(op, Opaque):
            self._opaque.append((op.index, clean(op.index, op.path)))
            return
        if isinstance(op, Whiteout):
            if op.target in ("", ".", "..") or "/" in op.target:
                raise UnsafeEntry(op.index, op.path, f"invalid whiteout name {op.target!r}")
            directory = clean(op.index, op.path)[:-1]
            self._whiteouts.append((op.index, directory + (op.target,), op))
            return
        parts = clean(op.index, op.path)
        self.report.entries += 1
        if not parts:
            if not isinstance(op, Directory):
                raise UnsafeEntry(op.index, op.path, "an entry for the root must be a directory")
            self._metadata(op, (), self.target.root)
            return
        parent = self._resolve_parent(op, parts[:-1])
        path = self.target.path(parent + (parts[-1],))
        existing = self.target.lstat(path)
        is_dir = isinstance(op, Directory)
        if existing is not None and not (is_dir and stat.S_ISDIR(existing.st_mode)):
            self._call(op, path, self.target.remove_tree, path)
            existing = None
        key = parent + (parts[-1],)
        self._unpacked.add(key)
        if is_dir:
            if existing is None:
                self._call(op, path, self.target.mkdir, path, 0o700)
        elif isinstance(op, File):
            handle = self._call(op, path, self.target.create, path)
            self._file = (op, key, path, handle)
            return  # metadata once the content is written
        elif isinstance(op, Symlink):
            self._call(op, path, self.target.symlink, op.target, path)
        elif isinstance(op, Hardlink):
            source = self._link_source(op)
            self._call(op, path, self.target.link, source, path)
        elif isinstance(op, Device):
            kind = stat.S_IFCHR if op.kind == "chr" else stat.S_IFBLK
            self._call(op, path, self.target.mknod, path, kind | 0o600,
                       os.makedev(op.major, op.minor))
        elif isinstance(op, Fifo):
            self._call(op, path, self.target.mknod, path, stat.S_IFIFO | 0o600, 0)
        if not isinstance(op, Hardlink):
            self._metadata(op, key, path)

    def _finish_file(self) -> None:
        if self._file is None:
            return
        op, key, path, handle = self._file
        self._file = None
        self.target.close(handle)
        self._metadata(op, key, path)

    def _resolve_parent(self, op: Entry, parts: tuple[str, ...]) -> tuple[str, ...]:
        """Resolve the parent components inside the root (symlinks too); create what is missing."""
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
            path = self.target.path(tuple(resolved) + (name,))
            st = self.target.lstat(path)
            if st is None:
                self._call(op, path, self.target.mkdir, path, 0o755)
                resolved.append(name)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAXSYMLINKS:
                    raise UnsafeEntry(op.index, op.path, "too many symbolic links in its path")
                link = self.target.readlink(path)
                if link.startswith("/"):
                    resolved = []
                pending = [p for p in link.split("/") if p] + pending
                continue
            resolved.append(name)
        return tuple(resolved)

    def _link_source(self, op: Hardlink) -> str:
        parts = clean(op.index, op.target)
        if not parts:
            raise UnsafeEntry(op.index, op.path, "a hardlink to the root")
        parent = self._resolve_parent(op, parts[:-1])
        return self.target.path(parent + (parts[-1],))

    # -- metadata and xattrs
    def _metadata(self, op: Entry, key, path: str) -> None:
        target = self.target
        link = isinstance(op, Symlink)
        self._call(op, path, target.lchown, path, op.uid, op.gid)
        if self.policy.order == "last":
            if not link:
                self._call(op, path, target.chmod, path, op.mode)
            self._xattrs(op, path)
        else:
            self._xattrs(op, path)
            if not link:
                self._call(op, path, target.chmod, path, op.mode)

    def _xattrs(self, op: Entry, path: str) -> None:
        policy = self.policy
        collected: list[str] = []
        kind = entry_kind(op)
        for x in op.xattrs:
            if x.encoding not in policy.encodings or not policy.includes(x.name):
                self.report.skipped_xattrs += 1
                continue
            if policy.skips(x.name):
                self.report.skipped_xattrs += 1
                if policy.skip_warns:
                    self._warn(op, policy.warn_message, x.name, None, None, path)
                continue
            try:
                self.target.lsetxattr(path, x.name, x.value)
            except OSError as exc:
                code = errno_name(exc.errno) or str(exc.errno)
                rule = getattr(getattr(exc, "rule", None), "id", None)
                action = policy.decide(code, x.name, kind, self.privilege)
                if action == FAIL:
                    raise ExtractionFailed(
                        self._format(policy.fail_message, op, path, x.name, exc.errno),
                        op.path, x.name, code, rule) from exc
                if action == WARN:
                    self._warn(op, policy.warn_message, x.name, code, rule, path, exc.errno)
                elif action == COLLECT:
                    collected.append(f"lsetxattr {x.name} /{op.path.lstrip('/')}: "
                                     f"{_strerror(exc.errno)}")
                    self.report.warnings.append(Warning(op.path, "", x.name, code, rule))
        if collected:
            message = policy.warn_message.format(errors=", ".join(collected))
            for i in range(len(self.report.warnings) - len(collected), len(self.report.warnings)):
                w = self.report.warnings[i]
                self.report.warnings[i] = Warning(w.entry, message, w.xattr, w.errno, w.rule)

    def _format(self, template: str, op: Entry, path: str, key: str | None, code) -> str:
        text = _strerror(code) if code else ""
        return template.format(layer=self.layer, path=path, entry=op.path.lstrip("/"), key=key,
                               strerror=text, Strerror=os.strerror(code) if code else "",
                               errors="")

    def _warn(self, op, template, key, code, rule, path, number=None):
        message = self._format(template, op, path, key, number)
        self.report.warnings.append(Warning(op.path, message, key, code, rule))

    def _call(self, op: Entry, path: str, fn, *args):
        """A filesystem call for an entry; a failure fails the extraction as the tool would."""
        try:
            return fn(*args)
        except OSError as exc:
            code = errno_name(exc.errno) or str(exc.errno)
            rule = getattr(getattr(exc, "rule", None), "id", None)
            raise ExtractionFailed(
                f"failed to extract layer {self.layer}: {op.path}: {_strerror(exc.errno)}",
                op.path, None, code, rule) from exc

    # -- end of layer: whiteouts and opaque markers, order-independent
    def _mine(self, key: tuple[str, ...]) -> bool:
        """Did this layer create ``key`` or something below it?"""
        n = len(key)
        return key in self._unpacked or any(p[:n] == key for p in self._unpacked)

    def _finish_layer(self) -> None:
        for index, key, op in self._whiteouts:
            parent = self._resolve_parent(op, key[:-1])
            full = parent + (key[-1],)
            if self._mine(full):
                continue  # whiteouts hide lower layers only
            path = self.target.path(full)
            if self.target.lstat(path) is not None:
                self._call(op, path, self.target.remove_tree, path)
        for index, key in self._opaque:
            self._hide_lower(key)

    def _hide_lower(self, key: tuple[str, ...]) -> None:
        """Remove every lower-layer entry below ``key``, recursively, keeping this layer's."""
        path = self.target.path(key)
        st = self.target.lstat(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        for name in self.target.listdir(path):
            child = key + (name,)
            if not self._mine(child):
                self.target.remove_tree(self.target.path(child))
            elif child not in self._unpacked or stat.S_ISDIR(
                    self.target.lstat(self.target.path(child)).st_mode):
                self._hide_lower(child)
