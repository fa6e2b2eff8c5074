"""The filesystem configurations the suites run on (shared by unit and kernel tests)."""

from fsmodel.testing import Situation

#: Real filesystems the privileged tests mount (spec §4 configurations).
KERNEL_SITUATIONS = [
    Situation("tmpfs"),
    Situation("ext4"),
    Situation("ext4", {"block_size": 1024}),
    Situation("ext4", {"inode_size": 128}),
    Situation("ext4", {"ea_inode": True}),
    Situation("xfs"),
    Situation("btrfs"),
    Situation("ramfs"),
]

#: What SimKernel is checked on: the same, plus other kernel versions.
SIM_SITUATIONS = KERNEL_SITUATIONS + [
    Situation("tmpfs", kernel="6.5"),
    Situation("tmpfs", kernel="6.12"),
    Situation("ext4", kernel="6.12"),
    Situation("xfs", kernel="6.6"),
    Situation("btrfs", kernel="5.15"),
]


def ident(s: Situation) -> str:
    return s.label if s.kernel == "6.18" else f"{s.label}@{s.kernel}"
