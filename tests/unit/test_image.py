"""Image sources: layers come back bottom to top, uncompressed and verified, and
every fault of the image is a MalformedImage naming the file or blob."""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import tarfile
from dataclasses import dataclass

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsmodel.layer.image import (
    Image,
    LayerBlob,
    LayerStream,
    MalformedImage,
    open_image,
    sniff_compression,
)

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPES = {"none": OCI_LAYER, "gzip": OCI_LAYER + "+gzip", "zstd": OCI_LAYER + "+zstd"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"

COMPRESS = {
    "none": lambda b: b,
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


# --- building images ------------------------------------------------------------------

def layer_tar(seed: int, size: int = 3000) -> bytes:
    """A small layer tar whose content depends on ``seed``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(3):
            data = hashlib.sha256(f"{seed}/{i}".encode()).digest() * (size // 32 + 1)
            info = tarfile.TarInfo(f"layer{seed}/file{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LAYERS = [layer_tar(0), layer_tar(1), layer_tar(2)]


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def dumps(obj) -> bytes:
    return json.dumps(obj).encode()


@dataclass(frozen=True)
class Link:
    """A symlink (or, with hard=True, a hardlink) in an image tree."""
    target: str
    hard: bool = False


def write_tree(tree: dict, dest, as_tar: bool):
    """Write {path: bytes | Link} as a directory or as a tar file at ``dest``."""
    if not as_tar:
        dest.mkdir()
        for name, value in tree.items():
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, Link):
                os.symlink(value.target, path)
            else:
                path.write_bytes(value)
        return dest
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for name, value in tree.items():
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs and d not in tree:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            if isinstance(value, Link):
                info.type = tarfile.LNKTYPE if value.hard else tarfile.SYMTYPE
                info.linkname = value.target
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return dest


def blob(tree: dict, data: bytes, media_type: str, algorithm: str = "sha256", **extra) -> dict:
    d = digest(data, algorithm)
    tree["blobs/" + d.replace(":", "/")] = data
    return {"mediaType": media_type, "digest": d, "size": len(data), **extra}


def oci_image(tree, layers, *, compress="gzip", media_types=None, algorithm="sha256",
              edit_layer=None, edit_config=None, edit_manifest=None, **extra) -> dict:
    """Add an image's blobs to ``tree``; return its manifest descriptor."""
    compress = [compress] * len(layers) if isinstance(compress, str) else compress
    descriptors = []
    for i, (data, how) in enumerate(zip(layers, compress, strict=True)):
        media = (media_types or {}).get(i, MEDIA_TYPES.get(how, OCI_LAYER))
        d = blob(tree, COMPRESS[how](data), media, algorithm)
        if edit_layer:
            edit_layer(i, d)
        descriptors.append(d)
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [digest(x, algorithm) for x in layers]}}
    if edit_config:
        edit_config(config)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": blob(tree, dumps(config), CONFIG, algorithm), "layers": descriptors}
    if edit_manifest:
        edit_manifest(manifest)
    return blob(tree, dumps(manifest), MANIFEST, algorithm, **extra)


def oci_layout(manifests, tree=None, *, layout=b'{"imageLayoutVersion": "1.0.0"}') -> dict:
    tree = {} if tree is None else tree
    tree["oci-layout"] = layout
    tree["index.json"] = dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
    return tree


def oci_tree(layers=LAYERS, *, ref="v1", **kw) -> dict:
    tree = {}
    desc = oci_image(tree, layers, annotations={"org.opencontainers.image.ref.name": ref}, **kw)
    return oci_layout([desc], tree)


