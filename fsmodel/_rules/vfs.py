"""Rules of the syscalls around the xattr calls: lookup, create, delete, attributes, open.

fs/namei.c (``may_lookup``, ``may_create``, ``may_delete``, ``may_linkat``,
``may_open``, ``filename_create``, ``do_unlinkat``, ``do_rmdir``,
``do_renameat2``, ``vfs_mknod``), fs/attr.c (``may_setattr``,
``setattr_prepare``, ``chown_ok``, ``chgrp_ok``, ``notify_change``),
fs/open.c (``chown_common``), fs/ioctl.c / fs/file_attr.c (``ioctl_setflags``,
``vfs_fileattr_set``), fs/inode.c (``inode_init_owner``, ``mode_strip_sgid``).

Like the xattr pipelines these are functions of state in, rule out; the
simulated kernel calls them in the order the syscall does and applies the
effect.  Every rule here is a constant so that the same outcome always
carries the same id, reason and source.
"""

from __future__ import annotations

import errno

from .constants import (
    CAP_CHOWN,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_LINUX_IMMUTABLE,
    CAP_MKNOD,
    CAP_SYS_ADMIN,
    FS_APPEND_FL,
    FS_IMMUTABLE_FL,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    S_ISGID,
    S_ISUID,
    S_ISVTX,
)
from .creds import Cred, generic_permission, owner_or_capable
from .verdict import Rule

_N = "fs/namei.c"
_A = "fs/attr.c"


def _r(rule_id, code, reason, source):
    return Rule(rule_id, code, reason, source)


# ------------------------------------------------------------------ lookup
EMPTY_PATH = _r("N-empty-path", errno.ENOENT, "The path is empty.", "fs/namei.c: getname_flags")
PATH_TOO_LONG = _r("N-path-too-long", errno.ENAMETOOLONG,
                   "The path is PATH_MAX (4096) bytes or longer.", "fs/namei.c: getname_flags")
NAME_TOO_LONG = _r("N-name-too-long", errno.ENAMETOOLONG,
                   "A path component is longer than NAME_MAX (255 bytes).",
                   "fs/libfs.c: simple_lookup (ext4_lookup, xfs_vn_lookup, btrfs_lookup)")
NO_ENTRY = _r("N-no-entry", errno.ENOENT, "A component of the path does not exist.",
              f"{_N}: walk_component")
NOT_DIR = _r("N-not-dir", errno.ENOTDIR,
             "A component used as a directory is not a directory.", f"{_N}: link_path_walk")
NO_SEARCH = _r("N-search-permission", errno.EACCES,
               "Search (execute) permission is denied on a directory of the path.",
               f"{_N}: may_lookup")
LOOP = _r("N-symlink-loop", errno.ELOOP,
          "More than 40 symbolic links were followed (or a loop).", f"{_N}: pick_link")
BAD_FD = _r("R1.1-bad-fd", errno.EBADF,
            "The file descriptor is not open, or was opened with O_PATH.", "fs/file.c: fdget")


SYMLINK_PROTECTED = _r("N-protected-symlink", errno.EACCES,
                       "fs.protected_symlinks: a symlink in a sticky world-writable directory "
                       "is only followed by its owner or when it belongs to the directory's owner.",
                       f"{_N}: may_follow_link")


def may_follow_link(cred: Cred, dir_inode, link, protected_symlinks: int) -> Rule | None:
    """``may_follow_link`` (fs.protected_symlinks)."""
    if not protected_symlinks or link.uid == cred.uid:
        return None
    if dir_inode.mode & (S_ISVTX | 0o002) != (S_ISVTX | 0o002) or dir_inode.uid == link.uid:
        return None
    return SYMLINK_PROTECTED


NOT_LINK = _r("N-not-link", errno.EINVAL, "readlink of something that is not a symlink.",
              "fs/stat.c: do_readlinkat")
NO_READ_DIR = _r("N-readdir-permission", errno.EACCES,
                 "Reading a directory's entries needs read permission on it.",
                 "fs/namei.c: generic_permission")


def may_readdir(cred: Cred, dir_inode) -> Rule | None:
    """Opening a directory to list it needs read permission (MAY_READ)."""
    return NO_READ_DIR if generic_permission(cred, dir_inode, MAY_READ) else None


def may_lookup(cred: Cred, dir_inode) -> Rule | None:
    """``may_lookup``: search permission on each directory walked through."""
    if generic_permission(cred, dir_inode, MAY_EXEC):
        return NO_SEARCH
    return None


