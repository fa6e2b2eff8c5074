"""The real filesystem as an applier target: every call relative to a directory fd.

:class:`DirTarget` offers the interface of
:class:`~fsmodel.layer.apply.KernelTarget` over a directory of the host.  The
applier hands it paths it has already resolved inside the root, component by
component; the target never resolves a path string itself.  Each parent
directory is opened once, one component at a time with ``O_NOFOLLOW``
(relative to the root's fd, or to its own parent's fd), and every operation on
an entry is an ``*at`` call on that parent fd with the last component
unfollowed: ``mkdirat``, ``openat(O_CREAT|O_EXCL|O_NOFOLLOW)``, ``symlinkat``,
``linkat`` without ``AT_SYMLINK_FOLLOW``, ``mknodat``, ``fchownat(AT_SYMLINK_NOFOLLOW)``,
``fstatat(AT_SYMLINK_NOFOLLOW)``, ``readlinkat``, ``unlinkat``.  Extended
attributes are set with ``lsetxattr`` on ``/proc/self/fd/PARENT/NAME``: the
magic link pins the parent, the name is one component and is not followed.
So a symlink planted in the tree, by this layer or a lower one, can never lead
a call outside the root.  Paths of PATH_MAX bytes or more fail with
ENAMETOOLONG, as they do for the path-based runtimes this imitates.

It also records what it created, so a failed extraction can be undone
(:meth:`undo`), like containerd dropping the snapshot it unpacked into.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["DirTarget"]

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_FDS = 256
_PATH_MAX = 4096


class DirTarget:
    """The directory ``root`` of the host, seen as the applier's root."""

    def __init__(self, root: str | os.PathLike, *, chown: bool = True):
        #: False: owners are not applied (an unprivileged user, like tar --no-same-owner)
        self.chown = chown
        self.root = os.path.abspath(os.fspath(root)).rstrip("/") or "/"
        self._rootfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # directory fds by components, with the byte length of their path
        self._last: tuple = (None, None)   # the last components resolved, and their (fd, name)
        self._fds: dict[tuple, tuple[int, int]] = {
            (): (self._rootfd, len(os.fsencode(self.root)))}
        #: components of what this target created (tops of created subtrees), in order
        self.created: list[tuple] = []
        self._made: set[tuple] = set()   # directories it created
        #: pre-existing entries this target replaced or removed
        self.destroyed = 0

    # -- lifecycle (close() without a handle closes the target)
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- paths
    def path(self, parts) -> str:
        """The host path of ``parts`` (what messages show)."""
        rel = "/".join(parts)
        if self.root == "/":
            return "/" + rel
        return self.root + ("/" + rel if rel else "")

    display = path

    def _at(self, parts) -> tuple[int, str]:
        """(fd of the parent directory, last component) of ``parts``; ``(root fd, "")``
        for the root itself."""
        if not parts:
            return self._rootfd, ""
        last = self._last
        if last[0] is parts:          # an entry's calls all name the same tuple
            return last[1]
        name = parts[-1]
        fd, length = self._dirfd(parts[:-1])
        if length + 1 + 4 * len(name) >= _PATH_MAX and \
                length + 1 + len(os.fsencode(name)) >= _PATH_MAX:
            self._too_long(parts)
        self._last = (parts, (fd, name))
        return fd, name

    def _too_long(self, parts):
        # fd-relative calls would manage, but the runtimes it imitates use paths
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), self.path(parts))

    def _dirfd(self, parts: tuple) -> tuple[int, int]:
        got = self._fds.get(parts)
        if got is not None:
            return got
        if len(parts) > _PATH_MAX // 2:
            self._too_long(parts)
        parent, length = self._dirfd(parts[:-1])
        length += 1 + len(os.fsencode(parts[-1]))
        if length >= _PATH_MAX:
            self._too_long(parts)
        got = (os.open(parts[-1], _DIR_FLAGS, dir_fd=parent), length)
        if len(self._fds) >= _MAX_FDS:
            self._evict()
        self._fds[parts] = got
        return got

    def _evict(self) -> None:
        self._last = (None, None)
        for key in list(self._fds)[1:_MAX_FDS // 2]:
            os.close(self._fds.pop(key)[0])

    def _forget(self, parts: tuple) -> None:
        """Close the cached fds of ``parts`` and everything below it."""
        self._last = (None, None)
        n = len(parts)
        for key in [k for k in self._fds if k[:n] == parts and k]:
            os.close(self._fds.pop(key)[0])

    def _record(self, parts: tuple) -> None:
        """Remember a created inode for :meth:`undo`: only the tops of created subtrees
        (removing a directory this target made removes what it made inside)."""
        if parts[:-1] not in self._made:
            self.created.append(parts)

    @staticmethod
    def _proc(fd: int, name: str) -> str:
        return f"/proc/self/fd/{fd}/{name}" if name else f"/proc/self/fd/{fd}"

    # -- reads
    def lstat(self, parts):
        fd, name = self._at(parts)
        try:
            if not name:
                return os.stat(fd)
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def readlink(self, parts) -> str:
        fd, name = self._at(parts)
        return os.readlink(name, dir_fd=fd)

    def listdir(self, parts) -> list[str]:
        fd, name = self._at(parts)
        if not name:
            return os.listdir(fd)
        dfd = os.open(name, _READ_DIR, dir_fd=fd)
        try:
            return os.listdir(dfd)
        finally:
            os.close(dfd)

    # -- writes
    def remove_tree(self, parts) -> None:
        fd, name = self._at(parts)
        if not name:
            raise IsADirectoryError(errno.EISDIR, "refusing to remove the root", self.root)
        self._forget(parts)
        _remove(fd, name)
        self._made.discard(parts)
        self.destroyed += 1

    def mkdir(self, parts, mode: int) -> None:
        fd, name = self._at(parts)
        os.mkdir(name, mode, dir_fd=fd)
        self._record(parts)
        self._made.add(parts)

    def create(self, parts) -> int:
        fd, name = self._at(parts)
        handle = os.open(name, _CREATE, 0o600, dir_fd=fd)
        self._record(parts)
        return handle

    def write(self, handle: int, data) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view):]

    def close(self, handle: int | None = None) -> None:
        """Close a file :meth:`create` returned, or (no handle) the target itself."""
        if handle is None:
            self._last = (None, None)
            for fd, _ in self._fds.values():
                os.close(fd)
            self._fds = {}
            return
        os.close(handle)

    def symlink(self, target: str, parts) -> None:
        fd, name = self._at(parts)
        os.symlink(target, name, dir_fd=fd)
        self._record(parts)

    def link(self, source, parts) -> None:
        sfd, sname = self._at(source)
        dfd, dname = self._at(parts)
        if not sname:
            raise IsADirectoryError(errno.EISDIR, "cannot link the root", self.root)
        os.link(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
        self._record(parts)

    def mknod(self, parts, mode: int, device: int) -> None:
        fd, name = self._at(parts)
        os.mknod(name, mode, device, dir_fd=fd)
        self._record(parts)

    def lchown(self, parts, uid: int, gid: int) -> None:
        if not self.chown:
            return
        fd, name = self._at(parts)
        if not name:
            os.chown(fd, uid, gid)
        else:
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    def chmod(self, parts, mode: int) -> None:
        # The applier never changes the mode of a symlink; the last component
        # is an inode it created (or a directory it kept), so following is moot.
        fd, name = self._at(parts)
        if not name:
            os.chmod(fd, mode)
        else:
            os.chmod(name, mode, dir_fd=fd)

    def lsetxattr(self, parts, name: str, value: bytes) -> None:
        fd, last = self._at(parts)
        if not last:
            os.setxattr(fd, name, value)
        else:
            os.setxattr(self._proc(fd, last), name, value, follow_symlinks=False)

    # -- failure cleanup
    def undo(self) -> int:
        """Remove what this target created (newest first); return how many were removed.

        What it replaced or whited out of a pre-existing tree cannot come back;
        ``destroyed`` counts those.
        """
        removed = 0
        for parts in reversed(self.created):
            try:
                fd, name = self._at(parts)
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue  # gone with a directory removed before it
            self._forget(parts)
            _remove(fd, name, st)
            removed += 1
        self.created = []
        self._made = set()
        return removed



def _remove(parent: int, name: str, st=None) -> None:
    """Remove ``name`` (in the directory ``parent``) and everything below it.

    Every call is relative to an fd of the directory being emptied, the last
    component never followed; one fd per level is open at a time, so depth
    costs no stack and few fds.  A first pass refuses (EBUSY) a tree with a
    mount point below, before anything is removed: the extraction never
    empties another filesystem.
    """
    if st is None:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    _walk(parent, name, st.st_dev, delete=False)
    _walk(parent, name, st.st_dev, delete=True)
    os.rmdir(name, dir_fd=parent)


def _walk(parent: int, name: str, dev: int, delete: bool) -> None:
    top = os.open(name, _READ_DIR, dir_fd=parent)
    stack = [(top, iter(os.listdir(top)), None)]
    try:
        while stack:
            fd, names, dirname = stack[-1]
            for child in names:
                cst = os.stat(child, dir_fd=fd, follow_symlinks=False)
                if cst.st_dev != dev:
                    raise OSError(errno.EBUSY, "a mount point below would be crossed", child)
                if stat.S_ISDIR(cst.st_mode):
                    cfd = os.open(child, _READ_DIR, dir_fd=fd)
                    stack.append((cfd, iter(os.listdir(cfd)), child))
                    break
                if delete:
                    os.unlink(child, dir_fd=fd)
            else:
                stack.pop()
                os.close(fd)
                if delete and stack:
                    os.rmdir(dirname, dir_fd=stack[-1][0])
    finally:
        for fd, _, _ in stack:
            os.close(fd)