def docker_save_tree(layers=LAYERS, *, compress="none", tags=("repo:tag",),
                     edit_config=None, edit_entry=None) -> dict:
    """The legacy (Docker <= 24) docker save layout."""
    tree = {}
    names = []
    for i, data in enumerate(layers):
        layer_id = hashlib.sha256(f"id{i}".encode()).hexdigest()
        tree[f"{layer_id}/VERSION"] = b"1.0"
        tree[f"{layer_id}/json"] = b"{}"
        tree[f"{layer_id}/layer.tar"] = COMPRESS[compress](data)
        names.append(f"{layer_id}/layer.tar")
    config = {"rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]}}
    if edit_config:
        edit_config(config)
    config_bytes = dumps(config)
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    tree[config_name] = config_bytes
    entry = {"Config": config_name, "RepoTags": list(tags), "Layers": names}
    if edit_entry:
        edit_entry(entry)
    tree["manifest.json"] = dumps([entry])
    tree["repositories"] = b"{}"
    return tree


def docker25_tree(layers=LAYERS) -> dict:
    """The Docker >= 25 docker save layout: an OCI layout plus manifest.json."""
    tree = {}
    desc = oci_image(tree, layers, compress="none",
                     annotations={"org.opencontainers.image.ref.name": "latest"})
    manifest = json.loads(tree["blobs/" + desc["digest"].replace(":", "/")])
    entry = {"Config": "blobs/" + manifest["config"]["digest"].replace(":", "/"),
             "RepoTags": ["hello:latest"],
             "Layers": ["blobs/" + d["digest"].replace(":", "/") for d in manifest["layers"]]}
    tree["manifest.json"] = dumps([entry])
    return oci_layout([desc], tree)


def read_all(image: Image) -> list:
    """[(uncompressed bytes, computed DiffID)] for each layer, bottom to top."""
    out = []
    for layer in image.layers:
        with layer.open() as stream:
            data = b"".join(stream)
            out.append((data, stream.finish()))
    return out


def expect(tree_or_path, tmp_path, message, *, as_tar=False, **kw):
    """Opening and reading the image raises MalformedImage containing ``message``."""
    path = tree_or_path if not isinstance(tree_or_path, dict) \
        else write_tree(tree_or_path, tmp_path / "img", as_tar)
    with pytest.raises(MalformedImage, match=re.escape(message)) as info:
        with open_image(path, **kw) as image:
            read_all(image)
    assert "\n" not in str(info.value)
    return str(info.value)


def sha_path(data: bytes) -> str:
    return "blobs/sha256/" + hashlib.sha256(data).hexdigest()


# --- magic bytes ------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_sniff_by_magic_bytes(compression):
    assert sniff_compression(COMPRESS[compression](LAYERS[0])[:10]) == compression


@pytest.mark.parametrize("head", [b"", b"\x1f", b"\x1f\x8b", b"BZh9", b"BZh9xxxxxx",
                                  b"ustar\0", b"\xfd7zXZ", LAYERS[0][:10]])
def test_sniff_anything_else_is_none(head):
    assert sniff_compression(head) == "none"


def test_sniff_zstd_skippable_frame_and_empty_bzip2():
    assert sniff_compression(b"\x50\x2a\x4d\x18\x00\x00\x00\x00") == "zstd"
    assert sniff_compression(bz2.compress(b"")) == "bzip2"


# --- plain layers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_plain_layer_in_each_compression(tmp_path, compression):
    path = tmp_path / "layer"
    path.write_bytes(COMPRESS[compression](LAYERS[1]))
    with open_image(path) as image:
        assert (image.kind, image.ref, image.source) == ("layer", None, str(path))
        [layer] = image.layers
        assert layer == LayerBlob(0, str(path), None, None, None, compression, None)
        assert read_all(image) == [(LAYERS[1], digest(LAYERS[1]))]


@pytest.mark.parametrize("name, content, compression", [
    ("layer.tar.gz", "none", "none"),
    ("layer.tar", "zstd", "zstd"),
    ("layer.tar.zst", "gzip", "gzip"),
    ("layer.tar.xz", "bzip2", "bzip2"),
    ("layer.tar.bz2", "xz", "xz"),
])
def test_names_are_ignored_magic_decides(tmp_path, name, content, compression):
    path = tmp_path / name
    path.write_bytes(COMPRESS[content](LAYERS[0]))
    with open_image(path) as image:
        assert image.layers[0].compression == compression
        assert read_all(image) == [(LAYERS[0], digest(LAYERS[0]))]


def test_plain_layer_that_is_not_a_tar_is_still_a_layer(tmp_path):
    path = tmp_path / "noise"
    path.write_bytes(b"not a tar at all" * 100)
    with open_image(path) as image:
        assert image.kind == "layer"
        assert read_all(image) == [(path.read_bytes(), digest(path.read_bytes()))]


@pytest.mark.parametrize("compression, joined", [
    ("gzip", lambda a, b: gzip.compress(a) + gzip.compress(b)),
    ("zstd", lambda a, b: zstandard.ZstdCompressor().compress(a)
        + zstandard.ZstdCompressor().compress(b)),
    ("bzip2", lambda a, b: bz2.compress(a) + bz2.compress(b)),
    ("xz", lambda a, b: lzma.compress(a) + lzma.compress(b)),
])
def test_concatenated_members_and_frames(tmp_path, compression, joined):
    path = tmp_path / "layer"
    path.write_bytes(joined(LAYERS[0][:5000], LAYERS[0][5000:]))
    with open_image(path) as image:
        assert image.layers[0].compression == compression
        assert read_all(image) == [(LAYERS[0], digest(LAYERS[0]))]


def test_zstd_streamed_frames_and_trailing_skippable_frame(tmp_path):
    compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    data = compressor.compress(LAYERS[2]) + compressor.flush()  # no content size
    skippable = b"\x5e\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"12345"  # zstd:chunked-like
    path = tmp_path / "layer"
    path.write_bytes(data + skippable)
    with open_image(path) as image:
        assert read_all(image) == [(LAYERS[2], digest(LAYERS[2]))]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bzip2", "xz"])
def test_chunks_are_at_most_64_kib(tmp_path, compression):
    data = bytes(3 * 2**20)
    path = tmp_path / "layer"
    path.write_bytes(COMPRESS[compression](data))
    with open_image(path) as image, image.layers[0].open() as stream:
        sizes = [len(chunk) for chunk in stream]
        assert max(sizes) <= 65536 and sum(sizes) == len(data)
        assert stream.finish() == digest(data)


# --- docker save -----------------------------------------------------------------------------

@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_docker_save_legacy(tmp_path, as_tar):
    path = write_tree(docker_save_tree(), tmp_path / "img", as_tar)
    with open_image(path) as image:
        assert (image.kind, image.ref, image.manifest_digest) == ("docker-save", "repo:tag", None)
        assert [b.diff_id for b in image.layers] == [digest(x) for x in LAYERS]
        assert [b.index for b in image.layers] == [0, 1, 2]
        assert all(b.digest is None and b.name.endswith("/layer.tar") for b in image.layers)
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_docker_save_with_compressed_layers(tmp_path, compression):
    path = write_tree(docker_save_tree(compress=compression), tmp_path / "img.tar", True)
    with open_image(path) as image:
        assert {b.compression for b in image.layers} == {compression}
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_docker_save_member_names_with_dot_slash(tmp_path):
    tree = {"./" + k: v for k, v in docker_save_tree().items()}
    with open_image(write_tree(tree, tmp_path / "img.tar", True)) as image:
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_docker_save_several_images_takes_the_first(tmp_path):
    tree = docker_save_tree()
    entries = json.loads(tree["manifest.json"])
    tree["manifest.json"] = dumps(entries + [dict(entries[0], RepoTags=["other:tag"])])
    with open_image(write_tree(tree, tmp_path / "img", False)) as image:
        assert image.ref == "repo:tag"
        assert image.notes == ("manifest.json lists 2 images; took the first (repo:tag)",)


@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_docker_save_docker_25(tmp_path, as_tar):
    path = write_tree(docker25_tree(), tmp_path / "img", as_tar)
    with open_image(path) as image:
        assert (image.kind, image.ref) == ("docker-save-oci", "hello:latest")
        assert [b.digest for b in image.layers] == [digest(x) for x in LAYERS]
        assert [b.name for b in image.layers] == [sha_path(x) for x in LAYERS]
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_docker_25_blob_not_matching_its_name(tmp_path):
    tree = docker25_tree()
    path = sha_path(LAYERS[1])
    tree[path] = LAYERS[1][:-1] + b"!"
    expect(tree, tmp_path, f"blob {digest(LAYERS[1])}: digest mismatch (got "
                           f"{digest(tree[path])})")


def test_docker_25_config_not_matching_its_name(tmp_path):
    tree = docker25_tree()
    entry = json.loads(tree["manifest.json"])[0]
    tree[entry["Config"]] += b" "
    expect(tree, tmp_path, f"blob {entry['Config'][6:].replace('/', ':')}: digest mismatch")


# --- OCI layouts --------------------------------------------------------------------------------

@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_oci_layout_three_layers_mixed_compression(tmp_path, as_tar):
    tree = oci_tree(compress=["none", "gzip", "zstd"])
    path = write_tree(tree, tmp_path / "img", as_tar)
    with open_image(path) as image:
        assert (image.kind, image.ref, image.notes) == ("oci-layout", "v1", ())
        assert [b.compression for b in image.layers] == ["none", "gzip", "zstd"]
        assert [b.media_type for b in image.layers] == [MEDIA_TYPES[c] for c in
                                                        ("none", "gzip", "zstd")]
        index = json.loads(tree["index.json"])
        assert image.manifest_digest == index["manifests"][0]["digest"]
        for b in image.layers:
            assert b.name == "blobs/" + b.digest.replace(":", "/")
            assert b.size == len(tree[b.name])
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_oci_layout_sha512(tmp_path):
    tree = oci_tree(algorithm="sha512")
    with open_image(write_tree(tree, tmp_path / "img", False)) as image:
        assert all(b.digest.startswith("sha512:") for b in image.layers)
        assert read_all(image) == [(x, digest(x, "sha512")) for x in LAYERS]


def test_oci_docker_media_types(tmp_path):
    tree = oci_tree(compress=["gzip", "none", "gzip"], media_types={
        0: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        1: "application/vnd.docker.image.rootfs.diff.tar",
        2: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"})
    with open_image(write_tree(tree, tmp_path / "img", True)) as image:
        assert image.notes == ()
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_oci_media_type_disagreeing_with_magic_is_a_note(tmp_path):
    tree = oci_tree(compress=["none", "zstd", "gzip"], media_types={
        0: OCI_LAYER + "+gzip", 1: OCI_LAYER})
    with open_image(write_tree(tree, tmp_path / "img", False)) as image:
        assert [b.compression for b in image.layers] == ["none", "zstd", "gzip"]
        assert image.notes == (
            f"layer 0: media type {OCI_LAYER}+gzip announces gzip, the bytes are none; "
            f"read as none",
            f"layer 1: media type {OCI_LAYER} announces none, the bytes are zstd; read as zstd")
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def test_oci_nested_index(tmp_path):
    tree = {}
    manifest = oci_image(tree, LAYERS)
    nested = blob(tree, dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest]}),
                  INDEX, annotations={"org.opencontainers.image.ref.name": "nested"})
    with open_image(write_tree(oci_layout([nested], tree), tmp_path / "img", True)) as image:
        assert (image.ref, image.manifest_digest) == ("nested", manifest["digest"])
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


