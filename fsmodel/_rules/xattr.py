"""The extended-attribute syscalls, as pipelines of checks in the kernel's order.

House rules
-----------
* Everything that decides the errno of an xattr syscall lives in this module
  or in the filesystem profiles it delegates to (``filesystems.py``).
  Backends only hold state, resolve paths and translate.
* A pipeline is a tuple of *stages*.  A stage takes the :class:`Call` and
  returns ``None`` (passed, go on) or a :class:`Rule` (stop: an error, or a
  success with errno 0).  Stages may record a result (``Call.result``) and,
  at the end of a pipeline, apply the effect (the handler's ``set``).
* ``LOOKUP`` marks where the backend resolves the target (path lookup or
  fd).  Where it sits depends on the kernel version: from 6.13 the flags,
  name and size are validated first (``path_setxattrat``); before, the path
  was looked up first and, for writes, ``mnt_want_write`` ran before the
  arguments were copied (kernel-xattr-rules.md §1.1).
* Each stage carries a :class:`Check` naming what it verifies and the
  kernel function that does it; :func:`run` records them when explaining.

Theory of operation (6.18, kernel-xattr-rules.md §1):

set:    flags, name, size, LOOKUP, EROFS, [ACL names: ACL pipeline],
        security.capability conversion, xattr_permission(MAY_WRITE),
        LSM (commoncap), xattr_resolve_name, handler.
get:    name, LOOKUP, [ACL names: ACL get], xattr_permission(MAY_READ),
        security.capability read-back, xattr_resolve_name, handler, size protocol.
list:   LOOKUP, ->listxattr, size protocol.
remove: name, LOOKUP, EROFS, [ACL names: ACL removal], xattr_permission(MAY_WRITE),
        LSM (commoncap), xattr_resolve_name, handler.
"""

from __future__ import annotations

import errno

from . import codecs
from .constants import (
    CAP_FOWNER,
    CAP_FSETID,
    CAP_SETFCAP,
    CAP_SYS_ADMIN,
    FS_APPEND_FL,
    FS_IMMUTABLE_FL,
    MAY_READ,
    MAY_WRITE,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    S_ISGID,
    S_ISVTX,
    XATTR_CREATE,
    XATTR_LIST_MAX,
    XATTR_NAME_MAX,
    XATTR_REPLACE,
    XATTR_SIZE_MAX,
)
from .creds import generic_permission
from .creds import USERNS_BASE
from .verdict import Check, Rule

ACL_ACCESS = codecs.ACL_ACCESS
ACL_DEFAULT = codecs.ACL_DEFAULT
CAPS_NAME = codecs.CAPS_NAME


class Call:
    """One syscall in flight: its arguments, the caller, and what lookup found.

    ``target`` and ``how`` (``"path"``, ``"nofollow"`` or ``"fd"``) are for the
    backend's lookup; the stages read the rest.
    """

    __slots__ = ("op", "cred", "name", "value", "flags", "size", "inode", "mount",
                 "feats", "result", "trace", "target", "how")

    def __init__(self, op, cred, feats, name=None, value=None, flags=0, size=0):
        self.op = op
        self.cred = cred
        self.feats = feats
        self.name = name
        self.value = value
        self.flags = flags
        self.size = size
        self.result = None
        self.trace = None


def name_length(name: str) -> int:
    return len(name) if name.isascii() else len(name.encode("utf-8", "surrogateescape"))


LOOKUP = object()


def stage(check_id: str, what: str, source: str, passes_for=None):
    """Attach the :class:`Check` a stage stands for.

    ``passes_for(name)`` (optional) is True when the stage passes for that name
    whatever the state: :func:`plan` leaves such stages out of the fast path.
    """

    def wrap(fn):
        fn.check = Check(check_id, what, source)
        fn.passes_for = passes_for
        return fn

    return wrap


