"""Explain one xattr call: outcome, deciding rule, reason, kernel source, checks passed.

:func:`explain` builds the situation on a :class:`SimKernel` (a file of the
given type, mode and owner on a filesystem of the given profile and kernel,
an optional existing attribute, inode flags, a read-only mount), then makes
the call as the given caller with the rules' trace switched on.  Nothing
here decides an outcome: the verdict is whatever the simulated kernel's
pipeline returned.
"""

from __future__ import annotations

import os

from ._rules.constants import FILE_TYPES, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISVTX
from ._rules.verdict import Verdict
from ._sim.kernel import _CALLS, SimKernel

#: Where the explained file lives: a mount of the profile under a tmpfs root.
MOUNT = "/mnt"
TARGET = MOUNT + "/target"


def explain(
    call: str = "lsetxattr",
    *,
    name: str = "user.foo",
    type: str = "symlink",
    value: bytes | None = None,
    value_size: int | None = None,
    flags: int = 0,
    size: int = 65536,
    fs: str = "ext4",
    kernel: str = "6.18",
    uid: int = 0,
    gid: int | None = None,
    groups=(),
    caps=None,
    mode: int | None = None,
    owner: int = 0,
    group: int | None = None,
    sticky: bool = False,
    immutable: bool = False,
    append: bool = False,
    readonly: bool = False,
    exists: bool | None = None,
    fs_options: dict | None = None,
) -> Verdict:
    """What ``call`` returns on a ``type`` file, and why (a :class:`Verdict`).

    ``call`` is one of the twelve xattr syscalls.  The file is owned by
    ``owner:group`` with ``mode`` (0644, or 0755 for directories); ``exists``
    says whether ``name`` is already set on it (default: yes for get and
    remove, no for set).  The caller is ``uid``/``gid``/``groups``/``caps``
    as for :meth:`SimKernel.become`.  For ``f*`` calls the file is opened by
    its owner (O_RDONLY, or O_PATH where no open is possible).
    """
    if call not in _CALLS:
        raise ValueError(f"call={call!r}, but expected one of: {', '.join(_CALLS)}")
    if type not in FILE_TYPES:
        raise ValueError(f"type={type!r}, but expected one of: {', '.join(FILE_TYPES)}")
    op, how = _CALLS[call]
    ftype = FILE_TYPES[type]
    if mode is None:
        mode = 0o755 if ftype == S_IFDIR else 0o777 if ftype == S_IFLNK else 0o644
    if value is None:
        value = b"x" * (value_size if value_size is not None else 5)
    if exists is None:
        exists = op in ("get", "remove")
    group = owner if group is None else group

    k = SimKernel("tmpfs", kernel)
    k.mkdir(MOUNT, 0o755)
    k.mount(MOUNT, fs, **(fs_options or {}))
    k.chmod(MOUNT, 0o755)
    if ftype == S_IFDIR:
        k.mkdir(TARGET, mode & 0o7777)
    elif ftype == S_IFLNK:
        k.mknod(MOUNT + "/file", S_IFREG | 0o644)
        k.symlink("file", TARGET)
    else:
        k.mknod(TARGET, ftype | (mode & 0o7777), 0)
    if ftype != S_IFLNK:
        k.chmod(TARGET, (mode & 0o7777) | (S_ISVTX if sticky else 0))
    k.lchown(TARGET, owner, group)
    if exists:
        _preset(k, name, how)
    if immutable or append:
        k.set_flags(TARGET, immutable=immutable, append=append)
    target = TARGET
    if how == "fd":
        with k.become(owner, group, caps=None if owner == 0 else ()):
            target = _open_for(k, ftype)
    if readonly:
        k.remount(MOUNT, True)
    with k.become(uid, gid, groups, caps):
        if op == "set":
            return k.explain(call, target, name, value, flags)
        if op == "get":
            return k.explain(call, target, name, size)
        if op == "list":
            return k.explain(call, target, size)
        return k.explain(call, target, name)


def _preset(k: SimKernel, name: str, how: str) -> None:
    """Put ``name`` on the target as root, where the kernel allows it at all."""
    setter = k.setxattr if how == "path" else k.lsetxattr
    try:
        setter(TARGET, name, _PRESET_VALUES.get(name, b"value"))
    except OSError:
        pass  # e.g. user.* on a symlink: such an attribute cannot exist


def _open_for(k: SimKernel, ftype: int) -> int:
    if ftype in (S_IFREG, S_IFDIR):
        return k.open(TARGET, os.O_RDONLY)
    if ftype & S_IFMT == 0o010000:  # fifo
        return k.open(TARGET, os.O_RDONLY | os.O_NONBLOCK)
    # symlinks and driverless device or socket nodes cannot be opened for I/O
    return k.open(TARGET, getattr(os, "O_PATH", 0o10000000) | os.O_NOFOLLOW)


def _preset_values() -> dict:
    from ._rules.codecs import ACL_ACCESS, ACL_DEFAULT, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, \
        ACL_USER, ACL_USER_OBJ, CAPS_NAME, acl_value, fcaps_value

    acl = acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 4, 1000), (ACL_GROUP_OBJ, 4, None),
                    (ACL_MASK, 4, None), (ACL_OTHER, 4, None))
    return {ACL_ACCESS: acl, ACL_DEFAULT: acl, CAPS_NAME: fcaps_value(permitted=1 << 10)}


_PRESET_VALUES = _preset_values()


def render(verdict: Verdict, call: str, name: str | None) -> str:
    """Human-readable explanation."""
    rule = verdict.rule
    lines = []
    if rule.errno:
        lines.append(f"{call}({name!r}) -> {rule.errno_name} ({os.strerror(rule.errno)})")
    else:
        result = verdict.result
        shown = "" if result is None else f" = {result!r}"
        lines.append(f"{call}({name!r}) -> success{shown}")
    lines.append(f"  rule:   {rule.id}")
    lines.append(f"  why:    {rule.reason}")
    lines.append(f"  source: {rule.source}")
    if verdict.trace:
        lines.append("  checks passed before it:")
        for check in verdict.trace:
            lines.append(f"    - {check.id}: {check.what}  [{check.source}]")
    return "\n".join(lines)