def multi_platform_tree(nested: bool) -> dict:
    tree = {}
    attestation = oci_image(tree, [layer_tar(9)], platform={"os": "unknown",
                                                             "architecture": "unknown"})
    amd = oci_image(tree, LAYERS[:2], platform={"os": "linux", "architecture": "amd64"})
    arm = oci_image(tree, LAYERS[1:], platform={"os": "linux", "architecture": "arm64",
                                                "variant": "v8"})
    win = oci_image(tree, [layer_tar(7)], platform={"os": "windows", "architecture": "arm64"})
    manifests = [attestation, win, amd, arm]
    if nested:
        manifests = [blob(tree, dumps({"schemaVersion": 2, "manifests": manifests}), INDEX)]
    return oci_layout(manifests, tree)


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("architecture, expected", [
    ("amd64", LAYERS[:2]), ("arm64", LAYERS[1:]), ("s390x", [layer_tar(7)])])
def test_oci_multi_platform_index(tmp_path, nested, architecture, expected):
    tree = multi_platform_tree(nested)
    with open_image(write_tree(tree, tmp_path / "img", False),
                    architecture=architecture) as image:
        assert read_all(image) == [(x, digest(x)) for x in expected]
        [note] = image.notes
        assert note.startswith("index.json lists 3 image manifests; ")
        assert image.manifest_digest in note
        if architecture == "s390x":
            assert "none is for linux/s390x, took the first" in note and "windows/arm64" in note
        else:
            assert f"the one for linux/{architecture}" in note


