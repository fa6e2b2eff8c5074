"""The real Linux kernel behind the simulated kernel's interface.

``HostKernel(root)`` offers the methods of ``SimKernel`` with the same names, arguments
and results, but every call is a real system call made inside the directory *root*, so
one call sequence can run on both and be compared errno by errno.

Theory of operation.  ``HostKernel`` forks one helper process per instance.  The helper
``chroot``s into *root* and ``chdir``s to ``/``, so absolute paths and absolute symlink
targets resolve inside *root* exactly as in the simulation; it sets its umask to 0
("umask is 0 until set").  The parent sends each call over a socketpair as a
length-prefixed pickle; the helper performs it and answers with the result or the bare
errno, which the parent turns into ``OSError(errno, os.strerror(errno), path)`` with the
caller's own path (or fd) as the filename.  The twelve xattr calls go through libc with
ctypes, with buffers of exactly the requested size, so the size-0 protocol, ERANGE and
E2BIG come from the kernel and not from Python's retrying ``os.getxattr``.

Credentials.  The helper keeps every capability it started with in its permitted set
for its whole life.  At start it sets ``SECBIT_NO_SETUID_FIXUP`` so that uid changes do
not clear capabilities; ``become()`` then raises the effective set to the full permitted
set, calls setgroups, setresgid and setresuid (the fsuid follows the euid) and finally
``capset``s the effective set to exactly what the caller should have.  Capability checks
(``capable()``) look only at the effective set, so the retained permitted set changes
no outcome; it is what lets the helper switch back.

Mounts.  ``mount()`` and ``remount()`` are done by the parent (root) with mount(8) on the
real directory under *root*; the chrooted helper sees them because both share a mount
namespace.  ``close()`` — also run by a finalizer and at interpreter exit — kills the
helper, unmounts what this instance mounted (newest first, lazily if busy), detaches its
loop devices, deletes their images and clears immutable/append flags under *root*
so that whoever created *root* can delete it.

Needs root with CAP_SYS_ADMIN (see ``fsmodel._privilege``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import os
import pickle
import re
import resource
import signal
import socket
import struct
import threading
import traceback
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from fsmodel import _mounts
from fsmodel._privilege import privilege_problem
from fsmodel._rules.constants import CAP_NAMES, FS_APPEND_FL, FS_IMMUTABLE_FL
from fsmodel._rules.creds import Cred

__all__ = ["HostKernel"]

# include/uapi/linux/fs.h: _IOR('f', 1, long) and _IOW('f', 2, long); the kernel
# reads and writes an int through them.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602

_PR_SET_SECUREBITS = 28
_SECBIT_NO_SETUID_FIXUP = 1 << 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_STATX_BASIC_STATS = 0x7FF
_STATX_ATTR_IMMUTABLE = 0x10
_STATX_ATTR_APPEND = 0x20
_AT_SYMLINK_NOFOLLOW = 0x100

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LENGTH = struct.Struct("!Q")
_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")  # mountinfo writes " " as \040


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _libc() -> ctypes.CDLL:
    """libc with the prototypes this module calls (loaded before any chroot)."""
    libc = ctypes.CDLL(None, use_errno=True)
    c_char_p, c_void_p, c_int, c_size_t, c_ssize_t = (
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_size_t,
        ctypes.c_ssize_t,
    )
    for prefix, target in (("", c_char_p), ("l", c_char_p), ("f", c_int)):
        fn = getattr(libc, prefix + "setxattr")
        fn.argtypes, fn.restype = [target, c_char_p, c_void_p, c_size_t, c_int], c_int
        fn = getattr(libc, prefix + "getxattr")
        fn.argtypes, fn.restype = [target, c_char_p, c_void_p, c_size_t], c_ssize_t
        fn = getattr(libc, prefix + "listxattr")
        fn.argtypes, fn.restype = [target, c_void_p, c_size_t], c_ssize_t
        fn = getattr(libc, prefix + "removexattr")
        fn.argtypes, fn.restype = [target, c_char_p], c_int
    cap_args = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
    libc.capget.argtypes = libc.capset.argtypes = cap_args
    libc.statx.argtypes = [c_int, c_char_p, c_int, ctypes.c_uint, c_void_p]
    libc.prctl.argtypes = [c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def _check(result: int) -> int:
    """Raise the libc call's errno as OSError if it failed."""
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _capget(libc: ctypes.CDLL) -> tuple[int, int]:
    """(effective, permitted) capability masks of this process."""
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capget(header, data))
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
    )