def run(stages, c: Call, lookup) -> Rule | None:
    """Run a pipeline; ``lookup(c)`` resolves the target (it raises on failure)."""
    trace = c.trace
    if trace is None:
        for st in stages:
            if st is LOOKUP:
                lookup(c)
            else:
                rule = st(c)
                if rule is not None:
                    return rule
        return None
    for st in stages:
        if st is LOOKUP:
            lookup(c)
            trace.append(LOOKUP_CHECK)
            continue
        rule = st(c)
        if rule is not None:
            return rule
        trace.append(st.check)
    return None


def plan(stages, name) -> tuple:
    """The stages of a pipeline that can decide anything for this name.

    A stage whose ``passes_for(name)`` holds returns None for that name in
    every state, so dropping it changes no outcome; explanations (which
    report every check passed) run the full pipeline instead.
    """
    if name is None:
        return tuple(stages)
    return tuple(st for st in stages
                 if st is LOOKUP or st.passes_for is None or not st.passes_for(name))


LOOKUP_CHECK = Check("R1.5-lookup", "the target was found (path lookup or fd)",
                     "fs/namei.c: filename_lookup / fs/file.c: fdget")

_XATTR_C = "fs/xattr.c"


def _r(rule_id, code, reason, source):
    return Rule(rule_id, code, reason, source)


# ------------------------------------------------------------ R1: arguments

BAD_FLAGS = _r("R1.2-flags", errno.EINVAL,
               "Flags other than XATTR_CREATE and XATTR_REPLACE were given.",
               f"{_XATTR_C}: setxattr_copy")
EMPTY_NAME = _r("R1.3-empty-name", errno.ERANGE, "The attribute name is empty.",
                f"{_XATTR_C}: import_xattr_name")
LONG_NAME = _r("R1.3-long-name", errno.ERANGE,
               "The attribute name is 256 bytes or longer (XATTR_NAME_MAX is 255).",
               f"{_XATTR_C}: import_xattr_name")
BIG_VALUE = _r("R1.4-value-size", errno.E2BIG,
               "The value is larger than XATTR_SIZE_MAX (65536 bytes).",
               f"{_XATTR_C}: setxattr_copy")
ROFS = _r("R1.6-read-only-mount", errno.EROFS,
          "The filesystem is mounted read-only.", "fs/namespace.c: mnt_want_write")


@stage("S1-flags", "flags are a combination of XATTR_CREATE and XATTR_REPLACE",
       f"{_XATTR_C}: setxattr_copy")
def check_flags(c):
    if c.flags & ~(XATTR_CREATE | XATTR_REPLACE):
        return BAD_FLAGS
    return None


def _valid_name(name):
    return 0 < name_length(name) <= XATTR_NAME_MAX


def _not_acl(name):
    return name != ACL_ACCESS and name != ACL_DEFAULT


def _not_caps(name):
    return name != CAPS_NAME


def _not_security(name):
    return not name.startswith("security.")


@stage("S2-name", "the name is 1 to 255 bytes", f"{_XATTR_C}: import_xattr_name", _valid_name)
def check_name(c):
    n = name_length(c.name)
    if n == 0:
        return EMPTY_NAME
    if n > XATTR_NAME_MAX:
        return LONG_NAME
    return None


@stage("S3-size", "the value is at most 65536 bytes", f"{_XATTR_C}: setxattr_copy")
def check_size(c):
    if len(c.value) > XATTR_SIZE_MAX:
        return BIG_VALUE
    return None


@stage("S5-rofs", "the mount is writable", "fs/namespace.c: mnt_want_write")
def check_rofs(c):
    if c.mount.readonly:
        return ROFS
    return None


# ------------------------------------------------- R3: xattr_permission

IMMUTABLE = _r("R3.1-immutable", errno.EPERM,
               "The inode is immutable: no attribute may be written or removed.",
               f"{_XATTR_C}: may_write_xattr")
APPEND_ONLY = _r("R3.1-append-only", errno.EPERM,
                 "The inode is append-only: no attribute may be written or removed.",
                 f"{_XATTR_C}: may_write_xattr")
TRUSTED_WRITE = _r("R3.3-trusted-write", errno.EPERM,
                   "trusted.* attributes can only be written with CAP_SYS_ADMIN in the "
                   "initial user namespace (capable()).",
                   f"{_XATTR_C}: xattr_permission")