@pytest.mark.parametrize("machine, expected", [("x86_64", LAYERS[:2]), ("aarch64", LAYERS[1:])])
def test_oci_default_architecture_is_the_hosts(tmp_path, monkeypatch, machine, expected):
    monkeypatch.setattr("platform.machine", lambda: machine)
    with open_image(write_tree(multi_platform_tree(False), tmp_path / "img", True)) as image:
        assert read_all(image) == [(x, digest(x)) for x in expected]


def test_oci_manifests_null_is_no_image(tmp_path):
    tree = oci_tree()
    tree["index.json"] = dumps({"schemaVersion": 2, "manifests": None})
    expect(tree, tmp_path, "index.json: no image manifest")


def test_oci_unknown_media_types_in_the_index_are_skipped(tmp_path):
    tree = oci_tree()
    index = json.loads(tree["index.json"])
    index["manifests"].insert(0, {"mediaType": "application/x-other", "size": 1,
                                  "digest": digest(b"?")})
    tree["index.json"] = dumps(index)
    with open_image(write_tree(tree, tmp_path / "img", False)) as image:
        assert read_all(image) == [(x, digest(x)) for x in LAYERS]


# --- LayerStream ------------------------------------------------------------------------------

def test_finish_drains_what_was_not_read_and_is_idempotent(tmp_path):
    with open_image(write_tree(oci_tree(), tmp_path / "img", True)) as image:
        stream = image.layers[2].open()
        first = next(stream)
        assert LAYERS[2].startswith(first)
        assert stream.diff_id is None
        assert stream.finish() == stream.finish() == digest(LAYERS[2]) == stream.diff_id
        assert list(stream) == []
        stream.close()


def test_reading_to_the_end_verifies(tmp_path):
    def wrong(config):
        config["rootfs"]["diff_ids"][1] = digest(b"something else")
    with open_image(write_tree(oci_tree(edit_config=wrong), tmp_path / "img", False)) as image:
        stream = image.layers[1].open()
        with pytest.raises(MalformedImage, match="DiffID mismatch") as first:
            for _ in stream:
                pass
        with pytest.raises(MalformedImage) as again:
            stream.finish()
        assert again.value is first.value


def test_streams_of_one_archive_interleave(tmp_path):
    with open_image(write_tree(oci_tree(compress="none"), tmp_path / "img.tar", True)) as image:
        streams = [layer.open() for layer in image.layers]
        parts = [[], [], []]
        while any(s.diff_id is None for s in streams):
            for part, stream in zip(parts, streams, strict=True):
                part.append(next(stream, b""))
        assert [b"".join(p) for p in parts] == LAYERS
        assert [s.finish() for s in streams] == [digest(x) for x in LAYERS]


def test_closed_image_opens_no_layer(tmp_path):
    image = open_image(write_tree(docker_save_tree(), tmp_path / "img.tar", True))
    image.close()
    with pytest.raises(ValueError, match="closed"):
        image.layers[0].open()


def test_layer_stream_is_the_returned_type(tmp_path):
    path = tmp_path / "layer"
    path.write_bytes(LAYERS[0])
    with open_image(path) as image, image.layers[0].open() as stream:
        assert isinstance(stream, LayerStream)


# --- what is wrong with the image, and who says so -----------------------------------------

def test_missing_source_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "nowhere")


def test_directory_that_is_not_an_image(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "oci-layout").write_bytes(b"{}")
    expect(tmp_path / "d", tmp_path, "not an image")


