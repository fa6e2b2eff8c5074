"""fake_linux(): Python's own os obeys Linux's xattr rules inside it, and nothing leaks."""

import errno
import os
import pathlib
import shutil
import stat
import tempfile

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher

import fsmodel
from fsmodel.fake import UNFAKED, fake_linux

ACCESS = "system.posix_acl_access"


def err(code, fn, *args, **kwargs):
    with pytest.raises(OSError) as exc:
        fn(*args, **kwargs)
    assert exc.value.errno == code, (fn, args, errno.errorcode.get(exc.value.errno))
    return exc.value


@pytest.fixture
def real_dir():
    """A real directory whose absence inside the fake proves isolation."""
    with tempfile.TemporaryDirectory(prefix="fsmodel-leak-") as d:
        yield d


def test_xattr_calls_path_fd_and_nofollow():
    with fake_linux("ext4"):
        os.makedirs("/d")
        pathlib.Path("/d/f").write_bytes(b"data")
        os.symlink("f", "/d/l")
        os.setxattr("/d/f", "user.a", b"1")
        os.setxattr(b"/d/f", b"user.b", bytearray(b"2"), os.XATTR_CREATE)
        assert os.getxattr("/d/l", "user.a") == b"1"
        assert os.listxattr(pathlib.Path("/d/f")) == ["user.a", "user.b"]
        err(errno.EEXIST, os.setxattr, "/d/f", "user.a", b"x", os.XATTR_CREATE)
        err(errno.ENODATA, os.setxattr, "/d/f", "user.zz", b"x", os.XATTR_REPLACE)
        err(errno.EINVAL, os.setxattr, "/d/f", "user.a", b"x", 4)
        err(errno.EPERM, os.setxattr, "/d/l", "user.a", b"x", follow_symlinks=False)
        err(errno.ENODATA, os.getxattr, "/d/l", "user.a", follow_symlinks=False)
        assert os.listxattr("/d/l", follow_symlinks=False) == []
        os.setxattr("/d/l", "trusted.t", b"t", follow_symlinks=False)
        assert os.listxattr("/d/l", follow_symlinks=False) == ["trusted.t"]
        fd = os.open("/d/f", os.O_RDONLY)
        assert os.getxattr(fd, "user.b") == b"2"
        os.setxattr(fd, "user.c", b"3")
        os.removexattr(fd, "user.c")
        assert os.listxattr(fd) == ["user.a", "user.b"]
        os.close(fd)
        err(errno.EBADF, os.getxattr, fd, "user.a")
        os.removexattr("/d/f", "user.b")
        err(errno.ENODATA, os.removexattr, "/d/f", "user.b")
        err(errno.EOPNOTSUPP, os.setxattr, "/d/f", "foo.bar", b"")
        err(errno.EINVAL, os.setxattr, "/d/f", "user.", b"")
        err(errno.ERANGE, os.setxattr, "/d/f", "user." + "n" * 251, b"")
        err(errno.E2BIG, os.setxattr, "/d/f", "user.big", b"x" * 65537)
        err(errno.ENOSPC, os.setxattr, "/d/f", "user.big", b"x" * 4041)
        with pytest.raises(TypeError):
            os.setxattr("/d/f", "user.a", "not bytes")
        with pytest.raises(ValueError):
            os.setxattr("/d/f", "user.\0", b"")


