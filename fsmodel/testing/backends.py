"""Backend factories for the conformance suite and the differential tests.

A *factory* is a callable returning a context manager that yields a fresh
backend (root caller, umask 0) whose root directory is empty and is a mount
point of its own (so checks can make it read-only).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field

from .._rules.kernel import DEFAULT_KERNEL, features


@dataclass(frozen=True)
class Situation:
    """What a check needs to know about the backend it runs on."""

    fs: str
    options: dict = field(default_factory=dict)
    kernel: str = DEFAULT_KERNEL

    @property
    def feats(self):
        return features(self.kernel)

    def option(self, key, default=None):
        return self.options.get(key, default)

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.fs}[{opts}]" if opts else self.fs


def sim_factory(situation: Situation):
    """Fresh :class:`SimKernel` instances of the situation's filesystem and kernel."""
    from .._sim.kernel import SimKernel

    @contextlib.contextmanager
    def make():
        yield SimKernel(situation.fs, situation.kernel, **situation.options)

    return make


def host_factory(mountpoint: str):
    """Fresh :class:`HostKernel` instances, each rooted in a new bind-mounted directory
    of the filesystem mounted on ``mountpoint`` (needs root)."""
    from .. import _mounts
    from ..host import HostKernel

    counter = itertools.count()

    @contextlib.contextmanager
    def make():
        while True:
            d = os.path.join(mountpoint, f"fsmodel-{os.getpid()}-{next(counter)}")
            if not os.path.exists(d):
                break
        os.mkdir(d)
        os.chmod(d, 0o755)
        with _mounts.bind_mount(d):
            host = HostKernel(d)
            try:
                yield host
            finally:
                try:
                    host.remount("/", False)
                finally:
                    host.close()

    return make


@contextlib.contextmanager
def scratch_host_factory(situation: Situation):
    """A scratch filesystem for the situation, and a host factory on it (needs root)."""
    from .. import _mounts

    with _mounts.scratch_mount(situation.fs, **situation.options) as mountpoint:
        yield host_factory(mountpoint)


def pair_factory(sim_make, host_make):
    """Fresh :class:`~fsmodel.testing.differential.Pair` of a simulated and a real backend."""
    from .differential import Pair

    @contextlib.contextmanager
    def make():
        with sim_make() as sim, host_make() as host:
            yield Pair(sim, host)

    return make


def fresh_host_factory(situation: Situation):
    """Fresh :class:`HostKernel` instances, each on a filesystem of its own (needs root).

    For configurations whose state is filesystem-wide (tmpfs' ``nr_inodes`` pool),
    where sequences sharing one filesystem would see each other's charges.
    """
    from .. import _mounts

    @contextlib.contextmanager
    def make():
        with _mounts.scratch_mount(situation.fs, **situation.options) as mountpoint:
            with host_factory(mountpoint)() as host:
                yield host

    return make