# ------------------------------------------------------------- create, link
EXISTS = _r("N-exists", errno.EEXIST, "The path already exists.", f"{_N}: filename_create")
TRAILING_SLASH = _r("N-trailing-slash", errno.ENOENT,
                    "The name ends in '/' but what would be created is not a directory.",
                    f"{_N}: filename_create")
ROFS = _r("N-read-only", errno.EROFS, "The filesystem is mounted read-only.",
          "fs/namespace.c: mnt_want_write")
NO_WRITE_DIR = _r("N-dir-write", errno.EACCES,
                  "Write and search permission on the parent directory are needed.",
                  f"{_N}: may_create / may_delete")
IMMUTABLE_DIR = _r("N-dir-immutable", errno.EPERM,
                   "The parent directory is immutable.", f"{_N}: inode_permission")
MKNOD_DIR = _r("N-mknod-dir", errno.EPERM, "mknod cannot create directories.", f"{_N}: may_mknod")
MKNOD_TYPE = _r("N-mknod-type", errno.EINVAL, "The mode names no file type mknod can create.",
                f"{_N}: may_mknod")
MKNOD_CAP = _r("N-mknod-cap", errno.EPERM,
               "Creating a device node needs CAP_MKNOD (the 0:0 whiteout excepted).",
               f"{_N}: vfs_mknod")
NO_XDEV = _r("N-cross-device", errno.EXDEV,
             "Links and renames cannot cross mount points.", f"{_N}: do_linkat / do_renameat2")
HARDLINK_PROTECTED = _r("N-protected-hardlink", errno.EPERM,
                        "fs.protected_hardlinks: only the owner (or CAP_FOWNER) may link a file "
                        "that is not a regular, non-setuid file the caller can read and write.",
                        f"{_N}: may_linkat")
LINK_IMMUTABLE = _r("N-link-immutable", errno.EPERM,
                    "Immutable and append-only files cannot get new links.", f"{_N}: vfs_link")
LINK_DIR = _r("N-link-dir", errno.EPERM, "Directories cannot be hard-linked.", f"{_N}: vfs_link")
SYMLINK_EMPTY = _r("N-symlink-empty", errno.ENOENT, "A symlink target cannot be empty.",
                   f"{_N}: do_symlinkat")
SYMLINK_TOO_LONG = _r("N-symlink-too-long", errno.ENAMETOOLONG,
                      "The symlink target is longer than the filesystem allows (a block).",
                      "fs/ext4/namei.c: ext4_symlink (shmem_symlink, xfs_symlink)")


def may_create(cred: Cred, dir_inode) -> Rule | None:
    """``may_create``: inode_permission(dir, MAY_WRITE | MAY_EXEC)."""
    if dir_inode.iflags & FS_IMMUTABLE_FL:
        return IMMUTABLE_DIR
    if generic_permission(cred, dir_inode, MAY_WRITE | MAY_EXEC):
        return NO_WRITE_DIR
    return None


def may_mknod(mode: int) -> Rule | None:
    t = mode & S_IFMT
    if t in (S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, 0):
        return None
    return MKNOD_DIR if t == S_IFDIR else MKNOD_TYPE


def mknod_capable(cred: Cred, mode: int, device: int) -> Rule | None:
    t = mode & S_IFMT
    if t in (S_IFCHR, S_IFBLK) and not (t == S_IFCHR and device == 0) \
            and not cred.capable(CAP_MKNOD):
        return MKNOD_CAP
    return None


def may_linkat(cred: Cred, inode, protected_hardlinks: bool) -> Rule | None:
    """``may_linkat`` with fs.protected_hardlinks."""
    if not protected_hardlinks or owner_or_capable(cred, inode):
        return None
    mode = inode.mode
    safe = (mode & S_IFMT == S_IFREG and not mode & S_ISUID
            and (mode & (S_ISGID | 0o010)) != (S_ISGID | 0o010)
            and not inode.iflags & FS_IMMUTABLE_FL
            and not generic_permission(cred, inode, MAY_READ | MAY_WRITE))
    return None if safe else HARDLINK_PROTECTED


def vfs_link_checks(inode) -> Rule | None:
    if inode.iflags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
        return LINK_IMMUTABLE
    if inode.mode & S_IFMT == S_IFDIR:
        return LINK_DIR
    return None


