"""A local fuzzing campaign: what ``fsmodel fuzz TARGET`` runs.

Theory of operation.  libFuzzer re-executes ``argv[0]`` for ``-fork``, ``-merge`` and
``-minimize_crash``, so the campaign first writes a tiny executable launcher (shebang =
this interpreter) into a scratch directory; it calls ``main(TARGET)`` of the targets
module (``fsmodel.fuzzing.targets``), exactly like ``fuzz/<target>_fuzzer.py``.  Then:

1. **Seeds.**  The target's corpus directory is copied into the scratch directory, all but
   its ``regressions/`` folder: libFuzzer reads corpus directories recursively, and a saved
   crash that is not fixed yet would stop every later campaign at its first input.
2. **Fuzz.**  ``launcher NEW SEEDS -max_total_time=S -max_len -timeout -dict
   -artifact_prefix -print_final_stats=1``: new inputs go to NEW, SEEDS is only read.
   With ``jobs > 1`` it adds ``-fork=N -ignore_crashes=1 -ignore_timeouts=1
   -ignore_ooms=1``: fork mode is crash-resistant (it keeps fuzzing past a crash and
   collects every distinct one), merges new inputs into NEW as the jobs find them, and
   reports on one output stream.  ``-jobs/-workers`` would log each job to its own
   ``fuzz-<i>.log`` and stop each job at its first crash.  With one job the target runs
   in-process, the fastest mode, and stops at the first crash as libFuzzer does.
   Status lines (``#N NEW cov: ft: corp: exec/s:`` and fork mode's ``#N: cov: ...
   oom/timeout/crash: a/b/c``) are parsed into :class:`Status` for live progress.
3. **Crashes.**  Each ``crash-*`` artifact is minimised (``-minimize_crash=1 -runs
   -max_total_time -exact_artifact_path``), named by the sha1 of the minimised bytes,
   deduplicated, saved as ``<corpus>/regressions/crash-<sha1>`` (``timeout-``/``oom-``
   artifacts are saved as found) and replayed once to capture its Python traceback.
   The targets' tests replay every file under ``corpus/<target>/`` recursively, so a
   saved crash is a regression test from then on.
4. **Merge.**  ``launcher -merge=1 -use_counters=0 SEEDS NEW`` keeps every seed and
   adds the new inputs that reach code edges the seeds do not; those (named by sha1)
   are copied into the corpus directory.  Nothing already there is removed.  Edges, not
   libFuzzer's features (edges × hit-count buckets): a feature merge keeps nearly every
   input a long run found (a 30-minute ``layer`` campaign: 702 files, 16 MB) where the
   edge merge keeps what a checked-in corpus needs (137 files, 0.6 MB, every edge).

Ctrl-C (or any interrupt) stops the fuzzer's whole process group with SIGINT, and steps
3 and 4 still run; a second interrupt skips what is left of them.

Errors: :class:`CampaignError` is the caller's fault (unknown target, no root for a
target that needs it, atheris missing, a corpus path that is a file): the CLI prints it
as one line and exits 2.  :class:`HarnessError` means the fuzzer could not run (it exited
before fuzzing, without an artifact).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

TARGETS_MODULE = "fsmodel.fuzzing.targets"
REGRESSIONS = "regressions"
ARTIFACT_KINDS = ("crash", "timeout", "oom", "leak")


class CampaignError(ValueError):
    """The campaign cannot start because of what was asked: fix the arguments."""


class HarnessError(RuntimeError):
    """The fuzzer exited before fuzzing and left no artifact; the message is its last words."""


# ------------------------------------------------------------------ results

@dataclasses.dataclass
class Status:
    """What the latest libFuzzer status line said (fields it did not say keep their value)."""

    execs: int = 0
    exec_per_sec: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    crashes: int = 0
    elapsed: float = 0.0


@dataclasses.dataclass(frozen=True)
class Crash:
    """One saved artifact: where it is, its size before and after minimisation, and why."""

    kind: str                   # crash, timeout, oom or leak
    path: Path
    sha1: str
    size: int
    original_size: int
    traceback: tuple[str, ...]  # the exception line, then the traceback atheris printed
    already_saved: bool         # an identical file was in regressions/ before this run

    def where(self, lines: int = 2) -> tuple[str, ...]:
        """The exception and its innermost frame: the lines worth printing in a summary."""
        if not self.traceback:
            return ()
        frames = [i for i, line in enumerate(self.traceback) if line.lstrip().startswith("File ")]
        head = (self.traceback[0],)
        if not frames:
            return head
        last = frames[-1]
        return head + tuple(line.strip() for line in self.traceback[last:last + lines])


@dataclasses.dataclass
class Summary:
    target: str
    corpus_dir: Path
    seconds: float
    jobs: int
    status: Status
    exec_samples: list[int]
    corpus_before: int
    corpus_after: int
    new_inputs: int
    crashes: list[Crash]
    artifacts: int
    interrupted: bool = False
    skipped: tuple[str, ...] = ()

    @property
    def median_exec_per_sec(self) -> int:
        return int(statistics.median(self.exec_samples)) if self.exec_samples else 0

    @property
    def last_exec_per_sec(self) -> int:
        return self.exec_samples[-1] if self.exec_samples else 0

    def render(self) -> str:
        mode = f"-fork={self.jobs}" if self.jobs > 1 else "in-process"
        head = f"fsmodel fuzz {self.target}: {self.seconds:.0f} s, {self.jobs} job(s) ({mode})"
        if self.interrupted:
            head += ", interrupted"
        s = self.status
        lines = [
            head,
            f"  executions  {s.execs:,} (exec/s median {self.median_exec_per_sec:,}, "
            f"last {self.last_exec_per_sec:,})",
            f"  coverage    cov {s.cov:,}  ft {s.ft:,}",
            f"  corpus      {self.corpus_dir}: {self.corpus_before} -> {self.corpus_after} "
            f"files (+{self.corpus_after - self.corpus_before} of {self.new_inputs} new inputs)",
            f"  crashes     {len(self.crashes)}"
            + (f" ({self.artifacts} artifacts)" if self.artifacts != len(self.crashes) else ""),
        ]
        for crash in self.crashes:
            size = f"{crash.size} bytes"
            if crash.size != crash.original_size:
                size += f", minimised from {crash.original_size}"
            if crash.already_saved:
                size += ", already saved"
            lines.append(f"    {crash.path} ({size})")
            lines.extend(f"      {line}" for line in crash.where())
        for step in self.skipped:
            lines.append(f"  skipped     {step} (interrupted)")
        return "\n".join(lines)


# ------------------------------------------------------------------ helpers

def load_targets(module: str = TARGETS_MODULE):
    """The targets module (``TARGETS`` and ``main``); CampaignError when it cannot load."""
    if importlib.util.find_spec("atheris") is None:
        raise CampaignError("fuzzing needs atheris (Linux only): pip install 'fsmodel[fuzz]'")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise CampaignError(f"cannot import the fuzz targets ({module}): {exc}") from None
    if not isinstance(getattr(mod, "TARGETS", None), dict) or not callable(
            getattr(mod, "main", None)):
        raise CampaignError(f"{module} has no TARGETS dict and main(name) function")
    return mod


def default_corpus(target: str, cwd: Optional[Path] = None) -> Path:
    """``./corpus/<target>`` in a checkout that has it, else the user's cache directory."""
    local = Path(cwd or os.getcwd()) / "corpus" / target
    if local.is_dir():
        return local
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fsmodel" / "corpus" / target


