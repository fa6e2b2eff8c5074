"""`fsmodel fuzz`: a local libFuzzer campaign, through the command line as users run it.

Most tests run a stand-in targets module (written below, selected with
FSMODEL_FUZZ_TARGETS) whose `crashy` target raises on input starting with b"CRASH", so
that crash saving, minimisation and the exit status are checked in a second or two.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("atheris")

from fsmodel.fuzzing import campaign as fc  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

STANDIN = textwrap.dedent('''
    """Stand-in fuzz targets: the TARGETS / main(name) shape of fsmodel.fuzzing.targets."""
    import dataclasses
    import sys

    import atheris


    @dataclasses.dataclass(frozen=True)
    class Target:
        name: str
        test_one_input: object
        custom_mutator: object = None
        custom_crossover: object = None
        needs_root: bool = False
        max_len: int = 512
        timeout: int = 5
        dictionary: tuple = ()


    def crashy(data):
        if data[:1] == b"C" and data[1:2] == b"R" and data[2:3] == b"A":
            if data.startswith(b"CRASH"):
                raise ValueError(f"deliberate crash on {data[:5]!r}")


    def quiet(data):
        if len(data) > 2 and data[0] == 0x51:
            if data[1] == 0x55:
                return 1
        return 0


    def broken(data):
        return 0


    TARGETS = {
        "crashy": Target("crashy", crashy, dictionary=(b"CRASH", b"\\x00\\"q\\\\")),
        "quiet": Target("quiet", quiet),
        "rooty": Target("rooty", quiet, needs_root=True),
        "broken": Target("broken", broken),
    }


    def main(name, argv=None):
        if name == "broken":
            raise RuntimeError("this harness cannot start")
        atheris.Setup(sys.argv if argv is None else argv,
                      atheris.instrument_func(TARGETS[name].test_one_input))
        atheris.Fuzz()
''')


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    where = tmp_path_factory.mktemp("standin")
    (where / "standin_targets.py").write_text(STANDIN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(where)])
    env["FSMODEL_FUZZ_TARGETS"] = "standin_targets"
    return env


def fuzz(env, *args, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "fsmodel", "fuzz", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def summary_field(out, name):
    m = re.search(rf"^  {name}\s+(.*)$", out, re.M)
    assert m, out
    return m.group(1)


def inited_cov(env, corpus):
    """Replay a corpus once (-runs=0) and return libFuzzer's INITED cov."""
    launcher = fc.write_launcher(corpus.parent / "replay_fuzzer", "quiet", "standin_targets")
    out = subprocess.run([str(launcher), str(corpus), "-runs=0"], env=env, capture_output=True,
                         text=True, timeout=60).stderr
    return int(re.search(r"INITED cov: (\d+)", out).group(1))


# ------------------------------------------------------------------ campaigns