def _capset(libc: ctypes.CDLL, effective: int, permitted: int) -> None:
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    for word in (0, 1):
        data[word].effective = effective >> 32 * word & 0xFFFFFFFF
        data[word].permitted = permitted >> 32 * word & 0xFFFFFFFF
    _check(libc.capset(header, data))


def _get_flags(fd: int) -> int:
    buf = bytearray(8)
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
    return struct.unpack_from("I", buf)[0]


def _set_flags(fd: int, flags: int) -> None:
    fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("Ixxxx", flags), False)


def _change_flags(path: str, immutable: bool, append: bool, extra: int = 0) -> None:
    """Set exactly the immutable/append inode flags of *path*, keeping the others."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | extra)
    try:
        flags = _get_flags(fd) & ~(FS_IMMUTABLE_FL | FS_APPEND_FL)
        flags |= (FS_IMMUTABLE_FL if immutable else 0) | (FS_APPEND_FL if append else 0)
        _set_flags(fd, flags)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- helper side


class _Helper:
    """The chrooted process that makes the calls; lives only in the forked child."""

    def __init__(self, channel: socket.socket, libc: ctypes.CDLL, permitted: int) -> None:
        self.channel = channel
        self.libc = libc
        self.permitted = permitted
        self.caller = (0, 0, (), permitted)

    def serve(self) -> None:
        """Answer requests until the parent closes its end."""
        while (request := _receive(self.channel)) is not None:
            op, args = request
            try:
                reply = ("ok", getattr(self, "op_" + op)(*args))
            except OSError as exc:
                reply = ("errno", exc.errno)
            except Exception as exc:  # a bug or a bad argument: hand it to the caller
                reply = ("raise", exc)
            try:
                _send(self.channel, reply)
            except Exception as exc:  # e.g. an unpicklable exception
                _send(self.channel, ("raise", RuntimeError(f"HostKernel helper: {exc!r}")))

    def fd(self, fd: int) -> int:
        """The channel is not one of the caller's fds."""
        if fd == self.channel.fileno():
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return fd

    def op_become(self, uid: int, gid: int, groups: tuple[int, ...], caps: int) -> None:
        previous = self.caller
        try:
            self.switch(uid, gid, groups, caps)
        except BaseException:
            self.switch(*previous)
            raise

    def switch(self, uid: int, gid: int, groups: tuple[int, ...], caps: int) -> None:
        _capset(self.libc, self.permitted, self.permitted)
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        _capset(self.libc, caps, self.permitted)
        self.caller = (uid, gid, groups, caps)

    def op_realpath(self, path: str) -> str:
        """Resolve *path* inside the root with every privilege (for mount targets)."""
        previous = self.caller
        self.switch(0, 0, (), self.permitted)
        try:
            return os.path.realpath(path, strict=True)
        finally:
            self.switch(*previous)

    def op_mkdir(self, path, mode):
        os.mkdir(path, mode)

    def op_mknod(self, path, mode, device):
        os.mknod(path, mode, device)

    def op_symlink(self, target, path):
        os.symlink(target, path)

    def op_link(self, src, dst):
        os.link(src, dst, follow_symlinks=False)  # link(2) does not follow a final symlink

    def op_unlink(self, path):
        os.unlink(path)

    def op_rmdir(self, path):
        os.rmdir(path)

    def op_rename(self, old, new):
        os.rename(old, new)

    def op_chmod(self, path, mode):
        os.chmod(path, mode)

    def op_chown(self, path, uid, gid):
        os.chown(path, uid, gid)

    def op_lchown(self, path, uid, gid):
        os.lchown(path, uid, gid)

    def op_stat(self, path):
        return os.stat(path)

    def op_lstat(self, path):
        return os.lstat(path)

    def op_open(self, path, flags, mode):
        return os.open(path, flags, mode)

    def op_close(self, fd):
        os.close(self.fd(fd))

    def op_umask(self, mask):
        return os.umask(mask)

    def op_chdir(self, path):
        os.chdir(path)

    def op_readlink(self, path):
        return os.readlink(path)

    def op_listdir(self, path):
        return sorted(os.listdir(path))

    def op_write(self, fd, data):
        return os.write(self.fd(fd), data)

    def op_set_flags(self, path, immutable, append):
        _change_flags(path, immutable, append)

    def op_setxattr(self, prefix, target, name, value, flags):
        target = self.fd(target) if prefix == "f" else target
        ctypes.set_errno(0)
        _check(getattr(self.libc, prefix + "setxattr")(target, name, value, len(value), flags))

    def op_getxattr(self, prefix, target, name, size):
        target = self.fd(target) if prefix == "f" else target
        buf = ctypes.create_string_buffer(size) if size else None
        ctypes.set_errno(0)
        length = _check(getattr(self.libc, prefix + "getxattr")(target, name, buf, size))
        return buf.raw[:length] if size else length

    def op_listxattr(self, prefix, target, size):
        target = self.fd(target) if prefix == "f" else target
        buf = ctypes.create_string_buffer(size) if size else None
        ctypes.set_errno(0)
        length = _check(getattr(self.libc, prefix + "listxattr")(target, buf, size))
        if not size:
            return length
        return [os.fsdecode(name) for name in buf.raw[:length].split(b"\0")[:-1]]

    def op_removexattr(self, prefix, target, name):
        target = self.fd(target) if prefix == "f" else target
        ctypes.set_errno(0)
        _check(getattr(self.libc, prefix + "removexattr")(target, name))


