"""fake_linux(): pyfakefs with the kernel's xattr rules.

Theory of operation
-------------------
pyfakefs keeps an in-memory tree (``FakeFile``/``FakeDirectory`` objects)
and replaces ``os``, ``open``, ``pathlib`` and ``shutil`` with fakes over it.
It enforces almost none of Linux's xattr rules.  ``fake_linux()`` plugs the
rules in without copying any of them:

* :class:`FakeKernel` is a :class:`~fsmodel.SimKernel` whose inodes live in
  pyfakefs' tree.  Each ``FakeFile`` gets one :class:`FakeInode`, a view
  that reads and writes the file's mode, owner, link count, size and xattr
  dict in place and keeps what pyfakefs has no field for (inode flags, ACLs,
  device numbers, a filesystem's private xattr layout) beside it.  Path
  walks, permission checks, the xattr pipelines and every errno are the
  simulated kernel's, decided by ``fsmodel._rules``.
* :class:`FakeLinuxOs` subclasses pyfakefs' ``FakeOsModule`` and is
  installed through pyfakefs' own hook (``Patcher(modules_to_patch=...)``),
  so ``os.setxattr`` and friends, ``os.mkfifo``, ``os.mknod``,
  ``os.chmod``/``chown``/``lchown``, ``os.open``, ``os.mkdir``, ``os.unlink``,
  ``os.rename``, ``os.link``, ``os.symlink``, ``os.stat``... are answered by
  the kernel.  File contents, reads, writes, directory listings and the rest
  stay pyfakefs'.  Functions that would change the host filesystem and that
  neither pyfakefs nor fsmodel fakes raise instead of reaching the host.
* If pyfakefs is already running (the ``fs`` fixture, a ``Patcher``),
  ``fake_linux()`` joins it: it swaps the running fake ``os`` for
  :class:`FakeLinuxOs` and puts it back on exit.

The caller starts as ``uid``/``gid``/``groups``/``caps`` and can be switched
with :meth:`FakeLinux.become`; pyfakefs' own notion of the user follows, so
files it creates natively (``open(..., "w")``) get the right owner.
"""

from __future__ import annotations

import contextlib
import os
import weakref

from ._rules.constants import S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT
from ._rules.kernel import DEFAULT_KERNEL
from ._sim.kernel import Mount, SimKernel, Super, _fail
from ._rules import vfs

try:  # pyfakefs is a dependency of fake_linux only
    from pyfakefs import fake_filesystem_unittest as _ffu
    from pyfakefs import helpers as _helpers
    from pyfakefs.fake_file import FakeDirectory, FakeDirWrapper, FakeFile, FakeFileWrapper
    from pyfakefs.fake_open import _OpenModes
    from pyfakefs.fake_os import FakeOsModule
except ImportError:  # pragma: no cover - reported when fake_linux() is called
    FakeOsModule = object
    _ffu = None

__all__ = ["FakeLinux", "FakeLinuxOs", "fake_linux"]

_O_PATH = getattr(os, "O_PATH", 0o10000000)


# ---------------------------------------------------------------- the inode view

