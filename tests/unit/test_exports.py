"""The public surface is pinned: names users and later issues depend on."""

import inspect

import fsmodel
import fsmodel.testing


def test_public_names():
    assert set(fsmodel.__all__) == {
        "Check", "HostKernel", "Rule", "SimKernel", "Verdict", "XATTR_CREATE", "XATTR_REPLACE",
        "acl_value", "explain", "fake_linux", "fcaps_value",
    }
    for name in fsmodel.__all__:
        assert getattr(fsmodel, name) is not None


def test_kernel_interfaces_match():
    """SimKernel and HostKernel offer the same syscall-named methods with the same parameters."""
    methods = ["mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "chmod", "chown",
               "lchown", "stat", "lstat", "open", "close", "umask", "setxattr", "lsetxattr",
               "fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
               "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "mount", "remount",
               "set_flags", "become", "chdir"]
    for name in methods:
        sim = inspect.signature(getattr(fsmodel.SimKernel, name))
        host = inspect.signature(getattr(fsmodel.HostKernel, name))
        if name == "close":
            continue  # HostKernel.close() also shuts the instance down
        assert list(sim.parameters) == list(host.parameters), name
        for p in sim.parameters:
            assert sim.parameters[p].default == host.parameters[p].default, (name, p)


def test_simkernel_signature():
    assert list(inspect.signature(fsmodel.SimKernel).parameters) == ["fs", "kernel", "fs_options"]
    assert inspect.signature(fsmodel.SimKernel.getxattr).parameters["size"].default == 65536
    assert inspect.signature(fsmodel.SimKernel.setxattr).parameters["flags"].default == 0


def test_testing_exports():
    for name in fsmodel.testing.__all__:
        assert hasattr(fsmodel.testing, name)
