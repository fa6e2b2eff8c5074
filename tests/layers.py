"""Small layers built with tarfile for the applier's tests."""

import io
import tarfile


def layer(*entries) -> bytes:
    """entries: (name, kind, dict) with kind one of dir, file, symlink, hardlink, fifo, chr,
    and keys data, target, mode, uid, gid, xattrs (a dict name -> str value)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, opts in entries:
            info = tarfile.TarInfo(name)
            info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE,
                         "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.mode = opts.get("mode", 0o755 if kind == "dir" else 0o644)
            info.uid = opts.get("uid", 0)
            info.gid = opts.get("gid", 0)
            info.linkname = opts.get("target", "")
            data = opts.get("data", b"")
            info.size = len(data) if kind == "file" else 0
            if "xattrs" in opts:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in opts["xattrs"].items()}
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def creator_ee() -> bytes:
    """creator-ee v0.5.0's shape: a user.* xattr on the symlink etc/krb5.conf.d/crypto-policies."""
    return layer(
        ("etc", "dir", {}),
        ("etc/krb5.conf.d", "dir", {}),
        ("etc/krb5.conf", "file", {"data": b"[libdefaults]\n", "xattrs": {"user.ok": "1"}}),
        ("etc/krb5.conf.d/crypto-policies", "symlink",
         {"target": "/etc/crypto-policies/back-ends/krb5.config",
          "xattrs": {"user.rpm.origin": "x"}}),
    )


def snapshot(k, root="/"):
    """What a backend holds under ``root``: path -> (type, mode, uid, gid, size, xattrs)."""
    import stat as _stat

    out = {}

    def walk(path, rel):
        st = k.lstat(path)
        xattrs = {}
        for name in k.llistxattr(path):
            try:
                xattrs[name] = k.lgetxattr(path, name)
            except OSError as exc:
                xattrs[name] = f"errno {exc.errno}"
        size = st.st_size if _stat.S_ISREG(st.st_mode) or _stat.S_ISLNK(st.st_mode) else None
        out[rel or "/"] = (_stat.S_IFMT(st.st_mode), _stat.S_IMODE(st.st_mode), st.st_uid,
                           st.st_gid, size, xattrs)
        if _stat.S_ISDIR(st.st_mode):
            for name in k.listdir(path):
                walk(path.rstrip("/") + "/" + name, rel + "/" + name)

    walk(root, "")
    return out


def outcome(k, data, policy, root="/r"):
    """Apply ``data`` under ``policy`` on backend ``k`` into a fresh directory ``root``:
    (result and warnings, snapshot)."""
    k.mkdir(root, 0o755)
    k.chmod(root, 0o755)
    from fsmodel.layer import iter_layer
    from fsmodel.layer.apply import Applier, ExtractionFailed, KernelTarget, UnsafeEntry
    from fsmodel.layer.policies import get_policy

    try:
        report = Applier(KernelTarget(k, root), get_policy(policy), layer="sha256:x").apply(
            iter_layer(data))
        result = ("ok", [(w.entry, w.xattr, w.errno, w.message) for w in report.warnings])
    except ExtractionFailed as exc:
        result = ("fail", (exc.message, exc.entry, exc.xattr, exc.errno))
    except UnsafeEntry as exc:
        result = ("unsafe", exc.reason)
    return result, snapshot(k, root)
