"""The ClusterFuzzLite / OSS-Fuzz layout is consistent, and build.sh does what it says.

The images and actions live on registries our CI cannot reach, so build.sh runs here with
a stub ``compile_python_fuzzer`` on PATH and FSMODEL_SKIP_INSTALL=1: everything but the
pyinstaller step is real.
"""

import configparser
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CFLITE = ROOT / ".clusterfuzzlite"
BUILD = CFLITE / "build.sh"
FUZZERS = sorted((ROOT / "fuzz").glob("*_fuzzer.py"))

STUB = """#!/bin/bash -eu
# stands in for OSS-Fuzz's compile_python_fuzzer: records how it was called
name=$(basename "$1" .py)
printf '%s\\n' "$@" > "$OUT/$name"
chmod +x "$OUT/$name"
"""


def build(src: Path, tmp_path: Path):
    """Run build.sh in ``src`` with the stub; returns ($OUT, the completed process)."""
    out, bin_ = tmp_path / "out", tmp_path / "bin"
    out.mkdir()
    bin_.mkdir()
    stub = bin_ / "compile_python_fuzzer"
    stub.write_text(STUB)
    stub.chmod(0o755)
    env = dict(os.environ, OUT=str(out), SRC=str(src.parent), FSMODEL_SKIP_INSTALL="1",
               PATH=f"{bin_}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(BUILD)], cwd=src, env=env, capture_output=True,
                          text=True, timeout=120)
    return out, proc


def test_project_files():
    assert "language: python" in (CFLITE / "project.yaml").read_text().splitlines()
    docker = [l for l in (CFLITE / "Dockerfile").read_text().splitlines()
              if l and not l.startswith("#")]
    assert docker[0] == "FROM gcr.io/oss-fuzz-base/base-builder-python"
    assert "COPY . $SRC/fsmodel" in docker and "WORKDIR $SRC/fsmodel" in docker
    assert "COPY .clusterfuzzlite/build.sh $SRC/" in docker


def test_build_sh_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(BUILD)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert BUILD.read_text().startswith("#!/bin/bash -eu\n")
    assert "pip3 install ." in BUILD.read_text()


def test_build_sh_on_a_miniature_checkout(tmp_path):
    src = tmp_path / "fsmodel"
    (src / "fuzz").mkdir(parents=True)
    (src / "corpus" / "alpha" / "regressions").mkdir(parents=True)
    (src / "corpus" / "beta").mkdir(parents=True)
    for name in ("alpha", "beta"):
        (src / "fuzz" / f"{name}_fuzzer.py").write_text("#!/usr/bin/env python3\n")
    (src / "fuzz" / "alpha_fuzzer.dict").write_text('"ustar\\x00"\n')
    (src / "fuzz" / "alpha_fuzzer.options").write_text("[libfuzzer]\nmax_len = 65536\n")
    (src / "corpus" / "alpha" / "seed-1").write_bytes(b"one")
    (src / "corpus" / "alpha" / "regressions" / "crash-abc").write_bytes(b"CRASH")
    (src / "corpus" / "beta" / "seed-2").write_bytes(b"two")
    (src / "fuzz" / "notes.md").write_text("not a fuzzer")

    out, proc = build(src, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "alpha_fuzzer", "alpha_fuzzer.dict", "alpha_fuzzer.options",
        "alpha_fuzzer_seed_corpus.zip", "beta_fuzzer", "beta_fuzzer_seed_corpus.zip"]
    args = (out / "alpha_fuzzer").read_text().split()
    assert args[0] == "fuzz/alpha_fuzzer.py"
    assert args[1:] == ["--collect-submodules", "fsmodel", "--collect-data", "fsmodel"]
    with zipfile.ZipFile(out / "alpha_fuzzer_seed_corpus.zip") as z:
        assert sorted(z.namelist()) == ["crash-abc", "seed-1"]
        assert z.read("crash-abc") == b"CRASH"
    with zipfile.ZipFile(out / "beta_fuzzer_seed_corpus.zip") as z:
        assert z.namelist() == ["seed-2"]
    assert (out / "alpha_fuzzer.dict").read_text() == '"ustar\\x00"\n'


def test_build_sh_refuses_to_run_outside_a_checkout(tmp_path):
    out, proc = build(tmp_path, tmp_path)
    assert proc.returncode == 1 and "run me from the fsmodel checkout" in proc.stderr


# ------------------------------------------------------------------ the real layout

def test_there_are_fuzzers():
    assert FUZZERS, "fuzz/ holds no *_fuzzer.py"


@pytest.mark.parametrize("fuzzer", FUZZERS, ids=lambda p: p.stem)
def test_each_fuzzer_has_its_seeds_dict_and_options(fuzzer):
    target = fuzzer.stem[:-len("_fuzzer")]
    assert fuzzer.read_text().startswith("#!"), "libFuzzer re-executes it: it needs a shebang"
    assert fuzzer.stat().st_mode & stat.S_IXUSR, f"{fuzzer.name} is not executable"
    seeds = ROOT / "corpus" / target
    assert seeds.is_dir() and any(p.is_file() for p in seeds.rglob("*")), f"no seeds in {seeds}"
    assert fuzzer.with_suffix(".dict").is_file()
    options = configparser.ConfigParser()
    options.read(fuzzer.with_suffix(".options"))
    assert options.has_section("libfuzzer"), f"{fuzzer.stem}.options has no [libfuzzer]"


def test_fuzzers_are_exactly_the_registered_targets():
    pytest.importorskip("atheris")
    from fsmodel.fuzzing.targets import TARGETS

    assert {p.stem[:-len("_fuzzer")] for p in FUZZERS} == set(TARGETS)


def test_build_sh_on_this_checkout(tmp_path):
    src = tmp_path / "fsmodel"
    src.mkdir()
    for part in ("fuzz", "corpus"):
        os.symlink(ROOT / part, src / part)
    out, proc = build(src, tmp_path)
    assert proc.returncode == 0, proc.stderr
    for fuzzer in FUZZERS:
        name = fuzzer.stem
        target = name[:-len("_fuzzer")]
        assert (out / name).is_file()
        assert (out / f"{name}.dict").read_bytes() == fuzzer.with_suffix(".dict").read_bytes()
        assert (out / f"{name}.options").is_file()
        want = sorted(p.name for p in (ROOT / "corpus" / target).rglob("*") if p.is_file())
        with zipfile.ZipFile(out / f"{name}_seed_corpus.zip") as z:
            assert sorted(z.namelist()) == want


def test_example_workflows():
    yaml = pytest.importorskip("yaml")
    modes = {}
    for name in ("cflite_pr", "cflite_batch", "cflite_cron"):
        flow = yaml.safe_load((ROOT / ".github" / "workflows" / f"{name}.yml").read_text())
        for job in flow["jobs"].values():
            steps = {s["id"]: s for s in job["steps"]}
            assert steps["build"]["uses"] == "google/clusterfuzzlite/actions/build_fuzzers@v1"
            assert steps["build"]["with"]["language"] == "python"
            run = steps["run"]
            assert run["uses"] == "google/clusterfuzzlite/actions/run_fuzzers@v1"
            assert run["with"].get("sanitizer", "address") == \
                steps["build"]["with"].get("sanitizer", "address")
            modes.setdefault(name, []).append(run["with"]["mode"])
    assert modes == {"cflite_pr": ["code-change"], "cflite_batch": ["batch"],
                     "cflite_cron": ["prune", "coverage"]}
