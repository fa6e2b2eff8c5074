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

User namespaces.  ``become(..., userns=N)`` makes the calls in a second helper, in a user
namespace whose ids 0..N-1 map to the host ids ``USERNS_BASE ..`` (100000, like a rootless
runtime's /etc/subuid range).  A process can neither leave a user namespace nor create
one while chrooted, so the main helper forks it per block: the child keeps an O_PATH fd
of the chroot root, leaves the chroot through an fd of the real root that the main
helper opened before its own chroot, ``fchdir``s back to its cwd while still
privileged, ``unshare(CLONE_NEWUSER)``s, sets ``SECBIT_NO_SETUID_FIXUP`` again
(unshare resets the securebits; it gives the full capability set of the new
namespace) and reports.  The parent (root in the initial namespace) writes
``/proc/<pid>/uid_map`` and ``gid_map`` (``0 100000 N``; being privileged over the
parent namespace it needs no ``setgroups deny``); the child then ``chroot``s back
through ``/proc/self/fd/<root fd>`` (its cwd is not checked again, as the kernel never
checks a cwd when credentials change) and switches to the caller as above.  The parent
talks to it over a socketpair of its own, which the main helper hands over with
SCM_RIGHTS.  Being a fork, it starts with the caller's fds, cwd and umask; when the
block ends it hands its fds (those ``open()`` made, and 0-2), an O_PATH fd of a cwd a
``chdir()`` set and its umask back to the main helper over another socketpair, and the
main helper installs them under the same numbers: fds and cwd carry over both ways, as
in the simulation.  A block in a namespace of another size gets a new helper.
``mount()``/``remount()`` in a namespace are made with mount(2) by that helper (the
kernel refuses them).  Ids in calls and results are the namespace's view (stat shows
an unmapped id as 65534).

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
import time
import traceback
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from fsmodel import _mounts
from fsmodel._privilege import privilege_problem
from fsmodel._rules.constants import CAP_NAMES, FS_APPEND_FL, FS_IMMUTABLE_FL
from fsmodel._rules.creds import USERNS_BASE, Cred

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

_CLONE_NEWUSER = 0x10000000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND = 1, 32, 4096
_MNT_DETACH = 2
_SCM_CHUNK = 250  # fds per SCM_RIGHTS message (the kernel allows 253)

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
    libc.unshare.argtypes, libc.unshare.restype = [c_int], c_int
    libc.mount.argtypes = [c_char_p, c_char_p, c_char_p, ctypes.c_ulong, c_void_p]
    libc.mount.restype = c_int
    libc.umount2.argtypes, libc.umount2.restype = [c_char_p, c_int], c_int
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


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def _move_to(fd: int, slot: int) -> int:
    """Move *fd* to the number *slot* (close-on-exec); returns *slot*."""
    if fd != slot:
        os.dup2(fd, slot, inheritable=False)
        os.close(fd)
    return slot


