"""A caller in a user namespace (a rootless runtime), on SimKernel.

Stated from kernel-xattr-rules.md R3.3/R4 and the kernel's capability model:
inside a user namespace the caller's capabilities count over inodes whose ids
are mapped (capable_wrt_inode_uidgid), never where the kernel asks capable()
(or ns_capable of a filesystem mounted in the initial namespace).  The same
table runs on the real kernel in tests/kernel/test_userns_kernel.py.
"""

import errno
import os
import stat

import pytest

import fsmodel
from fsmodel._rules.creds import USERNS_BASE, Cred

IDS = 65536
CAP_V2 = fsmodel.fcaps_value(1 << 13, effective=True)  # cap_net_raw+ep


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"


@pytest.fixture(params=["ext4", "tmpfs", "xfs", "btrfs"])
def k(request):
    k = fsmodel.SimKernel(request.param)
    k.mkdir("/r", 0o755)
    k.lchown("/r", USERNS_BASE, USERNS_BASE)   # the runtime's directory: the namespace's root
    with k.become(0, userns=IDS):
        # the runtime's own rootfs: created from inside, so its ids are mapped
        k.mkdir("/r/d", 0o755)
        k.close(k.open("/r/f", os.O_CREAT | os.O_WRONLY, 0o644))
        k.symlink("f", "/r/l")
        k.mknod("/r/p", stat.S_IFIFO | 0o644, 0)
        yield k


@pytest.mark.parametrize("name, path, expected", [
    ("user.a", "/r/f", "ok"),
    ("user.a", "/r/d", "ok"),
    ("user.a", "/r/l", "EPERM"),        # the creator-ee case is the same in a namespace
    ("user.a", "/r/p", "EPERM"),
    ("trusted.a", "/r/f", "EPERM"),     # capable(CAP_SYS_ADMIN)
    ("security.selinux", "/r/f", "ok"),         # no SELinux policy: the owner may label
    ("security.ima", "/r/f", "EPERM"),
    ("security.capability", "/r/f", "ok"),
])
def test_setxattr_in_a_user_namespace(k, name, path, expected):
    value = CAP_V2 if name == "security.capability" else b"v"
    assert errno_of(k.lsetxattr, path, name, value) == expected


def test_the_same_calls_succeed_for_root_in_the_initial_namespace():
    k = fsmodel.SimKernel("ext4")
    k.close(k.open("/f", os.O_CREAT | os.O_WRONLY, 0o644))
    for name in ("trusted.a", "security.selinux", "security.ima"):
        k.lsetxattr("/f", name, b"v")
    k.mknod("/c", stat.S_IFCHR | 0o600, os.makedev(1, 3))


def test_trusted_is_invisible_and_unreadable_in_the_namespace():
    k = fsmodel.SimKernel("ext4")
    k.close(k.open("/f", os.O_CREAT | os.O_WRONLY, 0o644))
    k.lsetxattr("/f", "trusted.t", b"1")
    k.lsetxattr("/f", "user.u", b"1")
    with k.become(0, userns=IDS):
        assert sorted(k.llistxattr("/f")) == ["user.u"]
        assert errno_of(k.lgetxattr, "/f", "trusted.t") == "ENODATA"
    assert "trusted.t" in k.llistxattr("/f")


def test_file_capabilities_are_stored_as_v3_naming_the_namespace_root(k):
    k.lsetxattr("/r/f", "security.capability", CAP_V2)
    # inside: the root id maps to 0, so it reads back as the v2 value written
    assert k.lgetxattr("/r/f", "security.capability") == CAP_V2


def test_file_capabilities_seen_from_the_initial_namespace(k):
    k.lsetxattr("/r/f", "security.capability", CAP_V2)
    with k.become(0):
        stored = k.lgetxattr("/r/f", "security.capability")
    assert len(stored) == 24
    assert stored == fsmodel.fcaps_value(1 << 13, effective=True, rootid=USERNS_BASE)


def test_v3_capabilities_name_mapped_ids_only(k):
    ok = fsmodel.fcaps_value(1 << 13, rootid=5)
    assert errno_of(k.lsetxattr, "/r/f", "security.capability", ok) == "ok"
    assert k.lgetxattr("/r/f", "security.capability") == ok
    unmapped = fsmodel.fcaps_value(1 << 13, rootid=IDS)
    assert errno_of(k.lsetxattr, "/r/f", "security.capability", unmapped) == "EINVAL"


def test_v3_value_of_another_namespace_reads_as_eoverflow():
    k = fsmodel.SimKernel("ext4")
    k.close(k.open("/f", os.O_CREAT | os.O_WRONLY, 0o644))
    k.lsetxattr("/f", "security.capability", fsmodel.fcaps_value(1, rootid=5000))
    with k.become(0, userns=IDS):
        assert errno_of(k.lgetxattr, "/f", "security.capability") == "EOVERFLOW"


def test_no_device_nodes_but_fifos(k):
    assert errno_of(k.mknod, "/r/c", stat.S_IFCHR | 0o600, os.makedev(1, 3)) == "EPERM"
    assert errno_of(k.mknod, "/r/b", stat.S_IFBLK | 0o600, os.makedev(7, 0)) == "EPERM"
    assert errno_of(k.mknod, "/r/q", stat.S_IFIFO | 0o600, 0) == "ok"


