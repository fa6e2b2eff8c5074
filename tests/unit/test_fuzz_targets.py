"""The fuzz targets (fsmodel.fuzzing, fuzz/): seeds and crash regressions replay clean,
the invariant checks can fail, the tar mutator keeps archives well-formed, the checked-in
seeds, dictionaries and options are current, and each fuzzer runs under libFuzzer."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import importlib.util
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fsmodel.fuzzing import harnesses, mutator
from fsmodel.fuzzing.harnesses import InvariantViolation
from fsmodel.fuzzing.targets import TARGETS, dictionary_text, options_text
from fsmodel.layer import Entry
from tests.layers import layer

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
FUZZ = ROOT / "fuzz"
NEEDS_ATHERIS = {"xattr", "kernel_diff"}   # they read their input with FuzzedDataProvider

#: crash reproducers of bugs not fixed yet: {path under corpus/: the bug}. Strict xfail,
#: so a fix makes the test fail until the entry is removed.
KNOWN_BUGS: dict[str, str] = {}


def _replays():
    for target in TARGETS:
        for path in sorted((CORPUS / target).rglob("*")):
            if not path.is_file():
                continue
            name = str(path.relative_to(CORPUS))
            marks = []
            if TARGETS[target].needs_root:
                marks.append(pytest.mark.privileged)
            if name in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=True,
                                               raises=InvariantViolation))
            yield pytest.param(target, path, id=name, marks=marks)


@pytest.mark.parametrize(("target", "path"), list(_replays()))
def test_corpus_file_replays_clean(target, path):
    if target in NEEDS_ATHERIS:
        pytest.importorskip("atheris")
    TARGETS[target].test_one_input(path.read_bytes())


def test_every_target_has_seeds():
    for target in TARGETS:
        assert len([p for p in (CORPUS / target).iterdir() if p.is_file()]) >= 5, target


# -- seeds, dictionaries, options, scripts ----------------------------------------------------

def test_make_seeds_check_passes():
    result = subprocess.run([sys.executable, str(FUZZ / "make_seeds.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_seeds_are_named_by_sha1_and_small():
    """Generated seeds and merged campaign inputs alike: sha1 names, each within the
    target's max_len, and the whole corpus small enough to keep in git (a campaign's
    inputs are minimised with a set-cover merge before they are committed)."""
    total = 0
    for target in TARGETS:
        for path in (CORPUS / target).iterdir():
            if path.is_file():
                data = path.read_bytes()
                assert path.name == hashlib.sha1(data).hexdigest()
                assert len(data) <= TARGETS[target].max_len, path
                total += len(data)
    assert total < 4_000_000


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_dict_and_options_files_are_current(name):
    target = TARGETS[name]
    assert (FUZZ / f"{name}_fuzzer.dict").read_text() == dictionary_text(target)
    options = (FUZZ / f"{name}_fuzzer.options").read_text()
    assert options == options_text(target)
    assert f"max_len = {target.max_len}" in options and f"timeout = {target.timeout}" in options


def test_dictionary_file_round_trips_every_token():
    text = dictionary_text(TARGETS["layer"])
    tokens = [re.sub(rb"\\x([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]),
                     line.split("=", 1)[1][1:-1].encode())
              for line in text.splitlines() if not line.startswith("#")]
    assert tokens == list(TARGETS["layer"].dictionary)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzer_script_is_executable_and_importable(name):
    path = FUZZ / f"{name}_fuzzer.py"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env python3\n")
    assert os.access(path, os.X_OK)
    assert f'main("{name}")' in text
    spec = importlib.util.spec_from_file_location(f"{name}_fuzzer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)   # importing runs nothing: main() is under __main__
    assert module.__doc__.startswith(f"{name}: ") and "\n" not in module.__doc__.strip()


def test_targets_module_loads_no_code_under_test():
    code = ("import sys; import fsmodel; before = set(sys.modules); "
            "import fsmodel.fuzzing.targets; "
            "new = sorted(m for m in set(sys.modules) - before if m.startswith('fsmodel') "
            "and not m.startswith('fsmodel.fuzzing')); "
            "assert not new and 'tarfile' not in sys.modules, new")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr


# -- the invariant checks fail on broken states -----------------------------------------------

def _world():
    from fsmodel.layer.hosts import get_host

    k = harnesses.boot_layer_world(get_host("root-ext4"))
    return k, harnesses._snapshot(k)


def test_layer_check_passes_on_the_untouched_world():
    k, before = _world()
    harnesses.check_layer_world(k, before)


def test_layer_check_sees_a_file_outside_the_root():
    k, before = _world()
    k.close(k.open("/etc/evil", os.O_WRONLY | os.O_CREAT, 0o644))
    with pytest.raises(InvariantViolation, match="nothing outside the root"):
        harnesses.check_layer_world(k, before)


def test_layer_check_sees_a_link_to_a_file_outside_the_root():
    k, before = _world()
    k.link("/outside", "/rootfs/a/escaped")
    with pytest.raises(InvariantViolation, match="nothing outside the root"):
        harnesses.check_layer_world(k, before)


def test_layer_check_sees_user_xattr_on_a_symlink():
    k, before = _world()
    inode = k._lookup("/rootfs/lnk", False)[1]
    inode.xattrs["user.rpm.origin"] = b"krb5-libs"   # what the kernel would refuse
    with pytest.raises(InvariantViolation, match=r"no user\.\* xattr on a special file"):
        harnesses.check_layer_world(k, before)


def test_layer_check_sees_a_dangling_link_count():
    k, before = _world()
    k._lookup("/rootfs/a/keep", False)[1].nlink = 2
    with pytest.raises(InvariantViolation, match="every hardlink resolves"):
        harnesses.check_layer_world(k, before)


def test_layer_target_reports_an_unexpected_exception(monkeypatch):
    from fsmodel.layer import apply

    def broken(self, events):
        raise KeyError("boom")

    monkeypatch.setattr(apply.Applier, "apply", broken)
    with pytest.raises(InvariantViolation, match="ends in success, MalformedLayer"):
        harnesses.layer_one_input(b"")


def _layer(*names: str) -> bytes:
    """Empty files, each with the xattr user.x."""
    return layer(*((name, "file", {"xattrs": {"user.x": "1"}}) for name in names))


@pytest.mark.parametrize("host", harnesses.LAYER_HOSTS)
def test_every_input_gets_a_world_as_freshly_booted(host):
    """Each input's world is a clone of one booted world, seen by the host's caller
    (root, or root of a user namespace): what an input did to its clone is not in the
    next input's."""
    from fsmodel._rules.creds import Cred
    from fsmodel.layer.hosts import get_host

    def state(k):
        return [(p, tuple(st), sorted(x.items())) for p, st, x in k.tree("/")]

    userns = get_host(host).userns
    fresh = harnesses.boot_layer_world(get_host(host))
    with fresh.become(0, 0, userns=userns):
        booted = state(fresh)
    selector = bytes([harnesses.LAYER_HOSTS.index(host) * len(harnesses.LAYER_POLICIES)])
    harnesses.layer_one_input(_layer("a/new", "lnk", "data/file") + selector)
    k, before = harnesses.layer_world(host)
    assert k.caller == Cred.make(0, 0, userns=userns)
    assert state(k) == booted
    assert before == harnesses._snapshot(harnesses.boot_layer_world(get_host(host)))