class _Helper:
    """The chrooted process that makes the calls; lives only in the forked child.

    The main helper and a user-namespace helper forked from it are both instances.
    Private fds sit at the top of the fd range, out of the caller's way: the channel
    to the parent (``high``), an O_PATH fd of the real root (``high - 1``, main
    helper), the link between the main helper and a user-namespace helper
    (``high - 2``), the namespace helper's pinned cwd (``high - 3``) and, until it
    has re-entered the chroot, its fd of the chroot root (``high - 4``; the cwd
    passes through ``high - 5`` on the way out).
    """

    def __init__(self, channel: socket.socket, libc: ctypes.CDLL, permitted: int,
                 realroot: int | None = None) -> None:
        self.channel = channel
        self.libc = libc
        self.permitted = permitted
        self.caller = (0, 0, (), permitted)
        self.high = channel.fileno()
        self.realroot = realroot
        self.private = {self.high} | ({realroot} if realroot is not None else set())
        self.fds = {fd for fd in (0, 1, 2) if _is_open(fd)}  # the caller's open fds
        self.pending_fd: socket.socket | None = None  # sent to the parent after a reply
        # main helper: the user-namespace helper (pid, link) and the caller before it
        self.child: tuple[int, socket.socket] | None = None
        self.before_ns: tuple | None = None
        # user-namespace helper: link to the main helper, pinned cwd, root to re-enter
        self.link: socket.socket | None = None
        self.cwd_pin: int | None = None
        self.ns_dirs: tuple[int] | None = None

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
            if self.pending_fd is not None:
                pending, self.pending_fd = self.pending_fd, None
                try:
                    if reply[0] == "ok":
                        socket.send_fds(self.channel, [b"F"], [pending.fileno()])
                finally:
                    pending.close()

    def fd(self, fd: int) -> int:
        """The helper's own fds are not the caller's."""
        if fd in self.private:
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

    # -- user namespaces: the main helper's side

    def op_userns_start(self) -> int:
        """Fork the user-namespace helper; it unshares and waits for its id maps.

        Returns its pid; its end of a new channel follows the reply (SCM_RIGHTS).
        """
        if self.child is not None or self.realroot is None:
            raise RuntimeError("HostKernel helper: a user-namespace helper is already running")
        self.before_ns = self.caller
        self.switch(0, 0, (), self.permitted)
        to_parent, direct = socket.socketpair()
        link, link_child = socket.socketpair()
        try:
            pid = os.fork()
        except BaseException:
            for sock in (to_parent, direct, link, link_child):
                sock.close()
            self.switch(*self.before_ns)
            raise
        if pid == 0:  # the user-namespace helper: never returns into serve() above
            def body():
                to_parent.close()
                link.close()
                self._userns_child(direct, link_child)
            _child(body)
        direct.close()
        link_child.close()
        report = _receive(link)
        if report is None or report[0] != "ok":
            to_parent.close()
            link.close()
            _reap(pid)
            self.switch(*self.before_ns)
            if report is None:
                raise RuntimeError("HostKernel: the user-namespace helper exited during start-up")
            raise report[1]
        slot = _move_to(link.detach(), self.high - 2)
        self.private.add(slot)
        self.child = (pid, socket.socket(fileno=slot))
        self.pending_fd = to_parent
        return pid

    def op_userns_import(self) -> None:
        """Take over the fds, cwd and umask the user-namespace helper exported; end it."""
        if self.child is None:
            raise RuntimeError("HostKernel helper: no user-namespace helper is running")
        link = self.child[1]
        try:
            message = _receive(link)
            if message is None:
                raise RuntimeError("HostKernel: the user-namespace helper exited while "
                                   "handing its state back")
            _, mask, numbers, has_cwd = message
            total = len(numbers) + has_cwd
            received: list[int] = []
            while len(received) < total:
                data, fds, _, _ = socket.recv_fds(link, 1, min(_SCM_CHUNK, total - len(received)),
                                                  socket.MSG_CMSG_CLOEXEC)
                received += fds
                if not data:
                    break
            if len(received) != total:
                for fd in received:
                    os.close(fd)
                raise RuntimeError("HostKernel: the user-namespace helper's fds were lost")
            cwd = received.pop() if has_cwd else None
            self._install(numbers, received)
            if cwd is not None:
                try:
                    os.fchdir(cwd)
                finally:
                    os.close(cwd)
            os.umask(mask)
        finally:
            self._end_child()

    def op_userns_abort(self) -> None:
        """End the user-namespace helper without taking anything over."""
        if self.child is not None:
            self._end_child()

    def _end_child(self) -> None:
        pid, link = self.child
        self.child = None
        self.private.discard(link.fileno())
        link.close()
        _reap(pid)
        self.switch(*self.before_ns)

    def _install(self, numbers: list[int], received: list[int]) -> None:
        """Make the caller's fds exactly *received*, under the numbers *numbers*."""
        for fd in self.fds - set(numbers):
            with contextlib.suppress(OSError):
                os.close(fd)
        if numbers:
            targets, top = set(numbers), max(numbers) + 1
            moved = []
            for fd in received:  # get them out of the way of the numbers they go to
                if fd in targets:
                    fd = _move_to(fd, fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, top))
                moved.append(fd)
            for fd, number in zip(moved, numbers):
                os.dup2(fd, number, inheritable=False)
                os.close(fd)
        self.fds = set(numbers)

    # -- user namespaces: the namespace helper's side

    def _userns_child(self, direct: socket.socket, link: socket.socket) -> None:
        """Body of the user-namespace helper: leave the chroot, unshare, report, serve."""
        high = self.high
        self.channel.close()  # the main helper's channel is not ours
        self.channel = socket.socket(fileno=_move_to(direct.detach(), high))
        self.link = socket.socket(fileno=_move_to(link.detach(), high - 2))
        try:
            flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
            root = _move_to(os.open("/", flags), high - 4)
            cwd = _move_to(os.open(".", flags), high - 5)
            self.ns_dirs = (root,)
            self.private = {high, high - 2, root}
            # unshare(CLONE_NEWUSER) refuses a chrooted caller: back to the real root,
            # then into the caller's cwd while still privileged (the kernel does not
            # check a cwd again when credentials change, so neither may we).
            os.fchdir(self.realroot)
            os.chroot(".")
            os.fchdir(cwd)
            os.close(cwd)
            os.close(self.realroot)
            self.realroot = None
            _check(self.libc.unshare(_CLONE_NEWUSER))
            # The new namespace's credentials: every capability, default securebits.
            _check(self.libc.prctl(_PR_SET_SECUREBITS, _SECBIT_NO_SETUID_FIXUP, 0, 0, 0))
        except Exception as exc:
            _send(self.link, ("raise", exc))
            return
        _send(self.link, ("ok", None))
        self.serve()

    def op_userns_setup(self, uid: int, gid: int, groups: tuple[int, ...], caps: int) -> int:
        """Once the id maps are written: back into the chroot, become the caller."""
        (root,) = self.ns_dirs
        try:
            os.chroot(f"/proc/self/fd/{root}")  # keeps the cwd
        except FileNotFoundError:  # no /proc: through the root, then back to the cwd
            cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fchdir(root)
                os.chroot(".")
                os.fchdir(cwd)
            finally:
                os.close(cwd)
        os.close(root)
        self.private.discard(root)
        self.ns_dirs = None
        self.permitted = _capget(self.libc)[1]
        self.switch(uid, gid, groups, caps)
        return self.permitted

    def op_userns_export(self) -> None:
        """Send the caller's fds, a cwd ``chdir()`` set and the umask to the main helper."""
        mask = os.umask(0)
        os.umask(mask)
        numbers = sorted(self.fds)
        fds = numbers + ([self.cwd_pin] if self.cwd_pin is not None else [])
        _send(self.link, ("state", mask, numbers, self.cwd_pin is not None))
        for start in range(0, len(fds), _SCM_CHUNK):
            socket.send_fds(self.link, [b"F"], fds[start:start + _SCM_CHUNK])

    def op_mount_probe(self, path: bytes, fs: bytes, readonly: bool) -> None:
        """mount(2) as the caller; a namespace caller is refused (EPERM)."""
        _check(self.libc.mount(b"fsmodel", path, fs, _MS_RDONLY if readonly else 0, None))
        self.libc.umount2(path, _MNT_DETACH)
        raise RuntimeError("HostKernel: mount(2) unexpectedly succeeded in a user namespace "
                           "(unmounted again)")

    def op_remount_probe(self, path: bytes, readonly: bool) -> None:
        flags = _MS_REMOUNT | _MS_BIND | (_MS_RDONLY if readonly else 0)
        _check(self.libc.mount(None, path, None, flags, None))
        raise RuntimeError("HostKernel: a remount unexpectedly succeeded in a user namespace")

    # -- the calls

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
        fd = os.open(path, flags, mode)
        self.fds.add(fd)
        return fd

    def op_close(self, fd):
        os.close(self.fd(fd))
        self.fds.discard(fd)

    def op_umask(self, mask):
        return os.umask(mask)

    def op_chdir(self, path):
        os.chdir(path)
        if self.link is not None:  # a namespace helper hands its cwd back by an fd
            pin = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self.cwd_pin = _move_to(pin, self.high - 3)
            self.private.add(self.cwd_pin)

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