def dict_text(tokens) -> str:
    """libFuzzer's dictionary format: one ``"token"`` a line, bytes escaped as ``\\xNN``."""
    from .targets import token_text

    out = [token_text(token) for token in tokens]
    return "\n".join(out) + ("\n" if out else "")


def count_files(corpus: Path) -> int:
    """Corpus inputs: every file under ``corpus`` outside ``regressions/``."""
    if not corpus.is_dir():
        return 0
    return sum(1 for p in corpus.rglob("*")
               if p.is_file() and REGRESSIONS not in p.relative_to(corpus).parts[:1])


_EXECS = re.compile(r"^#(\d+)")
_FIELDS = {name: re.compile(pattern) for name, pattern in (
    ("cov", r"\bcov: (\d+)"), ("ft", r"\bft: (\d+)"), ("corpus", r"\bcorp: (\d+)"),
    ("exec_per_sec", r"\bexec/s:? (\d+)"))}
_FORK_CRASHES = re.compile(r"oom/timeout/crash: (\d+)/(\d+)/(\d+)")
_WRITTEN = re.compile(r"Test unit written to \S*?(crash|timeout|oom|leak)-[0-9a-f]+")


def parse_line(line: str, status: Status) -> bool:
    """Update ``status`` from one libFuzzer output line; True if it was a status line."""
    m = _EXECS.match(line)
    if m and "cov: " in line:
        status.execs = int(m.group(1))
        for name, pattern in _FIELDS.items():
            f = pattern.search(line)
            if f:
                setattr(status, name, int(f.group(1)))
        fork = _FORK_CRASHES.search(line)
        if fork:
            status.crashes = sum(int(g) for g in fork.groups())
        return True
    if _WRITTEN.search(line):
        status.crashes += 1
    return False