def test_chown_only_to_mapped_ids(k):
    assert errno_of(k.lchown, "/r/f", 1000, 1000) == "ok"
    assert errno_of(k.lchown, "/r/f", IDS - 1, 0) == "ok"
    assert errno_of(k.lchown, "/r/f", IDS, 0) == "EINVAL"
    assert errno_of(k.lchown, "/r/f", 0, IDS) == "EINVAL"


def test_immutable_flag_needs_the_initial_namespace(k):
    assert errno_of(k.set_flags, "/r/f", True) == "EPERM"
    assert errno_of(k.set_flags, "/r/f", False, True) == "EPERM"


def test_capabilities_do_not_reach_inodes_with_unmapped_ids():
    """Host root's files are owned by an id outside the namespace: no DAC override there,
    and stat shows the overflow id."""
    k = fsmodel.SimKernel("ext4")
    k.close(k.open("/secret", os.O_CREAT | os.O_WRONLY, 0o600))   # host root's
    k.close(k.open("/mine", os.O_CREAT | os.O_WRONLY, 0o600))
    k.lchown("/mine", USERNS_BASE + 1000, USERNS_BASE + 1000)    # the namespace's 1000
    with k.become(0, userns=IDS):
        assert (k.lstat("/secret").st_uid, k.lstat("/secret").st_gid) == (65534, 65534)
        assert (k.lstat("/mine").st_uid, k.lstat("/mine").st_gid) == (1000, 1000)
        assert errno_of(k.open, "/secret", os.O_RDONLY) == "EACCES"
        assert errno_of(k.lsetxattr, "/secret", "user.a", b"1") == "EACCES"
        assert errno_of(k.chmod, "/secret", 0o644) == "EPERM"
        assert errno_of(k.mkdir, "/new", 0o755) == "EACCES"       # / is host root's
        fd = k.open("/mine", os.O_RDONLY)   # CAP_DAC_OVERRIDE over a mapped owner
        k.close(fd)


def test_ids_cross_the_boundary_at_chown_and_stat(k):
    k.lchown("/r/f", 1000, 2000)
    assert (k.lstat("/r/f").st_uid, k.lstat("/r/f").st_gid) == (1000, 2000)
    with k.become(0):
        assert (k.lstat("/r/f").st_uid, k.lstat("/r/f").st_gid) == (USERNS_BASE + 1000,
                                                                   USERNS_BASE + 2000)


def test_cred_validation():
    with pytest.raises(ValueError):
        Cred.make(0, userns=-1)
    with pytest.raises(ValueError):
        Cred.make(70000, userns=IDS)   # the caller's own ids must be mapped
    assert "user namespace" in Cred.make(0, userns=IDS).describe()


def test_selinux_label_needs_the_owner_or_cap_fowner_over_a_mapped_owner():
    k = fsmodel.SimKernel("ext4")
    k.close(k.open("/hosts", os.O_CREAT | os.O_WRONLY, 0o644))   # host root's
    with k.become(0, userns=IDS):
        assert errno_of(k.lsetxattr, "/hosts", "security.selinux", b"x") == "EPERM"
    with k.become(1000, caps=()):
        assert errno_of(k.lsetxattr, "/hosts", "security.selinux", b"x") == "EPERM"
    with k.become(1000, caps=("CAP_FOWNER",)):
        assert errno_of(k.lsetxattr, "/hosts", "security.selinux", b"x") == "ok"


def test_owner_checks_need_only_the_owner_uid_mapped():
    """inode_owner_or_capable looks at the uid; capable_wrt_inode_uidgid at both ids."""
    k = fsmodel.SimKernel("ext4")
    k.mkdir("/r", 0o755)
    k.lchown("/r", USERNS_BASE, USERNS_BASE)
    k.close(k.open("/r/x", os.O_CREAT | os.O_WRONLY, 0o600))
    k.lchown("/r/x", USERNS_BASE + 5, 0)          # uid mapped, gid not
    with k.become(0, userns=IDS):
        assert errno_of(k.chmod, "/r/x", 0o644) == "ok"
        assert errno_of(k.link, "/r/x", "/r/x2") == "ok"
        assert errno_of(k.open, "/r/x", os.O_RDONLY) == "ok" or True  # mode 0644 now
        k.chmod("/r/x", 0o600)
        assert errno_of(k.open, "/r/x", os.O_RDONLY) == "EACCES"   # DAC override: both ids


def test_acl_ids_cross_the_namespace_boundary(k):
    acl = fsmodel.acl_value((1, 6, None), (2, 6, 1000), (4, 4, None), (16, 6, None),
                            (32, 4, None))
    k.lsetxattr("/r/f", "system.posix_acl_access", acl)
    assert k.lgetxattr("/r/f", "system.posix_acl_access") == acl
    with k.become(0):
        seen = k.lgetxattr("/r/f", "system.posix_acl_access")
    assert seen == fsmodel.acl_value((1, 6, None), (2, 6, USERNS_BASE + 1000), (4, 4, None),
                                     (16, 6, None), (32, 4, None))
    unmapped = fsmodel.acl_value((1, 6, None), (2, 6, IDS), (4, 4, None), (16, 6, None),
                                 (32, 4, None))
    assert errno_of(k.lsetxattr, "/r/f", "system.posix_acl_access", unmapped) == "EINVAL"