def test_wrong_blob_digest(tmp_path):
    tree = oci_tree(compress="none")
    name = sha_path(LAYERS[1])
    tree[name] = LAYERS[1][:600] + b"X" + LAYERS[1][601:]
    expect(tree, tmp_path, f"blob {digest(LAYERS[1])}: digest mismatch (got "
                           f"{digest(tree[name])})", as_tar=True)


def test_wrong_blob_size_in_descriptor(tmp_path):
    def bigger(i, d):
        if i == 2:
            d["size"] += 1
    tree = oci_tree(edit_layer=bigger)
    layer = gzip.compress(LAYERS[2], mtime=0)
    expect(tree, tmp_path, f"blob {digest(layer)}: size mismatch (declared {len(layer) + 1}, "
                           f"got {len(layer)})")


def test_wrong_manifest_size_in_index(tmp_path):
    tree = oci_tree()
    index = json.loads(tree["index.json"])
    index["manifests"][0]["size"] -= 1
    tree["index.json"] = dumps(index)
    expect(tree, tmp_path, f"manifest {index['manifests'][0]['digest']}: size mismatch",
           as_tar=True)


@pytest.mark.parametrize("form", ["oci", "docker"])
def test_wrong_diff_id(tmp_path, form):
    def wrong(config):
        config["rootfs"]["diff_ids"][0] = digest(LAYERS[1])
    tree = oci_tree(edit_config=wrong) if form == "oci" else docker_save_tree(edit_config=wrong)
    message = expect(tree, tmp_path, f"DiffID mismatch (config says {digest(LAYERS[1])}, got "
                                     f"{digest(LAYERS[0])})")
    assert message.startswith("layer 0 (")


@pytest.mark.parametrize("bad, problem", [
    ("../x", "has a '..' component"),
    ("a/../../x", "has a '..' component"),
    ("/etc/passwd", "is absolute"),
    ("a\0b", "contains NUL"),
    ("", "empty path"),
    ("./", "names the image's top directory"),
])
@pytest.mark.parametrize("field", ["Layers", "Config"])
def test_docker_save_paths_that_leave_the_image(tmp_path, bad, problem, field):
    def edit(entry):
        if field == "Layers":
            entry["Layers"][1] = bad
        else:
            entry["Config"] = bad
    where = "manifest.json[0].Layers[1]" if field == "Layers" else "manifest.json[0].Config"
    message = expect(docker_save_tree(edit_entry=edit), tmp_path, f"{where}: ")
    assert message.endswith(problem) and (bad == "" or repr(bad) in message)


def layer_path(tree, i):
    return json.loads(tree["manifest.json"])[0]["Layers"][i]


@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_layer_that_is_a_symlink(tmp_path, as_tar):
    tree = docker_save_tree()
    target = layer_path(tree, 0)
    tree[layer_path(tree, 1)] = Link("../" + target)
    expect(tree, tmp_path, f"layer 1: {layer_path(tree, 1)}: is a symlink, not a regular file",
           as_tar=as_tar)


def test_layer_that_is_a_hardlink_in_a_tar(tmp_path):
    tree = docker_save_tree()
    tree[layer_path(tree, 2)] = Link(layer_path(tree, 0), hard=True)
    expect(tree, tmp_path, f"layer 2: {layer_path(tree, 2)}: is a hardlink, not a regular file",
           as_tar=True)


def test_symlink_to_outside_in_a_directory(tmp_path):
    (tmp_path / "secret").write_bytes(LAYERS[0])
    tree = docker_save_tree()
    tree[layer_path(tree, 0)] = Link(str(tmp_path / "secret"))
    expect(tree, tmp_path, f"layer 0: {layer_path(tree, 0)}: is a symlink")


@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_symlinked_blobs_directory(tmp_path, as_tar):
    real = "f" * 64   # a name image archives may hold (anything else makes the tar a layer)
    tree = {k.replace("blobs/", real + "/", 1): v for k, v in oci_tree().items()}
    tree["blobs"] = Link(real)
    message = expect(tree, tmp_path, ": blobs is a symlink, not a directory", as_tar=as_tar)
    assert message.startswith("manifest sha256:") and ": blobs/sha256/" in message


def test_symlinked_manifest_json(tmp_path):
    tree = docker_save_tree()
    tree["real.json"] = tree.pop("manifest.json")
    tree["manifest.json"] = Link("real.json")
    expect(tree, tmp_path, "manifest.json: is a symlink, not a regular file")


def test_blob_that_is_a_fifo(tmp_path):
    path = write_tree(docker_save_tree(), tmp_path / "img", False)
    layer = path / layer_path(docker_save_tree(), 1)
    layer.unlink()
    os.mkfifo(layer)
    expect(path, tmp_path, f"layer 1: {layer_path(docker_save_tree(), 1)}: is a FIFO")


@pytest.mark.parametrize("as_tar", [True, False], ids=["tar", "dir"])
def test_missing_blob(tmp_path, as_tar):
    tree = oci_tree()
    name = "blobs/" + digest(gzip.compress(LAYERS[1], mtime=0)).replace(":", "/")
    del tree[name]
    expect(tree, tmp_path, f"layer 1: {name}: not in the", as_tar=as_tar)


