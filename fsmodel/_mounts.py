"""Fresh scratch filesystems for the real-kernel backend and its tests.

Everything that formats, mounts, remounts or unmounts a filesystem lives here, so that
``scratch_mount()`` and ``HostKernel.mount()`` build filesystems the same way.

Theory of operation: tmpfs and ramfs are mounted directly (source name ``fsmodel``, so
``mount | grep fsmodel`` finds them).  ext4, xfs and btrfs are formatted with mkfs in a
sparse image file inside a private temporary directory (``fsmodel-img-*``), attached to
a loop device with ``losetup --find --show`` and mounted from that device.  Detaching
is explicit (``losetup -d`` after the unmount) rather than ``mount -o loop``'s
autoclear, so a device is only ever detached by the code that attached it and can
never be one another process has just been given.  A mount that is busy is
unmounted lazily; ``losetup -d`` on a device that is still in use only marks it for
autoclear, so nothing leaks either way.

Needs root (CAP_SYS_ADMIN); see ``available_filesystems()``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from fsmodel._privilege import privilege_problem

__all__ = [
    "BTRFS_IMAGE_SIZE",
    "EXT4_BLOCK_SIZE",
    "EXT4_IMAGE_SIZE",
    "EXT4_INODE_SIZE",
    "FILESYSTEMS",
    "XFS_IMAGE_SIZE",
    "Mount",
    "MountError",
    "available_filesystems",
    "bind_mount",
    "check_request",
    "mount_fresh",
    "remount",
    "scratch_mount",
]

MiB = 1024 * 1024

FILESYSTEMS = ("tmpfs", "ramfs", "ext4", "xfs", "btrfs")
"""Every filesystem type this module can create, memory-backed ones first."""

EXT4_BLOCK_SIZE = 4096
"""Default ext4 block size: the specification's "ext4 4K" configuration."""
EXT4_INODE_SIZE = 256
"""Default ext4 inode size; 256 leaves room for in-inode xattrs (spec §4)."""

# Sparse image sizes: small, but above what each mkfs accepts (mkfs.xfs refuses
# anything below 300 MiB, mkfs.btrfs below about 109 MiB).
EXT4_IMAGE_SIZE = 128 * MiB
XFS_IMAGE_SIZE = 320 * MiB
BTRFS_IMAGE_SIZE = 256 * MiB

_IMAGE_SIZE = {"ext4": EXT4_IMAGE_SIZE, "xfs": XFS_IMAGE_SIZE, "btrfs": BTRFS_IMAGE_SIZE}
_MKFS = {"ext4": "mkfs.ext4", "xfs": "mkfs.xfs", "btrfs": "mkfs.btrfs"}
_SOURCE = "fsmodel"

_TMPFS_SIZE = re.compile(r"[0-9]+[kmgtpe%]?", re.IGNORECASE)


class MountError(Exception):
    """A host tool (mkfs, losetup, mount, umount) failed.

    This is the host's fault, not the model's: the kernel lacks the filesystem, there
    is no free loop device, the process is not privileged enough, or the target is not
    a directory.  The message carries the command and what it printed.
    """


