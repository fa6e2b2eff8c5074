"""SimKernel: a fast in-memory Linux that asks the rules for every errno.

House rules
-----------
* This module holds state (inodes, mounts, open files, the caller) and walks
  paths; it decides nothing.  Every errno comes from a :class:`Rule` of
  ``fsmodel._rules`` (xattr pipelines in ``xattr.py``, lookup/create/delete
  and attribute rules in ``vfs.py``, filesystem handlers in ``filesystems.py``).
* Failures raise ``OSError(errno, strerror, path)`` as the kernel would
  report them through Python's ``os``; the deciding rule is attached as the
  exception's ``rule`` attribute.
* The xattr calls are the hot path: a resolved path is cached (per caller
  and cwd) until anything that can change a lookup happens, and a call
  allocates one :class:`Call`.

Modelled: one process with a root directory, a cwd, a umask, an fd table
and a caller (uid, gid, groups, effective capabilities) in the initial user
namespace; mounts stacked on directories, each with a filesystem profile and
a read-only flag.  Not modelled: file contents beyond their size, times
beyond a counter, device drivers (opening a device node is ENXIO), idmapped
mounts, LSMs other than commoncap.
"""

from __future__ import annotations

import contextlib
import itertools
import os

from .._rules import vfs
from .._rules import xattr as X
from .._rules.codecs import ACL_ACCESS, ACL_DEFAULT, CAPS_NAME, acl_chmod, acl_create_masq, acl_encode
from .._rules.constants import (
    FS_APPEND_FL,
    FS_IMMUTABLE_FL,
    MAXSYMLINKS,
    MAY_READ,
    MAY_WRITE,
    NAME_MAX,
    PATH_MAX,
    S_IFCHR,
    S_IFBLK,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from .._rules.creds import ROOT, Cred
from .._rules.filesystems import Filesystem, make_filesystem
from .._rules.kernel import DEFAULT_KERNEL, features
from .._rules.verdict import Rule, Verdict

_O_ACCMODE = os.O_ACCMODE
_O_CREAT = os.O_CREAT
_O_EXCL = os.O_EXCL
_O_TRUNC = os.O_TRUNC
_O_APPEND = os.O_APPEND
_O_DIRECTORY = os.O_DIRECTORY
_O_NOFOLLOW = os.O_NOFOLLOW
_O_PATH = getattr(os, "O_PATH", 0o10000000)
_O_NONBLOCK = os.O_NONBLOCK
_O_NOATIME = getattr(os, "O_NOATIME", 0o1000000)
AT_FDCWD = -100

_stat_result = os.stat_result
#: ``os.stat_result`` from one whole tuple, without its slower dict form: the named
#: fields after the ten sequence ones are the float times (given as the integers, as
#: ``os.stat`` of a whole second would), the ``_ns`` times, st_blksize and st_blocks
#: (absent: None) and last st_rdev.  Checked against the dict form at import.
_STAT_GAP = (None,) * (_stat_result.n_fields - _stat_result.n_sequence_fields - 4)
assert _stat_result(tuple(range(10)) + (7, 8, 9) + _STAT_GAP + (10,)).__reduce__() == \
    _stat_result(tuple(range(10)), {"st_rdev": 10}).__reduce__(), "os.stat_result's layout"


class Inode:
    """One inode.  ``xattrs`` maps full names to stored bytes (ACLs included)."""

    __slots__ = ("ino", "mode", "uid", "gid", "nlink", "iflags", "xattrs", "fsdata",
                 "acl_access", "acl_default", "children", "parent", "target", "rdev", "sb",
                 "size", "ctime", "mtime", "opens", "mounted")

    def __init__(self, sb, ino, mode, uid, gid, rdev=0):
        self.sb = sb
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.nlink = 1
        self.iflags = 0
        self.xattrs = {}
        self.fsdata = None
        self.acl_access = None
        self.acl_default = None
        self.children = {} if mode & S_IFMT == S_IFDIR else None
        self.parent = None
        self.target = None
        self.rdev = rdev
        self.size = 0
        self.ctime = self.mtime = 0
        self.opens = 0
        self.mounted = None

    def __repr__(self):
        return f"<Inode {self.ino} mode={self.mode:o} uid={self.uid} gid={self.gid}>"

    def _copy(self) -> Inode:
        """A shallow copy (SimKernel.clone then replaces what refers to other objects)."""
        new = Inode.__new__(Inode)
        new.sb, new.ino, new.mode, new.uid, new.gid = self.sb, self.ino, self.mode, self.uid, self.gid
        new.nlink, new.iflags, new.xattrs, new.fsdata = self.nlink, self.iflags, self.xattrs, self.fsdata
        new.acl_access, new.acl_default = self.acl_access, self.acl_default
        new.children, new.parent, new.target = self.children, self.parent, self.target
        new.rdev, new.size, new.ctime, new.mtime = self.rdev, self.size, self.ctime, self.mtime
        new.opens, new.mounted = self.opens, self.mounted
        return new


class Super:
    """A filesystem instance: its profile, its shared state (tmpfs' pool), inode numbers."""

    __slots__ = ("fs", "state", "dev", "_ino")

    def __init__(self, fs: Filesystem, dev: int):
        self.fs = fs
        self.state = fs.new_state()
        self.dev = dev
        self._ino = itertools.count(2)

    def next_ino(self) -> int:
        return next(self._ino)


class Mount:
    """A mount: a superblock's root attached on a directory of a parent mount."""

    __slots__ = ("sb", "fs", "state", "root", "readonly", "parent", "mountpoint")

    def __init__(self, sb: Super, root: Inode, readonly: bool, parent=None, mountpoint=None):
        self.sb = sb
        self.fs = sb.fs
        self.state = sb.state
        self.root = root
        self.readonly = readonly
        self.parent = parent
        self.mountpoint = mountpoint


class OpenFile:
    __slots__ = ("mount", "inode", "flags", "path")

    def __init__(self, mount, inode, flags, path):
        self.mount = mount
        self.inode = inode
        self.flags = flags
        self.path = path


class _Walk:
    """Where a path walk ended: the parent directory, the last name, what it names."""

    __slots__ = ("pmount", "pdir", "last", "ltype", "slash", "mount", "inode")

    def __init__(self, pmount, pdir, last, ltype, slash, mount, inode):
        self.pmount = pmount
        self.pdir = pdir
        self.last = last
        self.ltype = ltype
        self.slash = slash
        self.mount = mount
        self.inode = inode


def _fail(rule: Rule, filename=None, filename2=None):
    code = rule.errno
    if filename2 is None:
        exc = OSError(code, os.strerror(code), filename)
    else:
        exc = OSError(code, os.strerror(code), filename, None, filename2)
    exc.rule = rule
    raise exc


def _blen(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogateescape"))


def _check_name_arg(name):
    if type(name) is not str:
        if isinstance(name, (bytes, bytearray)):
            name = os.fsdecode(bytes(name))
        elif isinstance(name, str):
            name = str(name)
        else:
            raise TypeError(f"attribute name must be str, not {type(name).__name__}")
    if "\x00" in name:
        raise ValueError("embedded null byte")
    return name


def _check_value_arg(value):
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"attribute value must be bytes-like, not {type(value).__name__}")


def _check_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}={value!r}, but {what} must be an int")
    return value