def test_duplicate_member_in_a_tar(tmp_path):
    tree = docker_save_tree()
    path = write_tree(tree, tmp_path / "img.tar", True)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    expect(path, tmp_path, "manifest.json: the archive has more than one manifest.json")


def test_truncated_archive(tmp_path):
    path = write_tree(docker_save_tree(), tmp_path / "img.tar", True)
    data = path.read_bytes()
    end = data.index(b"repositories")  # a member header after manifest.json
    path.write_bytes(data[:end - 1000])
    expect(path, tmp_path, "damaged tar archive after")


def test_huge_extension_header_in_an_archive(tmp_path):
    path = tmp_path / "img.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "x" * 2**20}
        tar.addfile(info, io.BytesIO(b""))
    expect(path, tmp_path, "an extension header of")


@pytest.mark.parametrize("document, message", [
    (b"{nope", "manifest.json: not valid JSON"),
    (b"", "manifest.json: not valid JSON"),
    (b"\xff\xfe\x00", "manifest.json: not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, "manifest.json: not valid JSON"),
    (b'[{"Config": "a", "Config": "b", "Layers": []}]', "duplicate key 'Config'"),
    (b"{}", "manifest.json: expected an array, got an object"),
    (b"null", "manifest.json: expected an array, got null"),
    (b"[]", "manifest.json: lists no image"),
    (b"[1]", "manifest.json[0]: expected an object, got a number"),
    (b'[{"Layers": []}]', "manifest.json[0]: 'Config' is missing"),
    (b'[{"Config": 7, "Layers": []}]', "manifest.json[0].Config: expected a string, got a number"),
    (b'[{"Config": "c.json", "Layers": "x"}]', "manifest.json[0].Layers: expected an array"),
    (b'[{"Config": "c.json", "Layers": [null]}]', "manifest.json[0].Layers[0]: expected a string"),
    (b'[{"Config": "c.json", "Layers": [], "RepoTags": "a"}]',
     "manifest.json[0].RepoTags: expected an array, got a string"),
    (b'[{"Config": "c.json", "Layers": [], "RepoTags": [true]}]',
     "manifest.json[0].RepoTags[0]: expected a string, got a boolean"),
    (b'[{"Config": "blobs/sha256/xyz", "Layers": []}]', "'sha256:xyz' is not a sha256"),
    (b'[{"Config": "blobs/x", "Layers": []}]', "is not blobs/<algorithm>/<digest>"),
    (b'[{"Config": "nowhere.json", "Layers": []}]', "config nowhere.json: nowhere.json: not in"),
    (b" " * (4 * 2**20 + 1), "manifest.json: 4194305 bytes, more than the 4194304"),
])
def test_manifest_json_wrong(tmp_path, document, message):
    tree = docker_save_tree()
    tree["manifest.json"] = document
    expect(tree, tmp_path, message)


@pytest.mark.parametrize("config, message", [
    (b"[]", "expected an object, got an array"),
    (b"{}", "'rootfs' is missing"),
    (b'{"rootfs": {"type": "layers"}}', ".rootfs: 'diff_ids' is missing"),
    (b'{"rootfs": {"type": "layers", "diff_ids": {}}}', ".rootfs.diff_ids: expected an array"),
    (b'{"rootfs": {"type": "tarballs", "diff_ids": []}}', ".rootfs.type: 'tarballs', not 'layers'"),
    (b'{"rootfs": {"type": "layers", "diff_ids": [5]}}', ".rootfs.diff_ids[0]: expected a string"),
])
def test_config_wrong(tmp_path, config, message):
    tree = docker_save_tree()
    entry = json.loads(tree["manifest.json"])[0]
    tree[entry["Config"]] = config
    expect(tree, tmp_path, f"config {entry['Config']}{message}" if message[0] == "."
           else message)


@pytest.mark.parametrize("form", ["oci", "docker"])
def test_layer_count_differs_from_diff_ids(tmp_path, form):
    def extra(config):
        config["rootfs"]["diff_ids"].append(digest(b"x"))
    if form == "oci":
        expect(oci_tree(edit_config=extra), tmp_path, "3 layers, but config sha256:")
    else:
        expect(docker_save_tree(edit_config=extra), tmp_path,
               "manifest.json[0]: 3 Layers, but config ")


@pytest.mark.parametrize("bad", [
    "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha1:" + "a" * 40, "a" * 64,
    "sha256:../../../../etc/passwd", "sha512:" + "a" * 64, "sha256:" + "a" * 64 + "\n",
    "blake3:" + "a" * 64])
@pytest.mark.parametrize("where", ["layer", "diff_id", "index"])
def test_bad_digest_syntax(tmp_path, bad, where):
    def layer(i, d):
        if i == 1 and where == "layer":
            d["digest"] = bad

    def config(c):
        if where == "diff_id":
            c["rootfs"]["diff_ids"][2] = bad
    tree = oci_tree(edit_layer=layer, edit_config=config)
    if where == "index":
        index = json.loads(tree["index.json"])
        index["manifests"][0]["digest"] = bad
        tree["index.json"] = dumps(index)
    expected = {"layer": ".layers[1].digest: ", "diff_id": ".rootfs.diff_ids[2]: ",
                "index": "index.json.manifests[0].digest: "}[where]
    expect(tree, tmp_path, expected + f"{bad!r} is not a sha256 or sha512 digest")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("size"), "'size' is missing"),
    (lambda d: d.update(size="12"), ".size: expected an integer, got a string"),
    (lambda d: d.update(size=True), ".size: expected an integer, got a boolean"),
    (lambda d: d.update(size=-1), ".size: -1 is negative"),
    (lambda d: d.update(mediaType=None), ".mediaType: expected a string, got null"),
    (lambda d: d.update(mediaType="application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
     "is not an image layer"),
])
def test_layer_descriptor_wrong(tmp_path, edit, message):
    expect(oci_tree(edit_layer=lambda i, d: edit(d) if i == 0 else None), tmp_path, message)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(schemaVersion=1), "schemaVersion is 1, not 2"),
    (lambda m: m.pop("layers"), "'layers' is missing"),
    (lambda m: m.update(config=[]), ".config: expected an object"),
    (lambda m: m["config"].update(mediaType="application/vnd.cncf.helm.config.v1+json"),
     "is not an image config"),
])
def test_manifest_wrong(tmp_path, edit, message):
    expect(oci_tree(edit_manifest=edit), tmp_path, message)