def _reap(pid: int) -> None:
    """Kill and wait for a child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


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
        # An fd of the real root, for a user-namespace helper to leave the chroot by.
        realroot = _move_to(os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), high - 1)
        os.chroot(root)
        os.chdir("/")
        os.umask(0)
        helper = _Helper(channel, libc, permitted, realroot)
        helper.switch(0, 0, (), permitted)
    except Exception as exc:
        _send(channel, ("raise", exc))
        return
    _send(channel, ("ok", permitted))
    try:
        helper.serve()
    finally:
        if helper.child is not None:  # the parent went away inside a namespace block
            _reap(helper.child[0])


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
    # The user-namespace helper (a child of the main helper), while a caller is in one:
    ns_size: int = 0  # its number of mapped ids; 0: none
    ns_pid: int | None = None
    ns_channel: socket.socket | None = None  # None while ns_size is set: contact was lost


def _teardown(state: _State) -> None:
    """Stop the helper, undo the mounts, clear immutable/append flags under the root."""
    if os.getpid() != state.owner:  # a forked child must not undo its parent's mounts
        return
    problems: list[str] = []
    grandchild = state.ns_pid
    if state.ns_channel is not None:
        state.ns_channel.close()
        state.ns_channel = None
    if grandchild is not None:  # not reaped yet (the main helper reaps it), so still ours
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)
    state.ns_pid, state.ns_size = None, 0
    if state.channel is not None:
        state.channel.close()
        state.channel = None
    if state.pid is not None and grandchild is not None:
        # The main helper sees the closed channel, reaps the namespace helper and
        # exits; a zombie orphaned to init might never be reaped here.
        for _ in range(200):
            try:
                done = os.waitpid(state.pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                done = True
            if done:
                state.pid = None
                break
            time.sleep(0.005)
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


def _kernel_caps() -> int:
    """Every capability the running kernel knows (a user namespace's full set)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return (1 << (int(f.read()) + 1)) - 1
    except (OSError, ValueError):
        return (1 << (max(CAP_NAMES) + 1)) - 1


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


_Caller = tuple  # (uid, gid, groups, caps mask, userns)


class _Become:
    """The context manager ``HostKernel.become()`` returns; reusable and nestable."""

    def __init__(self, kernel: HostKernel, caller: _Caller) -> None:
        self._kernel = kernel
        self._caller = caller
        self._saved: list[_Caller] = []

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



def _child(body) -> None:
    """The body of a forked helper: run it, print what escaped, and exit (never return)."""
    status = 1
    try:
        body()
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(status)

class HostKernel:
    """The real kernel, confined to the directory *root*, behind SimKernel's interface.

    Every call runs in a helper process chrooted to *root* (absolute paths start at
    *root*), with umask 0 and the caller set by ``become()`` (initially uid 0, gid 0, no
    supplementary groups, every capability this process holds; ``userns=N`` puts the
    caller in a user namespace, served by a helper of its own).  Failures raise
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
        self._caller = (0, 0, (), self._permitted, 0)

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
            def body():
                ours.close()
                _helper_main(theirs, self.root)
            _child(body)
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
        """Make the call in the helper of the current caller (a user-namespace one or not)."""
        return self._call_in(bool(self._state.ns_size), op, filenames, *args)

    def _call_in(self, ns: bool, op: str, filenames: tuple, *args: object,
                 with_fd: bool = False) -> object:
        """Make the call in the main helper (*ns* false) or the user-namespace helper.

        *with_fd*: an fd follows a successful reply (SCM_RIGHTS); returns (value, fd).
        """
        request = _pack((op, args))  # an unpicklable argument fails here, harmlessly
        state = self._state
        attr = "ns_channel" if ns else "channel"
        fd = None
        with self._lock:
            channel = getattr(state, attr)
            if channel is None:
                if ns and state.channel is not None:
                    raise RuntimeError("lost contact with the HostKernel user-namespace helper")
                raise ValueError("operation on a closed (or broken) HostKernel")
            try:
                channel.sendall(request)
                reply = _receive(channel)
                if with_fd and reply is not None and reply[0] == "ok":
                    _, fds, _, _ = socket.recv_fds(channel, 1, 1, socket.MSG_CMSG_CLOEXEC)
                    if len(fds) != 1:
                        raise OSError(errno.EPROTO, "no fd came with the reply")
                    fd = fds[0]
            except BaseException as exc:
                # Interrupted or cut off mid-exchange: the channel is out of step for good.
                setattr(state, attr, None)
                channel.close()
                if isinstance(exc, OSError):
                    raise RuntimeError("lost contact with the HostKernel helper") from exc
                raise
            if reply is None:
                setattr(state, attr, None)
                channel.close()
                raise RuntimeError("the HostKernel helper process exited unexpectedly")
        kind, value = reply
        if kind == "ok":
            return (value, fd) if with_fd else value
        if kind == "errno":
            if len(filenames) == 2:
                raise OSError(value, os.strerror(value), filenames[0], None, filenames[1])
            raise OSError(value, os.strerror(value), *filenames)
        raise value

    def _switch(self, caller: _Caller) -> None:
        uid, gid, groups, caps, userns = caller
        state = self._state
        if state.ns_size and state.ns_size != userns:
            self._userns_stop()
        if userns and not state.ns_size:
            self._userns_start(caller)
        else:
            self._call("become", (), uid, gid, groups, caps)
        self._caller = caller

    # -- user namespaces (see the module docstring)

    def _userns_start(self, caller: _Caller) -> None:
        uid, gid, groups, caps, userns = caller
        state = self._state
        pid, fd = self._call_in(False, "userns_start", (), with_fd=True)
        state.ns_size, state.ns_pid = userns, pid
        state.ns_channel = socket.socket(fileno=fd)
        try:
            for name in ("uid_map", "gid_map"):
                map_fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(map_fd, f"0 {USERNS_BASE} {userns}\n".encode())
                finally:
                    os.close(map_fd)
            self._call_in(True, "userns_setup", (), uid, gid, groups, caps)
        except BaseException:
            with contextlib.suppress(Exception):
                self._userns_end(export=False)
            raise

    def _userns_stop(self) -> None:
        """Leave the user namespace: its fds, cwd and umask go back to the main helper."""
        if self._state.ns_channel is None:
            self._userns_end(export=False)
            raise RuntimeError("lost contact with the HostKernel user-namespace helper: the "
                               "fds, cwd and umask of its calls are lost")
        self._userns_end(export=True)

    def _userns_end(self, export: bool) -> None:
        state = self._state
        if export:
            try:
                self._call_in(True, "userns_export", ())
            except BaseException:
                self._userns_end(export=False)
                raise
        channel = state.ns_channel
        state.ns_channel, state.ns_pid, state.ns_size = None, None, 0
        if channel is not None:
            channel.close()
        self._call_in(False, "userns_import" if export else "userns_abort", ())

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
        userns: int = 0,
    ) -> _Become:
        """A context manager that makes the calls inside it as another caller.

        *gid* None means gid = uid.  *caps* None gives what the kernel gives that uid:
        every capability this process holds for uid 0, none otherwise; else an iterable of
        names like ``"CAP_SYS_ADMIN"``.  On exit the previous caller is restored (also on
        exceptions); nesting and re-entering work.  A capability this process itself does
        not hold (here e.g. CAP_SYS_RESOURCE may be withheld by the sandbox) cannot be
        granted: ValueError.

        *userns* N > 0: the caller is in a user namespace mapping its ids 0..N-1 to the
        host ids ``USERNS_BASE ..`` (uid, gid and *groups* must be mapped); *caps* are the
        namespace's capabilities (every one the kernel knows for uid 0 with caps None).
        The calls run in a helper made for the namespace; fds, cwd and umask carry over.
        """
        groups = tuple(groups)  # may be an iterator
        cred = Cred.make(uid, gid, groups, caps, userns)  # validates, as SimKernel does
        # The ids as the caller names them (the namespace's view; a Cred may hold host ids).
        uid, gid, groups = int(uid), int(uid if gid is None else gid), {int(g) for g in groups}
        if userns:
            unmapped = sorted(g for g in groups if not 0 <= g < userns)
            if unmapped:
                raise ValueError(f"groups={unmapped} are not mapped in a user namespace of "
                                 f"{userns} ids")
            mask = cred.caps & _kernel_caps()
            missing = cred.caps & ~mask if caps is not None else 0
            what = "the running kernel does not know"
        elif caps is None and uid == 0:
            mask, missing = self._permitted, 0
        else:
            mask = cred.caps
            missing = mask & ~self._permitted
            what = "this process does not hold"
        if missing:
            names = ", ".join(CAP_NAMES[bit] for bit in sorted(CAP_NAMES) if missing >> bit & 1)
            raise ValueError(f"caps={caps!r}, but {what} {names}, so HostKernel cannot grant it")
        return _Become(self, (uid, gid, tuple(sorted(groups)), mask, int(userns)))

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
        if self._state.ns_size:  # mount(2) from the namespace; the kernel refuses it
            self._call("mount_probe", (path,), _c_string(path, "path"), _c_string(fs, "fs"),
                       bool(readonly))
            return
        target = self._host_path(path, allow_root=False)
        self._state.mounts.append(_mounts.mount_fresh(fs, target, readonly, **fs_options))

    def remount(self, path: str, readonly: bool) -> None:
        """Make the mount on *path* (inside or at the root) read-only or read-write."""
        if self._state.ns_size:  # the kernel refuses it from the namespace
            self._call("remount_probe", (path,), _c_string(path, "path"), bool(readonly))
            return
        _mounts.remount(self._host_path(path, allow_root=True), readonly)

    def set_flags(self, path: str, immutable: bool = False, append: bool = False) -> None:
        """Set exactly these inode flags on *path* (others kept), as the current caller.

        Like chattr(1): opens *path* O_RDONLY|O_NONBLOCK (so a symlink is followed and
        read permission is needed), then FS_IOC_GETFLAGS / FS_IOC_SETFLAGS.
        """
        self._state.flags_used = True
        self._call("set_flags", (path,), path, bool(immutable), bool(append))
