"""Policies: how real tools apply a layer's extended attributes, as data.

A :class:`Policy` says which xattr encodings a tool reads, what it never sets,
and, for each error the kernel returns when it sets one, whether the tool
fails, warns (and goes on) or collects the error into one warning per entry —
a decision that may depend on the errno, the attribute's namespace, the type
of the entry and whether the tool runs rootless.  It also carries the text the
tool prints, so ``fsmodel check`` can show what a user would see.

Sources: ../shared/research/extractors.md (sections 1–8 and the feature table
in section 10) and the runtime oracle's measurements (RESULTS.md).  Each
policy names the versions it stands for.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

__all__ = ["POLICIES", "Policy", "XattrRule", "entry_kind", "get_policy", "namespace_of"]

FAIL, WARN, COLLECT = "fail", "warn", "collect"


@dataclass(frozen=True)
class XattrRule:
    """One line of a policy's error table; the first matching line decides.

    ``errno`` is a name (``"EPERM"``; ``"ENOTSUP"`` and ``"EOPNOTSUPP"`` are the
    same) or ``"*"``; ``namespace`` is ``"user"``, ``"trusted"``, ``"security"``,
    ``"system"``, ``"other"`` or ``"*"``; ``entry`` is ``"regular"``,
    ``"directory"``, ``"special"`` (anything else: symlinks, devices, FIFOs,
    sockets) or ``"*"``; ``privilege`` is ``"root"``, ``"rootless"`` or ``"*"``.
    """

    errno: str
    action: str
    namespace: str = "*"
    entry: str = "*"
    privilege: str = "*"
    #: the tool's text for this case when it differs from the policy's ``warn_message``
    message: str | None = None

    def matches(self, errno_name: str, namespace: str, entry: str, privilege: str) -> bool:
        return (self.errno in ("*", _canon(errno_name)) and self.namespace in ("*", namespace)
                and self.entry in ("*", entry) and self.privilege in ("*", privilege))


def _canon(name: str) -> str:
    return "EOPNOTSUPP" if name in ("ENOTSUP", "EOPNOTSUPP") else name


@dataclass(frozen=True)
class Policy:
    """How one tool applies xattrs (see the module docstring)."""

    name: str
    tool: str
    versions: str
    encodings: frozenset
    rules: tuple
    #: error text when the tool fails on an xattr; fields: layer, path, entry, key, strerror
    fail_message: str
    #: warning text for one ignored xattr (warn) or an entry's collected errors (collect)
    warn_message: str
    #: names (fnmatch patterns) the tool never sets, and whether it says so
    skip: tuple = ()
    skip_warns: bool = False
    #: if set, only names matching one of these patterns are applied (GNU tar)
    include: tuple | None = None
    #: "before-chmod" (containerd, moby: create, chown, xattrs, chmod, times) or "last"
    #: (containers/storage: chown, chmod, times, then xattrs)
    order: str = "before-chmod"
    #: exit status when everything was extracted but warnings were printed (bsdtar: 1)
    warning_exit: int = 0
    default: str = FAIL
    #: errnos the tool warns about once per run ("further warnings will be suppressed")
    warn_once: tuple = ()
    #: char/block device entries when running in a user namespace: "skip" (silently or at
    #: debug level), "skip-warn", "empty-file" (umoci --rootless: an empty file, mode 0) or
    #: "mknod" (try it: EPERM, the tool's entry error)
    userns_devices: str = "skip"
    #: does the tool chown entries when rootless (umoci --rootless records owners instead)
    rootless_chown: bool = True
    #: does the tool's tar reader apply PAX global headers (POSIX tars) or ignore them (Go)
    pax_globals: bool = False
    #: text of a failed filesystem call for an entry (mknod, chown, ...); fields as
    #: fail_message plus ``op`` (the call)
    entry_fail_message: str = "failed to extract layer {layer}: {op} {path}: {strerror}"
    notes: str = ""

    def skips(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.skip)

    def includes(self, name: str) -> bool:
        return self.include is None or any(fnmatch.fnmatchcase(name, p) for p in self.include)

    def decide(self, errno_name: str, name: str, entry: str, privilege: str) -> str:
        return self.row(errno_name, name, entry, privilege)[0]

    def row(self, errno_name: str, name: str, entry: str,
            privilege: str) -> tuple[str, str | None]:
        """(action, message template or None) for one failed setxattr."""
        namespace = namespace_of(name)
        for rule in self.rules:
            if rule.matches(errno_name, namespace, entry, privilege):
                return rule.action, rule.message
        return self.default, None


def namespace_of(name: str) -> str:
    prefix = name.split(".", 1)[0] if "." in name else ""
    return prefix if prefix in ("user", "trusted", "security", "system") else "other"


def entry_kind(op) -> str:
    from .ops import Directory, File

    if isinstance(op, File):
        return "regular"
    if isinstance(op, Directory):
        return "directory"
    return "special"


_CONTAINERD_FAIL = "failed to extract layer {layer}: {strerror}"
# GNU tar 1.34 names the call: lsetxattr for symlinks (and devices), setxattrat for the rest
_GNU_TAR_RULES = (
    XattrRule("*", WARN, entry="special",
              message="tar: lsetxattr: Cannot set '{key}' extended attribute for file "
                      "'{entry}': {Strerror}"),
    XattrRule("*", WARN,
              message="tar: setxattrat: Cannot set '{key}' extended attribute for file "
                      "'{entry}': {Strerror}"),
)
_MOBY_COLLECT = ("ignored xattrs in archive: underlying filesystem doesn't support them "
                 "errors=[{errors}]")

POLICIES: dict[str, Policy] = {p.name: p for p in [
    Policy(
        name="containerd-legacy", tool="containerd",
        versions="1.4.x, 1.5.0-1.5.13, 1.6.0-1.6.8 (before PR #7094)",
        encodings=frozenset({"SCHILY"}),
        skip=("trusted.*",), skip_warns=True,
        rules=(XattrRule("EOPNOTSUPP", WARN),),
        fail_message=_CONTAINERD_FAIL,
        warn_message="ignored xattr {key} in archive",
        userns_devices="skip-warn",
        notes="Only ENOTSUP is ignored; EPERM (user.* on a symlink) fails the pull with the bare "
              "errno. trusted.* is refused by its setxattr helper and logged as ignored.",
    ),
    Policy(
        name="containerd", tool="containerd",
        versions="1.5.14+, 1.6.9+, 1.7, 2.x (PR #7094)",
        encodings=frozenset({"SCHILY"}),
        skip=("trusted.*",), skip_warns=True,
        rules=(XattrRule("EOPNOTSUPP", WARN),
               XattrRule("EPERM", WARN, namespace="user", entry="special")),
        fail_message='failed to extract layer {layer}: failed to setxattr "{path}" for key '
                     '"{key}": {strerror}',
        warn_message="ignored xattr {key} in archive",
        userns_devices="skip-warn",
        notes="EPERM is ignored only for user.* on an entry that is neither a regular file nor "
              "a directory (lstat); every other error fails, naming path and key.",
    ),
    Policy(
        name="moby-legacy", tool="dockerd (moby)",
        versions="moby/docker up to 24.x",
        encodings=frozenset({"SCHILY"}),
        rules=(XattrRule("EOPNOTSUPP", COLLECT), XattrRule("EPERM", COLLECT)),
        fail_message="lsetxattr {key} /{entry}: {strerror}",
        warn_message=_MOBY_COLLECT,
        notes="ENOTSUP and EPERM are collected on any entry and reported once per entry.",
    ),
    Policy(
        name="moby", tool="dockerd (moby), moby/go-archive",
        versions="moby/docker 25+, moby/go-archive",
        encodings=frozenset({"SCHILY"}),
        rules=(XattrRule("EPERM", COLLECT),),
        fail_message="lsetxattr {key} /{entry}: {strerror}",
        warn_message=_MOBY_COLLECT,
        notes="EPERM is still collected; ENOTSUP became fatal (PR #45464) unless BestEffortXattrs.",
    ),
    Policy(
        name="containers-storage", tool="podman, buildah, CRI-O (containers/storage)",
        versions="containers/storage 1.38+ (security.selinux skip since 2021-11)",
        encodings=frozenset({"SCHILY"}),
        skip=("security.selinux",),
        rules=(XattrRule("EOPNOTSUPP", COLLECT),
               XattrRule("EPERM", COLLECT, privilege="rootless")),
        fail_message='writing blob: adding layer with blob "{layer}": ApplyLayer stdout:  '
                     'stderr: lsetxattr /{entry}: {strerror} exit status 1',
        warn_message="ignored xattrs in archive: errors=[{errors}]",
        order="last",
        notes="EPERM is ignored only in a user namespace (rootless); rootful EPERM is fatal.",
    ),
    Policy(
        name="umoci", tool="umoci",
        versions="umoci 0.4.x-0.6 (rootful, or rootless with --rootless)",
        encodings=frozenset({"SCHILY"}),
        skip=("security.selinux", "system.nfs4_acl"), skip_warns=True,
        rules=(XattrRule("EOPNOTSUPP", WARN,
                         message='xattr{{{entry}}} ignoring ENOTSUP on setxattr "{key}"'),
               XattrRule("EPERM", WARN, privilege="rootless"),
               XattrRule("EACCES", WARN, privilege="rootless")),
        warn_once=("EOPNOTSUPP",),
        userns_devices="empty-file",
        rootless_chown=False,
        fail_message="create runtime bundle: unpack rootfs: unpack layer: unpack entry: "
                     "{entry}: apply hdr metadata: restore xattr metadata: {path}: {strerror}",
        warn_message="rootless{{{entry}}} ignoring (usually) harmless EPERM on setxattr "
                     '"{key}"',
        notes="security.selinux and system.nfs4_acl are forbidden; EPERM/EACCES are ignored only "
              "rootless; ENOTSUP warns.",
    ),
    Policy(
        name="gnu-tar", pax_globals=True, tool="GNU tar --xattrs",
        versions="GNU tar 1.27+ with --xattrs (default include: user.*)",
        encodings=frozenset({"SCHILY"}),
        include=("user.*",),
        rules=_GNU_TAR_RULES,
        fail_message="tar: {entry}: {strerror}",
        warn_message="",
        userns_devices="mknod",
        entry_fail_message="tar: {entry}: Cannot {op}: {Strerror}",
        notes="Only user.* is extracted unless --xattrs-include; failures are warnings, exit 0.",
    ),
    Policy(
        name="gnu-tar-all", pax_globals=True, tool="GNU tar --xattrs --xattrs-include='*'",
        versions="GNU tar 1.27+",
        encodings=frozenset({"SCHILY"}),
        rules=_GNU_TAR_RULES,
        fail_message="tar: {entry}: {strerror}",
        warn_message="",
        userns_devices="mknod",
        entry_fail_message="tar: {entry}: Cannot {op}: {Strerror}",
    ),
    Policy(
        name="bsdtar", pax_globals=True, tool="bsdtar (libarchive)",
        versions="libarchive/bsdtar 3.x, extracting as root",
        encodings=frozenset({"SCHILY", "LIBARCHIVE", "RHT"}),
        skip=("system.posix_acl_*", "trusted.SGI_ACL_*"),
        rules=(XattrRule("EOPNOTSUPP", WARN, message="{name}: Cannot restore extended "
                         "attributes on this file system.: Unknown error -1"),
               XattrRule("*", WARN)),
        fail_message="bsdtar: {entry}: {strerror}",
        warn_message="{name}: Cannot restore extended attributes: {key}: Unknown error -1",
        warning_exit=1,
        userns_devices="mknod",
        entry_fail_message="{name}: Can't create '{entry}': {Strerror}",
        notes="Every xattr failure is a warning; bsdtar then exits 1 "
              "('Error exit delayed from previous errors').",
    ),
    Policy(
        name="strict", tool="fsmodel",
        versions="-",
        encodings=frozenset({"SCHILY", "LIBARCHIVE", "RHT"}),
        rules=(),
        fail_message="{entry}: cannot set xattr {key}: {strerror}",
        warn_message="{entry}: {key}",
        notes="Every xattr the archive carries must land; any error fails.",
    ),
]}


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; expected one of "
                         f"{', '.join(POLICIES)}") from None


def _decisions(policy: Policy) -> str:
    parts = []
    for r in policy.rules:
        where = []
        if r.namespace != "*":
            where.append(f"{r.namespace}.*")
        if r.entry != "*":
            where.append({"special": "on non-regular, non-directory entries",
                          "regular": "on regular files",
                          "directory": "on directories"}[r.entry])
        if r.privilege != "*":
            where.append(f"{r.privilege} only")
        errno = "any errno" if r.errno == "*" else r.errno
        parts.append(f"{errno}{' ' + ' '.join(where) if where else ''}: {r.action}")
    parts.append(f"else {policy.default}")
    return "; ".join(parts)


def markdown_table() -> str:
    """The policies as a Markdown table (docs/extractor.md embeds it; a test keeps it current)."""
    rows = ["| policy | stands for | reads | never sets | setxattr errors | devices when "
            "rootless |",
            "|---|---|---|---|---|---|"]
    for p in POLICIES.values():
        reads = ", ".join(sorted(p.encodings))
        if p.include is not None:
            reads += " (only " + ", ".join(f"`{i}`" for i in p.include) + ")"
        skip = ", ".join(f"`{s}`" for s in p.skip) or "–"
        if p.skip and p.skip_warns:
            skip += " (warns)"
        rows.append(f"| `{p.name}` | {p.tool}: {p.versions} | {reads} | {skip} | "
                    f"{_decisions(p)} | {p.userns_devices} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m fsmodel.layer.policies
    print(markdown_table(), end="")
