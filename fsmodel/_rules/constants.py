"""Numbers from the kernel's uapi headers, and capability names.

include/uapi/linux/limits.h, include/uapi/linux/xattr.h,
include/uapi/linux/capability.h, include/uapi/linux/fs.h.
"""

from __future__ import annotations

import stat as _stat

XATTR_CREATE = 1
XATTR_REPLACE = 2
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
NAME_MAX = 255
PATH_MAX = 4096
MAXSYMLINKS = 40

S_IFMT = _stat.S_IFMT(0o177777)
S_IFREG = _stat.S_IFREG
S_IFDIR = _stat.S_IFDIR
S_IFLNK = _stat.S_IFLNK
S_IFIFO = _stat.S_IFIFO
S_IFCHR = _stat.S_IFCHR
S_IFBLK = _stat.S_IFBLK
S_IFSOCK = _stat.S_IFSOCK
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000

#: Human names of the file types, as ``fsmodel explain --type`` takes them.
FILE_TYPES = {
    "regular": S_IFREG,
    "directory": S_IFDIR,
    "symlink": S_IFLNK,
    "fifo": S_IFIFO,
    "chardev": S_IFCHR,
    "blockdev": S_IFBLK,
    "socket": S_IFSOCK,
}
TYPE_NAMES = {v: k for k, v in FILE_TYPES.items()}

# Inode flags (FS_IOC_GETFLAGS / FS_IOC_SETFLAGS).
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20

MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4

# Capabilities (include/uapi/linux/capability.h).
CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES = {v: k for k, v in CAPABILITIES.items()}
ALL_CAPS = (1 << (max(CAPABILITIES.values()) + 1)) - 1

CAP_CHOWN = 1 << 0
CAP_DAC_OVERRIDE = 1 << 1
CAP_DAC_READ_SEARCH = 1 << 2
CAP_FOWNER = 1 << 3
CAP_FSETID = 1 << 4
CAP_LINUX_IMMUTABLE = 1 << 9
CAP_SYS_ADMIN = 1 << 21
CAP_MKNOD = 1 << 27
CAP_SETFCAP = 1 << 31


def caps_mask(caps) -> int:
    """An iterable of capability names (or numbers) -> bit mask; raises ValueError."""
    if isinstance(caps, str):
        caps = [caps]
    mask = 0
    for cap in caps:
        if isinstance(cap, int) and not isinstance(cap, bool):
            if cap not in CAP_NAMES:
                raise ValueError(f"capability number {cap} does not exist")
            mask |= 1 << cap
            continue
        key = str(cap).strip().upper()
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if key not in CAPABILITIES:
            raise ValueError(
                f"unknown capability {cap!r}; expected a name like 'CAP_SYS_ADMIN' "
                f"(see capabilities(7))"
            )
        mask |= 1 << CAPABILITIES[key]
    return mask


def caps_names(mask: int) -> list[str]:
    return [CAP_NAMES[i] for i in sorted(CAP_NAMES) if mask >> i & 1]