def new_inode_owner(cred: Cred, dir_inode, mode: int) -> tuple[int, int, int]:
    """``inode_init_owner`` after ``mode_strip_sgid``: (uid, gid, mode) of a new inode."""
    if (mode & (S_ISGID | 0o010)) == (S_ISGID | 0o010) and mode & S_IFMT != S_IFDIR \
            and dir_inode.mode & S_ISGID and not cred.in_group(dir_inode.gid) \
            and not cred.capable_wrt(CAP_FSETID, dir_inode):
        mode &= ~S_ISGID
    if dir_inode.mode & S_ISGID:
        gid = dir_inode.gid
        if mode & S_IFMT == S_IFDIR:
            mode |= S_ISGID
    else:
        gid = cred.gid
    return cred.uid, gid, mode


# ----------------------------------------------------------- unlink, rmdir
IS_DIR = _r("N-is-dir", errno.EISDIR, "The path names a directory.", f"{_N}: may_delete")
NOT_DIR_DEL = _r("N-not-dir-delete", errno.ENOTDIR, "rmdir of something that is not a directory.",
                 f"{_N}: may_delete")
STICKY_DELETE = _r("N-sticky-delete", errno.EPERM,
                   "In a sticky directory only the file's owner, the directory's owner or "
                   "CAP_FOWNER may remove or rename an entry.", f"{_N}: may_delete")
DELETE_IMMUTABLE = _r("N-delete-immutable", errno.EPERM,
                      "Immutable or append-only entries (or entries of an append-only "
                      "directory) cannot be removed or renamed.", f"{_N}: may_delete")
NOT_EMPTY = _r("N-not-empty", errno.ENOTEMPTY, "The directory is not empty.",
               "fs/libfs.c: simple_empty (ext4_rmdir, xfs_remove, btrfs_rmdir)")
BUSY = _r("N-busy", errno.EBUSY, "The directory is a mount point or a root.", f"{_N}: vfs_rmdir")
RMDIR_DOT = _r("N-rmdir-dot", errno.EINVAL, "rmdir of '.'.", f"{_N}: do_rmdir")
RMDIR_DOTDOT = _r("N-rmdir-dotdot", errno.ENOTEMPTY, "rmdir of '..'.", f"{_N}: do_rmdir")
RENAME_DOT = _r("N-rename-dot", errno.EBUSY, "rename of '.', '..' or '/'.", f"{_N}: do_renameat2")
RENAME_SUBDIR = _r("N-rename-into-self", errno.EINVAL,
                   "A directory cannot be moved into its own subtree.", f"{_N}: do_renameat2")
RENAME_NOT_EMPTY_XFS = _r("N-rename-not-empty-xfs", errno.EEXIST,
                          "XFS reports a non-empty target directory of a rename as EEXIST.",
                          "fs/xfs/xfs_inode.c: xfs_rename")
RENAME_ANCESTOR = _r("N-rename-onto-ancestor", errno.ENOTEMPTY,
                     "The target is an ancestor of the source.", f"{_N}: do_renameat2")
TRAILING_NOT_DIR = _r("N-trailing-slash-not-dir", errno.ENOTDIR,
                      "The name ends in '/' but is not a directory.", f"{_N}: do_unlinkat")


def may_delete(cred: Cred, dir_inode, victim, isdir: bool) -> Rule | None:
    """``may_delete``: permission on the directory, sticky bit, flags, type."""
    refused = may_create(cred, dir_inode)
    if refused is not None:
        return refused
    if dir_inode.iflags & FS_APPEND_FL:
        return DELETE_IMMUTABLE
    if dir_inode.mode & S_ISVTX and cred.uid != victim.uid and cred.uid != dir_inode.uid \
            and not cred.capable_wrt(CAP_FOWNER, victim):
        return STICKY_DELETE
    if victim.iflags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
        return DELETE_IMMUTABLE
    is_dir = victim.mode & S_IFMT == S_IFDIR
    if isdir and not is_dir:
        return NOT_DIR_DEL
    if not isdir and is_dir:
        return IS_DIR
    return None


# ------------------------------------------------------ chmod, chown, flags
ATTR_IMMUTABLE = _r("A-immutable", errno.EPERM,
                    "Immutable or append-only inodes cannot change mode or owner.",
                    f"{_A}: may_setattr")
CHMOD_SYMLINK = _r("A-chmod-symlink", errno.EOPNOTSUPP, "The mode of a symlink cannot change.",
                   f"{_A}: notify_change")