TRUSTED_READ = _r("R3.3-trusted-read", errno.ENODATA,
                  "trusted.* attributes are invisible (ENODATA) to callers without CAP_SYS_ADMIN "
                  "in the initial user namespace.",
                  f"{_XATTR_C}: xattr_permission")
USER_TYPE_WRITE = _r("R3.4-user-file-type", errno.EPERM,
                     "user.* attributes are only allowed on regular files and directories; "
                     "writing one on any other file type is EPERM.",
                     f"{_XATTR_C}: xattr_permission")
USER_TYPE_READ = _r("R3.4-user-file-type-read", errno.ENODATA,
                    "user.* attributes cannot exist on anything but regular files and "
                    "directories, so reading one elsewhere is ENODATA.",
                    f"{_XATTR_C}: xattr_permission")
STICKY = _r("R3.4-sticky-dir", errno.EPERM,
            "On a sticky directory only the owner or a CAP_FOWNER caller may write user.* "
            "attributes.", f"{_XATTR_C}: xattr_permission")
DAC_WRITE = _r("R3.5-dac-write", errno.EACCES,
               "The caller lacks write permission on the inode (mode bits or ACL, without "
               "CAP_DAC_OVERRIDE).", "fs/namei.c: generic_permission")
DAC_READ = _r("R3.5-dac-read", errno.EACCES,
              "The caller lacks read permission on the inode (mode bits or ACL, without "
              "CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH).", "fs/namei.c: generic_permission")


def may_write_xattr(inode) -> Rule | None:
    """``may_write_xattr``: immutable and append-only inodes refuse every write."""
    if inode.iflags:
        if inode.iflags & FS_IMMUTABLE_FL:
            return IMMUTABLE
        if inode.iflags & FS_APPEND_FL:
            return APPEND_ONLY
    return None


def user_type_ok(mode: int, feats) -> bool:
    t = mode & S_IFMT
    return t == S_IFREG or t == S_IFDIR or (t == S_IFSOCK and feats.socket_user_xattr)


#: Namespace of a name as xattr_permission sees it (plain strncmp on the prefix).
SECURITY_OR_SYSTEM, TRUSTED, USER, OTHER = 0, 1, 2, 3
_KIND_CACHE: dict = {}


def namespace_kind(name: str) -> int:
    kind = _KIND_CACHE.get(name)
    if kind is None:
        if name.startswith("security.") or name.startswith("system."):
            kind = SECURITY_OR_SYSTEM
        elif name.startswith("trusted."):
            kind = TRUSTED
        elif name.startswith("user."):
            kind = USER
        else:
            kind = OTHER
        if len(_KIND_CACHE) > 8192:
            _KIND_CACHE.clear()
        _KIND_CACHE[name] = kind
    return kind


@stage("S8-xattr-permission", "xattr_permission(MAY_WRITE): immutable, namespace and DAC rules",
       f"{_XATTR_C}: xattr_permission")
def write_permission(c):
    inode = c.inode
    if inode.iflags:
        refused = may_write_xattr(inode)
        if refused is not None:
            return refused
    kind = namespace_kind(c.name)
    if kind == SECURITY_OR_SYSTEM:
        return None
    if kind == TRUSTED:
        return None if c.cred.capable(CAP_SYS_ADMIN) else TRUSTED_WRITE
    mode = inode.mode
    if kind == USER:
        t = mode & S_IFMT
        if t != S_IFREG:
            if t != S_IFDIR and not (t == S_IFSOCK and c.feats.socket_user_xattr):
                return USER_TYPE_WRITE
            if mode & S_ISVTX and t == S_IFDIR:
                cred = c.cred
                if not cred.owns_or_capable(CAP_FOWNER, inode):
                    return STICKY
    return DAC_WRITE if generic_permission(c.cred, inode, MAY_WRITE) else None


@stage("G4-xattr-permission", "xattr_permission(MAY_READ): namespace and DAC rules",
       f"{_XATTR_C}: xattr_permission")