def _check_size(size):
    _check_int(size, "size")
    if size < 0:
        raise ValueError(f"size={size!r}, but size must be >= 0 (0 asks for the length)")
    return size


_CALLS = {}
for _op in ("set", "get", "list", "remove"):
    for _how, _prefix in (("path", ""), ("nofollow", "l"), ("fd", "f")):
        _CALLS[f"{_prefix}{_op}xattr"] = (_op, _how)


def _fork_counter(counter):
    """Two ``itertools.count`` that go on from where ``counter`` is."""
    start = next(counter)
    return itertools.count(start), itertools.count(start)


def _copy_plain(value):
    """A deep copy of plain data (dicts, lists, sets of immutable values): the
    per-superblock state and per-inode ``fsdata`` the filesystem profiles keep."""
    if isinstance(value, dict):
        return {k: _copy_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_plain(v) for v in value]
    if isinstance(value, set):
        return set(value)
    return value


class SimKernel:
    """An in-memory Linux whose root is a filesystem of the given profile.

    ``fs`` is ``"ext4"``, ``"xfs"``, ``"btrfs"``, ``"tmpfs"`` or ``"ramfs"``
    (no xattr support); ``fs_options`` are that filesystem's options
    (ext4: ``block_size``, ``inode_size``, ``ea_inode``; tmpfs: ``nr_inodes``;
    btrfs: ``nodesize``); ``kernel`` is a version string such as ``"6.18"``.

    Methods are named after the syscalls and take their arguments: paths as
    ``str``, xattr names as ``str``, values as ``bytes``.  Failures raise
    ``OSError`` with the kernel's errno (and the deciding rule as ``.rule``).
    Calls run as root with every capability until :meth:`become` says otherwise.

    ``sysctl`` holds the fs.protected_* knobs that change outcomes:
    ``protected_hardlinks`` (default 1, as systemd sets it), ``protected_symlinks``,
    ``protected_regular`` and ``protected_fifos`` (default 0).
    """

    def __init__(self, fs: str = "ext4", kernel: str = DEFAULT_KERNEL, **fs_options):
        self.kernel = features(kernel).name
        self._feats = features(kernel)
        self.sysctl = {"protected_hardlinks": 1, "protected_symlinks": 0,
                       "protected_regular": 0, "protected_fifos": 0}
        self._devs = itertools.count(1)
        self._cred = ROOT
        self._umask = 0
        self._fds: dict[int, OpenFile] = {}
        self._cache: dict = {}
        self._dirs: dict = {}   # normalized absolute directory path -> (mount, inode)
        self._clock = itertools.count(1)
        sb, root = self._new_fs(fs, fs_options)
        self._root_mount = Mount(sb, root, False)
        self._cwd = (self._root_mount, root)
        self._pipes = {op: make(self._feats) for op, make in X.PIPELINES.items()}
        self._plans: dict = {}
        self.fs = fs

    def __repr__(self):
        return f"<SimKernel {self._root_mount.fs!r} kernel={self.kernel} caller {self._cred.describe()}>"

    # ------------------------------------------------------------ plumbing
    def _new_fs(self, fs: str, options: dict, where=None):
        profile = make_filesystem(fs, self._feats, **options)
        sb = Super(profile, next(self._devs))
        profile.reserve_inode(sb.state)
        return sb, self._new_root(sb, where)

    # Storage hooks: where inodes live.  SimKernel keeps them in memory; a subclass
    # can keep them elsewhere (fsmodel.fake keeps them in pyfakefs' tree).
    def _new_root(self, sb: Super, where=None):
        """The root inode of a fresh filesystem (``where``: the directory mounted on)."""
        root = Inode(sb, 1, S_IFDIR | sb.fs.root_mode, 0, 0)
        root.nlink = 2
        root.parent = root
        return root

    def _new_inode(self, mount: Mount, mode: int, uid: int, gid: int, rdev: int):
        return Inode(mount.sb, mount.sb.next_ino(), mode, uid, gid, rdev)

    def _invalidate(self):
        """Forget cached lookups: something that can change how paths resolve happened
        (a removal, a rename, a mount, a directory's or symlink's mode or owner, an ACL,
        another caller).  Creating an inode changes no existing resolution."""
        if self._cache:
            self._cache.clear()
        if self._dirs:
            self._dirs.clear()

    #: cache directory walks (off where another program can change the tree: fake_linux)
    _cache_dirs = True

    @property
    def caller(self) -> Cred:
        return self._cred

    @contextlib.contextmanager
    def become(self, uid: int, gid: int | None = None, groups=(), caps=None, userns: int = 0):
        """Run the calls inside the ``with`` block as another caller.

        ``gid`` None means gid = uid; ``caps`` None gives every capability to
        uid 0 and none to others, else an iterable of names (``"CAP_FOWNER"``).
        ``userns`` N > 0 puts the caller in a user namespace mapping ids
        0..N-1 (a rootless runtime): its capabilities then count only over
        inodes with mapped ids, never for device nodes, ``trusted.*``,
        ``security.*`` (but ``security.capability``, stored as v3) or flags.
        Its ids are the namespace's (host ids 100000 + id); stat shows an
        unmapped owner as 65534.
        """
        cred = Cred.make(uid, gid, groups, caps, userns)
        saved = self._cred
        self._cred = cred
        self._invalidate()
        try:
            yield self
        finally:
            self._cred = saved
            self._invalidate()

    def umask(self, mask: int) -> int:
        _check_int(mask, "mask")
        old, self._umask = self._umask, mask & 0o777
        return old

    # ------------------------------------------------------------ path walk
    def _walk(self, path, follow: bool, parent_only: bool = False, creat: bool = False) -> _Walk:
        if type(path) is not str:
            if isinstance(path, os.PathLike):
                path = os.fspath(path)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if not isinstance(path, str):
                raise TypeError(f"path must be str, not {type(path).__name__}")
        if not path:
            _fail(vfs.EMPTY_PATH, path)
        if "\x00" in path:
            raise ValueError("embedded null byte")
        if _blen(path) >= PATH_MAX:
            _fail(vfs.PATH_TOO_LONG, path)
        cred = self._cred
        if path[0] == "/":
            mnt = self._root_mount
            cur = mnt.root
        else:
            mnt, cur = self._cwd
        slash = path[-1] == "/"
        plain = path[0] == "/" and self._cache_dirs   # can record the parent directory
        if plain and not slash:
            head, _, tail = path.rpartition("/")
            hit = self._dirs.get(head) if tail and tail != "." and tail != ".." else None
            if hit is not None:
                mnt, cur = hit
                pending = [tail]
            else:
                pending = [p for p in path.split("/") if p]
        else:
            pending = [p for p in path.split("/") if p]
        # only a path without "." or ".." components or "//" names its parent by its text
        plain = plain and "/." not in path and "//" not in path
        if not pending:
            return _Walk(mnt, cur, None, "root", slash, mnt, cur)
        pending.reverse()
        links = 0
        while True:
            name = pending.pop()
            last = not pending
            if vfs.may_lookup(cred, cur) is not None:
                _fail(vfs.NO_SEARCH, path)
            if creat and last and slash and name != "." and name != "..":
                _fail(vfs.OPEN_CREATE_DIR, path)
            if name == ".":
                cmnt, child, ltype = mnt, cur, "dot"
            elif name == "..":
                ltype = "dotdot"
                cmnt, child = mnt, cur
                if child is not self._root_mount.root:
                    while child is cmnt.root and cmnt.parent is not None:
                        child = cmnt.mountpoint
                        cmnt = cmnt.parent
                    child = child.parent
                    while child.mounted is not None:  # handle_mounts on the parent
                        cmnt = child.mounted
                        child = cmnt.root
            else:
                ltype = "norm"
                if len(name) > NAME_MAX and _blen(name) > NAME_MAX:
                    _fail(vfs.NAME_TOO_LONG, path)
                child = cur.children.get(name)
                if child is None:
                    if last and cur.nlink:
                        if plain:
                            self._remember_dir(path, mnt, cur)
                        return _Walk(mnt, cur, name, ltype, slash, None, None)
                    _fail(vfs.NO_ENTRY, path)  # (or a removed directory: IS_DEADDIR)
                cmnt = mnt
                if not (parent_only and last):  # rename/unlink/rmdir see the mount point
                    while child.mounted is not None:
                        cmnt = child.mounted
                        child = cmnt.root
            if child.mode & S_IFMT == S_IFLNK and (not last or ((follow or slash) and not parent_only)):
                plain = False
                links += 1
                if links > MAXSYMLINKS:
                    _fail(vfs.LOOP, path)
                refused = vfs.may_follow_link(cred, cur, child, self.sysctl["protected_symlinks"])
                if refused is not None:
                    _fail(refused, path)
                target = child.target
                parts = [p for p in target.split("/") if p]
                if target[0] == "/":
                    mnt = self._root_mount
                    cur = mnt.root
                if not parts:
                    parts = ["."]
                if last and target[-1] == "/":
                    slash = True
                pending.extend(reversed(parts))
                continue
            if last:
                if slash and not parent_only and child.mode & S_IFMT != S_IFDIR:
                    _fail(vfs.NOT_DIR, path)
                if plain:
                    self._remember_dir(path, mnt, cur)
                    if child.children is not None and not parent_only:
                        # a directory found by a plain path: the walks below it start there
                        self._dir_at(path, cmnt, child)
                return _Walk(mnt, cur, name, ltype, slash, cmnt, child)
            if child.mode & S_IFMT != S_IFDIR:
                _fail(vfs.NOT_DIR, path)
            mnt, cur = cmnt, child

    def _prime(self, path, mount, inode) -> None:
        """Remember what a new non-symlink inode's path resolves to (either way of
        following: the last component is not a link), for the calls that follow it."""
        if type(path) is str and not path.endswith("/") and self._cache_dirs:
            cache = self._cache
            if len(cache) > 4096:
                cache.clear()
            cwd = self._cwd[1]
            cache[(path, False, cwd)] = cache[(path, True, cwd)] = (mount, inode)

    def _remember_dir(self, path: str, mnt, cur) -> None:
        """Record the parent directory of a plain absolute path (no symlink, dot or
        double slash on the way) for the next walk under it."""
        self._dir_at(path[:path.rfind("/")], mnt, cur)

    def _dir_at(self, path: str, mnt, inode) -> None:
        """Remember that the plain absolute ``path`` is the directory ``inode``; the
        memo is bounded (cleared past 65,536 directories)."""
        dirs = self._dirs
        if len(dirs) > 65536:
            dirs.clear()
        dirs[path] = (mnt, inode)

    def _lookup(self, path, follow: bool):
        """(mount, inode) for an existing path; raises OSError."""
        key = (path, follow, self._cwd[1])
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        w = self._walk(path, follow)
        if w.inode is None:
            _fail(vfs.NO_ENTRY, path)
        hit = (w.mount, w.inode)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = hit
        return hit

    def _file(self, fd, op=None) -> OpenFile:
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        f = self._fds.get(fd)
        if f is None or f.flags & _O_PATH:
            _fail(vfs.BAD_FD, fd)
        return f

    # ------------------------------------------------------------ xattrs
    def _target(self, c):
        """Resolve a call's target into ``c.inode``/``c.mount`` (the pipelines' LOOKUP)."""
        how = c.how
        if how == "path":
            c.mount, c.inode = self._lookup(c.target, True)
        elif how == "nofollow":
            c.mount, c.inode = self._lookup(c.target, False)
        else:
            target = c.target
            if target == AT_FDCWD and c.op in ("set", "get") and self._feats.fdcwd_is_cwd:
                c.mount, c.inode = self._cwd
                return
            f = self._file(target)
            c.mount, c.inode = f.mount, f.inode

    def _xattr(self, op, how, target, name=None, value=None, flags=0, size=0, trace=None):
        if name is not None and (type(name) is not str or "\x00" in name):
            name = _check_name_arg(name)
        if value is not None and type(value) is not bytes:
            value = _check_value_arg(value)
        if how == "fd":
            _check_int(target, "fd")
        c = X.Call(op, self._cred, self._feats, name, value, flags, size)
        c.target = target
        c.how = how
        if trace is None:
            key = (op, name)
            stages = self._plans.get(key)
            if stages is None:
                if len(self._plans) > 4096:
                    self._plans.clear()
                stages = self._plans[key] = X.plan(self._pipes[op], name)
        else:
            c.trace = trace
            stages = self._pipes[op]
        rule = X.run(stages, c, self._target)
        if rule.errno:
            _fail(rule, target)
        if op != "get" and op != "list" and (name == ACL_ACCESS or name == ACL_DEFAULT):
            self._invalidate()
        return rule, c.result

    def setxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        if type(flags) is not int:
            _check_int(flags, "flags")
        self._xattr("set", "path", path, name, value, flags)

    def lsetxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        _check_int(flags, "flags")
        self._xattr("set", "nofollow", path, name, value, flags)

    def fsetxattr(self, fd: int, name: str, value: bytes, flags: int = 0) -> None:
        _check_int(flags, "flags")
        self._xattr("set", "fd", fd, name, value, flags)

    def getxattr(self, path: str, name: str, size: int = 65536) -> bytes | int:
        if type(size) is not int or size < 0:
            _check_size(size)
        return self._xattr("get", "path", path, name, None, 0, size)[1]

    def lgetxattr(self, path: str, name: str, size: int = 65536) -> bytes | int:
        return self._xattr("get", "nofollow", path, name, size=_check_size(size))[1]

    def fgetxattr(self, fd: int, name: str, size: int = 65536) -> bytes | int:
        return self._xattr("get", "fd", fd, name, size=_check_size(size))[1]

    def listxattr(self, path: str, size: int = 65536) -> list[str] | int:
        return self._xattr("list", "path", path, size=_check_size(size))[1]

    def llistxattr(self, path: str, size: int = 65536) -> list[str] | int:
        return self._xattr("list", "nofollow", path, size=_check_size(size))[1]

    def flistxattr(self, fd: int, size: int = 65536) -> list[str] | int:
        return self._xattr("list", "fd", fd, size=_check_size(size))[1]

    def removexattr(self, path: str, name: str) -> None:
        self._xattr("remove", "path", path, name)

    def lremovexattr(self, path: str, name: str) -> None:
        self._xattr("remove", "nofollow", path, name)

    def fremovexattr(self, fd: int, name: str) -> None:
        self._xattr("remove", "fd", fd, name)

    def explain(self, call: str, target, *args) -> Verdict:
        """Run one xattr call (e.g. ``"lsetxattr"``) and return the verdict with its trace.

        The call takes effect as it would otherwise.  Arguments after the target
        are those of the method: ``name, value, flags`` for set, ``name, size``
        for get, ``size`` for list, ``name`` for remove.
        """
        try:
            op, how = _CALLS[call]
        except KeyError:
            raise ValueError(f"{call!r} is not an xattr call; expected one of {', '.join(_CALLS)}") from None
        kwargs = {}
        if op == "set":
            name, value, *rest = args
            kwargs = dict(name=name, value=value, flags=rest[0] if rest else 0)
        elif op == "get":
            name, *rest = args
            kwargs = dict(name=name, size=rest[0] if rest else 65536)
        elif op == "list":
            kwargs = dict(size=args[0] if args else 65536)
        else:
            kwargs = dict(name=args[0])
        trace: list = []
        try:
            rule, result = self._xattr(op, how, target, trace=trace, **kwargs)
        except OSError as exc:
            rule = getattr(exc, "rule", None)
            if rule is None:
                raise
            return Verdict(rule, tuple(trace))
        return Verdict(rule, tuple(trace), result)

    # ------------------------------------------------------------ creation
    def _create_site(self, path, *, is_dir: bool):
        """``filename_create``: the parent where ``path`` can be created, or raise."""
        w = self._walk(path, False, parent_only=True)
        if w.ltype != "norm":
            _fail(vfs.EXISTS, path)
        if w.inode is not None:
            _fail(vfs.EXISTS, path)
        if w.slash and not is_dir:
            _fail(vfs.TRAILING_SLASH, path)
        if w.pmount.readonly:
            _fail(vfs.ROFS, path)
        return w

    def _make_inode(self, w, mode, rdev=0) -> Inode:
        """Allocate an inode in ``w.pdir`` (owner, inherited ACLs, umask) and link it."""
        pdir, mount = w.pdir, w.pmount
        fs = mount.fs
        refused = fs.reserve_inode(mount.state)
        if refused is not None:
            _fail(refused, w.last)
        ftype = mode & S_IFMT
        if ftype != S_IFLNK:
            default = pdir.acl_default if fs.posix_acl else None
            perm = mode & ~S_IFMT
            acl = dacl = None
            if default is None:
                perm &= ~self._umask
            else:
                extended, acl, perm = acl_create_masq(default, perm)
                if not extended:
                    acl = None
                if ftype == S_IFDIR:
                    dacl = default
            mode = ftype | perm
        uid, gid, mode = vfs.new_inode_owner(self._cred, pdir, mode)
        inode = self._new_inode(mount, mode, uid, gid, rdev)
        inode.ctime = inode.mtime = next(self._clock)
        if ftype != S_IFLNK and fs.posix_acl and pdir.acl_default is not None:
            # posix_acl_create's results are stored default first (ext4_init_acl & co.)
            for name, value in ((ACL_DEFAULT, dacl), (ACL_ACCESS, acl)):
                if value is not None:
                    fs.set_acl(mount.state, inode, name, acl_encode(value))
            inode.acl_access, inode.acl_default = acl, dacl
        fs.inherit(mount.state, pdir, inode)
        if ftype == S_IFDIR:
            inode.nlink = 2
            inode.parent = pdir
            pdir.nlink += 1
        pdir.children[w.last] = inode   # a new name: no cached lookup changes
        return inode

    def mkdir(self, path: str, mode: int) -> None:
        _check_int(mode, "mode")
        w = self._create_site(path, is_dir=True)
        refused = vfs.may_create(self._cred, w.pdir)
        if refused is not None:
            _fail(refused, path)
        inode = self._make_inode(w, S_IFDIR | (mode & 0o1777))
        self._prime(path, w.pmount, inode)
        # a directory made under a remembered plain parent is itself a plain path: the
        # walks of what is created in it next start there (mkdir -p, an extractor's
        # parents) instead of at the root
        if (type(path) is str and path[0] == "/" and path[-1] != "/"
                and self._dirs.get(path[:path.rfind("/")]) == (w.pmount, w.pdir)):
            self._dir_at(path, w.pmount, inode)

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        _check_int(mode, "mode")
        _check_int(device, "device")
        refused = vfs.may_mknod(mode)
        if refused is not None:
            _fail(refused, path)
        ftype = mode & S_IFMT or S_IFREG
        w = self._create_site(path, is_dir=False)
        refused = vfs.may_create(self._cred, w.pdir) or vfs.mknod_capable(self._cred, mode, device)
        if refused is not None:
            _fail(refused, path)
        rdev = device if ftype in (S_IFCHR, S_IFBLK) else 0
        self._prime(path, w.pmount, self._make_inode(w, ftype | (mode & 0o7777), rdev))

    def symlink(self, target: str, path: str) -> None:
        if type(target) is not str:
            target = os.fsdecode(os.fspath(target))
        if not target:
            _fail(vfs.SYMLINK_EMPTY, target, path)
        if "\x00" in target:
            raise ValueError("embedded null byte")
        if _blen(target) >= PATH_MAX:
            _fail(vfs.PATH_TOO_LONG, target, path)
        w = self._create_site(path, is_dir=False)
        refused = vfs.may_create(self._cred, w.pdir)
        if refused is not None:
            _fail(refused, target, path)
        if _blen(target) > w.pmount.fs.max_symlink:
            _fail(vfs.SYMLINK_TOO_LONG, target, path)
        inode = self._make_inode(w, S_IFLNK | 0o777)
        inode.target = target
        inode.size = _blen(target)

    def link(self, src: str, dst: str) -> None:
        """link(2): a new name for ``src`` (a final symlink is not followed)."""
        self._link(src, dst, False)

    def _link(self, src: str, dst: str, follow: bool) -> None:
        smount, sinode = self._lookup(src, follow)
        w = self._create_site(dst, is_dir=False)
        if w.pmount is not smount:
            _fail(vfs.NO_XDEV, src, dst)
        refused = vfs.may_linkat(self._cred, sinode, bool(self.sysctl["protected_hardlinks"]))
        if refused is None:
            refused = vfs.may_create(self._cred, w.pdir) or vfs.vfs_link_checks(sinode)
        if refused is None:
            refused = smount.fs.link_inode(smount.state)
        if refused is not None:
            _fail(refused, src, dst)
        sinode.nlink += 1
        w.pdir.children[w.last] = sinode   # a new name: no cached lookup changes

    # ------------------------------------------------------------ deletion
    def _release(self, mount, inode):
        if inode.nlink == 0 and inode.opens == 0:
            mount.fs.release_inode(mount.state, inode)

    def _unlinked(self, mount, inode):
        """An entry for ``inode`` went away: drop a link, free what is free."""
        inode.nlink -= 1
        if inode.mode & S_IFMT == S_IFDIR:
            inode.nlink = 0
        if inode.nlink > 0:
            mount.fs.unlink_inode(mount.state)
        self._release(mount, inode)

    def unlink(self, path: str) -> None:
        w = self._walk(path, False, parent_only=True)
        if w.ltype != "norm":
            _fail(vfs.IS_DIR, path)
        if w.pmount.readonly:
            _fail(vfs.ROFS, path)
        if w.inode is None:
            _fail(vfs.NO_ENTRY, path)
        if w.slash:
            _fail(vfs.IS_DIR if w.inode.mode & S_IFMT == S_IFDIR else vfs.TRAILING_NOT_DIR, path)
        refused = vfs.may_delete(self._cred, w.pdir, w.inode, False)
        if refused is None and w.inode.mounted is not None:
            refused = vfs.BUSY
        if refused is not None:
            _fail(refused, path)
        del w.pdir.children[w.last]
        self._unlinked(w.pmount, w.inode)
        self._invalidate()

    def rmdir(self, path: str) -> None:
        w = self._walk(path, False, parent_only=True)
        if w.ltype == "dotdot":
            _fail(vfs.RMDIR_DOTDOT, path)
        if w.ltype == "dot":
            _fail(vfs.RMDIR_DOT, path)
        if w.ltype == "root":
            _fail(vfs.BUSY, path)
        if w.pmount.readonly:
            _fail(vfs.ROFS, path)
        if w.inode is None:
            _fail(vfs.NO_ENTRY, path)
        victim = w.inode
        refused = vfs.may_delete(self._cred, w.pdir, victim, True)
        if refused is None and (victim.mounted is not None or victim is w.mount.root):
            refused = vfs.BUSY
        if refused is None and victim.children:
            refused = vfs.NOT_EMPTY
        if refused is not None:
            _fail(refused, path)
        del w.pdir.children[w.last]
        w.pdir.nlink -= 1
        self._unlinked(w.pmount, victim)
        self._invalidate()

    def rename(self, old: str, new: str) -> None:
        wo = self._walk(old, False, parent_only=True)
        wn = self._walk(new, False, parent_only=True)
        if wo.pmount is not wn.pmount:
            _fail(vfs.NO_XDEV, old, new)
        if wo.ltype != "norm" or wn.ltype != "norm":
            _fail(vfs.RENAME_DOT, old, new)
        if wo.pmount.readonly:
            _fail(vfs.ROFS, old, new)
        src = wo.inode
        if src is None:
            _fail(vfs.NO_ENTRY, old, new)
        dst = wn.inode
        src_dir = src.mode & S_IFMT == S_IFDIR
        if not src_dir and (wo.slash or wn.slash):
            _fail(vfs.NOT_DIR, old, new)
        # lock_rename's trap: the ancestor relation between the two parents.
        if src_dir and self._is_ancestor(src, wn.pdir):
            _fail(vfs.RENAME_SUBDIR, old, new)
        if dst is not None and dst.mode & S_IFMT == S_IFDIR and self._is_ancestor(dst, wo.pdir):
            _fail(vfs.RENAME_ANCESTOR, old, new)
        if src is dst:
            return
        cred = self._cred
        refused = vfs.may_delete(cred, wo.pdir, src, src_dir)
        if refused is None:
            if dst is None:
                refused = vfs.may_create(cred, wn.pdir)
            else:
                refused = vfs.may_delete(cred, wn.pdir, dst, src_dir)
        if refused is None and wo.pdir is not wn.pdir and src_dir:
            if src.iflags & FS_IMMUTABLE_FL:
                refused = vfs.ATTR_IMMUTABLE
            elif vfs.generic_permission(cred, src, MAY_WRITE):
                refused = vfs.NO_WRITE_DIR
        if refused is None and (src.mounted is not None or (dst is not None and dst.mounted is not None)):
            refused = vfs.BUSY
        if refused is None and dst is not None and src_dir and dst.children:
            refused = vfs.RENAME_NOT_EMPTY_XFS if wn.pmount.fs.rename_not_empty == "EEXIST" \
                else vfs.NOT_EMPTY
        if refused is not None:
            _fail(refused, old, new)
        del wo.pdir.children[wo.last]
        if dst is not None:
            if src_dir:
                wn.pdir.nlink -= 1
            self._unlinked(wn.pmount, dst)
        wn.pdir.children[wn.last] = src
        if src_dir:
            wo.pdir.nlink -= 1
            wn.pdir.nlink += 1
            src.parent = wn.pdir
        self._invalidate()

    @staticmethod
    def _is_ancestor(anc: Inode, node: Inode) -> bool:
        """Is ``anc`` ``node`` or one of its ancestors (within one filesystem)?"""
        seen = 0
        while True:
            if node is anc:
                return True
            parent = node.parent
            if parent is node or parent is None or seen > 10000:
                return False
            node = parent
            seen += 1

    # ------------------------------------------------------------ attributes
    def chmod(self, path: str, mode: int) -> None:
        _check_int(mode, "mode")
        mount, inode = self._lookup(path, True)
        self._chmod(mount, inode, mode, path)

    def _chmod(self, mount, inode, mode, path) -> None:
        if mount.readonly:
            _fail(vfs.ROFS, path)
        new = vfs.chmod_mode(self._cred, inode, mode)
        if isinstance(new, Rule):
            _fail(new, path)
        self._set_mode(mount, inode, new)

    def _directory_changed(self, inode, searchable_before) -> None:
        """A directory's mode or owner changed: forget cached lookups only if that
        changes what the caller may look up in it (``may_lookup`` before and after) or,
        with fs.protected_symlinks, which symlinks it may follow there."""
        if (vfs.may_lookup(self._cred, inode) is not searchable_before
                or self.sysctl["protected_symlinks"]):
            self._invalidate()

    def _set_mode(self, mount, inode, new):
        is_dir = new & S_IFMT == S_IFDIR
        before = vfs.may_lookup(self._cred, inode) if is_dir else None
        inode.mode = new
        if inode.acl_access is not None:
            acl = acl_chmod(inode.acl_access, new)
            mount.fs.set_acl(mount.state, inode, ACL_ACCESS, acl_encode(acl))
            inode.acl_access = acl
        if is_dir:
            self._directory_changed(inode, before)

    def _chown(self, path, uid, gid, follow):
        _check_int(uid, "uid")
        _check_int(gid, "gid")
        mount, inode = self._lookup(path, follow)
        self._chown_inode(mount, inode, uid, gid, path)

    def _chown_inode(self, mount, inode, uid, gid, path) -> None:
        if mount.readonly:
            _fail(vfs.ROFS, path)
        result = vfs.chown_result(self._cred, inode, uid, gid, mount.fs)
        if isinstance(result, Rule):
            _fail(result, path)
        new_uid, new_gid, mode, kill_caps = result
        t = inode.mode & S_IFMT
        before = vfs.may_lookup(self._cred, inode) if t == S_IFDIR else None
        inode.uid, inode.gid = new_uid, new_gid
        if t == S_IFDIR:
            self._directory_changed(inode, before)
        elif t == S_IFLNK and self.sysctl["protected_symlinks"]:
            self._invalidate()   # may_follow_link looks at the link's owner
        if mode != inode.mode:
            self._set_mode(mount, inode, mode)
        if kill_caps and inode.xattrs.get(CAPS_NAME):
            mount.fs.remove(mount.state, inode, CAPS_NAME)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._chown(path, uid, gid, True)

    def lchown(self, path: str, uid: int, gid: int) -> None:
        self._chown(path, uid, gid, False)

    def _stat(self, mount, inode):
        nlink = inode.nlink
        if mount.fs.dir_nlink_one and inode.mode & S_IFMT == S_IFDIR:
            nlink = 1
        uid, gid = inode.uid, inode.gid
        cred = self._cred
        if cred.userns:
            uid, gid = cred.from_kuid(uid), cred.from_kuid(gid)
        times = inode.mtime, inode.mtime, inode.ctime
        return _stat_result((inode.mode, inode.ino, mount.sb.dev, nlink, uid, gid, inode.size)
                            + times + times + _STAT_GAP + (inode.rdev,))

    def stat(self, path: str) -> os.stat_result:
        return self._stat(*self._lookup(path, True))

    def lstat(self, path: str) -> os.stat_result:
        return self._stat(*self._lookup(path, False))

    def set_flags(self, path: str, immutable: bool = False, append: bool = False) -> None:
        """Set exactly these inode flags (FS_IOC_SETFLAGS), as ``chattr =i``/``=a`` would."""
        fd = self.open(path, os.O_RDONLY | _O_NONBLOCK)
        try:
            f = self._fds[fd]
            inode, mount = f.inode, f.mount
            # FS_IOC_GETFLAGS first (to keep the other flags), then FS_IOC_SETFLAGS.
            refused = vfs.fileattr_supported(inode, mount.fs)
            if refused is None and mount.readonly:
                refused = vfs.ROFS
            new = (inode.iflags & ~(FS_IMMUTABLE_FL | FS_APPEND_FL)) \
                | (FS_IMMUTABLE_FL if immutable else 0) | (FS_APPEND_FL if append else 0)
            if refused is None:
                refused = vfs.set_flags_check(self._cred, inode, mount.fs, new)
            if refused is not None:
                _fail(refused, path)
            inode.iflags = new
        finally:
            self.close(fd)

    # ------------------------------------------------------------ files
    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        _check_int(flags, "flags")
        _check_int(mode, "mode")
        cred = self._cred
        if flags & _O_CREAT and flags & _O_DIRECTORY:
            _fail(vfs.OPEN_INVAL, path)
        if flags & _O_PATH:
            mount, inode = self._lookup(path, not flags & _O_NOFOLLOW)
            if flags & _O_DIRECTORY and inode.mode & S_IFMT != S_IFDIR:
                _fail(vfs.OPEN_NOT_DIR, path)
            return self._install(mount, inode, flags, path)
        created = False
        if flags & _O_CREAT:
            w = self._walk(path, not flags & _O_EXCL and not flags & _O_NOFOLLOW,
                           parent_only=bool(flags & _O_EXCL), creat=True)
            if w.ltype != "norm" and w.inode is not None and flags & _O_EXCL:
                _fail(vfs.OPEN_EXISTS, path)
            if w.inode is None:
                if w.slash:
                    _fail(vfs.OPEN_CREATE_DIR, path)
                if w.pmount.readonly:
                    _fail(vfs.ROFS, path)
                refused = vfs.may_create(cred, w.pdir)
                if refused is not None:
                    _fail(refused, path)
                inode = self._make_inode(w, S_IFREG | (mode & 0o7777))
                mount = w.pmount
                created = True
                self._prime(path, mount, inode)
            else:
                if flags & _O_EXCL:
                    _fail(vfs.OPEN_EXISTS, path)
                mount, inode = w.mount, w.inode
                if inode.mode & S_IFMT == S_IFDIR:
                    _fail(vfs.OPEN_CREATE_DIR, path)
                refused = vfs.may_create_in_sticky(cred, w.pdir, inode,
                                                   self.sysctl["protected_regular"],
                                                   self.sysctl["protected_fifos"])
                if refused is not None:
                    _fail(refused, path)
        else:
            mount, inode = self._lookup(path, not flags & _O_NOFOLLOW)
        ftype = inode.mode & S_IFMT
        if flags & _O_DIRECTORY and ftype != S_IFDIR:
            _fail(vfs.OPEN_NOT_DIR, path)
        accmode = flags & _O_ACCMODE
        # build_open_flags: access mode 3 asks for read and write permission but gives
        # the file neither; O_TRUNC asks for write permission on every file type.
        acc = (MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE, MAY_READ | MAY_WRITE)[accmode]
        if flags & _O_TRUNC:
            acc |= MAY_WRITE
        trunc = bool(flags & _O_TRUNC) and ftype == S_IFREG
        if not created:
            if trunc and mount.readonly:
                _fail(vfs.ROFS, path)
            refused = vfs.may_open(cred, inode, acc, flags, _O_APPEND, _O_TRUNC if trunc else 0,
                                   _O_NOATIME)
            if refused is not None:
                _fail(refused, path)
            if accmode in (os.O_WRONLY, os.O_RDWR) and ftype == S_IFREG and mount.readonly:
                _fail(vfs.ROFS, path)
            refused = vfs.open_special(inode, accmode, flags & _O_NONBLOCK, self._fifo_readers(inode))
            if refused is not None:
                _fail(refused, path)
        if trunc and not created:
            inode.size = 0
            mode = vfs.truncate_kills(cred, inode)
            if mode != inode.mode:
                self._set_mode(mount, inode, mode)
            if inode.xattrs.get(CAPS_NAME):
                mount.fs.remove(mount.state, inode, CAPS_NAME)
        return self._install(mount, inode, flags, path)

    def _fifo_readers(self, inode) -> int:
        return sum(1 for f in self._fds.values() if f.inode is inode and not f.flags & _O_PATH
                   and f.flags & _O_ACCMODE in (os.O_RDONLY, os.O_RDWR))

    def _install(self, mount, inode, flags, path) -> int:
        fd = 3
        while fd in self._fds:
            fd += 1
        self._fds[fd] = OpenFile(mount, inode, flags, path)
        inode.opens += 1
        return fd

    def close(self, fd: int) -> None:
        _check_int(fd, "fd")
        f = self._fds.pop(fd, None)
        if f is None:
            _fail(vfs.BAD_FD, fd)
        f.inode.opens -= 1
        self._release(f.mount, f.inode)

    def readlink(self, path: str) -> str:
        mount, inode = self._lookup(path, False)
        if inode.mode & S_IFMT != S_IFLNK:
            _fail(vfs.NOT_LINK, path)
        return inode.target

    def listdir(self, path: str) -> list[str]:
        """The names in the directory ``path`` (sorted; '.' and '..' left out)."""
        mount, inode = self._lookup(path, True)
        if inode.mode & S_IFMT != S_IFDIR:
            _fail(vfs.NOT_DIR, path)
        if vfs.may_readdir(self._cred, inode) is not None:
            _fail(vfs.NO_READ_DIR, path)
        return sorted(inode.children)

    def write(self, fd: int, data: bytes) -> int:
        """Append ``data`` to the file (contents are not kept, only the size)."""
        f = self._file(fd)
        if f.flags & _O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
            _fail(vfs.BAD_FD, fd)
        if f.inode.mode & S_IFMT == S_IFREG:
            f.inode.size += len(data)
        return len(data)

    def chdir(self, path: str) -> None:
        mount, inode = self._lookup(path, True)
        if inode.mode & S_IFMT != S_IFDIR:
            _fail(vfs.NOT_DIR, path)
        if vfs.may_lookup(self._cred, inode) is not None:
            _fail(vfs.NO_SEARCH, path)
        self._cwd = (mount, inode)

    # ------------------------------------------------------------ mounts
    def mount(self, path: str, fs: str, readonly: bool = False, **fs_options) -> None:
        """Mount a fresh filesystem of profile ``fs`` on the directory ``path``."""
        parent, inode = self._lookup(path, True)   # user_path_at, then may_mount
        refused = vfs.mount_capable(self._cred)
        if refused is not None:
            _fail(refused, path)
        if inode.mode & S_IFMT != S_IFDIR:
            _fail(vfs.NOT_DIR, path)
        self._mount_on(parent, inode, fs, fs_options, bool(readonly), path)
        self._invalidate()

    def _mount_on(self, parent: Mount, inode, fs: str, fs_options: dict, readonly: bool,
                  path: str) -> None:
        """Cover the directory ``inode`` with a fresh filesystem (a storage hook)."""
        sb, root = self._new_fs(fs, fs_options, where=inode)
        inode.mounted = Mount(sb, root, readonly, parent, inode)

    def remount(self, path: str, readonly: bool) -> None:
        mount, inode = self._lookup(path, True)
        refused = vfs.mount_capable(self._cred)
        if refused is not None:
            _fail(refused, path)
        if inode is not mount.root:
            _fail(vfs.MOUNT_NOT_ROOT, path)
        if readonly and not mount.readonly and any(
                f.mount is mount and f.flags & _O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
                and not f.flags & _O_PATH and f.inode.mode & S_IFMT in (S_IFREG, S_IFDIR)
                for f in self._fds.values()):
            _fail(vfs.REMOUNT_BUSY, path)
        mount.readonly = bool(readonly)

    def filesystem(self, path: str = "/") -> Filesystem:
        """The filesystem profile of the mount ``path`` is on."""
        return self._lookup(path, True)[0].fs

    # ------------------------------------------------------------ copies
    def clone(self) -> SimKernel:
        """An independent copy of this kernel in its present state.

        The copy has the same tree (inode numbers, modes, owners, link counts,
        sizes, times, xattrs and their listing order, capacity accounting),
        mounts, open fds, cwd, umask, sysctls and caller, and the same counters
        (the next inode number, device number and time), so any call sequence
        gives the same results on both.  Nothing the copy does changes this
        kernel, nor the reverse.  Rules, filesystem profiles and credentials
        are immutable and shared.  A fuzz target builds its world once and
        clones it per input: far less work than replaying the calls that
        built it.

        Only SimKernel's own storage is copied: a subclass that keeps inodes
        elsewhere (``fsmodel.fake``) raises ``TypeError``.
        """
        cls = type(self)
        if any(getattr(cls, hook) is not getattr(SimKernel, hook)
               for hook in ("_new_root", "_new_inode", "_mount_on")):
            raise TypeError(f"{cls.__name__} keeps its inodes outside SimKernel: "
                            f"clone() cannot copy them")
        supers: dict = {}
        mounts: dict = {}
        inodes: dict = {}
        todo: list = []      # (old, new) inodes whose references are still the old ones

        def sup(old: Super) -> Super:
            new = supers.get(id(old))
            if new is None:
                new = supers[id(old)] = Super.__new__(Super)
                new.fs, new.dev = old.fs, old.dev
                new.state = _copy_plain(old.state)
                old._ino, new._ino = _fork_counter(old._ino)
            return new

        def node(old: Inode) -> Inode:
            new = inodes.get(id(old))
            if new is None:
                new = inodes[id(old)] = old._copy()
                todo.append((old, new))
            return new

        def mnt(old: Mount) -> Mount:
            new = mounts.get(id(old))
            if new is None:
                new = mounts[id(old)] = Mount.__new__(Mount)
                new.sb = sup(old.sb)
                new.fs, new.state = old.fs, new.sb.state
                new.readonly = old.readonly
                new.root = node(old.root)
                new.parent = None if old.parent is None else mnt(old.parent)
                new.mountpoint = None if old.mountpoint is None else node(old.mountpoint)
            return new

        k = cls.__new__(cls)
        k.__dict__.update(self.__dict__)
        k.sysctl = dict(self.sysctl)
        self._devs, k._devs = _fork_counter(self._devs)
        self._clock, k._clock = _fork_counter(self._clock)
        k._cache, k._dirs, k._plans = {}, {}, dict(self._plans)
        k._root_mount = mnt(self._root_mount)
        k._cwd = (mnt(self._cwd[0]), node(self._cwd[1]))
        k._fds = {}
        for fd, f in self._fds.items():
            new = k._fds[fd] = OpenFile.__new__(OpenFile)
            new.mount, new.inode = mnt(f.mount), node(f.inode)
            new.flags, new.path = f.flags, f.path
        while todo:
            old, new = todo.pop()
            new.sb = sup(old.sb)
            new.xattrs = dict(old.xattrs)
            if old.fsdata is not None:
                new.fsdata = _copy_plain(old.fsdata)
            if old.parent is not None:
                new.parent = node(old.parent)
            if old.children is not None:
                new.children = {name: node(child) for name, child in old.children.items()}
            if old.mounted is not None:
                new.mounted = mnt(old.mounted)
        return k

    # ------------------------------------------------------------ inspection
    def tree(self, path: str = "/"):
        """Yield (path, lstat, xattrs) for every entry under ``path``, depth first, sorted."""
        for p, m, node in self.inodes(path, sort=True):
            yield p, self._stat(m, node), dict(node.xattrs)

    def inodes(self, path: str = "/", *, sort: bool = False):
        """Yield (path, mount, inode) for every entry under ``path``, depth first,
        crossing mounts; each directory's entries sorted by name, or with ``sort``
        False in the order they were linked there.

        The objects are the kernel's own (``inode.mode``, ``.ino``, ``.uid``,
        ``.nlink``, ``.xattrs``..., ``mount.sb.dev``): for white-box checks that walk
        the whole tree often, such as a fuzz target's invariants after every input.
        Read them; never change them.  :meth:`tree` is the copied, ``lstat`` view.
        """
        mount, inode = self._lookup(path, False)
        stack = [(path.rstrip("/") or "/", mount, inode)]
        while stack:
            p, m, node = stack.pop()
            yield p, m, node
            children = node.children
            if children:
                base = p.rstrip("/") + "/"
                for name in (sorted(children, reverse=True) if sort else reversed(children)):
                    child, cm = children[name], m
                    while child.mounted is not None:
                        cm = child.mounted
                        child = cm.root
                    stack.append((base + name, cm, child))
