"""The creator-ee case: the README's naive extractor, under plain pyfakefs and fake_linux()."""

import io
import pathlib
import sys
import types
import re
import tarfile

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher

from fsmodel import fake_linux

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_extractor():
    """The extractor exactly as the README shows it, imported as a module (pyfakefs
    patches the ``os`` of modules, as it would in a user's package)."""
    code = re.search(r"```python\n(import io, os, tarfile\n.*?)```", README.read_text(), re.S)
    module = types.ModuleType("readme_extractor")
    exec(compile(code.group(1), str(README), "exec"), module.__dict__)
    sys.modules[module.__name__] = module
    return module.extract


def creator_ee_layer() -> bytes:
    """A layer like creator-ee v0.5.0's: ordinary content and a user.* xattr on a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, kind, data=b"", linkname="", xattrs=None):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.linkname = linkname
            info.size = len(data)
            if xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("etc", tarfile.DIRTYPE)
        add("etc/krb5.conf.d", tarfile.DIRTYPE)
        add("etc/krb5.conf", tarfile.REGTYPE, b"[libdefaults]\n", xattrs={"user.origin": "rpm"})
        add("etc/krb5.conf.d/crypto-policies", tarfile.SYMTYPE,
            linkname="/etc/crypto-policies/back-ends/krb5.config",
            xattrs={"user.foo": "bar"})
    return buf.getvalue()


def test_naive_extractor_passes_under_plain_pyfakefs():
    extract = readme_extractor()
    with Patcher():
        extract(creator_ee_layer(), "/rootfs")  # the bug is invisible here


def test_naive_extractor_fails_under_fake_linux_as_on_linux():
    extract = readme_extractor()
    with fake_linux("ext4"):
        with pytest.raises(PermissionError) as exc:
            extract(creator_ee_layer(), "/rootfs")
    assert exc.value.filename == "/rootfs/etc/krb5.conf.d/crypto-policies"
    assert exc.value.rule.id == "R3.4-user-file-type"


@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs", "tmpfs"])
def test_fixed_extractor_passes(fs):
    extract = readme_extractor()
    with fake_linux(fs):
        extract(creator_ee_layer(), "/rootfs", ignore_user_eperm=True)
        import os

        assert os.getxattr("/rootfs/etc/krb5.conf", "user.origin") == b"rpm"
        assert os.listxattr("/rootfs/etc/krb5.conf.d/crypto-policies", follow_symlinks=False) == []


def test_fixed_extractor_still_fails_where_linux_has_no_user_xattrs():
    extract = readme_extractor()
    with fake_linux("tmpfs", kernel="6.5"):  # tmpfs had no user.* before 6.6
        with pytest.raises(OSError) as exc:
            extract(creator_ee_layer(), "/rootfs", ignore_user_eperm=True)
    assert exc.value.strerror == "Operation not supported"