class FakeInode:
    """The simulated kernel's view of one pyfakefs ``FakeFile``.

    Mode, owner, link count of files, size, times and xattrs are the
    ``FakeFile``'s own; a directory's link count is computed from its entries
    (pyfakefs counts differently).  Everything else lives here.
    """

    __slots__ = ("f", "sb", "iflags", "fsdata", "acl_access", "acl_default", "rdev", "opens",
                 "mounted", "dead", "__weakref__")

    def __init__(self, f, sb):
        self.f = f
        self.sb = sb
        self.iflags = 0
        self.fsdata = None
        self.acl_access = None
        self.acl_default = None
        self.rdev = 0
        self.opens = 0
        self.mounted = None
        self.dead = False

    def __repr__(self):
        return f"<FakeInode {self.f.name!r} mode={self.mode:o}>"

    @property
    def ino(self):
        return self.f.st_ino

    @property
    def mode(self):
        return self.f.st_mode

    @mode.setter
    def mode(self, value):
        self.f.st_mode = value

    @property
    def uid(self):
        return self.f.st_uid

    @uid.setter
    def uid(self, value):
        self.f.st_uid = value

    @property
    def gid(self):
        return self.f.st_gid

    @gid.setter
    def gid(self, value):
        self.f.st_gid = value

    @property
    def xattrs(self):
        return self.f.xattr

    @property
    def nlink(self):
        if self.dead:
            return 0
        f = self.f
        if isinstance(f, FakeDirectory):
            return 2 + sum(1 for e in f.entries.values() if isinstance(e, FakeDirectory))
        return f.st_nlink

    @nlink.setter
    def nlink(self, value):
        if isinstance(self.f, FakeDirectory):
            self.dead = value == 0
        else:
            self.f.st_nlink = value

    @property
    def children(self):
        return FakeChildren(self) if isinstance(self.f, FakeDirectory) else None

    @property
    def parent(self):
        ref = self.f.parent_dir
        parent = ref() if ref is not None else None
        if parent is None:
            return self
        return _inode_of(parent, self.sb)

    @parent.setter
    def parent(self, value):
        pass  # follows the entries' parent_dir, set when an entry is linked

    @property
    def target(self):
        if self.mode & S_IFMT != S_IFLNK:
            return None
        contents = self.f.byte_contents or b""
        return os.fsdecode(contents)

    @target.setter
    def target(self, value):
        data = os.fsencode(value)
        self.f._byte_contents = data
        self.f.st_size = len(data)

    @property
    def size(self):
        return 0 if isinstance(self.f, FakeDirectory) else self.f.st_size

    @size.setter
    def size(self, value):
        if value == 0 and not isinstance(self.f, FakeDirectory):
            self.f._byte_contents = b""
            self.f.st_size = 0

    @property
    def mtime(self):
        return self.f.st_mtime

    @mtime.setter
    def mtime(self, value):
        pass  # pyfakefs keeps real times

    @property
    def ctime(self):
        return self.f.st_ctime

    @ctime.setter
    def ctime(self, value):
        pass


class CoveredDir:
    """A directory with a filesystem mounted on it, as its parent sees it.

    pyfakefs has a single tree, so the mounted filesystem's root is the very
    same ``FakeDirectory``; this object stands for the directory underneath
    (its own mode and owner, and the mount on it) in lookups.
    """

    __slots__ = ("f", "sb", "mode", "uid", "gid", "iflags", "mounted", "xattrs", "acl_access",
                 "acl_default", "fsdata", "rdev", "opens", "dead", "parent_inode")

    def __init__(self, inode: FakeInode, mount: Mount):
        self.f = inode.f
        self.sb = inode.sb
        self.mode, self.uid, self.gid = inode.mode, inode.uid, inode.gid
        self.iflags = inode.iflags
        self.xattrs = dict(inode.xattrs)
        self.acl_access, self.acl_default, self.fsdata = inode.acl_access, inode.acl_default, None
        self.rdev, self.opens, self.dead = 0, 0, False
        self.parent_inode = inode.parent
        self.mounted = mount

    nlink = 2
    children = None
    target = None
    size = 0
    mtime = ctime = 0

    @property
    def ino(self):
        return self.f.st_ino

    @property
    def parent(self):
        return self.parent_inode


def _inode_of(f, sb=None) -> FakeInode:
    """The one FakeInode of a FakeFile (created on first sight)."""
    inode = f.__dict__.get("_fsmodel_inode")
    if inode is None:
        inode = FakeInode(f, sb)
        f.__dict__["_fsmodel_inode"] = inode
        kernel = _kernel_of(f)
        if kernel is not None:
            kernel._adopt(inode)
    return inode


def _kernel_of(f):
    fs = f.filesystem
    ref = fs.__dict__.get("_fsmodel_kernel")
    return ref() if ref is not None else None