def _run(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        raise MountError(f"{' '.join(argv)} exited with {proc.returncode}: {' / '.join(output)}")


def _power_of_two(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}, but {name} must be an int")
    if not (low <= value <= high and value & (value - 1) == 0):
        raise ValueError(f"{name}={value!r}, but {name} must be a power of two in [{low}, {high}]")
    return value


def _mkfs_argv(fs: str, options: dict[str, object]) -> list[str]:
    """The mkfs command line (minus the image) for a block filesystem, validating its options."""
    if fs == "ext4":
        block = _power_of_two(options.pop("block_size", EXT4_BLOCK_SIZE), "block_size", 1024, 65536)
        inode = _power_of_two(options.pop("inode_size", EXT4_INODE_SIZE), "inode_size", 128, block)
        ea_inode = options.pop("ea_inode", False)
        if not isinstance(ea_inode, bool):
            raise TypeError(f"ea_inode={ea_inode!r}, but ea_inode must be a bool")
        argv = ["mkfs.ext4", "-q", "-F", "-b", str(block), "-I", str(inode)]
        if ea_inode:
            argv += ["-O", "ea_inode"]
        return argv
    if fs == "xfs":
        return ["mkfs.xfs", "-q", "-f"]
    argv = ["mkfs.btrfs", "-q", "-f"]
    if "nodesize" in options:
        nodesize = _power_of_two(options.pop("nodesize"), "nodesize", 4096, 65536)
        argv += ["--nodesize", str(nodesize)]
    return argv


def _tmpfs_options(options: dict[str, object]) -> list[str]:
    result = []
    if "size" in options:
        size = options.pop("size")
        if isinstance(size, bool) or not isinstance(size, (int, str)):
            raise TypeError(f"size={size!r}, but size must be an int (bytes) or a string")
        bad = size < 0 if isinstance(size, int) else not _TMPFS_SIZE.fullmatch(size)
        if bad:
            raise ValueError(f"size={size!r}, but size must be >= 0 bytes or like '64m' or '50%'")
        result.append(f"size={size}")
    if "nr_inodes" in options:
        nr_inodes = options.pop("nr_inodes")
        if isinstance(nr_inodes, bool) or not isinstance(nr_inodes, int):
            raise TypeError(f"nr_inodes={nr_inodes!r}, but nr_inodes must be an int")
        if nr_inodes < 0:
            raise ValueError(f"nr_inodes={nr_inodes!r}, but nr_inodes must be >= 0 (0: unlimited)")
        result.append(f"nr_inodes={nr_inodes}")
    return result


_OPTIONS = {
    "tmpfs": ("size", "nr_inodes"),
    "ramfs": (),
    "ext4": ("block_size", "inode_size", "ea_inode"),
    "xfs": (),
    "btrfs": ("nodesize",),
}


def check_request(fs: str, options: dict[str, object]) -> None:
    """ValueError for an unknown *fs*, TypeError for an option *fs* does not take."""
    if fs not in _OPTIONS:
        raise ValueError(f"fs={fs!r}, but only {', '.join(FILESYSTEMS)} can be mounted")
    unknown = sorted(set(options) - set(_OPTIONS[fs]))
    if unknown:
        valid = ", ".join(_OPTIONS[fs]) or "none"
        raise TypeError(f"unknown {fs} option(s) {', '.join(unknown)}; valid {fs} options: {valid}")


@dataclass
class Mount:
    """A filesystem this module mounted; ``unmount()`` undoes everything it took."""

    fs: str
    target: str
    loop: str | None = None
    image_dir: str | None = None
    mounted: bool = True

    def unmount(self) -> None:
        """Unmount (lazily if busy), detach the loop device, delete the image.

        Idempotent, and does every step even when an earlier one fails; raises
        MountError afterwards if anything could not be undone.
        """
        problems = []
        if self.mounted:
            try:
                _run("umount", self.target)
            except MountError as busy:
                try:
                    _run("umount", "--lazy", self.target)
                except MountError as failed:
                    problems.append(f"{busy}; then {failed}")
            self.mounted = False
        if self.loop is not None:
            try:
                _run("losetup", "--detach", self.loop)
            except MountError as failed:
                problems.append(str(failed))
            self.loop = None
        if self.image_dir is not None:
            shutil.rmtree(self.image_dir, ignore_errors=True)
            self.image_dir = None
        if problems:
            raise MountError("; ".join(problems))


def mount_fresh(fs: str, target: str, readonly: bool = False, **options: object) -> Mount:
    """Mount a new, empty filesystem of type *fs* on the existing directory *target*.

    Options: tmpfs ``size`` (bytes or a tmpfs size string), ``nr_inodes``; ext4
    ``block_size`` (default 4096), ``inode_size`` (default 256), ``ea_inode`` (bool);
    btrfs ``nodesize``.  An unknown option is a TypeError, a bad value a ValueError.
    If anything fails, whatever was already set up is undone before MountError is raised.
    """
    check_request(fs, options)
    options = dict(options)
    ro = ["-o", "ro"] if readonly else []
    if fs in ("tmpfs", "ramfs"):
        opts = _tmpfs_options(options) if fs == "tmpfs" else []
        if readonly:
            opts.append("ro")
        _run("mount", "-t", fs, *(["-o", ",".join(opts)] if opts else []), _SOURCE, target)
        return Mount(fs, target)
    mkfs = _mkfs_argv(fs, options)
    image_dir = tempfile.mkdtemp(prefix="fsmodel-img-")
    mount = Mount(fs, target, image_dir=image_dir, mounted=False)
    try:
        image = os.path.join(image_dir, f"{fs}.img")
        with open(image, "wb") as f:
            f.truncate(_IMAGE_SIZE[fs])
        _run(*mkfs, image)
        proc = subprocess.run(
            ["losetup", "--find", "--show", image], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise MountError(f"losetup --find --show {image} failed: {proc.stderr.strip()}")
        mount.loop = proc.stdout.strip()
        _run("mount", "-t", fs, *ro, mount.loop, target)
        mount.mounted = True
    except BaseException:
        with contextlib.suppress(MountError):
            mount.unmount()
        raise
    return mount


def remount(target: str, readonly: bool) -> None:
    """Switch the mount on *target* between read-only and read-write.

    Read-only is set on the mount itself (``MS_REMOUNT|MS_BIND|MS_RDONLY``), so it also
    works on a bind mount and leaves other mounts of the same filesystem writable; making
    it writable again also clears a read-only superblock (a filesystem mounted ``ro``).
    """
    if readonly:
        try:
            _run("mount", "-o", "remount,bind,ro", target)
        except MountError as exc:
            # mnt_make_readonly(): files open for writing keep a mount writable.
            if "busy" in str(exc):
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), target) from exc
            raise
    else:
        _run("mount", "-o", "remount,rw", target)
        _run("mount", "-o", "remount,bind,rw", target)


