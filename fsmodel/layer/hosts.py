"""Hosts: the machines a runtime unpacks on, as named SimKernel profiles.

A host is a privilege, a filesystem and a kernel version, named
``PRIVILEGE-FS[-KERNEL]``:

* ``root`` — the runtime runs as root in the initial user namespace;
  ``rootless`` — it runs as root of a user namespace mapping 65,536 ids (what
  rootless podman, docker and containerd get from /etc/subuid): no
  ``trusted.*``, no ``security.*`` writes but ``security.capability`` (which
  the kernel stores as a v3 value naming the namespace's root), no device
  nodes, chown only to mapped ids.  See :mod:`fsmodel._rules.creds`.
* ``ext4``, ``xfs``, ``btrfs``, ``tmpfs`` — the filesystem profiles of
  :class:`~fsmodel.SimKernel`; ``noxattr`` — a filesystem without xattr
  support (ramfs: every name gets ENOTSUP, as on NFS without xattrs).
* an optional kernel version (``6.5``: tmpfs before user xattrs); default
  the kernel the rules were verified on.

``root-ext4``, ``root-xfs``, ``root-btrfs``, ``root-tmpfs``,
``root-tmpfs-6.5``, ``root-noxattr``, ``rootless-ext4`` and
``rootless-tmpfs`` are the default set of ``fsmodel check``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from .._rules.creds import USERNS_BASE
from .._rules.kernel import DEFAULT_KERNEL, features

__all__ = ["DEFAULT_HOSTS", "FILESYSTEMS", "Host", "get_host"]

#: host filesystem word -> SimKernel profile
FILESYSTEMS = {"ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs", "tmpfs": "tmpfs",
               "noxattr": "ramfs"}

#: ids a rootless runtime's user namespace maps (one /etc/subuid range)
ROOTLESS_IDS = 65536

DEFAULT_HOSTS = ("root-ext4", "root-xfs", "root-btrfs", "root-tmpfs", "root-tmpfs-6.5",
                 "root-noxattr", "rootless-ext4", "rootless-tmpfs")

_NAME = re.compile(r"^(root|rootless)-([a-z0-9]+)(?:-(\d+\.\d+))?$")

#: where the image is unpacked inside the host's filesystem
ROOTFS = "/rootfs"


@dataclass(frozen=True)
class Host:
    """One machine profile (see the module docstring)."""

    name: str
    privilege: str  # "root" | "rootless"
    fs: str         # a FILESYSTEMS key
    kernel: str

    @property
    def userns(self) -> int:
        return ROOTLESS_IDS if self.privilege == "rootless" else 0

    def describe(self) -> str:
        who = ("root in a user namespace of 65,536 ids" if self.userns
               else "root in the initial user namespace")
        fs = "a filesystem without xattr support (ramfs)" if self.fs == "noxattr" else self.fs
        return f"{who}, on {fs}, Linux {self.kernel}"

    @contextlib.contextmanager
    def boot(self):
        """A fresh SimKernel of this host, its caller set, with an empty ``ROOTFS``."""
        from .._sim.kernel import SimKernel

        k = SimKernel(FILESYSTEMS[self.fs], self.kernel)
        k.mkdir(ROOTFS, 0o755)
        if self.userns:
            # the runtime's own directory: owned by the namespace's root
            k.lchown(ROOTFS, USERNS_BASE, USERNS_BASE)
        with k.become(0, 0, userns=self.userns):
            yield k


def get_host(name: str) -> Host:
    """Parse a host name; ValueError (one line, with the grammar) if it is not one."""
    m = _NAME.match(name)
    if not m or m.group(2) not in FILESYSTEMS:
        raise ValueError(
            f"unknown host {name!r}; expected root|rootless-FS[-KERNEL] with FS one of "
            f"{', '.join(FILESYSTEMS)} (e.g. root-ext4, rootless-tmpfs, root-tmpfs-6.5)")
    kernel = m.group(3) or DEFAULT_KERNEL
    try:
        kernel = features(kernel).name
    except ValueError as exc:
        raise ValueError(f"host {name!r}: {exc}") from None
    return Host(name, m.group(1), m.group(2), kernel)