def _helper_main(channel: socket.socket, root: str) -> None:
    """Body of the forked child: isolate, chroot, report, serve."""
    gc.disable()  # never finalize objects inherited from the parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    high = (soft if 0 < soft <= 65536 else 65536) - 1  # out of the way of the caller's fds
    os.dup2(channel.fileno(), high, inheritable=False)
    channel.close()
    os.closerange(3, high)  # the caller's fds start at 3, as in a fresh process
    channel = socket.socket(fileno=high)
    try:
        libc = _libc()
        _check(libc.prctl(_PR_SET_SECUREBITS, _SECBIT_NO_SETUID_FIXUP, 0, 0, 0))
        permitted = _capget(libc)[1]
        os.chroot(root)
        os.chdir("/")
        os.umask(0)
        helper = _Helper(channel, libc, permitted)
        helper.switch(0, 0, (), permitted)
    except Exception as exc:
        _send(channel, ("raise", exc))
        return
    _send(channel, ("ok", permitted))
    helper.serve()


def _pack(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _send(channel: socket.socket, message: object) -> None:
    channel.sendall(_pack(message))


def _receive_exactly(channel: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = channel.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _receive(channel: socket.socket) -> object | None:
    """The next message, or None when the other end has gone."""
    header = _receive_exactly(channel, _LENGTH.size)
    if header is None:
        return None
    data = _receive_exactly(channel, _LENGTH.unpack(header)[0])
    return None if data is None else pickle.loads(data)


# --------------------------------------------------------------------------- parent side


@dataclass
class _State:
    """What teardown needs; kept apart from HostKernel so a finalizer can hold it."""

    root: str
    owner: int = field(default_factory=os.getpid)
    pid: int | None = None
    channel: socket.socket | None = None
    mounts: list[_mounts.Mount] = field(default_factory=list)
    flags_used: bool = False  # set_flags() was called: the root may hold undeletable inodes


def _teardown(state: _State) -> None:
    """Stop the helper, undo the mounts, clear immutable/append flags under the root."""
    if os.getpid() != state.owner:  # a forked child must not undo its parent's mounts
        return
    problems: list[str] = []
    if state.channel is not None:
        state.channel.close()
        state.channel = None
    if state.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(state.pid, 0)
        state.pid = None
    while state.mounts:
        try:
            state.mounts.pop().unmount()
        except _mounts.MountError as exc:
            problems.append(str(exc))
    if state.flags_used:
        problems += _clear_flags_under(state.root)
        state.flags_used = False
    if problems:
        raise _mounts.MountError("HostKernel teardown: " + "; ".join(problems))


def _clear_flags_under(root: str) -> list[str]:
    """Clear immutable/append on every inode under *root* that has one; the failures."""
    libc = _libc()
    buf = ctypes.create_string_buffer(256)  # struct statx
    problems = []

    def clear(path: str) -> None:
        ctypes.set_errno(0)
        if libc.statx(-100, os.fsencode(path), _AT_SYMLINK_NOFOLLOW, _STATX_BASIC_STATS, buf) < 0:
            return
        attributes = struct.unpack_from("Q", buf, 8)[0]
        if attributes & (_STATX_ATTR_IMMUTABLE | _STATX_ATTR_APPEND):
            try:
                _change_flags(path, False, False, os.O_NOFOLLOW | os.O_NOCTTY)
            except OSError as exc:
                problems.append(f"cannot clear inode flags of {path}: {exc}")

    clear(root)
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            clear(os.path.join(directory, name))
    return problems


def _filesystem_of(path: str) -> str:
    """The type of the filesystem *path* is on, from /proc/self/mountinfo."""
    best, fstype = "", ""
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split()
            point = os.fsdecode(_OCTAL_ESCAPE.sub(lambda m: bytes([int(m[1], 8)]), fields[4]))
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):  # later mounts on the same point are on top
                best, fstype = point, os.fsdecode(fields[fields.index(b"-") + 1])
    return fstype


def _c_string(value: object, what: str) -> bytes:
    """*value* encoded as os does it, refusing NUL as os does."""
    data = os.fsencode(value)
    if b"\0" in data:
        raise ValueError(f"embedded null byte in {what}")
    return data


def _c_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}={value!r}, but {what} must be an int")
    if not _INT_MIN <= value <= _INT_MAX:
        raise OverflowError(f"{what}={value!r} does not fit in a C int")
    return value