CHMOD_OWNER = _r("A-chmod-owner", errno.EPERM,
                 "Only the owner or a CAP_FOWNER caller may change the mode.",
                 f"{_A}: setattr_prepare")
CHOWN_PERM = _r("A-chown", errno.EPERM,
                "Changing the owner needs CAP_CHOWN (an owner may only change the group to one "
                "of their groups).", f"{_A}: chown_ok / chgrp_ok")
CHOWN_INVALID = _r("A-chown-invalid", errno.EINVAL,
                   "The uid or gid is not a valid id (or is not mapped in the caller's user "
                   "namespace).",
                   "fs/open.c: chown_common")
FLAGS_NOTTY = _r("I-fileattr-unsupported", errno.ENOTTY,
                 "This inode type or filesystem has no inode flags (FS_IOC_SETFLAGS).",
                 "fs/file_attr.c: vfs_fileattr_set")
FLAGS_OWNER = _r("I-fileattr-owner", errno.EPERM,
                 "Only the owner or a CAP_FOWNER caller may change inode flags.",
                 "fs/file_attr.c: vfs_fileattr_set")
FLAGS_CAP = _r("I-fileattr-immutable-cap", errno.EPERM,
               "Changing the immutable or append-only flag needs CAP_LINUX_IMMUTABLE.",
               "fs/file_attr.c: fileattr_set_prepare")
FLAGS_EXT4_IMMUTABLE = _r("I-ext4-immutable", errno.EPERM,
                          "ext4 refuses to change the other flags of an inode that is and "
                          "stays immutable.", "fs/ext4/ioctl.c: ext4_ioctl_check_immutable")
SETATTR_EXT4_IMMUTABLE = _r("A-ext4-immutable", errno.EPERM,
                            "ext4 refuses every attribute change of an immutable inode, even "
                            "chown(-1, -1), and mode changes (such as a chown clearing setuid) "
                            "of an append-only one.", "fs/ext4/inode.c: ext4_setattr")
MOUNT_PERM = _r("M-mount-cap", errno.EPERM, "Mounting needs CAP_SYS_ADMIN.",
                "fs/namespace.c: path_mount")
REMOUNT_BUSY = _r("M-remount-busy", errno.EBUSY,
                  "A mount with files open for writing cannot become read-only.",
                  "fs/namespace.c: mnt_make_readonly")
MOUNT_NOT_ROOT = _r("M-remount-not-root", errno.EINVAL,
                    "remount needs the root of a mount.", "fs/namespace.c: do_remount")


def may_setattr(inode) -> Rule | None:
    if inode.iflags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
        return ATTR_IMMUTABLE
    return None


def chmod_mode(cred: Cred, inode, mode: int) -> int | Rule:
    """``notify_change`` + ``setattr_prepare`` for ATTR_MODE: the new mode, or a rule."""
    refused = may_setattr(inode)
    if refused is not None:
        return refused
    if inode.mode & S_IFMT == S_IFLNK:
        return CHMOD_SYMLINK
    if not owner_or_capable(cred, inode):
        return CHMOD_OWNER
    new = (inode.mode & S_IFMT) | (mode & 0o7777)
    if not cred.in_group(inode.gid) and not cred.capable_wrt(CAP_FSETID, inode):
        new &= ~S_ISGID
    return new


def truncate_kills(cred: Cred, inode) -> int:
    """``dentry_needs_remove_privs`` on truncation: the mode after setuid/setgid are killed.

    Setuid always, setgid when group-executable or the caller is not in the group;
    callers with CAP_FSETID keep both.  (File capabilities are dropped regardless.)
    """
    mode = inode.mode
    if mode & S_IFMT != S_IFREG or cred.capable_wrt(CAP_FSETID, inode):
        return mode
    mode &= ~S_ISUID
    if mode & S_ISGID and (mode & 0o010 or not cred.in_group(inode.gid)):
        mode &= ~S_ISGID
    return mode


