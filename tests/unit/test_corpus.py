"""The checked-in seed corpus (corpus/): generated, current, and what its README says.

The generator runs as a subprocess, as a user would run it. The facts about each file are
read back with CPython's ``tarfile``, ``gzip`` and ``json``, never with the generator's own
helpers; fsmodel's reader is then checked against ``tarfile`` on every layer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fsmodel.layer import (
    Data,
    Device,
    Directory,
    EndOfLayer,
    Entry,
    Fifo,
    File,
    Hardlink,
    Opaque,
    Symlink,
    Whiteout,
    iter_layer,
)

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
GENERATE = CORPUS / "generate.py"
NOT_GENERATED = {"README.md", "generate.py"}
MTIME = 1654041600  # 2022-06-01 00:00:00 UTC
LAYERS = ["creator-ee.tar", "overlay-leak.tar", "capabilities.tar", "whiteouts-base.tar",
          "whiteouts.tar", "hardlinks.tar", "devices.tar"]
IMAGES = ["image-docker.tar", "image-oci.tar"]


def generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATE), *args], check=False,
                          capture_output=True, text=True, timeout=120)


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("corpus")
    result = generate("--out", str(out))
    assert result.returncode == 0, result.stderr
    return files_in(out)


def read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()


def content(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.extractfile(name).read()


def xattrs(info: tarfile.TarInfo) -> dict[str, bytes]:
    """The SCHILY.xattr records of a member, values as the raw bytes tarfile read."""
    prefix = "SCHILY.xattr."
    return {key[len(prefix):]: value.encode("utf-8", "surrogateescape")
            for key, value in info.pax_headers.items() if key.startswith(prefix)}


def by_name(data: bytes) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for m in members(data)}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- the corpus is what the generator writes --------------------------------------------

def test_checked_in_corpus_is_what_the_generator_writes(generated):
    checked_in = files_in(CORPUS)
    assert set(checked_in) == set(generated) | NOT_GENERATED
    stale = sorted(name for name, data in generated.items() if checked_in[name] != data)
    assert not stale, f"stale corpus files {stale}: run `python corpus/generate.py`"


def test_generator_is_deterministic(generated, tmp_path):
    assert generate("--out", str(tmp_path)).returncode == 0
    assert files_in(tmp_path) == generated


def test_check_passes_on_the_checked_in_corpus():
    result = generate("--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""


def test_check_names_stale_missing_and_extra_files(generated, tmp_path):
    for name, data in generated.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "devices.tar").write_bytes(generated["devices.tar"][:-1] + b"\1")
    (tmp_path / "hardlinks.tar").unlink()
    (tmp_path / "leftover.tar").write_bytes(b"")
    result = generate("--check", "--out", str(tmp_path))
    assert result.returncode == 1
    reported = dict(line.split(": ", 1) for line in result.stderr.splitlines() if ": " in line)
    assert {Path(path).name: why.split()[0] for path, why in reported.items()} == {
        "devices.tar": "differs", "hardlinks.tar": "missing", "leftover.tar": "not"}
    assert not (tmp_path / "hardlinks.tar").exists()  # --check writes nothing


def test_corpus_is_small():
    assert sum(len(data) for data in files_in(CORPUS).values()) < 200_000


@pytest.mark.parametrize("name", LAYERS + IMAGES)
def test_archive_members_are_normalised(name):
    for info in members(read(name)):
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (MTIME, 0, 0, "", "")
        assert "hdrcharset" not in info.pax_headers


# --- creator-ee ------------------------------------------------------------------------

def test_creator_ee_symlink_carries_the_only_special_xattr():
    layer = by_name(read("creator-ee.tar"))
    link = layer["etc/krb5.conf.d/crypto-policies"]
    assert link.issym()
    assert link.linkname == "/etc/crypto-policies/back-ends/krb5.config"
    assert layer["etc/crypto-policies/back-ends/krb5.config"].isfile()
    assert xattrs(link) == {"user.rpm.origin": b"krb5-libs"}
    special = {(m.name, x) for m in layer.values() if not (m.isfile() or m.isdir())
               for x in xattrs(m)}
    assert special == {("etc/krb5.conf.d/crypto-policies", "user.rpm.origin")}
    others = {name: xattrs(m) for name, m in layer.items() if xattrs(m) and name != link.name}
    assert others == {"etc/krb5.conf": {"user.ok": b"1"}}


def test_creator_ee_gz_is_the_layer_gzipped_deterministically():
    compressed = read("creator-ee.tar.gz")
    assert gzip.decompress(compressed) == read("creator-ee.tar")
    magic, method, flags, mtime = struct.unpack_from("<HBBI", compressed)
    assert (magic, method, flags, mtime) == (0x8B1F, 8, 0, 0)  # no FNAME, mtime 0
    with tarfile.open(CORPUS / "creator-ee.tar.gz", "r:gz") as archive:
        assert archive.getnames() == [m.name for m in members(read("creator-ee.tar"))]


def test_overlay_leak():
    layer = by_name(read("overlay-leak.tar"))
    assert list(layer) == ["etc", "etc/os-release"]
    assert layer["etc"].isdir() and xattrs(layer["etc"]) == {"user.overlay.impure": b"y"}
    assert layer["etc/os-release"].isfile() and not xattrs(layer["etc/os-release"])


# --- capabilities ----------------------------------------------------------------------

@pytest.mark.parametrize(("path", "revision", "bit"), [
    ("usr/bin/ping", 2, 13),        # cap_net_raw
    ("usr/bin/newuidmap", 2, 7),    # cap_setuid
    ("usr/sbin/arping", 3, 13),
])
def test_capability_values_decode(path, revision, bit):
    info = by_name(read("capabilities.tar"))[path]
    assert info.isfile() and info.mode == 0o755 and (info.uid, info.gid) == (0, 0)
    value = xattrs(info)["security.capability"]
    assert len(value) == {2: 20, 3: 24}[revision]
    magic, permitted_lo, inheritable_lo, permitted_hi, inheritable_hi = struct.unpack_from(
        "<5I", value)
    assert magic & 0xFF000000 == revision << 24 and magic & 0x00FFFFFF == 1  # effective
    assert permitted_lo == 1 << bit
    assert inheritable_lo == permitted_hi == inheritable_hi == 0
    if revision == 3:
        assert struct.unpack_from("<I", value, 20) == (0,)  # rootid


# --- whiteouts, hardlinks, devices ----------------------------------------------------

def test_whiteout_layers():
    base = members(read("whiteouts-base.tar"))
    assert [m.name for m in base] == ["a", "a/keep", "a/gone", "b", "b/x", "b/sub", "b/sub/y",
                                      "c"]
    upper = [m.name for m in members(read("whiteouts.tar"))]
    assert upper == ["a", "a/.wh.gone", "b", "b/new", "b/.wh..wh..opq", "c", "c/.wh..wh..opq",
                     "c/mine"]
    assert upper.index("b/new") < upper.index("b/.wh..wh..opq")
    assert upper.index("c/.wh..wh..opq") < upper.index("c/mine")


def test_hardlinks():
    layer = by_name(read("hardlinks.tar"))
    links = {name: m.linkname for name, m in layer.items() if m.islnk()}
    assert links == {"links/file-1": "data/file", "other/file-2": "data/file",
                     "links/symlink-hard": "data/symlink", "links/keep": "a/keep"}
    assert layer["data/file"].isfile() and layer["data/symlink"].issym()
    assert "a/keep" not in layer and by_name(read("whiteouts-base.tar"))["a/keep"].isfile()


def test_devices():
    layer = by_name(read("devices.tar"))
    found = {name: (m.type, m.devmajor, m.devminor) for name, m in layer.items()
             if not m.isdir()}
    assert found == {"dev/null": (tarfile.CHRTYPE, 1, 3), "dev/zero": (tarfile.CHRTYPE, 1, 5),
                     "dev/loop0": (tarfile.BLKTYPE, 7, 0), "run/fifo": (tarfile.FIFOTYPE, 0, 0)}


# --- images ----------------------------------------------------------------------------

STACK = ["whiteouts-base.tar", "creator-ee.tar"]  # bottom to top


def test_docker_save_image():
    image = read("image-docker.tar")
    (manifest,) = json.loads(content(image, "manifest.json"))
    assert manifest["RepoTags"] == ["fsmodel/corpus:creator-ee"]
    config_bytes = content(image, manifest["Config"])
    assert manifest["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    config = json.loads(config_bytes)
    layers = [content(image, path) for path in manifest["Layers"]]
    assert layers == [read(name) for name in STACK]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(b) for b in layers]}
    top_id = manifest["Layers"][-1].split("/")[0]
    assert json.loads(content(image, "repositories")) == {"fsmodel/corpus": {"creator-ee": top_id}}


def test_oci_image_layout():
    image = read("image-oci.tar")
    blobs = {m.name.removeprefix("blobs/sha256/"): content(image, m.name)
             for m in members(image) if m.isfile() and m.name.startswith("blobs/sha256/")}
    for name, blob in blobs.items():
        assert sha256(blob) == "sha256:" + name

    def fetch(descriptor):
        blob = blobs[descriptor["digest"].removeprefix("sha256:")]
        assert sha256(blob) == descriptor["digest"] and len(blob) == descriptor["size"]
        return blob

    assert json.loads(content(image, "oci-layout")) == {"imageLayoutVersion": "1.0.0"}
    (descriptor,) = json.loads(content(image, "index.json"))["manifests"]
    assert descriptor["annotations"]["org.opencontainers.image.ref.name"] == "creator-ee"
    manifest = json.loads(fetch(descriptor))
    assert manifest["mediaType"] == descriptor["mediaType"]
    config = json.loads(fetch(manifest["config"]))
    assert {d["mediaType"] for d in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"}
    layers = [gzip.decompress(fetch(d)) for d in manifest["layers"]]
    assert layers == [read(name) for name in STACK]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(b) for b in layers]}
    assert len(blobs) == len(manifest["layers"]) + 2  # the layers, the config, the manifest


# --- fsmodel's reader agrees with tarfile on every layer --------------------------------

def _tarfile_view(data: bytes) -> list[tuple]:
    out = []
    for info in members(data):
        base = info.name.rpartition("/")[2]
        kind = (Opaque if base == ".wh..wh..opq" else Whiteout if base.startswith(".wh.")
                else File if info.isfile() else Directory if info.isdir()
                else Symlink if info.issym() else Hardlink if info.islnk()
                else Device if info.ischr() or info.isblk() else Fifo if info.isfifo() else None)
        body = content(data, info.name) if info.isfile() and kind is File else b""
        out.append((info.name, kind, xattrs(info), body))
    return out


def _fsmodel_view(data: bytes) -> list[tuple]:
    out, events = [], list(iter_layer(data))
    assert isinstance(events[-1], EndOfLayer)
    for event in events[:-1]:
        if isinstance(event, Data):
            name, kind, found, body = out[-1]
            out[-1] = (name, kind, found, body + event.chunk)
            continue
        assert isinstance(event, Entry)
        path = event.path + "/.wh..wh..opq" if isinstance(event, Opaque) else event.path
        found = {x.name: x.value for x in event.xattrs if x.encoding == "SCHILY"}
        out.append((path.rstrip("/"), type(event), found, b""))
    return out


@pytest.mark.parametrize("name", LAYERS + ["creator-ee.tar.gz"])
def test_fsmodel_reader_agrees_with_tarfile(name):
    data = read(name)
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    assert _fsmodel_view(data) == _tarfile_view(data)