def test_every_file_type_and_device_numbers(real_dir):
    with fake_linux("tmpfs"):
        os.mkdir(real_dir)  # the same path inside the fake: nothing outside is touched
        os.mkfifo(real_dir + "/p")
        os.mknod(real_dir + "/c", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        os.mknod(real_dir + "/b", stat.S_IFBLK | 0o600, os.makedev(7, 1))
        os.mknod(real_dir + "/s", stat.S_IFSOCK | 0o600)
        os.mknod(real_dir + "/r")
        os.mkdir(real_dir + "/d")
        os.symlink("r", real_dir + "/l")
        kinds = {n: stat.S_IFMT(os.lstat(f"{real_dir}/{n}").st_mode) for n in "pcbsrdl"}
        assert kinds == {"p": stat.S_IFIFO, "c": stat.S_IFCHR, "b": stat.S_IFBLK,
                         "s": stat.S_IFSOCK, "r": stat.S_IFREG, "d": stat.S_IFDIR,
                         "l": stat.S_IFLNK}
        assert os.stat(real_dir + "/c").st_rdev == os.makedev(1, 3)
        assert os.stat(real_dir + "/b").st_rdev == os.makedev(7, 1)
        for name in "pcbsl":
            err(errno.EPERM, os.setxattr, f"{real_dir}/{name}", "user.x", b"",
                follow_symlinks=False)
            os.setxattr(f"{real_dir}/{name}", "trusted.x", b"", follow_symlinks=False)
        for name in "rd":
            os.setxattr(f"{real_dir}/{name}", "user.x", b"")
        fd = os.open(real_dir + "/c", os.O_WRONLY)  # /dev/null's numbers: it has a driver
        os.close(fd)
        err(errno.ENXIO, os.open, real_dir + "/b", os.O_RDONLY)
        err(errno.ENXIO, os.open, real_dir + "/p", os.O_WRONLY | os.O_NONBLOCK)
    assert os.listdir(real_dir) == []  # nothing reached the host


def test_caller_switching_and_permissions():
    with fake_linux("ext4") as linux:
        os.mkdir("/srv", 0o755)
        with open("/srv/f", "w"):
            pass
        os.chmod("/srv/f", 0o644)
        with linux.become(1000):
            assert os.getuid() in (0, 1000)  # pyfakefs' user follows the caller
            err(errno.EACCES, os.setxattr, "/srv/f", "user.a", b"")
            err(errno.EPERM, os.setxattr, "/srv/f", "trusted.a", b"")
            err(errno.ENODATA, os.getxattr, "/srv/f", "trusted.a")
            err(errno.EPERM, os.chmod, "/srv/f", 0o777)
            err(errno.EPERM, os.chown, "/srv/f", 1000, 1000)
            err(errno.EPERM, os.mknod, "/tmp/c", stat.S_IFCHR | 0o600, os.makedev(1, 3))
            with open("/tmp/mine", "w"):
                pass
            assert os.stat("/tmp/mine").st_uid == 1000
        with linux.become(1000, caps=["CAP_SYS_ADMIN"]):
            os.setxattr("/srv/f", "trusted.a", b"")
        os.chown("/srv/f", 1000, 1000)
        os.lchown("/srv/f", 1000, -1)
        with linux.become(1000):
            os.setxattr("/srv/f", "user.a", b"")
            os.chmod("/srv/f", 0o600)
        with linux.become(0, caps=()):
            err(errno.EACCES, os.getxattr, "/srv/f", "user.a")
    with fake_linux("ext4", uid=1000, gid=1000):
        err(errno.EACCES, os.mkdir, "/etc-like")


def test_mounts_readonly_and_immutable():
    with fake_linux("ext4") as linux:
        assert linux.kernel == "6.18"
        os.makedirs("/mnt/small")
        linux.mount("/mnt/small", "tmpfs", nr_inodes=64)
        pathlib.Path("/mnt/small/f").write_text("x")
        pathlib.Path("/big").write_text("x")
        os.setxattr("/big", "user.v", b"x" * 4040)
        err(errno.ENOSPC, os.setxattr, "/big", "user.w", b"x" * 100)
        os.setxattr("/mnt/small/f", "user.v", b"x" * 10000)  # tmpfs, not ext4
        err(errno.ENOSPC, os.setxattr, "/mnt/small/f", "user.w", b"x" * 60000)
        os.makedirs("/mnt/ro")
        linux.mount("/mnt/ro", "xfs")
        pathlib.Path("/mnt/ro/f").write_text("x")
        linux.remount("/mnt/ro", True)
        err(errno.EROFS, os.setxattr, "/mnt/ro/f", "user.a", b"")
        err(errno.EROFS, os.chmod, "/mnt/ro/f", 0o600)
        assert os.listxattr("/mnt/ro/f") == []
        linux.remount("/mnt/ro", False)
        os.setxattr("/mnt/ro/f", "user.a", b"", 3)  # XFS: CREATE|REPLACE creates
        linux.set_flags("/big", immutable=True)
        err(errno.EPERM, os.setxattr, "/big", "user.a", b"")
        err(errno.EPERM, os.removexattr, "/big", "user.v")
        err(errno.EPERM, os.unlink, "/big")
        assert os.getxattr("/big", "user.v") == b"x" * 4040
        linux.set_flags("/big", append=True)
        err(errno.EPERM, os.setxattr, "/big", "user.a", b"")
        linux.set_flags("/big")
        os.unlink("/big")


def test_namespace_calls_follow_the_rules():
    with fake_linux("btrfs") as linux:
        os.mkdir("/t", 0o1777)
        os.chmod("/t", 0o1777)
        with linux.become(1000):
            pathlib.Path("/t/mine").write_text("x")
        with linux.become(1001):
            err(errno.EPERM, os.unlink, "/t/mine")
            err(errno.EPERM, os.rename, "/t/mine", "/t/other")
        os.link("/t/mine", "/t/hard")
        assert os.stat("/t/mine").st_nlink == 2 and os.stat("/t").st_nlink == 1  # btrfs
        os.replace("/t/hard", "/t/moved")
        os.remove("/t/moved")
        os.mkdir("/t/d")
        err(errno.ENOTEMPTY, os.rmdir, "/t")
        err(errno.EEXIST, os.mkdir, "/t/d")
        os.rmdir("/t/d")
        assert os.umask(0o022) == 0
        os.mkdir("/t/u")
        assert stat.S_IMODE(os.stat("/t/u").st_mode) == 0o755
        os.chdir("/t")
        os.setxattr("u", "user.rel", b"")
        assert os.getxattr("/t/u", "user.rel") == b""


def test_shutil_and_pathlib_work():
    with fake_linux("xfs"):
        src = pathlib.Path("/src/file.txt")
        src.parent.mkdir(parents=True)
        src.write_text("content")
        os.setxattr(src, "user.checksum", b"abc")
        os.setxattr(src, "trusted.t", b"t")
        shutil.copy2(src, "/dst.txt")
        assert pathlib.Path("/dst.txt").read_text() == "content"
        assert sorted(os.listxattr("/dst.txt")) == ["trusted.t", "user.checksum"]
        assert sorted(p.name for p in pathlib.Path("/").iterdir()) >= ["dst.txt", "src"]
        shutil.copytree("/src", "/copy")
        assert os.getxattr("/copy/file.txt", "user.checksum") == b"abc"
        shutil.rmtree("/copy")
        assert not os.path.exists("/copy")


def test_acls_through_os():
    acl = fsmodel.acl_value((1, 6, None), (2, 6, 1000), (4, 4, None), (0x10, 6, None), (0x20, 4, None))
    with fake_linux("ext4") as linux:
        pathlib.Path("/f").write_text("x")
        os.chmod("/f", 0o600)
        os.setxattr("/f", ACCESS, acl)
        assert stat.S_IMODE(os.stat("/f").st_mode) == 0o664
        with linux.become(1000):
            os.setxattr("/f", "user.via_acl", b"")


def test_unfaked_functions_do_not_reach_the_host():
    import sys

    real_os = sys.modules["os"]
    present = [name for name in sorted(UNFAKED) if hasattr(real_os, name)]
    assert "statvfs" in present
    with fake_linux():
        for name in present:
            with pytest.raises(NotImplementedError, match="fake_linux"):
                getattr(os, name)


def test_every_filesystem_function_of_os_is_faked_or_refused():
    """No os function that takes a path or fd and changes the filesystem falls through."""
    import sys

    from fsmodel.fake import FakeLinuxOs

    real_os = sys.modules["os"]
    mutating = {"chmod", "chown", "lchown", "fchmod", "fchown", "link", "mkdir", "makedirs",
                "mkfifo", "mknod", "open", "remove", "removedirs", "rename", "renames",
                "replace", "rmdir", "symlink", "truncate", "ftruncate", "unlink", "utime",
                "setxattr", "removexattr", "write", "chdir", "umask", "lchmod", "chflags",
                "lchflags", "chroot", "fchdir", "posix_fallocate", "mkfifoat", "mknodat",
                "copy_file_range", "sendfile", "splice"}
    with fake_linux():
        fake = sys.modules[__name__].os
        assert isinstance(fake, FakeLinuxOs)
        for name in sorted(mutating):
            if not hasattr(real_os, name):
                continue
            try:
                attr = getattr(fake, name)
            except NotImplementedError:
                continue
            owner = getattr(attr, "__self__", None)
            assert owner is fake, f"os.{name} would reach the host"


def test_joins_a_running_pyfakefs_and_restores_it():
    with Patcher() as patcher:
        patcher.fs.create_file("/existing", contents="x")
        os.symlink("/existing", "/link")
        os.setxattr("/link", "user.a", b"", follow_symlinks=False)  # plain pyfakefs: accepted
        with fake_linux() as linux:
            assert linux.fs is patcher.fs
            assert os.path.exists("/existing")
            err(errno.EPERM, os.setxattr, "/link", "user.b", b"", follow_symlinks=False)
            from os import setxattr as imported
            err(errno.EPERM, imported, "/link", "user.b", b"", follow_symlinks=False)
        os.setxattr("/link", "user.c", b"", follow_symlinks=False)  # pyfakefs' own again


def test_model_interface_is_reachable():
    with fake_linux("ext4") as linux:
        pathlib.Path("/f").write_text("x")
        os.setxattr("/f", "user.abc", b"12345")
        k = linux.kernel_model
        assert k.getxattr("/f", "user.abc", 0) == 5
        err(errno.ERANGE, k.getxattr, "/f", "user.abc", 4)
        assert k.listxattr("/f", 0) == 9
        v = k.explain("lsetxattr", "/f", "user.abc", b"", 1)
        assert v.rule.id == "R5.1-create-exists"


def test_builtin_open_goes_through_the_kernel():
    with fake_linux("ext4") as linux:
        os.umask(0o022)
        with open("/f", "w") as f:
            f.write("hello")
        assert f.name == "/f"
        assert stat.S_IMODE(os.stat("/f").st_mode) == 0o644
        linux.set_flags("/f", immutable=True)
        err(errno.EPERM, open, "/f", "a")
        err(errno.EPERM, pathlib.Path("/f").write_text, "x")
        assert open("/f").read() == "hello"
        linux.set_flags("/f", append=True)
        err(errno.EPERM, open, "/f", "w")  # append-only: no truncation
        with open("/f", "a") as f:
            f.write("!")
        linux.set_flags("/f")
        os.mkdir("/ro")
        linux.mount("/ro", "tmpfs")
        pathlib.Path("/ro/x").write_text("1")
        linux.remount("/ro", True)
        err(errno.EROFS, open, "/ro/y", "w")
        err(errno.EROFS, open, "/ro/x", "r+")
        assert open("/ro/x").read() == "1"
        with linux.become(1000):
            err(errno.EACCES, open, "/f", "a")
            err(errno.EACCES, open, "/new", "w")
        with linux.become(1000, caps=["CAP_DAC_OVERRIDE"]):
            with open("/f", "a") as f:
                f.write("?")
        assert open("/f").read() == "hello!?"
        err(errno.EEXIST, open, "/f", "x")
        err(errno.EISDIR, open, "/ro", "w")
        with pytest.raises(ValueError):
            open("/f", "rw")


def test_fd_functions_and_process_state():
    with fake_linux("tmpfs") as linux:
        os.makedirs("/a/b/c")
        os.makedirs("/a/b/c", exist_ok=True)
        err(errno.EEXIST, os.makedirs, "/a/b/c")
        pathlib.Path("/a/f").write_text("x")
        fd = os.open("/a/f", os.O_RDWR)
        os.fchmod(fd, 0o600)
        os.fchown(fd, 1000, 1000)
        st = os.fstat(fd)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 1000, 1000)
        with linux.become(1001):
            err(errno.EPERM, os.fchmod, fd, 0o777)
        os.close(fd)
        err(errno.EBADF, os.fstat, fd)
        os.chdir("/a/b")
        os.mkdir("rel")
        assert os.path.isdir("/a/b/rel")
        assert os.umask(0o077) == 0 and os.umask(0) == 0o077
        opath = os.open("/a/f", getattr(os, "O_PATH", 0o10000000))
        err(errno.EBADF, os.getxattr, opath, "user.a")
        os.close(opath)


def test_overrides_honour_pyfakefs_skip_logic():
    """Calls from modules pyfakefs skips go to the real os, as for its own methods."""
    from fsmodel.fake import FakeLinuxOs

    for name in ("setxattr", "getxattr", "listxattr", "removexattr", "mkfifo", "mknod",
                 "chmod", "chown", "open", "stat"):
        assert hasattr(getattr(FakeLinuxOs, name), "__wrapped__"), name