def chown_result(cred: Cred, inode, uid: int, gid: int, fs=None) -> tuple[int, int, int, bool] | Rule:
    """``chown_common`` + ``notify_change``: (uid, gid, mode, kill file caps?) or a rule.

    uid/gid -1 leave that id alone.  Non-directories always lose setuid, and
    setgid when group-executable (or when the caller is not in the group);
    ``security.capability`` is dropped.
    """
    uid = -1 if uid == 0xFFFFFFFF else uid  # (uid_t)-1
    gid = -1 if gid == 0xFFFFFFFF else gid
    if uid != -1:
        uid = cred.to_kuid(uid) if 0 <= uid < 0xFFFFFFFF else None
        if uid is None:
            return CHOWN_INVALID
    if gid != -1:
        gid = cred.to_kuid(gid) if 0 <= gid < 0xFFFFFFFF else None
        if gid is None:
            return CHOWN_INVALID
    change_uid = uid != -1
    change_gid = gid != -1
    if (change_uid or change_gid) and inode.iflags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
        return ATTR_IMMUTABLE
    if fs is not None and fs.immutable_is_final and inode.iflags & FS_IMMUTABLE_FL:
        return SETATTR_EXT4_IMMUTABLE
    new_uid = uid if change_uid else inode.uid
    new_gid = gid if change_gid else inode.gid
    mode = inode.mode
    kill_mode = False
    if mode & S_IFMT != S_IFDIR:
        if mode & S_ISUID:
            mode &= ~S_ISUID
            kill_mode = True
        if mode & S_ISGID and (mode & 0o010 or not (cred.in_group(inode.gid)
                                                   or cred.capable_wrt(CAP_FSETID, inode))):
            mode &= ~S_ISGID
            kill_mode = True
    caps = cred.caps_over(inode)
    if change_uid and not ((cred.uid == inode.uid and new_uid == inode.uid) or caps & CAP_CHOWN):
        return CHOWN_PERM
    if change_gid and not ((cred.uid == inode.uid and (new_gid == inode.gid or cred.in_group(new_gid)))
                           or caps & CAP_CHOWN):
        return CHOWN_PERM
    if kill_mode:
        if fs is not None and fs.immutable_is_final and inode.iflags & FS_APPEND_FL:
            return SETATTR_EXT4_IMMUTABLE  # ext4_setattr: no mode change when append-only
        if not owner_or_capable(cred, inode):
            return CHMOD_OWNER
        if not (cred.in_group(new_gid) or caps & CAP_FSETID):
            mode &= ~S_ISGID
    return new_uid, new_gid, mode, mode & S_IFMT != S_IFDIR


def fileattr_supported(inode, fs) -> Rule | None:
    """``vfs_fileattr_get``: does this inode have flags at all (FS_IOC_GETFLAGS)?"""
    t = inode.mode & S_IFMT
    if not fs.fileattr or (t not in (S_IFREG, S_IFDIR) and not fs.fileattr_special):
        return FLAGS_NOTTY
    return None


def set_flags_check(cred: Cred, inode, fs, new_flags: int) -> Rule | None:
    """``vfs_fileattr_set``: owner, then CAP_LINUX_IMMUTABLE for the i and a flags,
    then the filesystem's own rule (ext4: an immutable inode's other flags are frozen)."""
    if not owner_or_capable(cred, inode):
        return FLAGS_OWNER
    if (inode.iflags ^ new_flags) & (FS_IMMUTABLE_FL | FS_APPEND_FL) \
            and not cred.capable(CAP_LINUX_IMMUTABLE):
        return FLAGS_CAP
    if fs.immutable_is_final and inode.iflags & new_flags & FS_IMMUTABLE_FL \
            and inode.iflags != new_flags:
        return FLAGS_EXT4_IMMUTABLE
    return None


def mount_capable(cred: Cred) -> Rule | None:
    return None if cred.capable(CAP_SYS_ADMIN) else MOUNT_PERM


# -------------------------------------------------------------------- open
OPEN_SYMLINK = _r("O-symlink", errno.ELOOP,
                  "O_NOFOLLOW was given and the path is a symlink.", f"{_N}: may_open")
OPEN_DIR_WRITE = _r("O-dir-write", errno.EISDIR, "A directory cannot be opened for writing.",
                    f"{_N}: may_open")
OPEN_NOT_DIR = _r("O-not-dir", errno.ENOTDIR, "O_DIRECTORY was given and the path is not a "
                  "directory.", f"{_N}: do_open")
OPEN_DENIED = _r("O-permission", errno.EACCES,
                 "The caller lacks the read or write permission the open mode asks for.",
                 f"{_N}: may_open")
OPEN_IMMUTABLE = _r("O-immutable", errno.EPERM, "An immutable file cannot be opened for writing.",
                    f"{_N}: inode_permission")