@contextlib.contextmanager
def bind_mount(path: str) -> Iterator[str]:
    """Make the directory *path* a mount point of its own (a bind mount onto itself).

    A directory inside a scratch filesystem then behaves like a mount for ``remount``:
    it can be made read-only without touching its neighbours.  Always unmounted on exit.
    """
    _run("mount", "--bind", path, path)
    try:
        yield path
    finally:
        try:
            _run("umount", path)
        except MountError:
            _run("umount", "-l", path)


@contextlib.contextmanager
def scratch_mount(fs: str, readonly: bool = False, **options: object) -> Iterator[str]:
    """A fresh filesystem of type *fs*, mounted on a new ``fsmodel-*`` temporary directory.

    Yields the directory.  On exit, also after an exception, the filesystem is unmounted
    (lazily if still busy), the loop device detached and the directory removed.
    """
    target = tempfile.mkdtemp(prefix="fsmodel-")
    try:
        mount = mount_fresh(fs, target, readonly, **options)
        try:
            yield target
        finally:
            mount.unmount()
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)


def available_filesystems() -> tuple[str, ...]:
    """The filesystems of FILESYSTEMS that ``mount_fresh()`` can create on this host.

    A filesystem counts when this process is privileged enough to mount, the kernel
    has it registered (/proc/filesystems) and, for ext4/xfs/btrfs, its mkfs tool and
    losetup are on PATH and /dev/loop-control exists.
    """
    if privilege_problem() is not None or shutil.which("mount") is None:
        return ()
    try:
        with open("/proc/filesystems") as f:
            kernel = {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return ()
    loop = shutil.which("losetup") is not None and os.path.exists("/dev/loop-control")
    return tuple(
        fs
        for fs in FILESYSTEMS
        if fs in kernel and (fs not in _MKFS or loop and shutil.which(_MKFS[fs]) is not None)
    )