def test_a_layer_rejected_at_its_first_header_needs_no_world(monkeypatch):
    used = []
    real = harnesses.layer_world
    monkeypatch.setattr(harnesses, "layer_world", lambda host: used.append(host) or real(host))
    harnesses.layer_one_input(b"\x01" * 1024)             # checksum wrong: MalformedLayer
    assert used == []
    harnesses.layer_one_input(_layer("a/new"))
    assert used == ["root-ext4"]


def test_layer_selection_reads_the_last_byte():
    assert harnesses.layer_selection(b"") == ("containerd", "root-ext4")
    assert harnesses.layer_selection(bytes(1024)) == ("containerd", "root-ext4")
    assert harnesses.layer_selection(b"\x01") == ("containerd-legacy", "root-ext4")
    assert harnesses.layer_selection(b"\x0f") == ("umoci", "rootless-ext4")
    assert harnesses.layer_selection(b"\x1e") == ("containerd", "root-noxattr")


def _archive(*infos) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in infos:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_reader_comparison_sees_a_different_name():
    data = _archive((tarfile.TarInfo("a"), b"x"))
    events, error = harnesses.read_layer(data)
    assert error is None
    harnesses.compare_with_tarfile(data, events)
    renamed = [dataclasses.replace(e, path="b") if isinstance(e, Entry) else e for e in events]
    with pytest.raises(InvariantViolation, match="read the same members"):
        harnesses.compare_with_tarfile(data, renamed)
    with pytest.raises(InvariantViolation, match="read the same members"):
        harnesses.compare_with_tarfile(data, events[-1:])