def test_clean_campaign_merges_new_coverage_and_keeps_every_seed(standin, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(b"hello")
    code, out, err = fuzz(standin, "quiet", "--time", "3", "--corpus", str(corpus))
    assert code == 0, err
    assert out.startswith("fsmodel fuzz quiet: ") and "(in-process)" in out
    execs = int(summary_field(out, "executions").split()[0].replace(",", ""))
    assert execs > 1000
    cov = int(re.match(r"cov (\d+)", summary_field(out, "coverage")).group(1))
    before, after = map(int, re.search(r": (\d+) -> (\d+) files", out).groups())
    assert before == 1 and after > before
    assert summary_field(out, "crashes") == "0"
    assert (corpus / "seed").read_bytes() == b"hello"
    assert len([p for p in corpus.iterdir() if p.is_file()]) == after
    # the merged corpus still reaches everything the campaign covered
    assert inited_cov(standin, corpus) >= cov
    assert re.search(r"^fuzzing \d+/3s: #\d+ execs, \d+ exec/s, cov \d+ ft \d+, corpus \d+, "
                     r"crashes 0$", err, re.M), err
    assert "Traceback" not in err


def test_crashing_seed_is_minimised_saved_and_exits_1(standin, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "padded").write_bytes(b"CRASH" + b"\xff" * 300)
    code, out, err = fuzz(standin, "crashy", "--time", "5", "--corpus", str(corpus))
    assert code == 1, err
    saved = corpus / "regressions" / f"crash-{hashlib.sha1(b'CRASH').hexdigest()}"
    assert sorted(p.name for p in (corpus / "regressions").iterdir()) == [saved.name]
    assert saved.read_bytes() == b"CRASH"
    assert summary_field(out, "crashes") == "1"
    assert f"{saved} (5 bytes, minimised from 305)" in out
    assert "ValueError: deliberate crash on b'CRASH'" in out
    assert "in crashy" in out
    # a second campaign finds the same crash again: recognised, not saved twice
    code, out, _ = fuzz(standin, "crashy", "--time", "5", "--corpus", str(corpus))
    assert code == 1 and "already saved" in out
    assert len(list((corpus / "regressions").iterdir())) == 1


def test_fuzzer_finds_the_crash_and_saves_it_minimised(standin, tmp_path):
    corpus = tmp_path / "corpus"
    code, out, err = fuzz(standin, "crashy", "--time", "20", "--corpus", str(corpus))
    assert code == 1, err
    crashes = list((corpus / "regressions").glob("crash-*"))
    assert len(crashes) == 1
    data = crashes[0].read_bytes()
    assert data.startswith(b"CRASH") and crashes[0].name == f"crash-{hashlib.sha1(data).hexdigest()}"
    assert "ValueError: deliberate crash" in out


def test_fork_mode_with_two_jobs(standin, tmp_path):
    corpus = tmp_path / "corpus"
    code, out, err = fuzz(standin, "quiet", "--time", "2", "--jobs", "2", "--corpus", str(corpus))
    assert code == 0, err
    assert "2 job(s) (-fork=2)" in out
    assert int(summary_field(out, "executions").split()[0].replace(",", "")) > 1000


def test_interrupt_stops_the_fuzzer_and_still_merges(standin, tmp_path):
    corpus = tmp_path / "corpus"
    proc = subprocess.Popen([sys.executable, "-m", "fsmodel", "fuzz", "quiet", "--time", "60",
                             "--corpus", str(corpus)], env=standin, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal: a shell's background job (CI) inherits
                            # SIGINT ignored, and Python then installs no handler for it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # interrupt once it is fuzzing (its first progress line), however slow the machine
    first = proc.stderr.readline()
    assert first.startswith("fuzzing "), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert ", interrupted" in out.splitlines()[0]
    assert int(re.search(r"-> (\d+) files", out).group(1)) > 0
    assert "Traceback" not in err


def test_every_real_target_is_known_and_kernel_diff_alone_needs_root(tmp_path):
    from fsmodel.fuzzing.targets import TARGETS

    assert set(TARGETS) == {"layer", "reader", "xattr", "kernel_diff"}
    for name in TARGETS:
        assert fc.Campaign(name, seconds=3, corpus=tmp_path).spec is TARGETS[name]
    assert [n for n, t in TARGETS.items() if t.needs_root] == ["kernel_diff"]


# layer only: reader and xattr run the same campaign code, and each real run costs ~12 s
@pytest.mark.parametrize("target", ["layer"])
def test_real_targets_for_three_seconds(tmp_path, target):
    corpus = tmp_path / target
    seeds = ROOT / "corpus" / target
    if seeds.is_dir():
        shutil.copytree(seeds, corpus, ignore=shutil.ignore_patterns("regressions"))
    else:
        corpus.mkdir()
    before = {p.relative_to(corpus): p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("FSMODEL_FUZZ_TARGETS", None)
    code, out, err = fuzz(env, target, "--time", "3", "--corpus", str(corpus))
    assert code == 0, out + err          # 1 would be a real crash: see the summary
    assert out.startswith(f"fsmodel fuzz {target}: ")
    assert int(summary_field(out, "executions").split()[0].replace(",", "")) > 0
    assert int(re.match(r"cov ([\d,]+)", summary_field(out, "coverage")).group(1)
               .replace(",", "")) > 0
    after = {p.relative_to(corpus): p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    assert after.items() >= before.items()
    assert not (corpus / "regressions").exists()


# ------------------------------------------------------------------ usage errors

@pytest.mark.parametrize("args, fragment", [
    (["nope"], "unknown fuzz target 'nope'; expected one of broken, crashy, quiet, rooty"),
    (["quiet", "--time", "0"], "--time"),
    (["quiet", "--jobs", "0"], "--jobs"),
    (["quiet", "--corpus", __file__], "not a directory"),
    (["broken", "--time", "2"], "the broken fuzzer stopped before fuzzing: RuntimeError: "
                                "this harness cannot start"),
    ([], "Missing argument 'TARGET'"),
])
def test_usage_errors_are_one_line_exit_2(standin, tmp_path, args, fragment):
    code, out, err = fuzz(standin, *args, *(["--corpus", str(tmp_path)]
                                            if "--corpus" not in args and args else []))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert "Traceback" not in err


def test_missing_targets_module_is_exit_2(standin, tmp_path):
    env = dict(standin, FSMODEL_FUZZ_TARGETS="no_such_targets_module")
    code, out, err = fuzz(env, "layer", "--corpus", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot import the fuzz targets (no_such_targets_module)" in err


def test_target_that_needs_root_is_refused_without_it(standin, tmp_path, monkeypatch, capsys):
    from fsmodel import _privilege, cli

    monkeypatch.setattr(sys, "path", [p for p in standin["PYTHONPATH"].split(os.pathsep)]
                        + sys.path)
    monkeypatch.setenv("FSMODEL_FUZZ_TARGETS", "standin_targets")
    monkeypatch.setattr(_privilege, "privilege_problem", lambda: "needs root (uid 0); "
                        "running as uid 1000")
    with pytest.raises(SystemExit) as exit:
        cli.main(["fuzz", "rooty", "--corpus", str(tmp_path)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err == ("fsmodel: error: the rooty target runs the real kernel and needs root "
                   "(uid 0); running as uid 1000\n")
    assert not (tmp_path / "regressions").exists()


# ------------------------------------------------------------------ parsing

def test_status_lines_of_both_modes_parse():
    status = fc.Status()
    assert fc.parse_line("#3605\tNEW    cov: 7 ft: 9 corp: 3/6b lim: 38 exec/s: 1200 rss: 41Mb "
                         "L: 4/4 MS: 1 InsertRepeatedBytes-", status)
    assert (status.execs, status.cov, status.ft, status.corpus, status.exec_per_sec) == (
        3605, 7, 9, 3, 1200)
    assert fc.parse_line("#7897: cov: 13 ft: 10 corp: 5 exec/s 321 oom/timeout/crash: 1/0/2 "
                         "time: 0s job: 1 dft_time: 0", status)
    assert (status.execs, status.cov, status.ft, status.corpus, status.exec_per_sec,
            status.crashes) == (7897, 13, 10, 5, 321, 3)
    assert not fc.parse_line("INFO: Seed: 4063874457", status)
    assert not fc.parse_line("artifact_prefix='a/'; Test unit written to a/crash-0fadf1d7", status)
    assert status.crashes == 4


def test_dictionary_is_written_in_libfuzzer_format():
    assert fc.dict_text([b"ustar\x00", b'a"b\\', b"\xff"]) == \
        '"ustar\\x00"\n"a\\x22b\\x5C"\n"\\xFF"\n'
    assert fc.dict_text([]) == ""