class OsCalls:
    """The syscall-shaped interface, made through Python's ``os`` on whatever
    filesystem ``os`` sees (the real one, or pyfakefs' inside fake_linux()).

    ``os.getxattr`` and ``os.listxattr`` always use a 64 KiB buffer; other
    buffer sizes go to :meth:`_sized`, which ``os`` alone cannot serve.
    """

    def _sized(self, call, *args):
        raise ValueError(f"{call}: os has no buffer-size argument (only 65536)")

    def mkdir(self, path, mode):
        os.mkdir(path, mode)

    def mknod(self, path, mode, device=0):
        os.mknod(path, mode, device)

    def symlink(self, target, path):
        os.symlink(target, path)

    def link(self, src, dst):
        os.link(src, dst, follow_symlinks=False)

    def unlink(self, path):
        os.unlink(path)

    def rmdir(self, path):
        os.rmdir(path)

    def rename(self, old, new):
        os.rename(old, new)

    def chmod(self, path, mode):
        os.chmod(path, mode)

    def chown(self, path, uid, gid):
        os.chown(path, uid, gid)

    def lchown(self, path, uid, gid):
        os.lchown(path, uid, gid)

    def stat(self, path):
        return os.stat(path)

    def lstat(self, path):
        return os.lstat(path)

    def open(self, path, flags, mode=0o666):
        return os.open(path, flags, mode)

    def close(self, fd):
        os.close(fd)

    def umask(self, mask):
        return os.umask(mask)

    def chdir(self, path):
        os.chdir(path)

    def readlink(self, path):
        return os.readlink(path)

    def listdir(self, path):
        return sorted(os.listdir(path))

    def write(self, fd, data):
        return os.write(fd, data)

    def setxattr(self, path, name, value, flags=0):
        os.setxattr(path, name, value, flags)

    def lsetxattr(self, path, name, value, flags=0):
        os.setxattr(path, name, value, flags, follow_symlinks=False)

    def fsetxattr(self, fd, name, value, flags=0):
        os.setxattr(fd, name, value, flags)

    def getxattr(self, path, name, size=65536):
        if size == 65536:
            return os.getxattr(path, name)
        return self._sized("getxattr", path, name, size)

    def lgetxattr(self, path, name, size=65536):
        if size == 65536:
            return os.getxattr(path, name, follow_symlinks=False)
        return self._sized("lgetxattr", path, name, size)

    def fgetxattr(self, fd, name, size=65536):
        if size == 65536:
            return os.getxattr(fd, name)
        return self._sized("fgetxattr", fd, name, size)

    def listxattr(self, path, size=65536):
        if size == 65536:
            return os.listxattr(path)
        return self._sized("listxattr", path, size)

    def llistxattr(self, path, size=65536):
        if size == 65536:
            return os.listxattr(path, follow_symlinks=False)
        return self._sized("llistxattr", path, size)

    def flistxattr(self, fd, size=65536):
        if size == 65536:
            return os.listxattr(fd)
        return self._sized("flistxattr", fd, size)

    def removexattr(self, path, name):
        os.removexattr(path, name)

    def lremovexattr(self, path, name):
        os.removexattr(path, name, follow_symlinks=False)

    def fremovexattr(self, fd, name):
        os.removexattr(fd, name)


class OsBackend(OsCalls):
    """:class:`OsCalls` inside fake_linux(): callers, mounts and flags through the
    handle, and buffer sizes other than 64 KiB through its kernel model."""

    def __init__(self, handle):
        self.handle = handle
        self.kernel = handle.kernel_model

    def _sized(self, call, *args):
        return getattr(self.kernel, call)(*args)

    def become(self, uid, gid=None, groups=(), caps=None):
        return self.handle.become(uid, gid, groups, caps)

    def mount(self, path, fs, readonly=False, **options):
        return self.handle.mount(path, fs, readonly, **options)

    def remount(self, path, readonly):
        return self.handle.remount(path, readonly)

    def set_flags(self, path, immutable=False, append=False):
        return self.handle.set_flags(path, immutable, append)


def fake_linux_factory(situation: Situation):
    """Fresh fake_linux() environments, driven through Python's ``os`` (OsBackend)."""
    from ..fake import fake_linux

    @contextlib.contextmanager
    def make():
        with fake_linux(situation.fs, situation.kernel, **situation.options) as handle:
            yield OsBackend(handle)

    return make


class _Unpatched:
    """A backend whose every call runs with pyfakefs paused (for the real kernel's
    backend when it is compared with fake_linux() in the same process)."""

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        attr = getattr(self._backend, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _paused():
                result = attr(*args, **kwargs)
            if name == "become":
                return _PausedContext(result)
            return result

        return call


class _PausedContext:
    def __init__(self, cm):
        self._cm = cm

    def __enter__(self):
        with _paused():
            return self._cm.__enter__()

    def __exit__(self, *exc):
        with _paused():
            return self._cm.__exit__(*exc)


@contextlib.contextmanager
def _paused():
    from pyfakefs.fake_filesystem_unittest import Patcher

    patcher = Patcher.PATCHER
    if patcher is None or Patcher.REF_COUNT == 0 or getattr(patcher, "_paused", False) \
            or not getattr(patcher, "_patching", False):
        yield
        return
    patcher.pause()
    try:
        yield
    finally:
        patcher.resume()


def unpatched_factory(factory):
    """``factory``'s backends, immune to a pyfakefs patcher running around them."""

    @contextlib.contextmanager
    def make():
        with _paused():
            cm = factory()
            backend = cm.__enter__()
        try:
            yield _Unpatched(backend)
        finally:
            with _paused():
                cm.__exit__(None, None, None)

    return make