class FakeChildren:
    """A directory's entries as the simulated kernel sees them (views of FakeFiles)."""

    __slots__ = ("dir",)

    def __init__(self, inode: FakeInode):
        self.dir = inode

    def get(self, name, default=None):
        f = self.dir.f.entries.get(name)
        if f is None:
            return default
        covered = f.__dict__.get("_fsmodel_covered")
        if covered is not None:
            return covered
        return _inode_of(f, self.dir.sb)

    def __getitem__(self, name):
        child = self.get(name)
        if child is None:
            raise KeyError(name)
        return child

    def __contains__(self, name):
        return name in self.dir.f.entries

    def __iter__(self):
        return iter(list(self.dir.f.entries))

    def __len__(self):
        return len(self.dir.f.entries)

    def __bool__(self):
        return bool(self.dir.f.entries)

    def keys(self):
        return self.dir.f.entries.keys()

    def values(self):
        return [self[name] for name in list(self.dir.f.entries)]

    def items(self):
        return [(name, self[name]) for name in list(self.dir.f.entries)]

    def __setitem__(self, name, inode):
        f = inode.f
        directory = self.dir.f
        directory.entries[name] = f
        f.name = name
        f.parent_dir = weakref.ref(directory)
        if f.st_ino is None:
            fs = directory.filesystem
            fs.last_ino += 1
            f.st_ino = fs.last_ino
        f.st_dev = directory.st_dev

    def __delitem__(self, name):
        del self.dir.f.entries[name]


# --------------------------------------------------------------- the kernel

