"""SimKernel.clone(): a copy that behaves as the original would, and that shares no
state with it.  The oracle is a kernel that never was cloned: the same calls on a
fresh kernel give the same results and the same tree, times and inode numbers
included."""

from __future__ import annotations

import errno
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsmodel import strategies as fst
from fsmodel._sim.kernel import SimKernel
from fsmodel.testing.differential import Pair
from tests.conftest import scaled


def state(k: SimKernel) -> list:
    """Everything observable of the tree: stat (inode numbers and times included),
    xattrs in listing order, and the free inode space of each mount's filesystem."""
    out = []
    with k.become(0, 0):
        for path, st_, xattrs in k.tree("/"):
            try:
                order = k.llistxattr(path)
            except OSError as exc:
                order = exc.errno
            out.append((path, tuple(st_), st_.st_ctime_ns, sorted(xattrs.items()), order))
    return out


def run(k: SimKernel, steps) -> list:
    """The outcome of every step (Pair runs one kernel as both sides)."""
    pair = Pair(k, k)
    return [pair.run(step)[0] for step in steps]


@settings(max_examples=scaled(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fst.syscall_sequences(min_size=1, max_size=40), st.data())
def test_a_clone_goes_on_as_the_original_would(seq, data):
    cut = data.draw(st.integers(len(seq.steps) - 40 if len(seq.steps) > 40 else 0,
                                len(seq.steps)), label="cut")
    before, after = seq.steps[:cut], seq.steps[cut:]

    original = SimKernel(seq.fs)
    run(original, before)
    copy = original.clone()

    never_cloned = SimKernel(seq.fs)
    run(never_cloned, before)
    assert state(copy) == state(never_cloned)

    expected = run(never_cloned, after)
    assert run(copy, after) == expected
    assert state(copy) == state(never_cloned)

    # the original saw none of that, and still goes on as if never cloned
    reference = SimKernel(seq.fs)
    run(reference, before)
    assert state(original) == state(reference)
    assert run(original, after) == expected
    assert state(original) == state(never_cloned)


def test_mounts_fds_and_cwd_are_copied_and_independent():
    k = SimKernel("ext4")
    k.mkdir("/mnt", 0o755)
    k.mount("/mnt", "tmpfs", nr_inodes=5)
    k.mkdir("/mnt/d", 0o755)
    k.lsetxattr("/mnt/d", "user.a", b"1")
    fd = k.open("/mnt/d/f", os.O_WRONLY | os.O_CREAT, 0o644)
    k.unlink("/mnt/d/f")                       # open but nameless
    k.chdir("/mnt/d")
    k.umask(0o027)

    c = k.clone()
    assert state(c) == state(k)
    k.fsetxattr(fd, "user.before", b"0")
    assert c.flistxattr(fd) == []            # set after the copy: not in it
    c.fsetxattr(fd, "user.only-in-clone", b"x")
    assert k.flistxattr(fd) == ["user.before"]
    c.close(fd)
    k.fsetxattr(fd, "user.still-open", b"y")   # the original's fd is untouched

    # each copy has its own tmpfs inode budget: room for one more inode in each
    k.mkdir("/mnt/e", 0o755)
    # cwd and umask carried over: a relative create lands in the clone's /mnt/d only
    c.mkdir("e", 0o777)
    assert stat.S_IMODE(c.lstat("/mnt/d/e").st_mode) == 0o750
    with pytest.raises(FileNotFoundError):
        k.lstat("/mnt/d/e")
    # the clone's close freed its nameless inode, so it has room for one more
    c.mkdir("/mnt/f", 0o755)
    for kernel, path in ((k, "/mnt/f"), (c, "/mnt/g")):
        with pytest.raises(OSError) as refused:
            kernel.mkdir(path, 0o755)
        assert refused.value.errno == errno.ENOSPC

    # removing in the clone does not remove in the original
    c.lremovexattr("/mnt/d", "user.a")
    assert k.lgetxattr("/mnt/d", "user.a") == b"1"


def test_the_caller_and_sysctls_are_copied():
    k = SimKernel("ext4")
    k.mkdir("/d", 0o700)
    k.sysctl["protected_hardlinks"] = 0
    with k.become(1000):
        c = k.clone()
        with pytest.raises(PermissionError):
            c.mkdir("/d/x", 0o755)
    c.sysctl["protected_symlinks"] = 1
    assert k.sysctl == {**c.sysctl, "protected_symlinks": 0}
    assert c.caller.uid == 1000 and k.caller.uid == 0


def test_fake_linux_kernels_refuse():
    from fsmodel.fake import FakeKernel

    with pytest.raises(TypeError, match="clone"):
        SimKernel.clone(FakeKernel.__new__(FakeKernel))


def test_steps_of_every_kind_are_compared():
    """The property above is only as strong as the steps it runs: they must include
    fd calls, mounts and creations, not only xattr calls."""
    seen: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(fst.syscall_sequences(min_size=20, max_size=40))
    def collect(seq):
        seen.update(s.method for s in seq.steps)

    collect()
    assert {"open", "fsetxattr", "remount", "mknod", "unlink", "chmod"} <= seen


@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs", "tmpfs"])
def test_listing_order_is_per_copy(fs):
    """Where attributes live (ext4's in-inode body or block, xfs' fork format) decides
    the order listxattr gives; a clone's changes must not reorder the original's."""
    def setup(k):
        k.mknod("/f", stat.S_IFREG | 0o644, 0)
        for i in range(12):
            k.lsetxattr("/f", f"user.n{i}", bytes(40 * i))

    def churn(k):
        for i in range(0, 12, 2):
            k.lremovexattr("/f", f"user.n{i}")
        for i in range(0, 12, 3):
            k.lsetxattr("/f", f"user.n{i}", bytes(200))
        k.lsetxattr("/f", "user.new", b"x")

    original, reference = SimKernel(fs), SimKernel(fs)
    setup(original)
    setup(reference)
    copy = original.clone()
    churn(copy)
    assert state(original) == state(reference)
    churn(original)
    churn(reference)
    assert state(original) == state(reference) == state(copy)


def test_an_inode_copy_carries_every_slot():
    """clone() starts from Inode._copy: a slot added to Inode and left out of _copy
    would silently reset in every clone."""
    from fsmodel._sim.kernel import Inode

    old = Inode.__new__(Inode)
    for i, slot in enumerate(Inode.__slots__):
        setattr(old, slot, object() if i % 2 else i)
    new = old._copy()
    assert new is not old
    assert [getattr(new, s) for s in Inode.__slots__] == [getattr(old, s) for s in Inode.__slots__]