def _buffer_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size={size!r}, but size must be an int")
    if size < 0:
        raise ValueError(f"size={size!r}, but size must be >= 0 (0 asks for the length)")
    return size


class _Become:
    """The context manager ``HostKernel.become()`` returns; reusable and nestable."""

    def __init__(self, kernel: HostKernel, caller: tuple[int, int, tuple[int, ...], int]) -> None:
        self._kernel = kernel
        self._caller = caller
        self._saved: list[tuple[int, int, tuple[int, ...], int]] = []

    def __enter__(self) -> HostKernel:
        self._saved.append(self._kernel._caller)
        try:
            self._kernel._switch(self._caller)
        except BaseException:
            self._saved.pop()
            raise
        return self._kernel

    def __exit__(self, *exc_info: object) -> None:
        previous = self._saved.pop()
        if self._kernel._state.channel is not None:  # else closed inside the block
            self._kernel._switch(previous)


class HostKernel:
    """The real kernel, confined to the directory *root*, behind SimKernel's interface.

    Every call runs in a helper process chrooted to *root* (absolute paths start at
    *root*), with umask 0 and the caller set by ``become()`` (initially uid 0, gid 0, no
    supplementary groups, every capability this process holds).  Failures raise
    ``OSError(errno, os.strerror(errno), path)`` with the kernel's errno.  Use it as a
    context manager or call ``close()``: that stops the helper and undoes ``mount()``.

    Attributes: ``root`` (the real path of the root), ``fs`` (its filesystem type),
    ``kernel`` (the running kernel's release).
    """

    def __init__(self, root: str) -> None:
        problem = privilege_problem()
        if problem is not None:
            raise PermissionError(f"HostKernel {problem}")
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), root)
        self.fs = _filesystem_of(self.root)
        self.kernel = os.uname().release
        self._lock = threading.Lock()
        self._state = _State(self.root)
        self._finalizer = weakref.finalize(self, _teardown, self._state)
        self._permitted = self._start()
        self._caller = (0, 0, (), self._permitted)

    def __repr__(self) -> str:
        status = "closed" if not self._finalizer.alive else f"fs={self.fs!r}"
        return f"<HostKernel root={self.root!r} {status} kernel={self.kernel!r}>"

    def __enter__(self) -> HostKernel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing

    def _start(self) -> int:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the helper: never returns into the caller's code
            status = 1
            try:
                ours.close()
                _helper_main(theirs, self.root)
                status = 0
            except BaseException:
                with contextlib.suppress(BaseException):
                    traceback.print_exc()
            finally:
                os._exit(status)
        theirs.close()
        self._state.pid, self._state.channel = pid, ours
        reply = _receive(ours)
        if reply is None or reply[0] != "ok":
            self._finalizer()
            if reply is None:
                raise RuntimeError("the HostKernel helper exited during start-up")
            raise reply[1]
        return reply[1]

    def _call(self, op: str, filenames: tuple, *args: object) -> object:
        request = _pack((op, args))  # an unpicklable argument fails here, harmlessly
        with self._lock:
            channel = self._state.channel
            if channel is None:
                raise ValueError("operation on a closed (or broken) HostKernel")
            try:
                channel.sendall(request)
                reply = _receive(channel)
            except BaseException as exc:
                # Interrupted or cut off mid-exchange: the channel is out of step for good.
                self._state.channel = None
                channel.close()
                if isinstance(exc, OSError):
                    raise RuntimeError("lost contact with the HostKernel helper") from exc
                raise
            if reply is None:
                self._state.channel = None
                channel.close()
                raise RuntimeError("the HostKernel helper process exited unexpectedly")
        kind, value = reply
        if kind == "ok":
            return value
        if kind == "errno":
            if len(filenames) == 2:
                raise OSError(value, os.strerror(value), filenames[0], None, filenames[1])
            raise OSError(value, os.strerror(value), *filenames)
        raise value

    def _switch(self, caller: tuple[int, int, tuple[int, ...], int]) -> None:
        self._call("become", (), *caller)
        self._caller = caller

    def _host_path(self, path: str, *, allow_root: bool) -> str:
        """The real path of the directory *path* names inside the root."""
        inside = self._call("realpath", (path,), path)
        if inside == "/" and not allow_root:
            raise ValueError(f"path={path!r} is the root itself; mount on a directory inside it")
        return os.path.join(self.root, inside.lstrip("/"))

    # -- lifetime

    def close(self, fd: int | None = None) -> None:
        """``close(fd)`` closes a file descriptor; ``close()`` shuts this instance down.

        Shutting down stops the helper, unmounts every filesystem ``mount()`` made
        (newest first, lazily if busy), detaches their loop devices, deletes their images
        and clears immutable/append flags under the root.  Idempotent.
        """
        if fd is not None:
            self._call("close", (fd,), _c_int(fd, "fd"))
        elif self._finalizer.alive:
            with self._lock:
                self._finalizer()

    # -- credentials

    def become(
        self,
        uid: int,
        gid: int | None = None,
        groups: Iterable[int] = (),
        caps: Iterable[str] | None = None,
    ) -> _Become:
        """A context manager that makes the calls inside it as another caller.

        *gid* None means gid = uid.  *caps* None gives what the kernel gives that uid:
        every capability this process holds for uid 0, none otherwise; else an iterable of
        names like ``"CAP_SYS_ADMIN"``.  On exit the previous caller is restored (also on
        exceptions); nesting and re-entering work.  A capability this process itself does
        not hold (here e.g. CAP_SYS_RESOURCE may be withheld by the sandbox) cannot be
        granted: ValueError.
        """
        cred = Cred.make(uid, gid, groups, caps)
        if caps is None and cred.uid == 0:
            mask = self._permitted
        else:
            mask = cred.caps
            missing = mask & ~self._permitted
            if missing:
                names = ", ".join(CAP_NAMES[bit] for bit in sorted(CAP_NAMES) if missing >> bit & 1)
                raise ValueError(
                    f"caps={caps!r}, but this process does not hold {names}, "
                    "so HostKernel cannot grant it"
                )
        return _Become(self, (cred.uid, cred.gid, tuple(sorted(cred.groups)), mask))

    def umask(self, mask: int) -> int:
        """Set the umask; returns the previous one (0 at start)."""
        return self._call("umask", (), mask)

    def chdir(self, path: str) -> None:
        self._call("chdir", (path,), path)

    def readlink(self, path: str) -> str:
        return self._call("readlink", (path,), path)

    def listdir(self, path: str) -> list[str]:
        """The names in the directory ``path`` (sorted; '.' and '..' left out)."""
        return self._call("listdir", (path,), path)

    def write(self, fd: int, data: bytes) -> int:
        return self._call("write", (fd,), _c_int(fd, "fd"), bytes(data))

    # -- namespace

    def mkdir(self, path: str, mode: int) -> None:
        self._call("mkdir", (path,), path, mode)

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        """Create a node; the type (S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK) is in *mode*."""
        self._call("mknod", (path,), path, mode, device)

    def symlink(self, target: str, path: str) -> None:
        self._call("symlink", (target, path), target, path)

    def link(self, src: str, dst: str) -> None:
        """link(2): a final symlink in *src* is not followed."""
        self._call("link", (src, dst), src, dst)

    def unlink(self, path: str) -> None:
        self._call("unlink", (path,), path)

    def rmdir(self, path: str) -> None:
        self._call("rmdir", (path,), path)

    def rename(self, old: str, new: str) -> None:
        self._call("rename", (old, new), old, new)

    def chmod(self, path: str, mode: int) -> None:
        self._call("chmod", (path,), path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._call("chown", (path,), path, uid, gid)

    def lchown(self, path: str, uid: int, gid: int) -> None:
        self._call("lchown", (path,), path, uid, gid)

    def stat(self, path: str) -> os.stat_result:
        return self._call("stat", (path,), path)

    def lstat(self, path: str) -> os.stat_result:
        return self._call("lstat", (path,), path)

    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        """Open *path* in the helper; returns the helper's fd number."""
        return self._call("open", (path,), path, flags, mode)

    # -- extended attributes

    def setxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        self._setxattr("", path, path, name, value, flags)

    def lsetxattr(self, path: str, name: str, value: bytes, flags: int = 0) -> None:
        self._setxattr("l", path, path, name, value, flags)

    def fsetxattr(self, fd: int, name: str, value: bytes, flags: int = 0) -> None:
        self._setxattr("f", fd, _c_int(fd, "fd"), name, value, flags)

    def getxattr(self, path: str, name: str, size: int = 65536) -> bytes | int:
        """The value, or its length when *size* is 0; ERANGE if it does not fit in *size*."""
        return self._getxattr("", path, path, name, size)

    def lgetxattr(self, path: str, name: str, size: int = 65536) -> bytes | int:
        return self._getxattr("l", path, path, name, size)

    def fgetxattr(self, fd: int, name: str, size: int = 65536) -> bytes | int:
        return self._getxattr("f", fd, _c_int(fd, "fd"), name, size)

    def listxattr(self, path: str, size: int = 65536) -> list[str] | int:
        """The names in the kernel's order, or the bytes needed when *size* is 0."""
        return self._listxattr("", path, path, size)

    def llistxattr(self, path: str, size: int = 65536) -> list[str] | int:
        return self._listxattr("l", path, path, size)

    def flistxattr(self, fd: int, size: int = 65536) -> list[str] | int:
        return self._listxattr("f", fd, _c_int(fd, "fd"), size)

    def removexattr(self, path: str, name: str) -> None:
        self._removexattr("", path, path, name)

    def lremovexattr(self, path: str, name: str) -> None:
        self._removexattr("l", path, path, name)

    def fremovexattr(self, fd: int, name: str) -> None:
        self._removexattr("f", fd, _c_int(fd, "fd"), name)

    def _target(self, prefix: str, target: object) -> object:
        return target if prefix == "f" else _c_string(target, "path")

    def _setxattr(self, prefix, filename, target, name, value, flags) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"value must be bytes, not {type(value).__name__}")
        self._call(
            "setxattr",
            (filename,),
            prefix,
            self._target(prefix, target),
            _c_string(name, "name"),
            bytes(value),
            _c_int(flags, "flags"),
        )

    def _getxattr(self, prefix, filename, target, name, size):
        return self._call(
            "getxattr",
            (filename,),
            prefix,
            self._target(prefix, target),
            _c_string(name, "name"),
            _buffer_size(size),
        )

    def _listxattr(self, prefix, filename, target, size):
        return self._call(
            "listxattr", (filename,), prefix, self._target(prefix, target), _buffer_size(size)
        )

    def _removexattr(self, prefix, filename, target, name) -> None:
        target = self._target(prefix, target)
        self._call("removexattr", (filename,), prefix, target, _c_string(name, "name"))

    # -- mounts and inode flags

    def mount(self, path: str, fs: str, readonly: bool = False, **fs_options: object) -> None:
        """Mount a fresh filesystem of type *fs* on the directory *path* inside the root.

        *fs* is one of tmpfs, ramfs, ext4, xfs, btrfs; options as ``_mounts.mount_fresh``
        (tmpfs ``size``/``nr_inodes``; ext4 ``block_size``/``inode_size``/``ea_inode``;
        btrfs ``nodesize``).  The mount lasts until ``close()``.
        """
        _mounts.check_request(fs, fs_options)
        target = self._host_path(path, allow_root=False)
        self._state.mounts.append(_mounts.mount_fresh(fs, target, readonly, **fs_options))

    def remount(self, path: str, readonly: bool) -> None:
        """Make the mount on *path* (inside or at the root) read-only or read-write."""
        _mounts.remount(self._host_path(path, allow_root=True), readonly)

    def set_flags(self, path: str, immutable: bool = False, append: bool = False) -> None:
        """Set exactly these inode flags on *path* (others kept), as the current caller.

        Like chattr(1): opens *path* O_RDONLY|O_NONBLOCK (so a symlink is followed and
        read permission is needed), then FS_IOC_GETFLAGS / FS_IOC_SETFLAGS.
        """
        self._state.flags_used = True
        self._call("set_flags", (path,), path, bool(immutable), bool(append))
