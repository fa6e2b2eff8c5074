"""The linux_fs fixture, its marker, and the pattern for Hypothesis tests."""

import errno
import os
import pathlib
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from fsmodel import fake_linux


def test_linux_fs_defaults(linux_fs):
    assert linux_fs.kernel == "6.18"
    assert linux_fs.caller.uid == 0
    pathlib.Path("/f").write_text("x")
    os.symlink("f", "/l")
    with pytest.raises(PermissionError):
        os.setxattr("/l", "user.a", b"", follow_symlinks=False)
    assert linux_fs.kernel_model.filesystem("/").name == "ext4"


@pytest.mark.linux_fs(fs="xfs", uid=1000, gid=1000)
def test_linux_fs_marker(linux_fs):
    assert linux_fs.kernel_model.filesystem("/").name == "xfs"
    assert (linux_fs.caller.uid, linux_fs.caller.gid) == (1000, 1000)
    with pytest.raises(PermissionError) as exc:
        os.mkdir("/not-mine")  # the root directory belongs to root
    assert exc.value.errno == errno.EACCES
    pathlib.Path("/tmp/f").write_text("x")  # /tmp is 1777
    os.setxattr("/tmp/f", "user.a", b"", 3)  # XFS creates on CREATE|REPLACE


@pytest.mark.linux_fs(fs="tmpfs", kernel="6.5")
def test_linux_fs_marker_kernel(linux_fs):
    pathlib.Path("/f").write_text("x")
    with pytest.raises(OSError) as exc:
        os.setxattr("/f", "user.a", b"")
    assert exc.value.errno == errno.EOPNOTSUPP


NAMES = st.sampled_from(["user.a", "trusted.b", "security.c", "foo.bar", "user."])
TYPES = st.sampled_from([stat.S_IFREG, stat.S_IFDIR, stat.S_IFIFO, stat.S_IFLNK])


@settings(max_examples=50, deadline=None)
@given(name=NAMES, value=st.binary(max_size=200), kind=TYPES)
def test_hypothesis_pattern(name, value, kind):
    """Open fake_linux() inside the body: a fresh filesystem per example."""
    with fake_linux("ext4"):
        if kind == stat.S_IFDIR:
            os.mkdir("/x")
        elif kind == stat.S_IFLNK:
            os.symlink("target", "/x")
        else:
            os.mknod("/x", kind | 0o644)
        try:
            os.setxattr("/x", name, value, follow_symlinks=False)
        except OSError as exc:
            expected = {"foo.bar": errno.EOPNOTSUPP, "user.": errno.EINVAL}.get(name)
            if name.startswith("user.") and kind not in (stat.S_IFREG, stat.S_IFDIR):
                expected = errno.EPERM
            assert exc.errno == expected
        else:
            assert os.getxattr("/x", name, follow_symlinks=False) == value


def test_hypothesis_database_stays_on_the_real_disk(tmp_path):
    """With the pattern above, a failing example is saved to the real example database."""
    db_dir = tmp_path / "examples"

    @settings(max_examples=50, database=DirectoryBasedExampleDatabase(str(db_dir)),
              deadline=None)
    @given(value=st.binary(min_size=1, max_size=8))
    def inner(value):
        with fake_linux("ext4"):
            pathlib.Path("/f").write_text("x")
            os.setxattr("/f", "user.a", value)
            assert len(os.getxattr("/f", "user.a")) < 3  # fails for 3+ bytes

    with pytest.raises(AssertionError):
        inner()
    saved = [p for p in db_dir.rglob("*") if p.is_file()]
    assert saved, "the failing example was not written to the real disk"
    assert not os.path.exists("/f")