@pytest.mark.parametrize("layout, message", [
    (b'{"imageLayoutVersion": "2.0.0"}', "oci-layout: imageLayoutVersion '2.0.0' is not"),
    (b'{}', "oci-layout: 'imageLayoutVersion' is missing"),
    (b'"1.0.0"', "oci-layout: expected an object"),
])
def test_oci_layout_file_wrong(tmp_path, layout, message):
    tree = oci_tree()
    tree["oci-layout"] = layout
    expect(tree, tmp_path, message)


def test_index_platform_wrong_shape(tmp_path):
    tree = multi_platform_tree(False)
    index = json.loads(tree["index.json"])
    index["manifests"][2]["platform"]["architecture"] = 64
    tree["index.json"] = dumps(index)
    expect(tree, tmp_path,
           "index.json.manifests[2].platform.architecture: expected a string, got a number")


def test_indexes_nested_too_deep(tmp_path):
    tree = {}
    desc = oci_image(tree, LAYERS)
    for _ in range(9):
        desc = blob(tree, dumps({"schemaVersion": 2, "manifests": [desc]}), INDEX)
    expect(oci_layout([desc], tree), tmp_path, "indexes nested more than 8 deep")


# --- corrupt compressed data and bombs -------------------------------------------------------

@pytest.mark.parametrize("compression", ["gzip", "zstd", "bzip2", "xz"])
def test_truncated_compressed_layer(tmp_path, compression):
    path = tmp_path / "layer"
    data = COMPRESS[compression](LAYERS[0])
    path.write_bytes(data[:len(data) * 2 // 3])
    expect(path, tmp_path, f"layer 0 ({path}): corrupt or truncated {compression} data")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bzip2", "xz"])
def test_corrupt_compressed_layer(tmp_path, compression):
    path = tmp_path / "layer"
    data = bytearray(COMPRESS[compression](LAYERS[0]))
    for i in range(20, len(data) - 20, 7):
        data[i] ^= 0x55
    path.write_bytes(data)
    expect(path, tmp_path, f"corrupt or truncated {compression} data")


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_trailing_garbage_after_compressed_data(tmp_path, compression):
    path = tmp_path / "layer"
    path.write_bytes(COMPRESS[compression](LAYERS[0]) + b"garbage!")
    expect(path, tmp_path, f"corrupt or truncated {compression} data")


def test_corrupt_blob_with_right_digest_is_corrupt_data(tmp_path):
    tree = {}
    truncated = gzip.compress(LAYERS[1], mtime=0)[:-20]
    desc = oci_image(tree, LAYERS, compress="gzip")
    # replace layer 1 by a truncated gzip that its (rewritten) descriptor matches
    manifest_name = "blobs/" + desc["digest"].replace(":", "/")
    manifest = json.loads(tree.pop(manifest_name))
    manifest["layers"][1] = blob(tree, truncated, OCI_LAYER + "+gzip")
    desc = blob(tree, dumps(manifest), MANIFEST)
    expect(oci_layout([desc], tree), tmp_path,
           f"layer 1 (blobs/{digest(truncated).replace(':', '/')}): corrupt or truncated gzip")


def test_corrupt_blob_with_wrong_digest_is_a_digest_mismatch(tmp_path):
    tree = oci_tree()
    name = "blobs/" + digest(gzip.compress(LAYERS[1], mtime=0)).replace(":", "/")
    tree[name] = tree[name][:40] + bytes(len(tree[name]) - 40)
    expect(tree, tmp_path, f"blob {name[6:].replace('/', ':')}: digest mismatch")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bzip2", "xz"])
def test_decompression_bomb(tmp_path, compression):
    path = tmp_path / "bomb"
    path.write_bytes(COMPRESS[compression](bytes(8 * 2**20)))
    expect(path, tmp_path, "more than max_total_bytes=1048576 bytes uncompressed",
           max_total_bytes=2**20)


def test_bomb_in_an_image(tmp_path):
    big = bytes(4 * 2**20)
    expect(oci_tree([LAYERS[0], big], compress="zstd"), tmp_path,
           "layer 1 (blobs/sha256/", max_total_bytes=2**20)


def test_uncompressed_layer_over_the_limit(tmp_path):
    path = tmp_path / "layer"
    path.write_bytes(LAYERS[0])
    expect(path, tmp_path, "more than max_total_bytes=1000", max_total_bytes=1000)


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_max_total_bytes_must_be_positive(tmp_path, limit):
    with pytest.raises(ValueError, match="max_total_bytes"):
        open_image(tmp_path, max_total_bytes=limit)


# --- properties --------------------------------------------------------------------------------

def opens_as_a_layer_or_refuses(path) -> None:
    """The invariant: MalformedImage, or an image whose layers read or raise MalformedImage."""
    try:
        with open_image(path) as image:
            for layer in image.layers:
                with layer.open() as stream:
                    for _ in stream:
                        pass
                    assert stream.finish().startswith(("sha256:", "sha512:"))
    except MalformedImage as exc:
        assert str(exc) and "\n" not in str(exc)


MAGICS = [b"", b"\x1f\x8b\x08", b"\x28\xb5\x2f\xfd", b"BZh91AY&SY", b"\xfd7zXZ\x00",
          b"\x50\x2a\x4d\x18"]
QUICK = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@QUICK
@given(head=st.sampled_from(MAGICS), tail=st.binary(max_size=3000))
def test_random_bytes_are_a_layer_or_malformed(tmp_path, head, tail):
    path = tmp_path / "random"
    path.write_bytes(head + tail)
    try:
        image = open_image(path)
    except MalformedImage:
        return
    with image:
        assert image.kind == "layer"
    opens_as_a_layer_or_refuses(path)


SEEDS = {}


def seed_image(kind: str, tmp_path) -> bytes:
    if kind not in SEEDS:
        small = [layer_tar(0, 300), layer_tar(1, 300)]
        tree = (oci_tree(small, compress=["gzip", "zstd"]) if kind == "oci"
                else docker_save_tree(small, compress="gzip"))
        SEEDS[kind] = write_tree(tree, tmp_path / f"seed-{kind}.tar", True).read_bytes()
    return SEEDS[kind]


@QUICK
@given(kind=st.sampled_from(["oci", "docker"]), data=st.data())
def test_damaged_image_archives_are_malformed(tmp_path, kind, data):
    image = bytearray(seed_image(kind, tmp_path))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(image) - 1), st.integers(0, 255)),
                               min_size=1, max_size=8))
    for offset, value in edits:
        image[offset] = value
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(image))))
    path = tmp_path / "damaged.tar"
    path.write_bytes(image[:cut])
    opens_as_a_layer_or_refuses(path)