class FakeKernel(SimKernel):
    """A simulated kernel whose inodes are pyfakefs' files (see the module doc)."""

    # pyfakefs' own functions (builtin open, pathlib, shutil) change the tree behind it
    _cache_dirs = False

    def __init__(self, pfs, fs: str = "ext4", kernel: str = DEFAULT_KERNEL, fresh: bool = True,
                 **fs_options):
        self.pfs = pfs
        self._fresh_root = fresh
        pfs.__dict__["_fsmodel_kernel"] = weakref.ref(self)
        super().__init__(fs, kernel, **fs_options)
        self._cwd = (self._root_mount, self._root_mount.root)
        self._sync_cwd()
        pfs.umask = self._umask

    # -- storage hooks
    def _new_root(self, sb: Super, where=None):
        if where is None:
            root = _inode_of(self.pfs.root, sb)
            root.sb = sb
            if self._fresh_root:
                root.mode = S_IFDIR | sb.fs.root_mode
                root.uid = root.gid = 0
            return root
        # a mount on ``where``: the same FakeDirectory, seen as a fresh root
        f = where.f
        root = _inode_of(f, sb)
        root.sb = sb
        root.mode = S_IFDIR | sb.fs.root_mode
        root.uid = root.gid = 0
        root.fsdata = None
        root.iflags = 0
        f.xattr.clear()
        return root

    def _new_inode(self, mount: Mount, mode: int, uid: int, gid: int, rdev: int):
        if mode & S_IFMT == S_IFDIR:
            f = FakeDirectory("?", mode & 0o7777, filesystem=self.pfs)
        else:
            f = FakeFile("?", mode, contents=b"", filesystem=self.pfs)
        f.st_mode = mode
        f.st_uid, f.st_gid = uid, gid
        f.st_nlink = 0 if mode & S_IFMT == S_IFDIR else 1
        inode = FakeInode(f, mount.sb)
        inode.rdev = rdev
        f.__dict__["_fsmodel_inode"] = inode
        return inode

    def _adopt(self, inode: FakeInode) -> None:
        """A FakeFile made by pyfakefs itself: bring its xattrs under the profile."""
        if inode.sb is None:
            inode.sb = self._root_mount.sb if hasattr(self, "_root_mount") else None
        existing = dict(inode.f.xattr)
        if existing and inode.sb is not None:
            inode.f.xattr.clear()
            for name, value in existing.items():
                inode.sb.fs.store(inode.sb.state, inode, name, bytes(value))

    def _lookup(self, path, follow: bool):
        # No path cache: pyfakefs' own functions (builtin open, pathlib, shutil) change
        # the tree behind the kernel's back, so every lookup walks it afresh.
        w = self._walk(path, follow)
        if w.inode is None:
            _fail(vfs.NO_ENTRY, path)
        return w.mount, w.inode

    # -- mounts: a mount is a directory of pyfakefs' tree seen as another filesystem
    def _mount_on(self, parent, inode, fs, fs_options, readonly, path) -> None:
        if inode.children:
            raise ValueError(f"fake_linux mounts need an empty directory; {path!r} is not empty")
        covered_mode = (inode.mode, inode.uid, inode.gid, inode.iflags)
        sb, root = self._new_fs(fs, fs_options, where=inode)
        m = Mount(sb, root, readonly, parent, None)
        covered = CoveredDir(root, m)
        covered.mode, covered.uid, covered.gid, covered.iflags = covered_mode
        m.mountpoint = covered
        root.f.__dict__["_fsmodel_covered"] = covered

    # -- file descriptors: pyfakefs' table is the truth
    def _install(self, mount, inode, flags, path) -> int:
        f = inode.f
        if isinstance(f, FakeDirectory) or flags & _O_PATH and not isinstance(f, FakeDirectory):
            wrapper = FakeDirWrapper(f, path, self.pfs) if isinstance(f, FakeDirectory) else \
                self._file_wrapper(f, path, os.O_RDONLY)
        else:
            wrapper = self._file_wrapper(f, path, flags)
        fd = self.pfs.add_open_file(wrapper)
        wrapper.filedes = fd
        f.__dict__.setdefault("_fsmodel_fdflags", {})[fd] = flags
        from ._sim.kernel import OpenFile

        self._fds[fd] = OpenFile(mount, inode, flags, path)
        inode.opens += 1
        return fd

    def _file_wrapper(self, f, path, flags):
        acc = flags & os.O_ACCMODE
        modes = _OpenModes(must_exist=True, can_read=acc in (os.O_RDONLY, os.O_RDWR),
                           can_write=acc in (os.O_WRONLY, os.O_RDWR), truncate=False,
                           append=bool(flags & os.O_APPEND), must_not_exist=False)
        return FakeFileWrapper(f, path, modes, allow_update=True, delete_on_close=False,
                               filesystem=self.pfs, newline=None, binary=True, closefd=True,
                               encoding=None, errors=None, buffering=-1, raw_io=True,
                               opened_as_fd=True)

    def _wrapper(self, fd):
        """pyfakefs' open file for ``fd`` (EBADF if none, or if it is a real stream:
        the standard streams are not files of the fake tree)."""
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        if fd < 0:
            _fail(vfs.BAD_FD, fd)
        try:
            wrapper = self.pfs.get_open_file(fd)
        except (OSError, ValueError, IndexError):
            _fail(vfs.BAD_FD, fd)
        if not isinstance(getattr(wrapper, "file_object", None), FakeFile):
            _fail(vfs.BAD_FD, fd)
        return wrapper

    def _file(self, fd, op=None):
        wrapper = self._wrapper(fd)
        f = wrapper.get_object()
        known = self._fds.get(fd)
        if known is not None and known.inode.f is f:
            if known.flags & _O_PATH:
                _fail(vfs.BAD_FD, fd)
            return known
        from ._sim.kernel import OpenFile

        inode = _inode_of(f)
        return OpenFile(self._mount_of(inode), inode, os.O_RDWR, getattr(wrapper, "file_path", None))

    def _detach(self, fd: int) -> None:
        """Hand ``fd`` over to a file object pyfakefs made on it (builtin open)."""
        known = self._fds.pop(fd, None)
        if known is not None:
            known.inode.opens -= 1
        wrappers = self.pfs.open_files[fd]
        if wrappers and len(wrappers) > 1:
            wrappers.pop(0)  # ours, opened first; the file object's stays

    def _mount_of(self, inode) -> Mount:
        node = inode
        for _ in range(10000):
            covered = node.f.__dict__.get("_fsmodel_covered")
            if covered is not None:
                return covered.mounted
            parent = node.parent
            if parent is node:
                break
            node = parent
        return self._root_mount

    def close(self, fd: int) -> None:
        wrapper = self._wrapper(fd)
        known = self._fds.pop(fd, None)
        wrapper.close_fd(fd)
        if known is not None:
            known.inode.opens -= 1
            self._release(known.mount, known.inode)

    # -- the process
    def umask(self, mask: int) -> int:
        old = super().umask(mask)
        self.pfs.umask = self._umask
        return old

    def chdir(self, path: str) -> None:
        super().chdir(path)
        self.pfs.cwd = self._path_of(self._cwd[1])

    def _sync_cwd(self):
        try:
            mount, inode = self._lookup(self.pfs.cwd, True)
        except OSError:
            return
        self._cwd = (mount, inode)

    def _path_of(self, inode) -> str:
        return inode.f.path if inode.f is not self.pfs.root else "/"

    @contextlib.contextmanager
    def become(self, uid: int, gid: int | None = None, groups=(), caps=None):
        saved = (_helpers.get_uid(), _helpers.get_gid())
        with super().become(uid, gid, groups, caps) as k:
            _helpers.set_uid(self._cred.uid)
            _helpers.set_gid(self._cred.gid)
            try:
                yield k
            finally:
                _helpers.set_uid(saved[0])
                _helpers.set_gid(saved[1])

    def _stat(self, mount, inode):
        st = super()._stat(mount, inode)
        f = inode.f
        return os.stat_result(
            (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
             f.st_atime, f.st_mtime, f.st_ctime),
            {"st_rdev": inode.rdev, "st_atime_ns": int(f.st_atime * 1e9),
             "st_mtime_ns": int(f.st_mtime * 1e9), "st_ctime_ns": int(f.st_ctime * 1e9),
             "st_blksize": 4096, "st_blocks": (st.st_size + 511) // 512},
        )


# -------------------------------------------------------------- the os module

def _path(path):
    """os-style path argument: str, bytes or PathLike -> str (or an int fd)."""
    if isinstance(path, int) and not isinstance(path, bool):
        return path
    path = os.fspath(path)
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _attr(name):
    if isinstance(name, (bytes, bytearray)):
        return os.fsdecode(bytes(name))
    if not isinstance(name, str):
        raise TypeError(f"attribute must be str or bytes, not {type(name).__name__}")
    return name


#: os functions that change the filesystem which neither pyfakefs nor fsmodel fakes:
#: inside fake_linux they raise rather than reach the host.
UNFAKED = frozenset({
    "lchmod", "chflags", "lchflags", "chroot", "fchdir", "posix_fallocate", "statvfs",
    "fstatvfs", "copy_file_range", "splice",
})


class FakeLinuxOs(FakeOsModule):
    """pyfakefs' fake ``os`` with the kernel's rules (see the module doc)."""

    @staticmethod
    def dir():
        names = FakeOsModule.dir()
        return names + [n for n in ("mkfifo", "mknod", "lchown", "fchown", "fchmod", "link",
                                    "getxattr", "setxattr", "listxattr", "removexattr",
                                    "readlink", "listdir")
                        if n not in names]

    @property
    def kernel(self) -> FakeKernel:
        ref = self.filesystem.__dict__.get("_fsmodel_kernel")
        kernel = ref() if ref is not None else None
        if kernel is None:
            raise RuntimeError("this fake os module is not attached to a fake_linux() kernel")
        return kernel

    def __getattr__(self, name):
        if name in UNFAKED:
            raise NotImplementedError(
                f"os.{name} is not modelled by fake_linux(); it would reach the host filesystem")
        return super().__getattr__(name) if hasattr(FakeOsModule, "__getattr__") else \
            getattr(os, name)

    def _with_dir_fd(self, path, fct, dir_fd):
        if dir_fd is None:
            return _path(path)
        return _path(self._path_with_dir_fd(path, fct, dir_fd))

    # -- extended attributes
    def setxattr(self, path, attribute, value, flags=0, *, follow_symlinks=True):
        path, name = _path(path), _attr(attribute)
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'")
        k = self.kernel
        if isinstance(path, int):
            return k.fsetxattr(path, name, bytes(value), flags)
        return (k.setxattr if follow_symlinks else k.lsetxattr)(path, name, bytes(value), flags)

    def getxattr(self, path, attribute, *, follow_symlinks=True):
        path, name = _path(path), _attr(attribute)
        k = self.kernel
        if isinstance(path, int):
            return k.fgetxattr(path, name)
        return (k.getxattr if follow_symlinks else k.lgetxattr)(path, name)

    def listxattr(self, path=None, *, follow_symlinks=True):
        path = "." if path is None else _path(path)
        k = self.kernel
        if isinstance(path, int):
            return k.flistxattr(path)
        return (k.listxattr if follow_symlinks else k.llistxattr)(path)

    def removexattr(self, path, attribute, *, follow_symlinks=True):
        path, name = _path(path), _attr(attribute)
        k = self.kernel
        if isinstance(path, int):
            return k.fremovexattr(path, name)
        return (k.removexattr if follow_symlinks else k.lremovexattr)(path, name)

    # -- creating and removing
    def mkfifo(self, path, mode=0o666, *, dir_fd=None):
        self.kernel.mknod(self._with_dir_fd(path, self.mkfifo, dir_fd), S_IFIFO | (mode & 0o7777))

    def mknod(self, path, mode=0o600, device=0, *, dir_fd=None):
        self.kernel.mknod(self._with_dir_fd(path, self.mknod, dir_fd), mode, device)

    def mkdir(self, path, mode=0o777, *, dir_fd=None):
        self.kernel.mkdir(self._with_dir_fd(path, self.mkdir, dir_fd), mode)

    def makedirs(self, name, mode=0o777, exist_ok=False):
        name = _path(name)
        head, tail = self.path.split(name)
        if not tail:
            head, tail = self.path.split(head)
        if head and tail and not self.path.exists(head):
            try:
                self.makedirs(head, exist_ok=exist_ok)
            except FileExistsError:
                pass
            if tail == ".":
                return
        try:
            self.mkdir(name, mode)
        except OSError:
            if not exist_ok or not self.path.isdir(name):
                raise

    def rmdir(self, path, *, dir_fd=None):
        self.kernel.rmdir(self._with_dir_fd(path, self.rmdir, dir_fd))

    def unlink(self, path, *, dir_fd=None):
        self.kernel.unlink(self._with_dir_fd(path, self.unlink, dir_fd))

    def remove(self, path, dir_fd=None):
        self.kernel.unlink(self._with_dir_fd(path, self.remove, dir_fd))

    def rename(self, src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        self.kernel.rename(self._with_dir_fd(src, self.rename, src_dir_fd),
                           self._with_dir_fd(dst, self.rename, dst_dir_fd))

    def replace(self, src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        self.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def link(self, src, dst, *, src_dir_fd=None, dst_dir_fd=None, follow_symlinks=True):
        self.kernel._link(self._with_dir_fd(src, self.link, src_dir_fd),
                          self._with_dir_fd(dst, self.link, dst_dir_fd), follow_symlinks)

    def symlink(self, src, dst, target_is_directory=False, *, dir_fd=None):
        self.kernel.symlink(_path(src), self._with_dir_fd(dst, self.symlink, dir_fd))

    # -- attributes
    def chmod(self, path, mode, *, dir_fd=None, follow_symlinks=True):
        path = self._with_dir_fd(path, self.chmod, dir_fd)
        if isinstance(path, int):
            return self.fchmod(path, mode)
        if not follow_symlinks:
            raise NotImplementedError("chmod: follow_symlinks unavailable on this platform")
        self.kernel.chmod(path, mode)

    def fchmod(self, fd, mode):
        k = self.kernel
        f = k._file(fd)
        k._chmod(f.mount, f.inode, mode, fd)

    def chown(self, path, uid, gid, *, dir_fd=None, follow_symlinks=True):
        path = self._with_dir_fd(path, self.chown, dir_fd)
        if isinstance(path, int):
            return self.fchown(path, uid, gid)
        (self.kernel.chown if follow_symlinks else self.kernel.lchown)(path, uid, gid)

    def lchown(self, path, uid, gid):
        self.kernel.lchown(_path(path), uid, gid)

    def fchown(self, fd, uid, gid):
        k = self.kernel
        f = k._file(fd)
        k._chown_inode(f.mount, f.inode, uid, gid, fd)

    def stat(self, path, *, dir_fd=None, follow_symlinks=True):
        path = self._with_dir_fd(path, self.stat, dir_fd)
        k = self.kernel
        if isinstance(path, int):
            f = k._file(path)
            return k._stat(f.mount, f.inode)
        return k.stat(path) if follow_symlinks else k.lstat(path)

    def lstat(self, path, *, dir_fd=None):
        return self.kernel.lstat(self._with_dir_fd(path, self.lstat, dir_fd))

    def fstat(self, fd):
        k = self.kernel
        f = k._file(fd)
        return k._stat(f.mount, f.inode)

    def readlink(self, path, *, dir_fd=None):
        path = self._with_dir_fd(path, self.readlink, dir_fd)
        if isinstance(path, bytes):
            return os.fsencode(self.kernel.readlink(os.fsdecode(path)))
        return self.kernel.readlink(path)

    def listdir(self, path="."):
        path = _path(path)
        k = self.kernel
        if isinstance(path, int):
            f = k._file(path)
            return sorted(f.inode.children or ())
        return k.listdir(path)

    def umask(self, mask):
        return self.kernel.umask(mask)

    def chdir(self, path):
        self.kernel.chdir(_path(path))

    # -- files
    def open(self, path, flags, mode=0o777, *, dir_fd=None):
        return self.kernel.open(self._with_dir_fd(path, self.open, dir_fd), flags, mode)

    def close(self, fd):
        self.kernel.close(fd)

    def write(self, fd, data):
        k = self.kernel
        known = k._fds.get(fd) if isinstance(fd, int) else None
        if known is not None and (known.flags & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR)
                                  or known.flags & _O_PATH):
            _fail(vfs.BAD_FD, fd)
        return super().write(fd, data)


_MODE_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
               "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def _open_flags(mode: str):
    """open()'s mode string -> (os.open flags, the mode to wrap the fd with), or None."""
    if not isinstance(mode, str) or len(set(mode)) != len(mode) or set(mode) - set("rwxabt+"):
        return None
    kinds = [c for c in mode if c in "rwxa"]
    if len(kinds) != 1 or ("b" in mode and "t" in mode):
        return None
    flags = _MODE_FLAGS[kinds[0]]
    if "+" in mode:
        flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
    return flags, mode.replace("x", "w")


def _kernel_open(original):
    """Wrap pyfakefs' ``fake_open`` (behind builtin open, io.open and pathlib's
    open/read_*/write_*): on a filesystem with a fake_linux() kernel, a path is
    opened through the kernel (os.open semantics: creation, truncation,
    permissions, read-only mounts, immutable and append-only inodes) and the
    descriptor is wrapped as pyfakefs does.  Other filesystems are untouched."""
    from pyfakefs.helpers import is_called_from_skipped_module

    def fake_open(filesystem, skip_names, file, mode="r", buffering=-1, encoding=None,
                  errors=None, newline=None, closefd=True, opener=None,
                  is_fake_open_code=False):
        ref = filesystem.__dict__.get("_fsmodel_kernel")
        kernel = ref() if ref is not None else None
        parsed = _open_flags(mode)
        if (kernel is None or opener is not None or is_fake_open_code or parsed is None
                or isinstance(file, int)
                or is_called_from_skipped_module(skip_names=skip_names,
                                                 case_sensitive=filesystem.is_case_sensitive)):
            return original(filesystem, skip_names, file, mode, buffering, encoding, errors,
                            newline, closefd, opener, is_fake_open_code)
        flags, fd_mode = parsed
        fd = kernel.open(_path(file), flags, 0o666)
        try:
            wrapped = original(filesystem, skip_names, fd, fd_mode, buffering, encoding, errors,
                               newline, True)
        except BaseException:
            kernel.close(fd)
            raise
        kernel._detach(fd)
        wrapped.name = file
        return wrapped

    fake_open.__wrapped__ = original
    return fake_open


@contextlib.contextmanager
def _open_through_kernel():
    """Install the fake_open wrapper in pyfakefs' io and pathlib fakes while inside."""
    from pyfakefs import fake_io, fake_pathlib

    modules = [m for m in (fake_io, fake_pathlib) if hasattr(m, "fake_open")]
    saved = [m.fake_open for m in modules]
    for m in modules:
        if not hasattr(m.fake_open, "__wrapped__"):
            m.fake_open = _kernel_open(m.fake_open)
    try:
        yield
    finally:
        for m, original in zip(modules, saved):
            m.fake_open = original


# -------------------------------------------------------------- the handle

class FakeLinux:
    """What :func:`fake_linux` yields: the caller, mounts, inode flags, the kernel.

    ``fs`` is pyfakefs' ``FakeFilesystem`` (for ``create_file`` and friends);
    ``kernel`` the :class:`FakeKernel` answering the calls, which also offers
    the syscall-shaped interface of :class:`~fsmodel.SimKernel` (the sizes of
    getxattr/listxattr buffers included).
    """

    def __init__(self, kernel: FakeKernel, fs):
        self.kernel_model = kernel
        self.fs = fs

    @property
    def kernel(self) -> str:
        """The modelled kernel version, e.g. "6.18"."""
        return self.kernel_model.kernel

    @property
    def caller(self):
        return self.kernel_model.caller

    def become(self, uid: int, gid: int | None = None, groups=(), caps=None):
        """A context manager: the calls inside run as that caller (see SimKernel.become)."""
        return self.kernel_model.become(uid, gid, groups, caps)

    def mount(self, path: str, fs: str = "tmpfs", readonly: bool = False, **options) -> None:
        """Make the (empty) directory ``path`` a mount of a filesystem of profile ``fs``."""
        self.kernel_model.mount(path, fs, readonly, **options)

    def remount(self, path: str, readonly: bool) -> None:
        self.kernel_model.remount(path, readonly)

    def set_flags(self, path: str, immutable: bool = False, append: bool = False) -> None:
        self.kernel_model.set_flags(path, immutable=immutable, append=append)


@contextlib.contextmanager
def fake_linux(fs: str = "ext4", kernel: str = DEFAULT_KERNEL, uid: int = 0, gid: int = 0,
               groups=(), caps=None, **fs_options):
    """pyfakefs with Linux's xattr rules: ``os`` behaves as on ``fs`` under ``kernel``.

    Starts pyfakefs, or joins the one already running (then its existing tree
    is kept).  The calls inside run as ``uid``/``gid``/``groups``/``caps``
    (``caps=None``: every capability for uid 0, none otherwise).  Yields a
    :class:`FakeLinux` handle.
    """
    if _ffu is None:
        raise RuntimeError("fake_linux() needs pyfakefs: pip install 'pyfakefs>=6.3,<6.4'")
    running = _ffu.Patcher.PATCHER is not None and _ffu.Patcher.REF_COUNT > 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(_open_through_kernel())
        if running:
            patcher = _ffu.Patcher.PATCHER
            stack.enter_context(_joined(patcher))
        else:
            patcher = stack.enter_context(_ffu.Patcher(modules_to_patch=_MODULES))
        pfs = patcher.fs
        model = FakeKernel(pfs, fs, kernel, fresh=not running, **fs_options)
        if not running:
            _linux_tmp(pfs)
        stack.callback(pfs.__dict__.pop, "_fsmodel_kernel", None)
        stack.enter_context(model.become(uid, gid, groups, caps))
        yield FakeLinux(model, pfs)


def _linux_tmp(pfs) -> None:
    """pyfakefs makes the temporary directory; on Linux it is a sticky, world-writable /tmp."""
    import tempfile

    path = tempfile.tempdir or "/tmp"
    if not pfs.isdir(path):
        return
    tmp = pfs.resolve(path)
    inode = _inode_of(tmp)
    inode.mode = S_IFDIR | 0o1777
    inode.uid = inode.gid = 0


#: The fake modules fake_linux() installs in pyfakefs' Patcher.
_MODULES = {"os": FakeLinuxOs}


@contextlib.contextmanager
def _joined(patcher):
    """Swap a running Patcher's fake os and io for fsmodel's, and back on exit."""
    swapped = {name: patcher.fake_modules[name].__class__ for name in _MODULES
               if name in patcher.fake_modules}
    saved_classes = dict(patcher._fake_module_classes)
    saved_functions = patcher._fake_module_functions
    for name in swapped:
        patcher.fake_modules[name].__class__ = _MODULES[name]
        patcher._fake_module_classes[name] = _MODULES[name]
    patcher._fake_module_functions = {}
    patcher._init_fake_module_functions()
    patcher.patch_functions()
    try:
        yield
    finally:
        for name, cls in swapped.items():
            patcher.fake_modules[name].__class__ = cls
        patcher._fake_module_classes.clear()
        patcher._fake_module_classes.update(saved_classes)
        patcher._fake_module_functions = saved_functions
        patcher.patch_functions()


def _wrap_for_skipped_modules(cls):
    """Calls from modules pyfakefs skips go to the real os, as for pyfakefs' own methods."""
    from pyfakefs.fake_os import handle_original_call

    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and callable(value) and not isinstance(value, staticmethod) \
                and not isinstance(value, property):
            setattr(cls, name, handle_original_call(value))


if _ffu is not None:
    _wrap_for_skipped_modules(FakeLinuxOs)