def read_permission(c):
    kind = namespace_kind(c.name)
    if kind == SECURITY_OR_SYSTEM:
        return None
    if kind == TRUSTED:
        return None if c.cred.capable(CAP_SYS_ADMIN) else TRUSTED_READ
    inode = c.inode
    if kind == USER and not user_type_ok(inode.mode, c.feats):
        return USER_TYPE_READ
    return DAC_READ if generic_permission(c.cred, inode, MAY_READ) else None


# -------------------------------------------------- R4: LSM, file capabilities

SECURITY_WRITE = _r("R4.1-security-write", errno.EPERM,
                    "security.* attributes (other than security.capability) can only be "
                    "written with CAP_SYS_ADMIN over the filesystem's user namespace (the "
                    "initial one for every filesystem modelled).",
                    "security/commoncap.c: cap_inode_setxattr")
SECURITY_REMOVE = _r("R4.1-security-remove", errno.EPERM,
                     "security.* attributes (other than security.capability) can only be "
                     "removed with CAP_SYS_ADMIN over the filesystem's user namespace.",
                     "security/commoncap.c: cap_inode_removexattr")
SELINUX_NAME = "security.selinux"
SELINUX_LABEL = _r("R4.1-selinux-label", errno.EPERM,
                   "With SELinux built in but no policy loaded, SELinux skips the "
                   "CAP_SYS_ADMIN check for its label: only the owner or a CAP_FOWNER caller "
                   "may set or remove security.selinux.",
                   "security/selinux/hooks.c: selinux_inode_setxattr")
FCAPS_INVALID = _r("R4.2-fcaps-header", errno.EINVAL,
                   "A security.capability value must be a v2 (20 bytes, revision 0x02000000) or "
                   "v3 (24 bytes, revision 0x03000000) vfs_cap_data.",
                   "security/commoncap.c: cap_convert_nscap")
FCAPS_SETFCAP = _r("R4.2-fcaps-setfcap", errno.EPERM,
                   "Setting file capabilities needs CAP_SETFCAP.",
                   "security/commoncap.c: cap_convert_nscap")
FCAPS_ROOTID = _r("R4.2-fcaps-rootid", errno.EINVAL,
                  "The value's root uid maps to no user (0xffffffff, or an id outside the "
                  "caller's user namespace).", "security/commoncap.c: cap_convert_nscap")
FCAPS_OVERFLOW = _r("R4.3-fcaps-read-overflow", errno.EOVERFLOW,
                    "The stored v3 value's root uid is neither mapped in the caller's user "
                    "namespace nor the root of one of its ancestors.",
                    "security/commoncap.c: cap_inode_getsecurity")
FCAPS_REMOVE = _r("R4.4-fcaps-remove", errno.EPERM,
                  "Removing file capabilities needs CAP_SETFCAP.",
                  "security/commoncap.c: cap_inode_removexattr")
FCAPS_STORED_INVALID = _r("R4.3-fcaps-read-invalid", errno.EINVAL,
                          "The stored security.capability value is not a valid v2/v3 value "
                          "(e.g. the empty value anyone may set), so reading it fails.",
                          "security/commoncap.c: cap_inode_getsecurity")


@stage("S7-fcaps", "security.capability values (non-empty) must be a valid v2/v3 header set "
       "with CAP_SETFCAP; other names pass", "security/commoncap.c: cap_convert_nscap", _not_caps)
def convert_fcaps(c):
    if c.name != CAPS_NAME or not c.value:
        return None
    value = c.value
    if not codecs.fcaps_version(value):
        return FCAPS_INVALID
    cred = c.cred
    if not cred.capable_wrt(CAP_SETFCAP, c.inode):
        return FCAPS_SETFCAP
    rootid = codecs.fcaps_rootid(value)
    if not cred.maps(rootid):
        return FCAPS_ROOTID
    if cred.userns:
        # Not privileged over the filesystem's namespace: the value is stored
        # as v3, its root uid translated to the host's (a v2 value names root).
        c.value = codecs.fcaps_to_v3(value, USERNS_BASE + rootid)
    return None


@stage("S9-lsm", "commoncap: security.* writes need CAP_SYS_ADMIN",
       "security/commoncap.c: cap_inode_setxattr", _not_security)
