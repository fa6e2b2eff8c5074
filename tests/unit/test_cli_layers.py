"""`fsmodel check` and `fsmodel extract`, through the command line as users run them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
EXTERNAL = ROOT / "tests" / "data" / "corpus-external"
CREATOR = str(CORPUS / "creator-ee.tar")


def run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "fsmodel", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def cells(*args):
    code, out, err = run("check", *args, "--json")
    assert code == 0, err
    return {(c["policy"], c["host"]): c for c in json.loads(out)}


# ------------------------------------------------------------------ check

def test_check_creator_ee_gives_the_historical_outcomes():
    got = cells(CREATOR)
    legacy = got["containerd-legacy", "root-ext4"]
    assert legacy["outcome"] == "fail"
    assert legacy["error"].startswith("failed to extract layer sha256:")
    assert legacy["error"].endswith(": operation not permitted")
    assert (legacy["entry"], legacy["xattr"], legacy["errno"]) == (
        "etc/krb5.conf.d/crypto-policies", "user.rpm.origin", "EPERM")
    for policy in ("containerd", "moby-legacy"):
        cell = got[policy, "root-ext4"]
        assert cell["outcome"] == "warn" and len(cell["warnings"]) == 1
        assert "user.rpm.origin" in cell["warnings"][0]
    assert set(legacy) >= {"policy", "host", "outcome", "error", "entry", "xattr", "errno",
                           "warnings"}


def test_check_default_matrix_is_every_policy_on_the_named_hosts():
    got = cells(CREATOR)
    hosts = {h for _, h in got}
    assert hosts == {"root-ext4", "root-xfs", "root-btrfs", "root-tmpfs", "root-tmpfs-6.5",
                     "root-noxattr", "rootless-ext4", "rootless-tmpfs"}
    assert len({p for p, _ in got}) == 10


def test_check_same_answer_for_every_image_form():
    """The creator-ee layer alone, gzipped, and as the top of docker-save / OCI images."""
    forms = ["creator-ee.tar", "creator-ee.tar.gz", "image-docker.tar", "image-oci.tar"]
    results = []
    for form in forms:
        got = cells(str(CORPUS / form), "--policy", "containerd-legacy,containerd,moby",
                    "--host", "root-ext4,root-noxattr,rootless-tmpfs")
        results.append({k: (c["outcome"], c["entry"], c["xattr"], c["errno"], c["warnings"])
                        for k, c in got.items()})
    assert all(r == results[0] for r in results)


def test_check_text_table_and_details():
    code, out, err = run("check", CREATOR, "--policy", "containerd-legacy",
                         "--policy", "containerd", "--host", "root-ext4")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{CREATOR}: layer, 1 layer, 33 entries")
    assert lines[2].split() == ["policy", "root-ext4"]
    assert lines[3].split() == ["containerd-legacy", "FAIL"]
    assert lines[4].split() == ["containerd", "warn", "1"]
    assert "entry etc/krb5.conf.d/crypto-policies, xattr user.rpm.origin: EPERM" in out
    assert "rule R3.4-user-file-type" in out


def test_fail_on_sets_the_exit_status():
    code, _, err = run("check", CREATOR, "--fail-on", "containerd-legacy@root-ext4")
    assert code == 1 and "containerd-legacy@root-ext4" in err
    code, _, _ = run("check", CREATOR, "--fail-on", "containerd@root-ext4")
    assert code == 0
    code, _, err = run("check", CREATOR, "--fail-on", "containerd-legacy@*",
                       "--host", "root-xfs")
    assert code == 1
    code, _, err = run("check", CREATOR, "--fail-on", "containerd@*")
    assert code == 0


@pytest.mark.parametrize("args, fragment", [
    (["--policy", "containerd-9"], "unknown policy 'containerd-9'"),
    (["--host", "root-zfs"], "unknown host 'root-zfs'"),
    (["--host", "rootful-ext4"], "unknown host"),
    (["--fail-on", "containerd"], "is not POLICY@HOST"),
    (["--fail-on", "containerd@root-ext4", "--policy", "moby"], "not in the matrix"),
])
def test_check_usage_errors_are_one_line_exit_2(args, fragment):
    code, out, err = run("check", CREATOR, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file or directory"),
    (b"not a tar at all" * 40, "entry 0"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 20, ""),
    (b"(\xb5/\xfd" + b"\x00" * 20, ""),
])
def test_check_bad_sources_are_one_line_exit_2(tmp_path, content, fragment):
    path = tmp_path / "src"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run("check", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert "Traceback" not in err


def test_check_a_directory_that_is_no_image(tmp_path):
    code, _, err = run("check", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1


EXTERNAL_FILES = sorted(p for p in EXTERNAL.rglob("*") if p.is_file() and p.suffix != ".md")


def test_external_corpus_is_all_here():
    assert len(EXTERNAL_FILES) == 90


@pytest.mark.parametrize("path", EXTERNAL_FILES, ids=lambda p: str(p.relative_to(EXTERNAL)))
def test_every_external_fixture_checks_cleanly_or_exits_2(path):
    """Real-world tars (Go, moby, libarchive, CPython test data): a verdict, or one line."""
    code, out, err = run("check", str(path), "--json", "--policy", "containerd,strict",
                         "--host", "root-ext4,rootless-tmpfs")
    assert "Traceback" not in err
    if code == 0:
        for cell in json.loads(out):
            assert cell["outcome"] in ("ok", "warn", "fail")
            if cell["outcome"] == "fail":
                assert cell["error"]
    else:
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err


# ------------------------------------------------------------------ extract (simulated)

def test_extract_simulate_prints_the_tree():
    code, out, err = run("extract", str(CORPUS / "image-oci.tar"), "--simulate", "root-ext4")
    assert code == 0, err
    assert "ignored xattr user.rpm.origin in archive" in err
    lines = out.splitlines()
    assert lines[0].startswith("# root-ext4:")
    symlink = [l for l in lines if l.endswith(
        "/etc/krb5.conf.d/crypto-policies -> /etc/crypto-policies/back-ends/krb5.config")]
    assert len(symlink) == 1 and symlink[0].startswith("lrwxrwxrwx")
    # the lower layer's whiteout targets are absent only if whited out; here none are
    assert any(l.endswith(" /a/keep") for l in lines)


def test_extract_simulate_failure_is_exit_1_with_the_runtime_message():
    import hashlib

    code, out, err = run("extract", CREATOR, "--simulate", "root-ext4",
                         "--policy", "containerd-legacy")
    assert code == 1
    diff_id = hashlib.sha256(Path(CREATOR).read_bytes()).hexdigest()   # the layer's DiffID
    assert f"failed to extract layer sha256:{diff_id}: operation not permitted" in err


def test_extract_simulate_json():
    code, out, _ = run("extract", str(CORPUS / "capabilities.tar"), "--simulate",
                       "rootless-ext4", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["outcome"] == "ok" and data["host"] == "rootless-ext4"
    ping = next(i for i in data["tree"] if i["path"] == "/usr/bin/ping")
    # stored as a v3 value naming the namespace's root (host uid 100000 = 0x0186a0)
    assert ping["xattrs"]["security.capability"].endswith("a0860100")


@pytest.mark.parametrize("args, fragment", [
    ([], "missing --into"),
    (["--into", "x", "--simulate", "root-ext4"], "either --into"),
    (["--simulate", "root-zfs"], "unknown host"),
    (["--simulate", "root-ext4", "--policy", "nope"], "unknown policy"),
])
def test_extract_usage_errors(args, fragment):
    code, out, err = run("extract", CREATOR, *args)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ extract (real filesystem)

def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, os.readlink(p) if os.path.islink(p)
                                             else None)
    return out


def test_extract_into_a_new_directory(tmp_path):
    into = tmp_path / "rootfs"
    code, out, err = run("extract", str(CORPUS / "image-docker.tar"), "--into", str(into))
    assert code == 0, err
    assert "41 entries from 2 layer(s)" in out
    # the top layer, read back by an independent reader (tarfile), is on disk as archived
    import stat
    import tarfile

    with tarfile.open(CREATOR) as tar:
        for m in tar.getmembers():
            path = into / m.name.rstrip("/")
            st = os.lstat(path)
            assert stat.S_IMODE(st.st_mode) == m.mode or m.issym(), m.name
            if m.isfile():
                assert path.read_bytes() == tar.extractfile(m).read(), m.name
            elif m.issym():
                assert os.readlink(path) == m.linkname
            elif m.isdir():
                assert stat.S_ISDIR(st.st_mode)
            xattrs = {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape")
                      for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            if m.issym():
                assert os.listxattr(path, follow_symlinks=False) == []  # EPERM, ignored
            else:
                assert {n: os.getxattr(path, n) for n in os.listxattr(path)} == xattrs


def test_extract_refuses_a_non_empty_directory_unless_onto(tmp_path):
    (tmp_path / "old").write_text("x")
    code, _, err = run("extract", CREATOR, "--into", str(tmp_path))
    assert code == 2 and "not empty" in err
    code, _, err = run("extract", str(CORPUS / "whiteouts-base.tar"), "--into", str(tmp_path),
                       "--onto")
    assert code == 0, err
    code, _, err = run("extract", str(CORPUS / "whiteouts.tar"), "--into", str(tmp_path),
                       "--onto")
    assert code == 0, err
    assert (tmp_path / "old").exists()
    assert not (tmp_path / "a/gone").exists() and (tmp_path / "a/keep").exists()
    assert sorted(os.listdir(tmp_path / "b")) == ["new"]   # opaque hid the lower b/*


def test_failed_extract_removes_what_it_created(tmp_path):
    into = tmp_path / "rootfs"
    code, out, err = run("extract", CREATOR, "--into", str(into),
                         "--policy", "containerd-legacy")
    assert code == 1
    assert "operation not permitted" in err and "removed the" in err
    assert not into.exists()


def test_failed_extract_onto_keeps_what_was_there(tmp_path):
    run("extract", str(CORPUS / "whiteouts-base.tar"), "--into", str(tmp_path))
    before = snapshot(tmp_path)
    code, _, err = run("extract", CREATOR, "--into", str(tmp_path), "--onto",
                       "--policy", "containerd-legacy")
    assert code == 1
    assert snapshot(tmp_path) == before


def test_keep_partial(tmp_path):
    into = tmp_path / "rootfs"
    code, out, _ = run("extract", CREATOR, "--into", str(into), "--policy",
                       "containerd-legacy", "--keep-partial", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["outcome"] == "fail" and data["kept_partial"] is True
    assert (into / "etc/krb5.conf.d").is_dir()


def test_extract_malformed_layer_is_exit_2_and_cleans_up(tmp_path):
    data = (CORPUS / "creator-ee.tar").read_bytes()
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data[:5000] + b"\xff" * 512 + data[5512:])
    into = tmp_path / "rootfs"
    code, out, err = run("extract", str(bad), "--into", str(into))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not into.exists()


# ------------------------------------------------------------------ the README

def test_readme_main_command_and_shown_output():
    import re
    import shlex

    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```sh\n(.*?)\n", readme).group(1)
    assert first == "pip install . && fsmodel check corpus/creator-ee.tar"
    code, out, err = run("check", "corpus/creator-ee.tar", cwd=ROOT)
    assert code == 0 and "containerd-legacy" in out and "FAIL" in out, err
    block = re.search(r"```console\n\$ fsmodel check (.*?)\n(.*?)```", readme, re.S)
    code, out, err = run("check", *shlex.split(block.group(1)), cwd=ROOT)
    assert code == 0, err
    assert out == block.group(2)
