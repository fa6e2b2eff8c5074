"""Properties of the simulated kernel over random call sequences (no root needed)."""

import errno

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fsmodel
from fsmodel.testing.differential import BASE, DIRS, PATHS, OpSpace, _caller_args, call

FS = [("tmpfs", {}), ("tmpfs", {"nr_inodes": 64}), ("ext4", {}), ("ext4", {"block_size": 1024}),
      ("ext4", {"ea_inode": True}), ("xfs", {}), ("btrfs", {}), ("ramfs", {})]


def drive(k, data, steps=40):
    space = OpSpace(k.fs)
    def choose(options):
        options = list(options)
        return options[data.draw(st.integers(0, len(options) - 1))]

    for step in space.setup() + [None] * steps:
        if step is None:
            step = space.next_step(choose)
        if step.method == "become":
            continue
        with k.become(*_caller_args(step.caller)):
            result = call(k, step.method, step.args)
        assert result[0] != "raised", (step, result)
        space.observe(step, result)
    k.remount("/", False)


@pytest.mark.parametrize("fs, options", FS, ids=[f + str(o or "") for f, o in FS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_listing_and_reading_agree(fs, options, data):
    """Whatever happened, root's listing matches getxattr, and size 0 tells the length."""
    k = fsmodel.SimKernel(fs, **options)
    drive(k, data)
    for path in (BASE,) + PATHS + DIRS:
        try:
            names = k.llistxattr(path)
        except OSError as exc:
            # the sequence may have left a missing, non-directory or looping component
            assert exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
            continue
        assert k.llistxattr(path, 0) == sum(len(n.encode("utf-8", "surrogateescape")) + 1
                                            for n in names)
        assert len(set(names)) == len(names)
        for name in names:
            try:
                value = k.lgetxattr(path, name)
            except OSError as exc:
                # an empty security.capability is listed but unreadable (spec §8.1)
                assert (name, exc.errno) == ("security.capability", errno.EINVAL)
                continue
            assert k.lgetxattr(path, name, 0) == len(value)


@pytest.mark.parametrize("fs, options", [f for f in FS if f[0] in ("tmpfs", "ext4")],
                         ids=lambda v: str(v))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_capacity_accounting_stays_in_bounds(fs, options, data):
    """tmpfs' pool never goes negative or above its size; ext4 regions never overflow."""
    k = fsmodel.SimKernel(fs, **options)
    drive(k, data)
    mount = k._root_mount
    profile = mount.fs
    if fs == "tmpfs":
        free = mount.state["free_ispace"]
        assert 0 <= free <= profile.opts["nr_inodes"] * 1024
    else:
        stack = [mount.root]
        while stack:
            inode = stack.pop()
            if inode.fsdata:
                body = profile._used(inode, inode.fsdata["body"])
                block = profile._used(inode, inode.fsdata["block"])
                assert sum(body) <= max(profile.ibody_size - 4, 0)
                assert sum(block) <= profile.block_size - 36
            stack.extend((inode.children or {}).values())