def lsm_setxattr(c):
    name = c.name
    if name == SELINUX_NAME:
        return None if c.cred.owns_or_capable(CAP_FOWNER, c.inode) else SELINUX_LABEL
    if name.startswith("security.") and name != CAPS_NAME and not c.cred.capable(CAP_SYS_ADMIN):
        return SECURITY_WRITE
    return None


@stage("X6-lsm", "commoncap: removing security.capability needs CAP_SETFCAP, other security.* "
       "CAP_SYS_ADMIN", "security/commoncap.c: cap_inode_removexattr", _not_security)
def lsm_removexattr(c):
    name = c.name
    if not name.startswith("security."):
        return None
    if name == CAPS_NAME:
        return None if c.cred.capable_wrt(CAP_SETFCAP, c.inode) else FCAPS_REMOVE
    if name == SELINUX_NAME:
        return None if c.cred.owns_or_capable(CAP_FOWNER, c.inode) else SELINUX_LABEL
    return None if c.cred.capable(CAP_SYS_ADMIN) else SECURITY_REMOVE


# -------------------------------------------- R2: name resolution, handlers

@stage("S10-resolve-name", "a handler of this filesystem owns the name's prefix",
       "fs/xattr.c: xattr_resolve_name")
def resolve_name(c):
    return c.mount.fs.resolve(c.name)


SET_OK = _r("ok-set", 0, "The attribute was stored.", "fs/xattr.c: __vfs_setxattr")
REMOVE_OK = _r("ok-remove", 0, "The attribute was removed.", "fs/xattr.c: __vfs_removexattr")
GET_OK = _r("ok-get", 0, "The value was returned.", "fs/xattr.c: do_getxattr")
GET_SIZE = _r("ok-get-size", 0, "With size 0, getxattr returns the value's length.",
              "fs/xattr.c: do_getxattr")
LIST_OK = _r("ok-list", 0, "The names were returned.", "fs/xattr.c: listxattr")
LIST_SIZE = _r("ok-list-size", 0, "With size 0, listxattr returns the bytes the names need.",
               "fs/xattr.c: listxattr")
GET_MISSING = _r("R5-get-missing", errno.ENODATA, "The attribute does not exist.",
                 "fs/xattr.c: __vfs_getxattr")
GET_RANGE = _r("R6-get-erange", errno.ERANGE,
               "The buffer is smaller than the value (no partial value is returned).",
               "fs/xattr.c: do_getxattr")
GET_E2BIG = _r("R6-get-e2big", errno.E2BIG,
               "The value does not fit even the largest buffer (64 KiB).",
               "fs/xattr.c: do_getxattr")
LIST_RANGE = _r("R7-list-erange", errno.ERANGE,
                "The buffer cannot hold every name (no partial list is returned).",
                "fs/xattr.c: listxattr")
LIST_E2BIG = _r("R7-list-e2big", errno.E2BIG,
                "The names need more than XATTR_LIST_MAX (64 KiB): the list cannot be read.",
                "fs/xattr.c: listxattr")


@stage("S11-handler", "the filesystem's handler stores the value (existence flags, capacity)",
       "fs/xattr.c: __vfs_setxattr -> the filesystem's handler")
def handler_set(c):
    mount = c.mount
    refused = mount.fs.set(mount.state, c.inode, c.name, c.value, c.flags)
    return SET_OK if refused is None else refused


@stage("X8-handler", "the filesystem's handler removes the attribute",
       "fs/xattr.c: __vfs_removexattr -> handler->set(NULL, XATTR_REPLACE)")
def handler_remove(c):
    mount = c.mount
    refused = mount.fs.remove(mount.state, c.inode, c.name)
    return REMOVE_OK if refused is None else refused


def size_protocol(c, value: bytes) -> Rule:
    """``do_getxattr``: size 0 -> length; clamp to 64 KiB; too small -> ERANGE/E2BIG."""
    size = c.size
    if size == 0:
        c.result = len(value)
        return GET_SIZE
    if size > XATTR_SIZE_MAX:
        size = XATTR_SIZE_MAX
    if size < len(value):
        return GET_E2BIG if size >= XATTR_SIZE_MAX else GET_RANGE
    c.result = value
    return GET_OK


