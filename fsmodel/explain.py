"""Explain one xattr call: outcome, deciding rule, reason, kernel source, checks passed.

A :class:`Scenario` describes the situation (a file of a given type, mode and
owner on a filesystem of a given profile and kernel, an optional existing
attribute, inode flags, a read-only mount) and the call, made as a given
caller.  It can be built on any backend; :func:`explain` builds it on a
:class:`SimKernel` and makes the call with the rules' trace switched on.
Nothing here decides an outcome: the verdict is whatever the simulated
kernel's pipeline returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ._rules.constants import FILE_TYPES, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_ISVTX
from ._rules.creds import USERNS_BASE
from ._rules.verdict import Verdict
from ._sim.kernel import _CALLS, SimKernel

#: Where the explained file lives: a mount of the profile under a tmpfs root.
MOUNT = "/mnt"
TARGET = MOUNT + "/target"
O_PATH = getattr(os, "O_PATH", 0o10000000)


def _preset_values() -> dict:
    from ._rules.codecs import (ACL_ACCESS, ACL_DEFAULT, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER,
                                ACL_USER, ACL_USER_OBJ, CAPS_NAME, acl_value, fcaps_value)

    acl = acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 4, 1000), (ACL_GROUP_OBJ, 4, None),
                    (ACL_MASK, 4, None), (ACL_OTHER, 4, None))
    return {ACL_ACCESS: acl, ACL_DEFAULT: acl, CAPS_NAME: fcaps_value(permitted=1 << 10)}


_PRESET_VALUES = _preset_values()


@dataclass
class Scenario:
    """One xattr call on one file, and everything around it.

    The file is owned by ``owner:group`` with ``mode`` (0644, 0755 for
    directories); ``exists`` says whether ``name`` is already set on it
    (default: yes for get and remove, no for set).  The caller is
    ``uid``/``gid``/``groups``/``caps``/``userns`` as for ``become``; with
    ``userns`` the owner and the caller are ids of that user namespace (host
    ids 100000 + id).  ``preset`` is the
    existing attribute's value (a valid one for the name by default).  For ``f*`` calls
    the file is opened by its owner (O_RDONLY, O_RDONLY|O_NONBLOCK for
    FIFOs, O_PATH where no open is possible).
    """

    call: str = "lsetxattr"
    name: str = "user.foo"
    type: str = "regular"
    value: bytes | None = None
    value_size: int | None = None
    flags: int = 0
    size: int = 65536
    fs: str = "ext4"
    kernel: str = "6.18"
    uid: int = 0
    gid: int | None = None
    groups: tuple = ()
    caps: tuple | None = None
    userns: int = 0
    mode: int | None = None
    owner: int = 0
    group: int | None = None
    sticky: bool = False
    immutable: bool = False
    append: bool = False
    readonly: bool = False
    exists: bool | None = None
    preset: bytes | None = None
    fs_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.call not in _CALLS:
            raise ValueError(f"call={self.call!r}, but expected one of: {', '.join(_CALLS)}")
        if self.type not in FILE_TYPES:
            raise ValueError(f"type={self.type!r}, but expected one of: {', '.join(FILE_TYPES)}")
        self.op, self.how = _CALLS[self.call]
        ftype = FILE_TYPES[self.type]
        if self.mode is None:
            self.mode = 0o755 if ftype == S_IFDIR else 0o777 if ftype == S_IFLNK else 0o644
        if self.value is None:
            self.value = b"x" * (self.value_size if self.value_size is not None else 5)
        if self.exists is None:
            self.exists = self.op in ("get", "remove")
        if self.group is None:
            self.group = self.owner

    # -- building ----------------------------------------------------------------
    def build(self, k, mount: bool = True):
        """Create the situation on backend ``k`` (as root); returns the call's target.

        With ``mount`` (SimKernel), the file lives on a fresh mount of ``fs``; on a
        real filesystem pass ``mount=False`` and the file is made where ``k`` is.
        """
        ftype = FILE_TYPES[self.type]
        k.chmod("/", 0o755)
        k.mkdir(MOUNT, 0o755)
        if mount:
            k.mount(MOUNT, self.fs, **self.fs_options)
        k.chmod(MOUNT, 0o755)
        if ftype == S_IFDIR:
            k.mkdir(TARGET, 0o755)
        elif ftype == S_IFLNK:
            k.mknod(MOUNT + "/file", S_IFREG | 0o644)
            k.symlink("file", TARGET)
        else:
            k.mknod(TARGET, ftype | 0o644, 0)
        if ftype != S_IFLNK:
            k.chmod(TARGET, (self.mode & 0o7777) | (S_ISVTX if self.sticky else 0))
        base = USERNS_BASE if self.userns else 0
        k.lchown(TARGET, self.owner + base, self.group + base)
        if self.exists:
            setter = k.setxattr if self.how == "path" else k.lsetxattr
            try:
                value = self.preset if self.preset is not None else \
                    _PRESET_VALUES.get(self.name, b"value")
                setter(TARGET, self.name, value)
            except OSError:
                pass  # e.g. user.* on a symlink: such an attribute cannot exist
        if self.immutable or self.append:
            k.set_flags(TARGET, immutable=self.immutable, append=self.append)
        target = TARGET
        if self.how == "fd":
            with k.become(self.owner, self.group, caps=None if self.owner == 0 else (),
                          userns=self.userns):
                target = self._open(k, ftype)
        if self.readonly:
            k.remount(MOUNT if mount else "/", True)
        return target

    @staticmethod
    def _open(k, ftype: int) -> int:
        if ftype in (S_IFREG, S_IFDIR):
            return k.open(TARGET, os.O_RDONLY)
        if ftype & S_IFMT == S_IFIFO:
            return k.open(TARGET, os.O_RDONLY | os.O_NONBLOCK)
        # symlinks and driverless device or socket nodes cannot be opened for I/O
        return k.open(TARGET, O_PATH | os.O_NOFOLLOW)

    def args(self, target) -> tuple:
        if self.op == "set":
            return (target, self.name, self.value, self.flags)
        if self.op == "get":
            return (target, self.name, self.size)
        if self.op == "list":
            return (target, self.size)
        return (target, self.name)

    def caller(self) -> tuple:
        return (self.uid, self.gid, self.groups, self.caps, self.userns)

    def run(self, k, mount: bool = True):
        """Build on ``k`` and make the call as the caller: the result, or raises OSError."""
        target = self.build(k, mount)
        with k.become(*self.caller()):
            return getattr(k, self.call)(*self.args(target))


def explain(call: str = "lsetxattr", **kwargs) -> Verdict:
    """What ``call`` returns in the situation ``kwargs`` describe, and why (a :class:`Verdict`).

    Keyword arguments are the fields of :class:`Scenario`.
    """
    s = Scenario(call=call, **kwargs)
    k = SimKernel("tmpfs", s.kernel)
    target = s.build(k)
    with k.become(*s.caller()):
        return k.explain(s.call, *s.args(target))


def render(verdict: Verdict, call: str, name: str | None) -> str:
    """Human-readable explanation."""
    rule = verdict.rule
    lines = []
    shown = f"{call}({name!r})" if name is not None else f"{call}()"
    if rule.errno:
        lines.append(f"{shown} -> {rule.errno_name} ({os.strerror(rule.errno)})")
    else:
        result = verdict.result
        if isinstance(result, bytes) and len(result) > 64:
            result = f"<{len(result)} bytes>"
        lines.append(f"{shown} -> success" + ("" if result is None else f" = {result!r}"))
    lines.append(f"  rule:   {rule.id}")
    lines.append(f"  why:    {rule.reason}")
    lines.append(f"  source: {rule.source}")
    if verdict.trace:
        lines.append("  checks passed before it:")
        for check in verdict.trace:
            lines.append(f"    - {check.id}: {check.what}  [{check.source}]")
    return "\n".join(lines)