def test_reader_check_sees_another_exception(monkeypatch):
    from fsmodel.layer import reader

    monkeypatch.setattr(reader, "_checksum_ok", lambda block: 1 / 0)
    with pytest.raises(InvariantViolation, match="raises MalformedLayer and nothing else"):
        harnesses.reader_one_input(_archive((tarfile.TarInfo("a"), b"x")))


def test_reader_check_sees_chunking_change_the_events(monkeypatch):
    real = harnesses.read_layer

    def chunk_sensitive(data, sizes=None, target="reader"):
        events, error = real(data, sizes, target)
        return (events[:-1] if sizes else events), error

    monkeypatch.setattr(harnesses, "read_layer", chunk_sensitive)
    with pytest.raises(InvariantViolation, match="whole and chunked"):
        harnesses.reader_one_input(_archive((tarfile.TarInfo("a"), b"x")))


def test_documented_differences_are_recognised_precisely():
    two_x = mutator.serialise(mutator.Tar([
        mutator.pax_member([(b"path", b"first")]), mutator.pax_member([(b"comment", b"c")]),
        mutator.Member(mutator.header(b"name"), b"")]))
    assert harnesses._documented_differences(two_x) == {0: {"path", "target", "xattrs", "size"}}
    plain = _archive((tarfile.TarInfo("a"), b"x"), (tarfile.TarInfo("b"), b""))
    assert harnesses._documented_differences(plain) == {}
    v7 = mutator.serialise(mutator.Tar([mutator.Member(
        mutator.header(b"name", magic=bytes(8), prefix=b"junk"), b"")]))
    assert harnesses._documented_differences(v7) == {0: {"path"}}


def test_tarfile_stopping_at_a_v7_device_area_is_excluded_and_only_there():
    def archive(magic):
        junk = mutator.header(b"b", magic=magic)
        junk[329:337] = b"ader/x\0\0"   # no number: tarfile ends the archive here
        return mutator.serialise(mutator.Tar([mutator.Member(mutator.header(b"a"), b""),
                                              mutator.Member(junk, b"")]))

    v7, ustar = archive(bytes(8)), archive(b"ustar\x0000")
    assert harnesses._tarfile_stops_at_v7_device_field(v7, 1)
    assert not harnesses._tarfile_stops_at_v7_device_field(ustar, 1)
    events, error = harnesses.read_layer(v7)
    assert error is None and len(harnesses._reader_rows(events)) == 2
    harnesses.compare_with_tarfile(v7, events)


def _sim(fs="tmpfs", **options):
    from fsmodel import SimKernel

    k = SimKernel(fs, **options)
    k.mkdir("/t", 0o777)
    k.mknod("/t/a", 0o100644, 0)
    k.setxattr("/t/a", "user.a", b"v")
    return k


def test_sim_check_passes_on_a_sane_kernel():
    harnesses.check_sim_invariants(_sim())
    harnesses.check_sim_invariants(_sim("ext4"))


def test_sim_check_sees_list_and_get_disagree(monkeypatch):
    k = _sim()

    def missing(path, name, size=65536):
        raise OSError(errno.ENODATA, os.strerror(errno.ENODATA), path)

    monkeypatch.setattr(k, "lgetxattr", missing)
    with pytest.raises(InvariantViolation, match="listxattr and getxattr agree"):
        harnesses.check_sim_invariants(k)


def test_sim_check_sees_tmpfs_accounting_go_negative():
    k = _sim()
    k._root_mount.state["free_ispace"] = -1
    with pytest.raises(InvariantViolation, match="tmpfs' xattr space"):
        harnesses.check_sim_invariants(k)


def test_sim_check_sees_an_ext4_region_overflow():
    k = _sim("ext4")
    inode = k._lookup("/t/a", False)[1]
    inode.xattrs["user.huge"] = b"x" * 5000   # stored in the body without the checks
    inode.fsdata["body"].append("user.huge")
    with pytest.raises(InvariantViolation, match="never overflow"):
        harnesses.check_sim_invariants(k)