OPEN_APPEND = _r("O-append-only", errno.EPERM,
                 "An append-only file can only be opened for writing with O_APPEND, "
                 "and never truncated.", f"{_N}: may_open")
OPEN_NXIO = _r("O-no-device", errno.ENXIO,
               "No driver backs this device or socket node (or a FIFO has no reader).",
               "fs/char_dev.c: chrdev_open / fs/fifo.c")
OPEN_INVAL = _r("O-creat-directory", errno.EINVAL, "O_CREAT and O_DIRECTORY together.",
                "fs/open.c: build_open_flags")
OPEN_EXISTS = _r("O-excl", errno.EEXIST, "O_CREAT|O_EXCL and the path exists.",
                 f"{_N}: open_last_lookups")
OPEN_CREATE_DIR = _r("O-creat-isdir", errno.EISDIR, "O_CREAT on an existing directory.",
                     f"{_N}: do_open")
OPEN_ROFS = ROFS
OPEN_STICKY = _r("O-protected-sticky-create", errno.EACCES,
                 "O_CREAT on an existing file of another owner in a sticky world- or "
                 "group-writable directory (always for special files other than FIFOs; for "
                 "regular files and FIFOs with fs.protected_regular / fs.protected_fifos).",
                 f"{_N}: may_create_in_sticky")


def may_create_in_sticky(cred: Cred, dir_inode, inode, protected_regular: int,
                         protected_fifos: int) -> Rule | None:
    """``may_create_in_sticky``: O_CREAT of an existing inode in a sticky directory."""
    dir_mode = dir_inode.mode
    if not dir_mode & S_ISVTX:
        return None
    t = inode.mode & S_IFMT
    if (t == S_IFREG and not protected_regular) or (t == S_IFIFO and not protected_fifos):
        return None
    if inode.uid == dir_inode.uid or inode.uid == cred.uid:
        return None
    if dir_mode & 0o002:
        return OPEN_STICKY
    if dir_mode & 0o020 and ((t == S_IFREG and protected_regular >= 2)
                             or (t == S_IFIFO and protected_fifos >= 2)):
        return OPEN_STICKY
    return None


OPEN_NOATIME = _r("O-noatime", errno.EPERM,
                  "Only the owner or a CAP_FOWNER caller may open with O_NOATIME.",
                  f"{_N}: may_open")
OPEN_FIFO_NOACCESS = _r("O-fifo-no-access", errno.EINVAL,
                        "A FIFO opened with access mode 3 (neither read nor write) is refused.",
                        "fs/pipe.c: fifo_open")

#: Character devices whose drivers every kernel has (drivers/char/mem.c): null, zero,
#: full, random, urandom.  Other device nodes have no driver in the model: ENXIO.
MEMORY_DEVICES = frozenset((1 << 8) | minor for minor in (3, 5, 7, 8, 9))


def may_open(cred: Cred, inode, acc: int, flags: int, o_append: int, o_trunc: int,
             o_noatime: int = 0) -> Rule | None:
    """``may_open``: type checks, inode_permission, append-only, O_NOATIME."""
    t = inode.mode & S_IFMT
    if t == S_IFLNK:
        return OPEN_SYMLINK
    if t == S_IFDIR and acc & MAY_WRITE:
        return OPEN_DIR_WRITE
    if acc & MAY_WRITE and inode.iflags & FS_IMMUTABLE_FL:
        return OPEN_IMMUTABLE
    if acc and generic_permission(cred, inode, acc):
        return OPEN_DENIED
    if inode.iflags & FS_APPEND_FL:
        if (flags & 3 != 0 and not flags & o_append) or (flags & o_trunc):
            return OPEN_APPEND
    if flags & o_noatime and not owner_or_capable(cred, inode):
        return OPEN_NOATIME
    return None


def open_special(inode, accmode: int, nonblock: int, fifo_readers: int) -> Rule | None:
    """The ->open of special files: device drivers, sockets, FIFOs."""
    t = inode.mode & S_IFMT
    if t == S_IFSOCK or (t == S_IFBLK) or (t == S_IFCHR and _dev_key(inode.rdev) not in MEMORY_DEVICES):
        return OPEN_NXIO
    if t == S_IFIFO:
        if accmode == 3:
            return OPEN_FIFO_NOACCESS
        if accmode == 1 and nonblock and not fifo_readers:
            return OPEN_NXIO
    return None


def _dev_key(rdev: int) -> int:
    import os as _os

    return (_os.major(rdev) << 8) | _os.minor(rdev)
