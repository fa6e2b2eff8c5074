"""HostKernel and scratch mounts against the real kernel.

Every test needs root with CAP_SYS_ADMIN; tests/conftest.py skips them otherwise.
Expected errnos are the ones research/kernel-xattr-rules.md records for Linux 6.18.
"""

from __future__ import annotations

import errno
import gc
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from fsmodel._mounts import MountError, available_filesystems, scratch_mount
from fsmodel.host import HostKernel

pytestmark = pytest.mark.privileged

AVAILABLE = available_filesystems()
AT_FDCWD = -100
XATTR_CREATE, XATTR_REPLACE = 1, 2


def needs(fs: str):
    return pytest.mark.skipif(fs not in AVAILABLE, reason=f"{fs} cannot be mounted here")


def raises_errno(code: int, fn, *args, **kwargs) -> OSError:
    with pytest.raises(OSError) as info:
        fn(*args, **kwargs)
    assert info.value.errno == code, f"expected {errno.errorcode[code]}, got {info.value!r}"
    return info.value


def mounts_under(path: str) -> list[tuple[str, str, str]]:
    """(mount point, fs type, source) of every mount strictly below *path*."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            rest = fields[fields.index("-") + 1 :]
            if point.startswith(path.rstrip("/") + "/"):
                result.append((point, rest[0], rest[1]))
    return result


def loop_backing_files(devices) -> dict[str, str]:
    """Loop device -> backing file, for the given devices."""
    out = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
        capture_output=True, text=True, check=True,
    ).stdout
    pairs = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return {dev: pairs[dev].strip() for dev in devices if dev in pairs}


def attached_backing_files() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def root():
    with scratch_mount("tmpfs") as path:
        yield path


@pytest.fixture
def kernel(root):
    with HostKernel(root) as k:
        yield k


def regular(k: HostKernel, path: str, mode: int = 0o644) -> str:
    k.mknod(path, stat.S_IFREG | mode)
    return path


# ---------------------------------------------------------------- scratch mounts


def test_available_filesystems_includes_the_memory_filesystems():
    assert {"tmpfs", "ramfs"} <= set(AVAILABLE)
    assert set(AVAILABLE) <= {"tmpfs", "ramfs", "ext4", "xfs", "btrfs"}


@pytest.mark.parametrize("fs", ["tmpfs", "ramfs", "ext4", "xfs", "btrfs"])
def test_scratch_mount_mounts_and_always_cleans_up(fs):
    if fs not in AVAILABLE:
        pytest.skip(f"{fs} cannot be mounted here")
    with pytest.raises(RuntimeError, match="boom"):
        with scratch_mount(fs) as path:
            assert os.path.basename(path).startswith("fsmodel-")
            (entry,) = [m for m in open("/proc/self/mountinfo") if m.split()[4] == path]
            assert entry.split(" - ")[1].split()[0] == fs
            sources = [entry.split(" - ")[1].split()[1]]
            backing = loop_backing_files(s for s in sources if s.startswith("/dev/loop"))
            raise RuntimeError("boom")
    assert not os.path.exists(path)
    assert path not in open("/proc/self/mountinfo").read()
    for image in backing.values():
        assert image not in attached_backing_files()
        assert not os.path.exists(image)


@needs("ext4")
def test_a_busy_scratch_mount_is_unmounted_lazily_and_its_loop_device_autocleared():
    with scratch_mount("ext4") as path:
        busy = open(f"{path}/held-open", "w")
        (source,) = [src for point, _, src in mounts_under(os.path.dirname(path)) if point == path]
        (image,) = loop_backing_files([source]).values()
    try:
        assert path not in open("/proc/self/mountinfo").read()
        assert not os.path.exists(path)
        assert image in attached_backing_files()  # still in use, so not yet detached
    finally:
        busy.close()
    assert image not in attached_backing_files()


def test_scratch_mount_rejects_unknown_filesystems_and_options():
    with pytest.raises(ValueError, match="vfat"):
        with scratch_mount("vfat"):
            pass
    with pytest.raises(TypeError, match="nr_inodes"):
        with scratch_mount("ext4", nr_inodes=5):
            pass
    with pytest.raises(ValueError, match="block_size"):
        with scratch_mount("ext4", block_size=1000):
            pass


def test_scratch_tmpfs_size_and_inode_options():
    with scratch_mount("tmpfs", size=1 << 20, nr_inodes=10) as path:
        fs = os.statvfs(path)
        assert (fs.f_blocks * fs.f_frsize, fs.f_files) == (1 << 20, 10)
    with scratch_mount("tmpfs", size="2m") as path:
        fs = os.statvfs(path)
        assert fs.f_blocks * fs.f_frsize == 2 << 20
    with pytest.raises(ValueError, match="size"):
        with scratch_mount("tmpfs", size=-1):
            pass


def test_scratch_mount_readonly():
    with scratch_mount("tmpfs", readonly=True) as path:
        raises_errno(errno.EROFS, os.mkdir, os.path.join(path, "d"))


# ---------------------------------------------------------------- basics


def test_attributes(kernel, root):
    assert kernel.fs == "tmpfs"
    assert kernel.kernel == os.uname().release
    assert kernel.root == os.path.realpath(root)
    assert "tmpfs" in repr(kernel)


def test_namespace_operations(kernel, root):
    kernel.mkdir("/d", 0o755)
    regular(kernel, "/d/f", 0o640)
    kernel.mknod("/fifo", stat.S_IFIFO | 0o600)
    kernel.mknod("/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    kernel.mknod("/sock", stat.S_IFSOCK | 0o600)
    kernel.symlink("d/f", "/lnk")
    kernel.link("/lnk", "/lnk2")  # link(2) does not follow the symlink
    kernel.rename("/d/f", "/d/g")
    kernel.chmod("/d/g", 0o600)
    kernel.chown("/d/g", 1000, 1001)
    kernel.lchown("/lnk", 1002, 1003)

    assert stat.S_ISDIR(os.lstat(f"{root}/d").st_mode)
    assert stat.S_ISFIFO(kernel.stat("/fifo").st_mode)
    assert kernel.stat("/null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISSOCK(kernel.lstat("/sock").st_mode)
    st = kernel.stat("/d/g")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 1001)
    assert stat.S_ISLNK(kernel.lstat("/lnk2").st_mode)
    assert kernel.lstat("/lnk2").st_ino == kernel.lstat("/lnk").st_ino
    assert (kernel.lstat("/lnk").st_uid, kernel.lstat("/lnk").st_gid) == (1002, 1003)
    raises_errno(errno.ENOENT, kernel.stat, "/lnk")  # d/f was renamed away

    kernel.unlink("/lnk2")
    kernel.unlink("/d/g")
    kernel.rmdir("/d")
    assert sorted(os.listdir(root)) == ["fifo", "lnk", "null", "sock"]


def test_umask_starts_at_zero_and_applies(kernel):
    regular(kernel, "/a", 0o666)
    assert stat.S_IMODE(kernel.stat("/a").st_mode) == 0o666
    assert kernel.umask(0o027) == 0
    kernel.mkdir("/d", 0o777)
    assert stat.S_IMODE(kernel.stat("/d").st_mode) == 0o750
    assert kernel.umask(0) == 0o027


def test_chdir_makes_relative_paths_relative(kernel, root):
    kernel.mkdir("/d", 0o755)
    kernel.chdir("/d")
    regular(kernel, "rel")
    assert os.path.exists(f"{root}/d/rel")


def test_errors_carry_errno_and_the_callers_path(kernel):
    err = raises_errno(errno.ENOENT, kernel.stat, "/missing")
    assert isinstance(err, FileNotFoundError)
    assert err.filename == "/missing" and err.strerror == os.strerror(errno.ENOENT)
    kernel.mkdir("/d", 0o755)
    assert raises_errno(errno.EEXIST, kernel.mkdir, "/d", 0o755).filename == "/d"
    err = raises_errno(errno.ENOENT, kernel.rename, "/nope", "/d/x")
    assert (err.filename, err.filename2) == ("/nope", "/d/x")
    regular(kernel, "/d/x")
    raises_errno(errno.ENOTEMPTY, kernel.rmdir, "/d")
    assert raises_errno(errno.EBADF, kernel.close, 77).filename == 77
    assert raises_errno(errno.EBADF, kernel.fgetxattr, 77, "user.a").filename == 77


def test_absolute_paths_and_symlinks_stay_inside_the_root(kernel, root):
    regular(kernel, "/x")
    kernel.setxattr("/x", "user.where", b"inside")
    kernel.symlink("/x", "/abs")
    kernel.symlink("/../../../x", "/dotdot")
    assert kernel.stat("/abs").st_ino == os.stat(f"{root}/x").st_ino
    assert kernel.getxattr("/abs", "user.where") == b"inside"
    assert kernel.getxattr("/dotdot", "user.where") == b"inside"
    kernel.mkdir("/../../escape", 0o755)
    assert os.path.isdir(f"{root}/escape")
    raises_errno(errno.ENOENT, kernel.stat, root + "/x")  # host paths mean nothing inside


def test_open_returns_helper_fds_from_three(kernel):
    regular(kernel, "/f")
    fd = kernel.open("/f", os.O_RDONLY)
    assert fd == 3
    assert kernel.open("/f", os.O_WRONLY | os.O_APPEND) == 4
    kernel.close(fd)
    raises_errno(errno.EBADF, kernel.close, fd)
    raises_errno(errno.ENOENT, kernel.open, "/missing", os.O_RDONLY)
    assert kernel.open("/new", os.O_CREAT | os.O_WRONLY, 0o604) == 3
    assert stat.S_IMODE(kernel.stat("/new").st_mode) == 0o604


# ---------------------------------------------------------------- xattrs


def test_set_get_list_remove(kernel, root):
    regular(kernel, "/f")
    kernel.setxattr("/f", "user.b", b"bee")
    kernel.setxattr("/f", "user.a", b"")
    kernel.setxattr("/f", "trusted.t", b"\x00\xff")
    assert os.getxattr(f"{root}/f", "user.b") == b"bee"
    assert kernel.getxattr("/f", "user.a") == b""  # an empty value is a real attribute
    assert kernel.getxattr("/f", "trusted.t") == b"\x00\xff"
    names = kernel.listxattr("/f")
    assert sorted(names) == ["trusted.t", "user.a", "user.b"]
    assert names == os.listxattr(f"{root}/f")  # the kernel's own order
    kernel.removexattr("/f", "user.b")
    raises_errno(errno.ENODATA, kernel.getxattr, "/f", "user.b")
    raises_errno(errno.ENODATA, kernel.removexattr, "/f", "user.b")
    assert "user.b" not in kernel.listxattr("/f")


def test_size_zero_protocol_and_erange(kernel):
    regular(kernel, "/f")
    kernel.setxattr("/f", "user.v", b"12345")
    kernel.setxattr("/f", "user.w", b"x")
    assert kernel.getxattr("/f", "user.v", 0) == 5
    assert kernel.getxattr("/f", "user.v", 5) == b"12345"
    raises_errno(errno.ERANGE, kernel.getxattr, "/f", "user.v", 4)
    assert kernel.getxattr("/f", "user.v", 1 << 20) == b"12345"  # clamped, not refused
    needed = len(b"user.v\0user.w\0")
    assert kernel.listxattr("/f", 0) == needed
    assert sorted(kernel.listxattr("/f", needed)) == ["user.v", "user.w"]
    raises_errno(errno.ERANGE, kernel.listxattr, "/f", needed - 1)
    raises_errno(errno.ERANGE, kernel.listxattr, "/f", 1)  # never a partial list
    with pytest.raises(ValueError):
        kernel.getxattr("/f", "user.v", -1)


def test_create_and_replace_flags(kernel):
    regular(kernel, "/f")
    kernel.setxattr("/f", "user.a", b"1", XATTR_CREATE)
    raises_errno(errno.EEXIST, kernel.setxattr, "/f", "user.a", b"2", XATTR_CREATE)
    raises_errno(errno.ENODATA, kernel.setxattr, "/f", "user.b", b"2", XATTR_REPLACE)
    kernel.setxattr("/f", "user.a", b"3", XATTR_REPLACE)
    assert kernel.getxattr("/f", "user.a") == b"3"
    raises_errno(errno.EEXIST, kernel.setxattr, "/f", "user.a", b"4", XATTR_CREATE | XATTR_REPLACE)
    raises_errno(errno.ENODATA, kernel.setxattr, "/f", "user.c", b"4", XATTR_CREATE | XATTR_REPLACE)
    # Invalid flags reach the kernel, which refuses them before looking at the path.
    raises_errno(errno.EINVAL, kernel.setxattr, "/missing", "user.a", b"", 4)
    raises_errno(errno.EINVAL, kernel.fsetxattr, -1, "user.a", b"", -1)


def test_name_and_value_limits_come_from_the_kernel(kernel):
    regular(kernel, "/f")
    kernel.setxattr("/f", "user." + "n" * 250, b"")  # 255 bytes: accepted
    raises_errno(errno.ERANGE, kernel.setxattr, "/f", "user." + "n" * 251, b"")
    raises_errno(errno.ERANGE, kernel.getxattr, "/f", "")
    raises_errno(errno.E2BIG, kernel.setxattr, "/f", "user.big", b"v" * 65537)
    raises_errno(errno.EOPNOTSUPP, kernel.setxattr, "/f", "foo.bar", b"")
    raises_errno(errno.EINVAL, kernel.setxattr, "/f", "user.", b"")
    with pytest.raises(ValueError, match="null"):
        kernel.setxattr("/f", "user.a\0b", b"")
    with pytest.raises(ValueError, match="null"):
        kernel.getxattr("/f\0x", "user.a")
    with pytest.raises(TypeError):
        kernel.setxattr("/f", "user.a", "text")


def test_non_utf8_names_round_trip(kernel, root):
    regular(kernel, "/f")
    name = os.fsdecode(b"user.\xff\xfe")
    kernel.setxattr("/f", name, b"v")
    assert kernel.listxattr("/f") == [name]
    assert os.listxattr(f"{root}/f") == [name]
    assert kernel.getxattr("/f", name) == b"v"


def test_l_calls_do_not_follow_symlinks(kernel):
    regular(kernel, "/f")
    kernel.symlink("/f", "/lnk")
    kernel.setxattr("/lnk", "user.a", b"via link")
    assert kernel.getxattr("/f", "user.a") == b"via link"
    raises_errno(errno.EPERM, kernel.lsetxattr, "/lnk", "user.a", b"")  # user.* on a symlink
    raises_errno(errno.ENODATA, kernel.lgetxattr, "/lnk", "user.a")
    kernel.lsetxattr("/lnk", "trusted.t", b"on the link")
    assert kernel.llistxattr("/lnk") == ["trusted.t"]
    assert kernel.llistxattr("/lnk", 0) == len(b"trusted.t\0")
    assert kernel.lgetxattr("/lnk", "trusted.t") == b"on the link"
    assert kernel.lgetxattr("/lnk", "trusted.t", 0) == 11
    raises_errno(errno.ENODATA, kernel.getxattr, "/f", "trusted.t")
    kernel.lremovexattr("/lnk", "trusted.t")
    assert kernel.llistxattr("/lnk") == []


def test_fd_calls(kernel):
    regular(kernel, "/f")
    fd = kernel.open("/f", os.O_RDONLY)
    kernel.fsetxattr(fd, "user.a", b"one")
    raises_errno(errno.EEXIST, kernel.fsetxattr, fd, "user.a", b"two", XATTR_CREATE)
    assert kernel.fgetxattr(fd, "user.a") == b"one"
    assert kernel.fgetxattr(fd, "user.a", 0) == 3
    raises_errno(errno.ERANGE, kernel.fgetxattr, fd, "user.a", 2)
    assert kernel.flistxattr(fd) == ["user.a"]
    assert kernel.flistxattr(fd, 0) == 7
    raises_errno(errno.ERANGE, kernel.flistxattr, fd, 6)
    kernel.fremovexattr(fd, "user.a")
    raises_errno(errno.ENODATA, kernel.fremovexattr, fd, "user.a")
    raises_errno(errno.ENODATA, kernel.getxattr, "/f", "user.a")
    kernel.close(fd)
    raises_errno(errno.EBADF, kernel.fgetxattr, fd, "user.a")
    raises_errno(errno.EBADF, kernel.flistxattr, AT_FDCWD)
    raises_errno(errno.EBADF, kernel.fremovexattr, -1, "user.a")
    with pytest.raises(OverflowError):
        kernel.fgetxattr(2**40, "user.a")  # would silently become fd 0 in C


def test_the_helpers_channel_is_not_a_caller_fd(kernel):
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    channel = (soft if 0 < soft <= 65536 else 65536) - 1
    for fd in {channel, 1023}:
        raises_errno(errno.EBADF, kernel.flistxattr, fd)
        raises_errno(errno.EBADF, kernel.close, fd)
    regular(kernel, "/f")
    assert kernel.listxattr("/f") == []  # still talking


# ---------------------------------------------------------------- callers


def test_unprivileged_user_gets_eacces_on_root_file(kernel):
    regular(kernel, "/f", 0o644)
    kernel.setxattr("/f", "user.x", b"root's")
    with kernel.become(1000):
        raises_errno(errno.EACCES, kernel.setxattr, "/f", "user.x", b"mine")
        assert kernel.getxattr("/f", "user.x") == b"root's"
        raises_errno(errno.EPERM, kernel.setxattr, "/f", "trusted.x", b"")
        raises_errno(errno.ENODATA, kernel.getxattr, "/f", "trusted.x")


def test_root_without_capabilities_is_refused_trusted(kernel):
    regular(kernel, "/f", 0o644)
    kernel.setxattr("/f", "trusted.seen", b"")
    with kernel.become(0, caps=()):
        raises_errno(errno.EPERM, kernel.setxattr, "/f", "trusted.x", b"")
        assert kernel.listxattr("/f") == []  # trusted.* hidden without CAP_SYS_ADMIN
        kernel.setxattr("/f", "user.x", b"owner")  # uid 0 owns the file
    kernel.setxattr("/f", "trusted.x", b"")


def test_a_single_capability_bypasses_dac_for_trusted(kernel):
    regular(kernel, "/f", 0o000)
    with kernel.become(1000, caps=["CAP_SYS_ADMIN"]):
        kernel.setxattr("/f", "trusted.x", b"granted")
        assert kernel.getxattr("/f", "trusted.x") == b"granted"
        raises_errno(errno.EACCES, kernel.setxattr, "/f", "user.x", b"")
    with kernel.become(1000, caps=["CAP_DAC_OVERRIDE"]):
        kernel.setxattr("/f", "user.x", b"dac")
        raises_errno(errno.EPERM, kernel.setxattr, "/f", "trusted.y", b"")


def test_become_sets_uid_gid_and_groups(kernel):
    kernel.mkdir("/pub", 0o777)
    with kernel.become(1000, 1001):
        regular(kernel, "/pub/mine")
    st = kernel.stat("/pub/mine")
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    with kernel.become(1002):
        regular(kernel, "/pub/other")
    assert (kernel.stat("/pub/other").st_uid, kernel.stat("/pub/other").st_gid) == (1002, 1002)
    regular(kernel, "/grp", 0o060)
    kernel.chown("/grp", 0, 50)
    with kernel.become(1000, groups=[50]):
        kernel.setxattr("/grp", "user.g", b"member")
    with kernel.become(1000, 50):
        kernel.setxattr("/grp", "user.g", b"fsgid")
    with kernel.become(1000):
        raises_errno(errno.EACCES, kernel.setxattr, "/grp", "user.g", b"")


def test_become_nests_restores_and_is_reusable(kernel):
    regular(kernel, "/f", 0o600)
    as_user = kernel.become(1000)
    with as_user:
        raises_errno(errno.EACCES, kernel.getxattr, "/f", "user.a")
        with kernel.become(0):
            kernel.setxattr("/f", "user.a", b"root again")
            with as_user:
                raises_errno(errno.EACCES, kernel.getxattr, "/f", "user.a")
            assert kernel.getxattr("/f", "user.a") == b"root again"
        raises_errno(errno.EACCES, kernel.getxattr, "/f", "user.a")
    with pytest.raises(KeyError):
        with as_user:
            raise KeyError("restores on exceptions too")
    assert kernel.getxattr("/f", "user.a") == b"root again"
    regular(kernel, "/root-made")
    assert kernel.stat("/root-made").st_uid == 0


def test_become_validates_capabilities(kernel):
    with pytest.raises(ValueError, match="CAP_NOPE"):
        kernel.become(1000, caps=["CAP_NOPE"])
    held = int(next(l for l in open("/proc/self/status") if l.startswith("CapPrm:")).split()[1], 16)
    missing = [bit for bit in range(41) if not held >> bit & 1]
    if missing:
        from fsmodel._rules.constants import CAP_NAMES

        with pytest.raises(ValueError, match="does not hold"):
            kernel.become(1000, caps=[CAP_NAMES[missing[0]]])


def test_become_rejects_impossible_ids(kernel):
    with pytest.raises(ValueError):
        kernel.become(-1)
    with pytest.raises(ValueError):
        kernel.become(1000, 0xFFFFFFFF)


def test_a_dead_helper_is_reported_not_mistaken_for_an_errno(root):
    k = HostKernel(root)
    k.mkdir("/m", 0o755)
    k.mount("/m", "tmpfs")
    os.kill(k._state.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="helper"):
        k.stat("/")
    with pytest.raises(ValueError, match="closed"):
        k.stat("/")
    k.close()
    assert mounts_under(root) == []


def test_closing_inside_become(root):
    k = HostKernel(root)
    with k.become(1000):
        k.close()
    with pytest.raises(ValueError, match="closed"):
        k.stat("/")


# ---------------------------------------------------------------- mounts


VALUE_LIMITS = [
    # fs, options, largest value for "user.v", the errno one byte more gets (spec §4)
    pytest.param("tmpfs", {}, 65536, errno.E2BIG, marks=needs("tmpfs")),
    pytest.param("tmpfs", {"nr_inodes": 64}, 63442, errno.ENOSPC, marks=needs("tmpfs")),
    pytest.param("ext4", {}, 4040, errno.ENOSPC, marks=needs("ext4")),
    pytest.param("ext4", {"block_size": 1024}, 968, errno.ENOSPC, marks=needs("ext4")),
    pytest.param("ext4", {"ea_inode": True}, 65536, errno.E2BIG, marks=needs("ext4")),
    pytest.param("ext4", {"inode_size": 128}, 4040, errno.ENOSPC, marks=needs("ext4")),
    pytest.param("xfs", {}, 65536, errno.E2BIG, marks=needs("xfs")),
    pytest.param("btrfs", {}, 16222, errno.ENOSPC, marks=needs("btrfs")),
    pytest.param("btrfs", {"nodesize": 65536}, 65374, errno.ENOSPC, marks=needs("btrfs")),
]


@pytest.mark.parametrize("fs, options, largest, past", VALUE_LIMITS)
def test_mount_each_filesystem_with_options(kernel, root, fs, options, largest, past):
    kernel.mkdir("/mnt", 0o755)
    kernel.mount("/mnt", fs, **options)
    assert kernel.stat("/mnt").st_dev != kernel.stat("/").st_dev
    with HostKernel(f"{root}/mnt") as inner:
        assert inner.fs == fs
    regular(kernel, "/mnt/f")
    raises_errno(past, kernel.setxattr, "/mnt/f", "user.v", b"v" * (largest + 1))
    kernel.setxattr("/mnt/f", "user.v", b"v" * largest)
    assert kernel.getxattr("/mnt/f", "user.v", 0) == largest
    if options.get("nr_inodes"):
        assert os.statvfs(f"{root}/mnt").f_files == options["nr_inodes"]
    if options.get("block_size"):
        assert os.statvfs(f"{root}/mnt").f_bsize == options["block_size"]


def test_ramfs_has_no_xattrs(kernel):
    kernel.mkdir("/mnt", 0o755)
    kernel.mount("/mnt", "ramfs")
    regular(kernel, "/mnt/f")
    raises_errno(errno.EOPNOTSUPP, kernel.setxattr, "/mnt/f", "user.a", b"")
    raises_errno(errno.EOPNOTSUPP, kernel.getxattr, "/mnt/f", "trusted.a")
    assert kernel.listxattr("/mnt/f") == [] and kernel.listxattr("/mnt/f", 0) == 0
    raises_errno(errno.ENOTTY, kernel.set_flags, "/mnt/f", immutable=True)  # no FS_IOC_*FLAGS


def test_mount_argument_errors(kernel):
    kernel.mkdir("/mnt", 0o755)
    with pytest.raises(TypeError, match="valid ext4 options: block_size, inode_size, ea_inode"):
        kernel.mount("/mnt", "ext4", nodesize=4096)
    with pytest.raises(ValueError, match="only"):
        kernel.mount("/mnt", "nfs")
    with pytest.raises(ValueError, match="root itself"):
        kernel.mount("/", "tmpfs")
    raises_errno(errno.ENOENT, kernel.mount, "/missing", "tmpfs")
    regular(kernel, "/file")
    with pytest.raises(MountError):
        kernel.mount("/file", "tmpfs")
    assert mounts_under(kernel.root) == []


def test_mount_follows_symlinks_inside_the_root(kernel, root):
    kernel.mkdir("/real", 0o755)
    kernel.symlink("/real", "/alias")
    kernel.mount("/alias", "tmpfs")
    assert [m[0] for m in mounts_under(root)] == [f"{os.path.realpath(root)}/real"]


def test_remount_readonly_gives_erofs(kernel):
    kernel.mkdir("/mnt", 0o755)
    kernel.mount("/mnt", "tmpfs")
    regular(kernel, "/mnt/f")
    kernel.setxattr("/mnt/f", "user.a", b"before")
    kernel.remount("/mnt", readonly=True)
    raises_errno(errno.EROFS, kernel.setxattr, "/mnt/f", "user.a", b"after")
    raises_errno(errno.EROFS, kernel.removexattr, "/mnt/f", "user.a")
    raises_errno(errno.EROFS, kernel.mkdir, "/mnt/d", 0o755)
    assert kernel.getxattr("/mnt/f", "user.a") == b"before"  # reads are unaffected
    kernel.remount("/mnt", readonly=False)
    kernel.setxattr("/mnt/f", "user.a", b"after")


def test_mount_readonly(kernel):
    kernel.mkdir("/mnt", 0o755)
    kernel.mount("/mnt", "tmpfs", readonly=True)
    raises_errno(errno.EROFS, regular, kernel, "/mnt/f")


# ---------------------------------------------------------------- inode flags


def test_immutable_and_append_only(kernel):
    regular(kernel, "/f")
    kernel.setxattr("/f", "user.a", b"kept")
    kernel.set_flags("/f", immutable=True)
    raises_errno(errno.EPERM, kernel.setxattr, "/f", "user.a", b"")
    raises_errno(errno.EPERM, kernel.removexattr, "/f", "user.a")
    raises_errno(errno.EPERM, kernel.unlink, "/f")
    assert kernel.getxattr("/f", "user.a") == b"kept"  # reads are unaffected
    kernel.set_flags("/f", append=True)  # immutable cleared, append set
    raises_errno(errno.EPERM, kernel.setxattr, "/f", "user.a", b"")
    raises_errno(errno.EPERM, kernel.unlink, "/f")
    kernel.set_flags("/f")
    kernel.setxattr("/f", "user.a", b"changed")
    kernel.unlink("/f")


def test_set_flags_permissions_and_file_types(kernel):
    regular(kernel, "/f")
    regular(kernel, "/target")
    kernel.symlink("/target", "/lnk")
    kernel.mknod("/fifo", stat.S_IFIFO | 0o644)
    with kernel.become(1000):
        raises_errno(errno.EPERM, kernel.set_flags, "/f", immutable=True)  # not the owner
    with kernel.become(0, caps=["CAP_FOWNER", "CAP_DAC_OVERRIDE"]):
        raises_errno(errno.EPERM, kernel.set_flags, "/f", immutable=True)  # no CAP_LINUX_IMMUTABLE
    kernel.set_flags("/lnk", immutable=True)  # follows the symlink, like chattr
    raises_errno(errno.EPERM, kernel.unlink, "/target")
    kernel.unlink("/lnk")
    # tmpfs gives special files no fileattr operations, so the ioctl reaches the fifo: ENOTTY
    raises_errno(errno.ENOTTY, kernel.set_flags, "/fifo", immutable=True)
    raises_errno(errno.ENOENT, kernel.set_flags, "/missing", immutable=True)


# ---------------------------------------------------------------- teardown


def test_close_leaves_no_mounts_loop_devices_or_images(root):
    k = HostKernel(root)
    k.mkdir("/a", 0o755)
    k.mount("/a", "tmpfs")
    for fs in ("ext4", "xfs", "btrfs"):
        if fs in AVAILABLE:
            k.mkdir(f"/a/{fs}", 0o755)
            k.mount(f"/a/{fs}", fs)
    regular(k, "/a/busy")
    k.open("/a/busy", os.O_RDONLY)  # an open fd in the helper must not keep it mounted
    mounted = mounts_under(k.root)
    assert len(mounted) == 1 + len(set(AVAILABLE) & {"ext4", "xfs", "btrfs"})
    backing = loop_backing_files(src for _, _, src in mounted if src.startswith("/dev/loop"))
    assert len(backing) == len(mounted) - 1
    k.close()
    k.close()  # idempotent
    assert mounts_under(k.root) == []
    attached = attached_backing_files()
    for image in backing.values():
        assert image not in attached
        assert not os.path.exists(os.path.dirname(image))
    with pytest.raises(ValueError, match="closed"):
        k.stat("/")


def test_teardown_after_an_exception(root):
    with pytest.raises(ZeroDivisionError):
        with HostKernel(root) as k:
            k.mkdir("/m", 0o755)
            k.mount("/m", "tmpfs")
            1 / 0
    assert mounts_under(root) == []


def test_finalizer_unmounts_a_forgotten_kernel(root):
    k = HostKernel(root)
    k.mkdir("/m", 0o755)
    k.mount("/m", "tmpfs")
    assert len(mounts_under(root)) == 1
    del k
    gc.collect()
    assert mounts_under(root) == []


def test_close_clears_inode_flags_so_the_root_can_be_deleted():
    top = tempfile.mkdtemp(prefix="fsmodel-test-")
    try:
        with HostKernel(top) as k:
            k.mkdir("/d", 0o755)
            regular(k, "/d/frozen")
            k.set_flags("/d/frozen", immutable=True)
            k.set_flags("/d", append=True)
            raises_errno(errno.EPERM, os.unlink, f"{top}/d/frozen")
    finally:
        shutil.rmtree(top)  # fails with EPERM if a flag survived
    assert not os.path.exists(top)
