"""Name hashes filesystems order their xattr listings by.

btrfs keys xattr items by ``btrfs_name_hash`` = crc32c(~1, name) (fs/btrfs/ctree.h);
XFS keys leaf attributes by ``xfs_da_hashname`` (fs/xfs/libxfs/xfs_da_btree.c).
"""

from __future__ import annotations


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(seed: int, data: bytes) -> int:
    """The kernel's ``crc32c(seed, data, len)``: no pre- or post-inversion."""
    crc = seed & 0xFFFFFFFF
    table = _CRC32C
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def btrfs_name_hash(name: bytes) -> int:
    return crc32c(0xFFFFFFFE, name)


def _rol32(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def xfs_da_hashname(name: bytes) -> int:
    h = 0
    n = len(name)
    i = 0
    while n - i >= 4:
        h = (name[i] << 21) ^ (name[i + 1] << 14) ^ (name[i + 2] << 7) ^ name[i + 3] ^ _rol32(h, 28)
        h &= 0xFFFFFFFF
        i += 4
    rest = n - i
    if rest == 3:
        h = (name[i] << 14) ^ (name[i + 1] << 7) ^ name[i + 2] ^ _rol32(h, 21)
    elif rest == 2:
        h = (name[i] << 7) ^ name[i + 1] ^ _rol32(h, 14)
    elif rest == 1:
        h = name[i] ^ _rol32(h, 7)
    return h & 0xFFFFFFFF