def parse_traceback(output: str) -> tuple[str, ...]:
    """The block atheris prints after ``=== Uncaught Python exception: ===``."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line:
            block = []
            for item in lines[i + 1:]:
                if not item.strip() or item.startswith("=="):
                    break
                block.append(item.rstrip())
            return tuple(block)
    return ()


def write_launcher(path: Path, target: str, module: str) -> Path:
    """An executable that libFuzzer can re-execute: ``main(target)`` of ``module``."""
    path.write_text(
        f"#!{sys.executable}\n"
        f"# Written by fsmodel fuzz: libFuzzer re-executes argv[0] for -fork, -merge and\n"
        f"# -minimize_crash, so the harness must be an executable file.\n"
        f"from {module} import main\n"
        f"main({target!r})\n")
    path.chmod(0o755)
    return path


def child_env(scratch: Path) -> dict:
    """This process's environment; fsmodel importable as here; temp files in ``scratch``."""
    env = dict(os.environ)
    import fsmodel

    root = str(Path(fsmodel.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in
                                                  env.get("PYTHONPATH", "").split(os.pathsep)
                                                  if p])
    env["TMPDIR"] = str(scratch)
    env.pop("PYTHONSTARTUP", None)
    return env


def unmount_under(work: Path) -> None:
    """Unmount what a harness left mounted under ``work`` (its TMPDIR).

    A root-only target mounts a scratch filesystem and unmounts it at exit, but libFuzzer
    ends the process with C's exit(), past Python's atexit handlers.
    """
    try:
        table = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(work) + os.sep
    points = [fields[1] for fields in (line.split() for line in table)
              if len(fields) > 1 and fields[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True)


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT to the child's process group (libFuzzer and its fork jobs), then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_quiet(argv: list, env: dict, timeout: float) -> str:
    """Run a libFuzzer helper step to its end (or ``timeout``); its combined output."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, grace=2.0)
        out, _ = proc.communicate()
    except BaseException:
        _stop(proc, grace=2.0)
        raise
    return out.decode("utf-8", "replace")


# ------------------------------------------------------------------ the campaign

ProgressFn = Callable[[Status, float, float], None]


@dataclasses.dataclass
class Campaign:
    """One ``fsmodel fuzz`` run; :meth:`run` returns its :class:`Summary`."""

    target: str
    seconds: int = 60
    jobs: int = 1
    corpus: Optional[Path] = None
    module: str = TARGETS_MODULE
    progress: Optional[ProgressFn] = None
    minimize_seconds: Optional[int] = None   # per -minimize_crash step (libFuzzer re-execs)
    log: Optional[Callable[[str], None]] = None

    def __post_init__(self):
        if self.seconds < 1:
            raise CampaignError(f"time={self.seconds}, but it must be at least 1 second")
        if self.jobs < 1:
            raise CampaignError(f"jobs={self.jobs}, but it must be at least 1")
        mod = load_targets(self.module)
        if self.target not in mod.TARGETS:
            raise CampaignError(f"unknown fuzz target {self.target!r}; expected one of "
                                f"{', '.join(sorted(mod.TARGETS))}")
        self.spec = mod.TARGETS[self.target]
        if getattr(self.spec, "needs_root", False):
            from .._privilege import privilege_problem

            problem = privilege_problem()
            if problem:
                raise CampaignError(f"the {self.target} target runs the real kernel and "
                                    f"{problem}")
        self.corpus = Path(self.corpus) if self.corpus else default_corpus(self.target)
        if self.corpus.exists() and not self.corpus.is_dir():
            raise CampaignError(f"--corpus {self.corpus}: not a directory")
        if self.minimize_seconds is None:
            self.minimize_seconds = max(2, min(20, self.seconds // 10))

    # -- steps

    def _flags(self) -> list[str]:
        flags = []
        max_len = getattr(self.spec, "max_len", None)
        if max_len:
            flags.append(f"-max_len={max_len}")
        timeout = getattr(self.spec, "timeout", None)
        if timeout:
            flags.append(f"-timeout={timeout}")
        if self.dict_path is not None:
            flags.append(f"-dict={self.dict_path}")
        return flags

    def _say(self, text: str) -> None:
        if self.log:
            self.log(text)

    def run(self) -> Summary:
        try:
            self.corpus.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CampaignError(f"--corpus {self.corpus}: {exc.strerror}") from None
        with tempfile.TemporaryDirectory(prefix=f"fsmodel-fuzz-{self.target}-") as tmp:
            try:
                return self._run(Path(tmp))
            finally:
                unmount_under(Path(tmp))

    def _run(self, work: Path) -> Summary:
        self.launcher = write_launcher(work / f"{self.target}_fuzzer", self.target, self.module)
        self.env = child_env(work)
        tokens = tuple(getattr(self.spec, "dictionary", ()) or ())
        self.dict_path = None
        if tokens:
            self.dict_path = work / f"{self.target}.dict"
            self.dict_path.write_text(dict_text(tokens))
        seeds, new, artifacts = work / "seeds", work / "new", work / "artifacts"
        shutil.copytree(self.corpus, seeds,
                        ignore=lambda d, names: [REGRESSIONS] if Path(d) == self.corpus else [])
        new.mkdir()
        artifacts.mkdir()
        before = count_files(self.corpus)

        status, samples, interrupted = self._fuzz(new, seeds, artifacts)
        skipped = []
        crashes, found = [], sorted(p for p in artifacts.iterdir()
                                    if p.name.split("-", 1)[0] in ARTIFACT_KINDS)
        try:
            crashes = self._save_crashes(found, work / "minimised")
        except KeyboardInterrupt:
            interrupted = True
            skipped.append("crash minimisation")
            crashes = self._save_crashes(found, None)
        new_inputs = sum(1 for p in new.rglob("*") if p.is_file())
        try:
            self._merge(seeds, new)
        except KeyboardInterrupt:
            interrupted = True
            skipped.append("corpus merge")
        return Summary(self.target, self.corpus, self.elapsed, self.jobs, status, samples,
                       before, count_files(self.corpus), new_inputs, crashes, len(found),
                       interrupted, tuple(skipped))

    def _fuzz(self, new: Path, seeds: Path, artifacts: Path):
        argv = [str(self.launcher), str(new), str(seeds), f"-max_total_time={self.seconds}",
                f"-artifact_prefix={artifacts}/", "-print_final_stats=1", *self._flags()]
        if self.jobs > 1:
            argv += [f"-fork={self.jobs}", "-ignore_crashes=1", "-ignore_timeouts=1",
                     "-ignore_ooms=1"]
        self._say("$ " + " ".join(argv))
        status, samples, tail = Status(), [], []
        lines: queue.Queue = queue.Queue()
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=self.env, start_new_session=True)

        def pump():
            for raw in proc.stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        interrupted = False
        started = False
        try:
            while True:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                if line:
                    tail = (tail + [line])[-20:]
                    if parse_line(line, status):
                        started = True
                        if status.exec_per_sec:
                            samples.append(status.exec_per_sec)
                    elif line.startswith("stat::average_exec_per_sec:"):
                        value = int(line.split(":")[-1])
                        if value:
                            samples.append(value)
                status.elapsed = time.monotonic() - start
                if self.progress:
                    self.progress(status, status.elapsed, float(self.seconds))
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        except KeyboardInterrupt:
            interrupted = True
        finally:
            _stop(proc)
            reader.join(5.0)
        self.elapsed = time.monotonic() - start
        status.elapsed = self.elapsed
        if not started and not interrupted and proc.returncode and not any(artifacts.iterdir()):
            last = next((l for l in reversed(tail) if l.strip() and not l.startswith(
                ("WARNING:", "INFO:"))), f"exit status {proc.returncode}")
            raise HarnessError(f"the {self.target} fuzzer stopped before fuzzing: {last.strip()}")
        return status, samples, interrupted

    def _save_crashes(self, found: list[Path], scratch: Optional[Path]) -> list[Crash]:
        """Minimise (unless ``scratch`` is None), dedup by sha1, save into regressions/."""
        regressions = self.corpus / REGRESSIONS
        saved: dict[str, Crash] = {}
        for artifact in found:
            kind = artifact.name.split("-", 1)[0]
            data = artifact.read_bytes()
            if kind == "crash" and scratch is not None:
                data = self._minimise(artifact, scratch) or data
            sha1 = hashlib.sha1(data).hexdigest()
            if sha1 in saved:
                continue
            regressions.mkdir(parents=True, exist_ok=True)
            dest = regressions / f"{kind}-{sha1}"
            already = dest.exists()
            if not already:
                dest.write_bytes(data)
            trace = self._traceback(dest) if kind == "crash" and scratch is not None else ()
            saved[sha1] = Crash(kind, dest, sha1, len(data), artifact.stat().st_size, trace,
                                already)
            self._say(f"saved {dest}")
        return list(saved.values())

    def _minimise(self, artifact: Path, scratch: Path) -> Optional[bytes]:
        scratch.mkdir(exist_ok=True)
        out = scratch / artifact.name
        budget = self.minimize_seconds
        argv = [str(self.launcher), "-minimize_crash=1", "-runs=10000",
                f"-max_total_time={budget}", f"-exact_artifact_path={out}", *self._flags(),
                str(artifact)]
        self._say(f"minimising {artifact.name} ({artifact.stat().st_size} bytes)")
        # each step gets ``budget`` seconds, the whole minimisation half the fuzzing time
        # (30 s to 5 min); past that the smallest crash so far is kept
        _run_quiet(argv, self.env, timeout=max(30, min(300, self.seconds // 2)))
        if out.is_file() and out.stat().st_size <= artifact.stat().st_size:
            return out.read_bytes()
        return None

    def _traceback(self, path: Path) -> tuple[str, ...]:
        argv = [str(self.launcher), "-runs=1", *self._flags(), str(path)]
        timeout = (getattr(self.spec, "timeout", None) or 25) + 30
        return parse_traceback(_run_quiet(argv, self.env, timeout=timeout))

    def _merge(self, seeds: Path, new: Path) -> None:
        if not any(p.is_file() for p in new.rglob("*")):
            return
        have = {p.name for p in seeds.iterdir()}
        argv = [str(self.launcher), "-merge=1", "-use_counters=0", *self._flags(),
                str(seeds), str(new)]
        self._say("merging new inputs into the corpus")
        _run_quiet(argv, self.env, timeout=max(120, 4 * self.seconds))
        for p in seeds.iterdir():
            if p.is_file() and p.name not in have and not (self.corpus / p.name).exists():
                shutil.copy2(p, self.corpus / p.name)