def test_kernel_diff_check_sees_a_disagreement():
    pytest.importorskip("atheris")
    import contextlib

    from fsmodel import SimKernel
    from fsmodel.testing.differential import Pair

    class Liar(SimKernel):
        def listxattr(self, path, size=65536):
            result = super().listxattr(path, size)
            return result + ["user.lie"] if isinstance(result, list) else result + 9

    @contextlib.contextmanager
    def make():
        yield Pair(SimKernel("tmpfs"), Liar("tmpfs"))

    @contextlib.contextmanager
    def honest():
        yield Pair(SimKernel("tmpfs"), SimKernel("tmpfs"))

    data = bytes(range(256)) * 2
    harnesses.run_diff(data, honest)
    with pytest.raises(InvariantViolation, match="agree on every call"):
        for seed in range(50):   # some sequence lists xattrs
            harnesses.run_diff(random.Random(seed).randbytes(240), make)


# -- the mutator -------------------------------------------------------------------------------

def _byte_mutator(data: bytes, max_size: int) -> bytes:
    """A deterministic stand-in for atheris.Mutate: flip the middle byte."""
    out = bytearray(data or b"\0")
    out[len(out) // 2] ^= 0x41
    return bytes(out[:max_size])


def _generated_layer_seeds() -> list[bytes]:
    """The layer seeds fuzz/make_seeds.py writes (well-formed by construction; the
    corpus also holds what campaigns found, which need not parse)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_seeds", FUZZ / "make_seeds.py")
    make_seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_seeds)
    return make_seeds.seeds()["layer"]


SEEDS = _generated_layer_seeds()


def _well_formed(data: bytes) -> None:
    """Parses member by member, every header with a valid checksum, and ends in two zero
    blocks followed by at most a selector byte."""
    tar = mutator.parse(data)
    pos = 0
    for member in tar.members:
        block = data[pos:pos + 512]
        assert block[148:156] == mutator.checksum(block), f"bad checksum at {pos}"
        assert int(block[148:154], 8) == sum(block[:148]) + 256 + sum(block[156:])
        pos += 512
        if mutator.carries_content(member.typeflag):
            pos += len(member.payload) + (-len(member.payload) % 512)
    assert data[pos:pos + 1024] == bytes(1024)
    assert len(data) - pos - 1024 <= 1


def test_structured_mutations_keep_archives_well_formed():
    tarfile_read = 0
    for seed in range(600):
        data = SEEDS[seed % len(SEEDS)]
        out = mutator.mutate_structured(data, 65536, random.Random(seed))
        assert out is not None
        _well_formed(out)
        try:
            with tarfile.open(fileobj=io.BytesIO(out), mode="r:") as tf:
                read = len(tf.getmembers())
        except (tarfile.TarError, ValueError, OverflowError):
            continue   # junk typeflags, numbers, PAX records: tarfile's to refuse
        tarfile_read += read == len(mutator.parse(out).members) - sum(
            m.typeflag in b"xgLK" for m in mutator.parse(out).members)
    assert tarfile_read > 300   # and most of them tarfile reads member for member


def test_structured_mutations_change_something_and_vary_with_the_seed():
    outs = [mutator.mutate_structured(SEEDS[0], 65536, random.Random(s)) for s in range(50)]
    assert sum(out != SEEDS[0] for out in outs) > 40 and len(set(outs)) > 40


def test_mutate_is_deterministic_in_seed_and_respects_max_size():
    for seed in range(300):
        data = SEEDS[seed % len(SEEDS)]
        for max_size in (len(data) + 4096, len(data), 1000, 10):
            a = mutator.mutate(data, max_size, seed, byte_mutator=_byte_mutator)
            assert a == mutator.mutate(data, max_size, seed, byte_mutator=_byte_mutator)
            assert len(a) <= max_size


def test_mutate_falls_back_to_bytes_when_parsing_fails():
    junk = b"\x01" * 700   # a size field that is no number
    with pytest.raises(mutator.ParseError):
        mutator.parse(junk)
    assert mutator.mutate(junk, 4096, 1, byte_mutator=_byte_mutator) == _byte_mutator(junk, 4096)


def test_mutate_grows_an_empty_input_into_an_archive():
    outs = [mutator.mutate(b"", 65536, s, byte_mutator=_byte_mutator) for s in range(40)]
    grown = [o for o in outs if len(o) >= 1536]
    assert grown
    for out in grown:
        _well_formed(out)


def test_pax_records_round_trip():
    records = [(b"path", b"x" * 95), (b"SCHILY.xattr.user.a", b"\x00\n="), (b"k", b"")]
    body = mutator.pax_body(records)
    assert mutator.pax_records(body) == records
    assert mutator.pax_records(b"5 a=b\n") is None


def test_crossover_splices_entries_and_respects_max_size():
    for seed in range(200):
        a, b = SEEDS[seed % len(SEEDS)], SEEDS[(seed * 7 + 3) % len(SEEDS)]
        for max_out in (65536, 3000):
            out = mutator.crossover(a, b, max_out, seed)
            assert out == mutator.crossover(a, b, max_out, seed)
            assert len(out) <= max_out
            if max_out == 65536:
                _well_formed(out)
                names = {m.name for m in mutator.parse(out).members}
                assert names <= ({m.name for m in mutator.parse(a).members}
                                 | {m.name for m in mutator.parse(b).members})


def test_crossover_of_unparsable_inputs_is_a_byte_splice():
    out = mutator.crossover(b"\x01" * 700, b"\x02" * 700, 500, 3)
    assert len(out) <= 500 and set(out) <= {1, 2}


# -- libFuzzer runs ----------------------------------------------------------------------------

#: executions past the seed corpus (replaying it comes first and counts too)
RUNS = {"layer": 250, "reader": 400, "xattr": 250, "kernel_diff": 40}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.privileged]
                                               if TARGETS[n].needs_root else [])
                                  for n in sorted(TARGETS)])
def test_fuzzer_runs_under_libfuzzer(name, tmp_path):
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / name, corpus, ignore=shutil.ignore_patterns("regressions"))
    runs = RUNS[name] + sum(1 for p in corpus.iterdir() if p.is_file())
    result = subprocess.run(
        [str(FUZZ / f"{name}_fuzzer.py"), str(corpus), f"-atheris_runs={runs}",
         "-seed=1", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "INITED cov:" in result.stderr
    cov = int(re.search(r"INITED cov: (\d+)", result.stderr)[1])
    assert cov > 200, f"cov {cov}: is fsmodel instrumented?"
    assert not list(tmp_path.glob("crash-*"))


# -- what each target instruments ---------------------------------------------------------------

_PROBE = """
import sys
from fsmodel.fuzzing import targets
targets.instrument(targets.TARGETS[sys.argv[1]])
import fsmodel.layer.apply, fsmodel.layer.reader, fsmodel._rules.vfs, fsmodel._sim.kernel
import fsmodel.fuzzing.harnesses
def traced(f):
    return "_trace_branch" in f.__code__.co_names
print(" ".join(str(int(traced(f))) for f in (
    fsmodel.layer.apply.Applier.apply, fsmodel.layer.reader.Reader.next_event,
    fsmodel._rules.vfs.may_lookup, fsmodel._sim.kernel.SimKernel._walk,
    fsmodel.fuzzing.harnesses.check_layer_world)))
"""


@pytest.mark.parametrize("target, instrument_all, expected", [
    # extractor, reader, rules, simulator, harness
    ("layer", None, "1 1 1 0 0"),
    ("layer", "1", "1 1 1 1 0"),
    ("xattr", None, "0 0 1 1 0"),       # the layer code is not its code under test
])
def test_instrumented_code_is_the_code_under_test(target, instrument_all, expected):
    """The layer target leaves the simulated kernel's own code out of its coverage
    (it is the host there), unless FSMODEL_FUZZ_INSTRUMENT_ALL=1; the xattr target
    tests that code, so instruments it; no target instruments its harness."""
    pytest.importorskip("atheris")
    env = {k: v for k, v in os.environ.items() if k != "FSMODEL_FUZZ_INSTRUMENT_ALL"}
    if instrument_all:
        env["FSMODEL_FUZZ_INSTRUMENT_ALL"] = instrument_all
    result = subprocess.run([sys.executable, "-c", _PROBE, target], capture_output=True,
                            text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == expected.split()