@stage("G6-getsecurity", "security.capability is read through commoncap, which validates "
       "and rewrites v3 values; other names pass", "security/commoncap.c: cap_inode_getsecurity",
       _not_caps)
def get_security_capability(c):
    if c.name != CAPS_NAME:
        return None
    mount = c.mount
    refused = mount.fs.resolve(c.name)
    if refused is not None:
        return refused
    raw = mount.fs.get(c.inode, c.name)
    if raw is None:
        return GET_MISSING
    value = codecs.fcaps_read_back(raw, c.cred.userns, USERNS_BASE)
    if isinstance(value, int):
        return FCAPS_STORED_INVALID if value == errno.EINVAL else FCAPS_OVERFLOW
    return size_protocol(c, value)


@stage("G8-handler", "the filesystem's handler returns the value (size protocol)",
       "fs/xattr.c: do_getxattr")
def handler_get(c):
    value = c.mount.fs.get(c.inode, c.name)
    if value is None:
        return GET_MISSING
    return size_protocol(c, value)


@stage("L3-listxattr", "the filesystem lists the names this caller may see (size protocol)",
       "fs/xattr.c: listxattr")
def handler_list(c):
    fs = c.mount.fs
    names = fs.names(c.inode, c.cred.init_caps(), c.size)
    total = 0
    for n in names:
        total += (len(n) if n.isascii() else len(n.encode("utf-8", "surrogateescape"))) + 1
    size = c.size
    if size == 0:
        c.result = total
        return LIST_SIZE
    if size > XATTR_LIST_MAX:
        size = XATTR_LIST_MAX
    if total > size:
        return LIST_E2BIG if size >= XATTR_LIST_MAX else LIST_RANGE
    c.result = names
    return LIST_OK


# ------------------------------------------------------------ R8: POSIX ACLs

_ACL_C = "fs/posix_acl.c"
ACL_NOTSUP = _r("R8.4-acl-unsupported", errno.EOPNOTSUPP,
                "This filesystem has no POSIX ACL support.", f"{_ACL_C}: set_posix_acl")
ACL_SYMLINK = _r("R8.4-acl-symlink", errno.EOPNOTSUPP,
                 "Symlinks cannot carry POSIX ACLs.", f"{_ACL_C}: set_posix_acl")
ACL_GET_NOTSUP = _r("R8.4-acl-get-unsupported", errno.EOPNOTSUPP,
                    "This filesystem has no POSIX ACL support.", f"{_ACL_C}: vfs_get_acl")
ACL_GET_SYMLINK = _r("R8.4-acl-get-symlink", errno.EOPNOTSUPP,
                     "Symlinks cannot carry POSIX ACLs.", f"{_ACL_C}: vfs_get_acl")
ACL_DEFAULT_FILE = _r("R8.5-default-acl-non-dir", errno.EACCES,
                      "A default ACL can only be set on a directory.", f"{_ACL_C}: set_posix_acl")
ACL_DEFAULT_FILE_OK = _r("R8.5-default-acl-non-dir-removal", 0,
                         "Removing the default ACL of a non-directory succeeds (there is none).",
                         f"{_ACL_C}: set_posix_acl")
ACL_OWNER = _r("R8.6-acl-owner", errno.EPERM,
               "Only the owner or a CAP_FOWNER caller may set or remove an ACL.",
               f"{_ACL_C}: set_posix_acl")
ACL_INVALID = _r("R8.7-acl-invalid", errno.EINVAL,
                 "The ACL is not valid: entries out of order, a missing mask with named "
                 "entries, or permission bits beyond rwx.", f"{_ACL_C}: posix_acl_valid")
ACL_DECODE = _r("R8.2-acl-decode", errno.EINVAL,
                "The value is not a POSIX ACL: shorter than its header, a partial entry, an "
                "unknown tag or an unmappable id.", f"{_ACL_C}: posix_acl_from_xattr")