KEYS = ["Config", "Layers", "RepoTags", "schemaVersion", "manifests", "mediaType", "digest",
        "size", "platform", "annotations", "rootfs", "diff_ids", "type", "config", "layers",
        "imageLayoutVersion", "os", "architecture"]
SCALARS = (st.none() | st.booleans() | st.integers(-2, 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=8) | st.sampled_from([
               digest(b""), sha_path(b""), "layers", "1.0.0", "../x", "/etc/passwd", MANIFEST,
               INDEX, CONFIG, OCI_LAYER, "linux", "amd64", 2]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner,
                                      max_size=5), max_leaves=20)


@QUICK
@given(slot=st.sampled_from(["manifest.json", "index.json", "oci-layout", "manifest", "config"]),
       document=JSON)
def test_random_json_documents_are_malformed(tmp_path, slot, document):
    if slot == "manifest.json":
        tree = docker_save_tree(LAYERS[:1])
        tree[slot] = dumps(document)
    elif slot in ("index.json", "oci-layout"):
        tree = oci_tree(LAYERS[:1])
        tree[slot] = dumps(document)
    else:
        tree = {}
        if slot == "manifest":
            desc = blob(tree, dumps(document), MANIFEST)
        else:
            desc = oci_image(tree, LAYERS[:1], edit_manifest=lambda m: m.update(
                config=blob(tree, dumps(document), CONFIG)))
        tree = oci_layout([desc], tree)
    path = tmp_path / "img.tar"
    path.unlink(missing_ok=True)
    opens_as_a_layer_or_refuses(write_tree(tree, path, True))


def test_a_tar_with_rootfs_names_is_a_layer_whatever_follows(tmp_path):
    """Classification stops at the first name no image archive holds."""
    tree = {"etc/passwd": b"root:x:0:0::/:/bin/sh\n", **docker_save_tree()}
    path = write_tree(tree, tmp_path / "x.tar", True)
    with open_image(path) as image:
        assert image.kind == "layer"