ACL_VERSION = _r("R8.2-acl-version", errno.EOPNOTSUPP,
                 "The ACL's version is not 2 (POSIX_ACL_XATTR_VERSION).",
                 f"{_ACL_C}: posix_acl_from_xattr")
ACL_TOO_MANY = _r("R8-xfs-acl-entries", errno.E2BIG,
                  "XFS stores at most 5461 ACL entries.", "fs/xfs/xfs_acl.c: xfs_set_acl")
ACL_SET_OK = _r("ok-set-acl", 0, "The ACL was stored (and the mode updated).",
                f"{_ACL_C}: set_posix_acl")
ACL_SET_EQUIV = _r("R8.8-acl-equivalent", 0,
                   "The access ACL is equivalent to the mode bits: the mode was updated and "
                   "no ACL is stored.", f"{_ACL_C}: posix_acl_update_mode")
ACL_REMOVED = _r("ok-remove-acl", 0, "The ACL was removed (success even when there was none).",
                 f"{_ACL_C}: vfs_remove_acl")
ACL_MISSING = _r("R8.9-acl-missing", errno.ENODATA, "The inode has no ACL of this type.",
                 f"{_ACL_C}: vfs_get_acl")
XFS_ACL_MAX = 5461


def _acl_support(c, get=False) -> Rule | None:
    if not c.mount.fs.posix_acl:
        return ACL_GET_NOTSUP if get else ACL_NOTSUP
    if c.inode.mode & S_IFMT == S_IFLNK:
        return ACL_GET_SYMLINK if get else ACL_SYMLINK
    return None


def _store_acl(c, name: str, acl) -> Rule:
    """The filesystem's ->set_acl, with posix_acl_update_mode for access ACLs."""
    inode, mount, cred = c.inode, c.mount, c.cred
    fs = mount.fs
    mode = inode.mode
    equiv = False
    if name == ACL_ACCESS and (acl is not None or fs.update_mode_on_acl_removal):
        if acl is not None:
            equiv, mode = codecs.acl_equiv_mode(acl, mode)
            if equiv:
                acl = None
        if not cred.in_group(inode.gid) and not cred.capable_wrt(CAP_FSETID, inode):
            mode &= ~S_ISGID
    if acl is not None and fs.name == "xfs" and len(acl) > XFS_ACL_MAX:
        return ACL_TOO_MANY
    refused = fs.set_acl(mount.state, inode, name, None if acl is None else codecs.acl_encode(acl))
    if refused is not None:
        return refused
    if name == ACL_ACCESS:
        inode.acl_access = acl
    else:
        inode.acl_default = acl
    inode.mode = mode
    if c.op == "remove":
        return ACL_REMOVED
    return ACL_SET_EQUIV if equiv else ACL_SET_OK


def _acl_set(c) -> Rule:
    """do_set_acl -> vfs_set_acl -> set_posix_acl (R8.1-R8.8); flags are ignored."""
    trace = c.trace
    acl = None
    if c.value:
        acl = codecs.acl_decode(c.value)
        if isinstance(acl, int):
            return ACL_VERSION if acl == errno.EOPNOTSUPP else ACL_DECODE
        if c.cred.userns and acl is not None:
            acl = codecs.acl_map_ids(acl, c.cred.to_kuid)   # the caller's ids -> host ids
            if acl is None:
                return ACL_DECODE
    if trace is not None:
        trace.append(ACL_CHECKS[0])
    refused = may_write_xattr(c.inode)
    if refused is not None:
        return refused
    if trace is not None:
        trace.append(ACL_CHECKS[1])
    return _acl_common(c, c.name, acl)


def _acl_common(c, name, acl) -> Rule:
    trace = c.trace
    refused = _acl_support(c)
    if refused is not None:
        return refused
    if trace is not None:
        trace.append(ACL_CHECKS[2])
    if name == ACL_DEFAULT and c.inode.mode & S_IFMT != S_IFDIR:
        return ACL_DEFAULT_FILE if acl is not None else ACL_DEFAULT_FILE_OK
    if trace is not None:
        trace.append(ACL_CHECKS[3])
    cred = c.cred
    if not cred.owns_or_capable(CAP_FOWNER, c.inode):
        return ACL_OWNER
    if trace is not None:
        trace.append(ACL_CHECKS[4])
    if acl is not None:
        if codecs.acl_valid(acl):
            return ACL_INVALID
        if trace is not None:
            trace.append(ACL_CHECKS[5])
    return _store_acl(c, name, acl)


ACL_CHECKS = (
    Check("A1-acl-decode", "the value decodes as a POSIX ACL (or is empty: removal)",
          f"{_ACL_C}: posix_acl_from_xattr"),
    Check("A2-acl-may-write", "the inode is neither immutable nor append-only",
          f"{_XATTR_C}: may_write_xattr"),
    Check("A4-acl-support", "the filesystem supports ACLs and the inode is not a symlink",
          f"{_ACL_C}: set_posix_acl"),
    Check("A5-acl-type", "default ACLs only on directories", f"{_ACL_C}: set_posix_acl"),
    Check("A6-acl-owner", "the caller owns the inode or has CAP_FOWNER",
          f"{_ACL_C}: set_posix_acl"),
    Check("A7-acl-valid", "the ACL is valid (order, mask, permission bits)",
          f"{_ACL_C}: posix_acl_valid"),
)


@stage("S6-acl", "system.posix_acl_* names take the ACL path (flags ignored); others go on",
       "fs/xattr.c: do_setxattr", _not_acl)
def route_acl_set(c):
    if c.name == ACL_ACCESS or c.name == ACL_DEFAULT:
        return _acl_set(c)
    return None


@stage("X4-acl", "system.posix_acl_* names take vfs_remove_acl; others go on",
       "fs/xattr.c: removexattr", _not_acl)
def route_acl_remove(c):
    if c.name != ACL_ACCESS and c.name != ACL_DEFAULT:
        return None
    refused = may_write_xattr(c.inode)
    if refused is not None:
        return refused
    if c.trace is not None:
        c.trace.append(ACL_CHECKS[1])
    return _acl_common(c, c.name, None)


@stage("G3-acl", "system.posix_acl_* names are read by vfs_get_acl (no permission check); "
       "others go on", "fs/xattr.c: do_getxattr", _not_acl)
def route_acl_get(c):
    name = c.name
    if name != ACL_ACCESS and name != ACL_DEFAULT:
        return None
    refused = _acl_support(c, get=True)
    if refused is not None:
        return refused
    value = c.inode.xattrs.get(name)
    if value is None:
        return ACL_MISSING
    cred = c.cred
    if cred.userns:   # host ids -> the caller's (0xffffffff where unmapped)
        value = codecs.acl_encode(codecs.acl_map_ids(
            codecs.acl_decode(value), lambda kuid: cred.from_kuid(kuid, munged=False)))
    return size_protocol(c, value)


# ------------------------------------------------------------- the pipelines

def set_pipeline(feats):
    if feats.args_before_lookup:
        return (check_flags, check_name, check_size, LOOKUP, check_rofs, route_acl_set,
                convert_fcaps, write_permission, lsm_setxattr, resolve_name, handler_set)
    return (LOOKUP, check_rofs, check_flags, check_name, check_size, route_acl_set,
            convert_fcaps, write_permission, lsm_setxattr, resolve_name, handler_set)


def get_pipeline(feats):
    if feats.args_before_lookup:
        return (check_name, LOOKUP, route_acl_get, read_permission, get_security_capability,
                resolve_name, handler_get)
    return (LOOKUP, check_name, route_acl_get, read_permission, get_security_capability,
            resolve_name, handler_get)


def list_pipeline(feats):
    return (LOOKUP, handler_list)


def remove_pipeline(feats):
    if feats.args_before_lookup:
        return (check_name, LOOKUP, check_rofs, route_acl_remove, write_permission,
                lsm_removexattr, resolve_name, handler_remove)
    return (LOOKUP, check_rofs, check_name, route_acl_remove, write_permission,
            lsm_removexattr, resolve_name, handler_remove)


PIPELINES = {"set": set_pipeline, "get": get_pipeline, "list": list_pipeline,
             "remove": remove_pipeline}
