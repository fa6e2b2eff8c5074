#!/usr/bin/env python3
"""Extracting the standard layers: fsmodel against tarfile, GNU tar and a bare syscall loop.

Prints, from one run, for each standard layer (``small`` 2,000 entries,
``medium`` 20,000, ``large`` 200,000 ≈ 1.2 GB; made by ``gen_layer.py`` once
into a cache directory) the median entries/s of:

1. fsmodel, policy ``containerd``, through :class:`DirTarget` (the real filesystem);
2. ``tarfile.open(path).extractall(dir, filter='tar')`` (sets no xattrs and
   applies no whiteouts);
3. GNU ``tar --xattrs --xattrs-include='*' -xpf LAYER -C DIR`` (the subprocess, timed whole);
4. a bare Python loop making the extraction's syscalls (mkdir, open/write/close,
   symlink, link, mknod, lchown, setxattr, chmod, whiteout lookups) with no
   confinement and no checks, reading the layer with the standard library's
   ``tarfile`` member iteration as it goes (timed whole: the goal's baseline);
5. the same loop over entries parsed beforehand ("syscalls only": the
   reading untimed), the floor any Python extractor stands on;
6. fsmodel on :class:`fsmodel.SimKernel` (in memory, no disk);

each filesystem run into a FRESH tmpfs mounted under a temporary directory
(so root is required), plus fsmodel's peak memory (max RSS) extracting each
layer in a fresh subprocess, and the ratios against the goals:
fsmodel >= 2x tarfile and >= 0.8x the bare loop, SimKernel >= 20,000
entries/s, peak memory on ``large`` <= 150 MB.

Entries are the tar members of the layer (PAX extension headers are not
members), from the generator's ``.meta.json``.  Runs are interleaved (one of
each method per round) and the page cache holds the layer before timing;
the machine is noisy, so compare medians and ratios, not single figures.
No timed asserts: the goals are printed, never enforced.

Usage (as root, from the repository)::

    python bench/bench_extract.py                       # small, medium, large
    python bench/bench_extract.py --presets small,medium --runs 5
    python bench/bench_extract.py --presets large --large-runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# Benchmark the working tree, not whatever copy of fsmodel is installed.
sys.path.insert(0, str(REPO))

import fsmodel  # noqa: E402
from fsmodel.layer.apply import KernelTarget  # noqa: E402
from fsmodel.layer.dirtarget import DirTarget  # noqa: E402
from fsmodel.layer.extract import extract  # noqa: E402
from fsmodel.layer.image import open_image  # noqa: E402
from fsmodel.layer.policies import get_policy  # noqa: E402

PRESETS = ("small", "medium", "large")
#: the generated sizes (seed 1), to check the disk before generating
LAYER_BYTES = {"small": 17_182_720, "medium": 118_579_200, "large": 1_206_476_800}
MiB = 1 << 20

GOAL_VS_TARFILE = 2.0
GOAL_VS_BARE = 0.8
GOAL_SIM_RATE = 20_000
GOAL_PEAK_LARGE = 150 * MiB

NOTES = {
    "tarfile": "no xattrs, no whiteouts (.wh.* land as files); sets mtimes; "
               "filter='tar' drops setuid/setgid/sticky and group/other write bits",
    "GNU tar": "no whiteouts (.wh.* land as files); sets mtimes; fork+exec included",
    "bare loop": "fsmodel's syscalls, no confinement, no checks; reads the tar with tarfile",
    "syscalls": "the bare loop's syscalls alone: the tar parsed beforehand, untimed",
    "SimKernel": "in memory, no tmpfs; the kernel object's creation is not timed",
}


# -- layers --------------------------------------------------------------------------------

def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fsmodel-bench"


def ensure_layer(directory: Path, preset: str, generator: Path) -> tuple[Path, dict]:
    """The cached layer of ``preset`` and its metadata, generated on first use."""
    path = directory / f"{preset}.tar"
    meta_path = directory / f"{preset}.tar.meta.json"
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("file_bytes") == path.stat().st_size:
            return path, meta
        print(f"bench: {path} does not match its .meta.json; generating it again",
              file=sys.stderr)
    if not generator.exists():
        raise SystemExit(f"bench: no {path} and no generator at {generator} (--gen)")
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < LAYER_BYTES[preset] * 1.1:
        raise SystemExit(f"bench: {directory} has {free / MiB:,.0f} MB free; the {preset} layer "
                         f"needs ~{LAYER_BYTES[preset] / MiB:,.0f} MB (--layers elsewhere, or "
                         f"--presets without it)")
    part = directory / f".{preset}.tar.part-{os.getpid()}"
    print(f"bench: generating the {preset} layer into {directory} "
          f"({'~1.2 GB, ~1 min' if preset == 'large' else 'a few seconds'})...",
          file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, str(generator), "--preset", preset, "-o", str(part)],
                       check=True, stderr=subprocess.DEVNULL)
        os.replace(f"{part}.meta.json", meta_path)
        os.replace(part, path)
    finally:
        for leftover in (part, Path(f"{part}.meta.json")):
            leftover.unlink(missing_ok=True)
    meta = json.loads(meta_path.read_text())
    if "entries" not in meta:
        with tarfile.open(path) as tf:
            meta["entries"] = sum(1 for _ in tf)
    return path, meta


def warm_page_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(8 * MiB):
            pass


# -- a fresh tmpfs per run -----------------------------------------------------------------

@contextlib.contextmanager
def fresh_tmpfs(size: int, parent: str | None):
    """A tmpfs of ``size`` bytes mounted on a new temporary directory; yields an empty
    ``rootfs`` directory in it. Unmounted and removed on the way out, whatever happens."""
    base = tempfile.mkdtemp(prefix="fsmodel-bench-", dir=parent)
    mounted = False
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755",
                               "fsmodel-bench", base], check=False, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: cannot mount a tmpfs on {base}: {done.stderr.strip()}")
        mounted = True
        root = os.path.join(base, "rootfs")
        os.mkdir(root, 0o755)
        yield root
    finally:
        if mounted:
            unmount(base)
        os.rmdir(base)


def unmount(path: str) -> None:
    for _ in range(5):
        if subprocess.run(["umount", path], check=False, capture_output=True).returncode == 0:
            return
        gc.collect()   # an fd still open in this process keeps the mount busy
        time.sleep(0.2)
    subprocess.run(["umount", "--lazy", path], check=True)
    print(f"bench: {path} was busy; detached it (umount --lazy)", file=sys.stderr)


def tmpfs_size(meta: dict) -> int:
    return max(64 * MiB, int(meta["tar_bytes"] * 1.25) + 64 * MiB)


# -- peak memory of a child --------------------------------------------------------------
#
# Not wait4()/RUSAGE_CHILDREN on a child forked from this process: Linux keeps
# the forked copy's high-water mark across exec, so every child would report at
# least this process's own RSS (which grows with the SimKernel runs). The Python
# children report their own VmHWM (the exec'ed process's peak RSS) instead, and
# /usr/bin/time, when present, measures them and GNU tar from its small fork.

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

_HWM = """
for _line in open("/proc/self/status"):
    if _line.startswith("VmHWM:"):
        print("VmHWM", int(_line.split()[1]) * 1024)
"""


def measure_peak(argv, env=None) -> tuple[str, int | None, int | None]:
    """(stdout, VmHWM the child printed, /usr/bin/time's max RSS) of running ``argv``."""
    with tempfile.NamedTemporaryFile(mode="r") as report:
        wrapped = [TIME, "-f", "%M", "-o", report.name, *argv] if TIME else list(argv)
        done = subprocess.run(wrapped, check=False, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {done.returncode}: "
                               f"{done.stderr.strip()[-400:]}")
        text = report.read().strip() if TIME else ""
    by_time = int(text.splitlines()[-1]) * 1024 if text else None
    hwm = None
    for line in done.stdout.splitlines():
        if line.startswith("VmHWM "):
            hwm = int(line.split()[1])
    return done.stdout, hwm, by_time


# -- the methods ---------------------------------------------------------------------------

def run_fsmodel(layer_path, into):
    with open_image(layer_path) as image, DirTarget(into) as target:
        outcome = extract(image, target, get_policy("containerd"), privilege="root")
    if not outcome.ok:
        raise RuntimeError(f"fsmodel failed: {json.dumps(outcome.as_json())}")
    return f"{len(outcome.warnings)} warnings"


def run_tarfile(layer_path, into):
    with tarfile.open(layer_path) as tf:
        tf.extractall(into, filter="tar")


def run_gnu_tar(layer_path, into):
    done = subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xpf", str(layer_path),
                           "-C", into], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"GNU tar exited {done.returncode}: {done.stderr.strip()[-300:]}")
    warnings = sum(1 for line in done.stderr.splitlines() if line.startswith("tar:"))
    return f"{warnings} warnings"


_DIR, _FILE, _SYMLINK, _LINK, _NODE, _WHITEOUT, _OPAQUE = range(7)


def parse_for_bare_loop(layer_path):
    """The layer's members as plain tuples, with data offsets and encoded xattrs (untimed)."""
    plan = []
    with tarfile.open(layer_path) as tf:
        for m in tf:
            name = m.name
            directory, _, base = name.rpartition("/")
            if base == ".wh..wh..opq":
                plan.append((_OPAQUE, directory, None, 0, 0, 0, 0, 0, 0, ()))
                continue
            if base.startswith(".wh."):
                target = f"{directory}/{base[4:]}" if directory else base[4:]
                plan.append((_WHITEOUT, target, None, 0, 0, 0, 0, 0, 0, ()))
                continue
            xattrs = tuple((key[len("SCHILY.xattr."):],
                            value.encode("utf-8", "surrogateescape"))
                           for key, value in m.pax_headers.items()
                           if key.startswith("SCHILY.xattr."))
            if m.isdir():
                kind, extra = _DIR, 0
            elif m.isreg():
                kind, extra = _FILE, 0
            elif m.issym():
                kind, extra = _SYMLINK, 0
            elif m.islnk():
                kind, extra = _LINK, 0
            elif m.ischr():
                kind, extra = _NODE, stat.S_IFCHR
            elif m.isblk():
                kind, extra = _NODE, stat.S_IFBLK
            elif m.isfifo():
                kind, extra = _NODE, stat.S_IFIFO
            else:
                raise ValueError(f"{name}: member type {m.type!r} not in the standard layers")
            dev = os.makedev(m.devmajor, m.devminor) if kind == _NODE and extra != stat.S_IFIFO \
                else 0
            plan.append((kind, name, m.linkname, m.mode, m.uid, m.gid,
                         m.offset_data, m.size, (extra, dev), xattrs))
    layer_paths = {p[1] for p in plan if p[0] not in (_WHITEOUT, _OPAQUE)}
    return plan, layer_paths


class BareLoop:
    """The syscalls of fsmodel's containerd extraction, nothing else: create, lchown,
    setxattr (errors ignored), chmod (not symlinks); hardlinks get no metadata (as in
    fsmodel's applier); whiteouts and opaque markers at the end, as lookups.

    With ``read=True`` each call first reads the layer's headers with tarfile (timed,
    as an extractor must); with ``read=False`` the plan is made once, untimed."""

    def __init__(self, layer_path, read: bool):
        self.layer_path = layer_path
        self.read = read
        self.plan, self.layer_paths = (None, None) if read else parse_for_bare_loop(layer_path)

    def __call__(self, layer_path, into):
        if self.read:
            self.plan, self.layer_paths = parse_for_bare_loop(layer_path)
        try:
            return self._apply(layer_path, into)
        finally:
            if self.read:
                self.plan = self.layer_paths = None

    def _apply(self, layer_path, into):
        src = os.open(layer_path, os.O_RDONLY | os.O_CLOEXEC)
        join = os.path.join
        pread, write = os.pread, os.write
        create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        whiteouts, opaques = [], []
        failed_xattrs = 0
        try:
            for kind, name, link, mode, uid, gid, offset, size, node, xattrs in self.plan:
                if kind == _WHITEOUT:
                    whiteouts.append(name)
                    continue
                if kind == _OPAQUE:
                    opaques.append(name)
                    continue
                path = join(into, name)
                if kind == _DIR:
                    try:
                        os.mkdir(path, 0o700)
                    except FileExistsError:
                        pass
                elif kind == _FILE:
                    fd = os.open(path, create, 0o600)
                    end = offset + size
                    while offset < end:
                        chunk = pread(src, min(65536, end - offset), offset)
                        offset += len(chunk)
                        view = memoryview(chunk)
                        while view:
                            view = view[write(fd, view):]
                    os.close(fd)
                elif kind == _SYMLINK:
                    os.symlink(link, path)
                elif kind == _LINK:
                    os.link(join(into, link), path, follow_symlinks=False)
                    continue
                else:
                    os.mknod(path, node[0] | 0o600, node[1])
                os.lchown(path, uid, gid)
                for xname, value in xattrs:
                    try:
                        os.setxattr(path, xname, value, follow_symlinks=False)
                    except OSError:
                        failed_xattrs += 1   # a runtime ignoring EPERM on symlinks
                if kind != _SYMLINK:
                    os.chmod(path, mode)
        finally:
            os.close(src)
        for name in whiteouts:
            path = join(into, name)
            if name in self.layer_paths:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        for directory in opaques:
            for child in os.listdir(join(into, directory)):
                rel = f"{directory}/{child}" if directory else child
                if rel not in self.layer_paths:
                    shutil.rmtree(join(into, rel), ignore_errors=True)
        return f"{failed_xattrs} xattrs failed"


class OnSimKernel:
    """fsmodel onto a SimKernel: setup() makes the kernel and teardown() drops it (both
    untimed); calling it extracts."""

    def __init__(self):
        self.target = None

    def setup(self):
        k = fsmodel.SimKernel("tmpfs")
        k.mkdir("/rootfs", 0o755)
        self.target = KernelTarget(k, "/rootfs")

    def teardown(self):
        self.target = None   # freeing the kernel's inodes and contents is not timed

    def __call__(self, layer_path, into):
        with open_image(layer_path) as image:
            outcome = extract(image, self.target, get_policy("containerd"), privilege="root")
        if not outcome.ok:
            raise RuntimeError(f"fsmodel on SimKernel failed: {json.dumps(outcome.as_json())}")
        return f"{len(outcome.warnings)} warnings"


def tree_facts(root: str) -> str:
    """Inodes under ``root`` (paths) and how many carry xattrs: proof of equal work."""
    paths = with_xattrs = 0
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                paths += 1
                if os.listxattr(e.path, follow_symlinks=False):
                    with_xattrs += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return f"{paths} paths, {with_xattrs} with xattrs"


# -- peak memory ---------------------------------------------------------------------------

_PEAK_FSMODEL = """
import json, sys, time
from fsmodel.layer.image import open_image
from fsmodel.layer.dirtarget import DirTarget
from fsmodel.layer.extract import extract
from fsmodel.layer.policies import get_policy
start = time.perf_counter()
with open_image(sys.argv[1]) as image, DirTarget(sys.argv[2]) as target:
    outcome = extract(image, target, get_policy("containerd"), privilege="root")
print(json.dumps({"ok": outcome.ok, "seconds": time.perf_counter() - start}))
""" + _HWM

_PEAK_IMPORT = "import fsmodel.layer.extract\n" + _HWM

_PEAK_TARFILE = """
import sys, tarfile
with tarfile.open(sys.argv[1]) as tf:
    tf.extractall(sys.argv[2], filter="tar")
""" + _HWM


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def python_peak(code, *args):
    return measure_peak([sys.executable, "-c", code, *args], env=child_env())


def fmt_peak(hwm, by_time):
    text = fmt_mb(hwm) if hwm is not None else "?"
    return text + (f"  (/usr/bin/time: {fmt_mb(by_time)})" if by_time is not None else "")


# -- profile ---------------------------------------------------------------------------------

def profile_fsmodel(layer_path, into, top: int) -> None:
    """cProfile one fsmodel extraction; print the top functions by own time, then own time
    by file, a built-in's (syscall's) time charged to the file that called it."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run_fsmodel(layer_path, into)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    print(f"   cProfile of one fsmodel extraction ({total:.2f} s under the profiler), "
          f"top {top} by own time:")
    print(f"   {'ncalls':>9} {'tottime':>8} {'%':>5} {'cumtime':>8}  function")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (filename, line, func), (cc, nc, tt, ct, _) in rows:
        calls = f"{nc}" if nc == cc else f"{nc}/{cc}"
        print(f"   {calls:>9} {tt:>8.3f} {100 * tt / total:>5.1f} {ct:>8.3f}  "
              f"{_where(filename, line, func)}")
    by_file: dict[str, list[float]] = {}
    for key, (cc, nc, tt, ct, callers) in stats.stats.items():
        if _is_ours(key[0]):
            by_file.setdefault(_short(key[0]), [0.0, 0.0])[0] += tt
        else:   # a built-in or the stdlib: charged to the files that called it
            for name, share in _owners(stats.stats, key, {}, set()).items():
                by_file.setdefault(name, [0.0, 0.0])[1] += tt * share
    print("   time by file: its own Python code, plus the built-ins (syscalls) and stdlib "
          "code it calls:")
    print(f"   {'total':>8} {'%':>5} {'own':>8} {'called':>8}  file")
    for name, (own, called) in sorted(by_file.items(), key=lambda kv: sum(kv[1]),
                                      reverse=True)[:10]:
        print(f"   {own + called:>8.3f} {100 * (own + called) / total:>5.1f} {own:>8.3f} "
              f"{called:>8.3f}  {name}")


def _is_ours(filename: str) -> bool:
    return filename != "~" and not _short(filename).startswith("stdlib ")


def _owners(table, key, memo, visiting) -> dict[str, float]:
    """The files (ours) on whose behalf ``key`` ran: shares summing to 1, following the
    callers of built-in and stdlib functions up to the first file of ours."""
    if _is_ours(key[0]):
        return {_short(key[0]): 1.0}
    if key in memo:
        return memo[key]
    callers = table[key][4] if key in table else {}
    weights = {c: v[2] for c, v in callers.items() if c not in visiting}
    total = sum(weights.values())
    if not weights or total <= 0:
        return {_short(key[0]) if key[0] != "~" else key[2]: 1.0}
    visiting.add(key)
    shares: dict[str, float] = {}
    for caller, w in weights.items():
        for name, share in _owners(table, caller, memo, visiting).items():
            shares[name] = shares.get(name, 0.0) + share * w / total
    visiting.discard(key)
    memo[key] = shares
    return shares


def _short(filename: str) -> str:
    if filename == "~":
        return "built-ins"
    path = Path(filename)
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO))
    return f"stdlib {path.name}" if "python3" in filename else filename


def _where(filename, line, func) -> str:
    if filename == "~":
        return func
    return f"{_short(filename)}:{line}({func})"


# -- reporting -----------------------------------------------------------------------------

def _proc_field(path: str, key: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return None


def _output(argv) -> str:
    if not shutil.which(argv[0]):
        return ""
    return subprocess.run(argv, check=False, capture_output=True, text=True).stdout.strip()


def machine_facts() -> list[str]:
    cpu = _proc_field("/proc/cpuinfo", "model name") or "?"
    mem = _proc_field("/proc/meminfo", "MemTotal")
    mem = f"{int(mem.split()[0]) / (1 << 20):.1f} GiB" if mem else "?"
    tar = _output(["tar", "--version"])
    commit = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "?"
    dirty = _output(["git", "-C", str(REPO), "status", "--porcelain", "--", "fsmodel"])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    changes = " + uncommitted changes under fsmodel/" if dirty else ""
    return [
        f"python   {python} ({sys.executable})",
        f"kernel   {platform.system()} {platform.release()} {platform.machine()}",
        f"cpu      {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu}",
        f"memory   {mem}; load average at start {load}",
        f"tar      {tar.splitlines()[0] if tar else 'not found'}",
        f"fsmodel  {Path(fsmodel.__file__).parent} at {commit}{changes}",
    ]


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "-"


def fmt_mb(n):
    return f"{n / MiB:,.1f} MB"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# -- main ----------------------------------------------------------------------------------

def bench_layer(preset, layer_path, meta, runs, args):
    entries = meta["entries"]
    size = tmpfs_size(meta)
    print(f"\n== {preset}: {entries:,} entries, {meta['tar_bytes'] / MiB:,.0f} MB tar "
          f"({meta['payload_bytes'] / MiB:,.0f} MB of file content), {runs} run(s) each, "
          f"a fresh tmpfs per run", flush=True)
    print(f"   by kind: {', '.join(f'{k} {v}' for k, v in meta.get('by_kind', {}).items())}")

    warm_page_cache(layer_path)
    tar = run_gnu_tar if shutil.which("tar") else None
    bare = BareLoop(layer_path, read=True)
    syscalls = BareLoop(layer_path, read=False)
    sim = OnSimKernel()
    methods = [("fsmodel", run_fsmodel, None, None, True),
               ("tarfile", run_tarfile, None, None, True),
               ("GNU tar", tar, None, None, True),
               ("bare loop", bare, None, None, True),
               ("syscalls", syscalls, None, None, True),
               ("SimKernel", sim, sim.setup, sim.teardown, False)]
    methods = [m for m in methods if m[1] is not None]
    times = {name: [] for name, *_ in methods}
    facts = {}
    for r in range(runs):
        for name, fn, setup, teardown, on_tmpfs in methods:
            print(f"   run {r + 1}/{runs} {name}...", end="\r", file=sys.stderr, flush=True)
            gc.collect()
            if setup:
                setup()
            if on_tmpfs:
                with fresh_tmpfs(size, args.mount_parent) as into:
                    start = time.perf_counter()
                    info = fn(layer_path, into)
                    times[name].append(time.perf_counter() - start)
                    if r == 0:
                        facts[name] = "; ".join(filter(None, [tree_facts(into), info]))
            else:
                start = time.perf_counter()
                info = fn(layer_path, None)
                times[name].append(time.perf_counter() - start)
                if r == 0:
                    facts[name] = info or ""
            if teardown:
                teardown()
            gc.collect()
    print(" " * 40, end="\r", file=sys.stderr)
    del bare, syscalls

    fs_rate = entries / statistics.median(times["fsmodel"])
    print(f"   {'method':<10} {'entries/s':>10} {'median s':>9} {'min s':>8} {'max s':>8} "
          f"{'fsmodel/it':>10}   after run 1")
    for name, *_ in methods:
        t = times[name]
        rate = entries / statistics.median(t)
        print(f"   {name:<10} {rate:>10,.0f} {statistics.median(t):>9.3f} {min(t):>8.3f} "
              f"{max(t):>8.3f} {fs_rate / rate:>10.2f}   {facts.get(name, '')}")
    for name, note in NOTES.items():
        if name in times:
            print(f"   ({name}: {note})")

    print("   peak memory (max RSS of a fresh process: its VmHWM):", flush=True)
    _, peak_import, time_import = python_peak(_PEAK_IMPORT)
    with fresh_tmpfs(size, args.mount_parent) as into:
        out, peak_fs, time_fs = python_peak(_PEAK_FSMODEL, str(layer_path), into)
    child = json.loads(out.strip().splitlines()[0])
    peaks = {"fsmodel": peak_fs, "import": peak_import}
    label = "fsmodel extraction"
    print(f"   {label:<40} {fmt_peak(peak_fs, time_fs)}   that run: "
          f"{entries / child['seconds']:,.0f} entries/s")
    label = "python -c 'import fsmodel.layer.extract'"
    print(f"   {label:<40} {fmt_peak(peak_import, time_import)}   so the extraction adds "
          f"{fmt_mb(peak_fs - peak_import)}")
    if not args.no_reference_peaks:
        with fresh_tmpfs(size, args.mount_parent) as into:
            _, peaks["tarfile"], time_tarfile = python_peak(_PEAK_TARFILE, str(layer_path), into)
        label = "tarfile extractall (reference)"
        print(f"   {label:<40} {fmt_peak(peaks['tarfile'], time_tarfile)}")
        if TIME and shutil.which("tar"):
            with fresh_tmpfs(size, args.mount_parent) as into:
                _, _, time_tar = measure_peak(["tar", "--xattrs", "--xattrs-include=*", "-xpf",
                                               str(layer_path), "-C", into])
            print(f"   {'GNU tar (reference, /usr/bin/time)':<40} {fmt_mb(time_tar)}")
    if preset in args.profile:
        with fresh_tmpfs(size, args.mount_parent) as into:
            profile_fsmodel(layer_path, into, args.profile_top)
    return {name: entries / statistics.median(t) for name, t in times.items()}, peaks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=",".join(PRESETS),
                    help="comma-separated layers to run (default: small,medium,large; "
                         "large needs ~1.2 GB of disk in the cache and of tmpfs)")
    ap.add_argument("--layers", type=Path, default=default_cache(),
                    help="where the generated layers are cached (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="runs of each method on small and "
                                                        "medium (default 5)")
    ap.add_argument("--large-runs", type=int, default=1, help="runs of each method on large "
                                                              "(default 1, at most 3 advised)")
    ap.add_argument("--gen", type=Path, default=BENCH / "gen_layer.py",
                    help="the layer generator (default: %(default)s)")
    ap.add_argument("--mount-parent", default=None,
                    help="where the temporary mount points are made (default: $TMPDIR)")
    ap.add_argument("--no-reference-peaks", action="store_true",
                    help="skip the tarfile and GNU tar peak-memory runs")
    ap.add_argument("--profile", default="", metavar="PRESETS",
                    help="also cProfile one fsmodel extraction of these layers "
                         "(comma-separated, e.g. medium) and print where the time goes")
    ap.add_argument("--profile-top", type=int, default=25, metavar="N",
                    help="functions shown by --profile (default 25)")
    args = ap.parse_args(argv)

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    bad = [p for p in presets if p not in PRESETS]
    if bad or not presets:
        ap.error(f"--presets={args.presets!r}, but only {', '.join(PRESETS)} are valid")
    args.profile = [p.strip() for p in args.profile.split(",") if p.strip()]
    if any(p not in PRESETS for p in args.profile):
        ap.error(f"--profile={','.join(args.profile)!r}, but only {', '.join(PRESETS)} are valid")
    if args.runs < 1 or args.large_runs < 1:
        ap.error("--runs and --large-runs must be at least 1")
    if os.geteuid() != 0:
        print("bench_extract: needs root (it mounts a fresh tmpfs per run and extracts as "
              "root: chown, mknod, security.capability); run it with sudo", file=sys.stderr)
        return 2
    # SIGTERM/SIGHUP unwind through the finally blocks that unmount.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    print("bench_extract: layer extraction, entries/s (tar members / median seconds); "
          "higher is better")
    for line in machine_facts():
        print(f"  {line}")

    results, peaks = {}, {}
    for preset in presets:
        layer_path, meta = ensure_layer(args.layers, preset, args.gen)
        avail = _mem_available()
        need = 2 * meta["tar_bytes"] + 512 * MiB
        if avail is not None and avail < need:
            print(f"\n== {preset}: skipped, {avail / MiB:,.0f} MB of memory available, "
                  f"{need / MiB:,.0f} MB needed (tmpfs and SimKernel)")
            continue
        runs = args.large_runs if preset == "large" else args.runs
        results[preset], peaks[preset] = bench_layer(preset, layer_path, meta, runs, args)

    print("\n== summary (entries/s, medians; ratios are fsmodel's rate over the other's)")
    print(f"   {'layer':<7} {'fsmodel':>8} {'tarfile':>8} {'GNU tar':>8} {'bare':>8} "
          f"{'syscalls':>8} {'SimKernel':>9} | {'fs/tarfile':>10} {'fs/bare':>8} "
          f"{'fs/sysc':>7} {'fs/GNU':>7} {'peak':>9}")
    for preset, r in results.items():
        fs = r["fsmodel"]
        gnu = r.get("GNU tar")
        print(f"   {preset:<7} {fmt_rate(fs):>8} {fmt_rate(r['tarfile']):>8} "
              f"{fmt_rate(gnu):>8} {fmt_rate(r['bare loop']):>8} {fmt_rate(r['syscalls']):>8} "
              f"{fmt_rate(r['SimKernel']):>9} "
              f"| {fs / r['tarfile']:>10.2f} {fs / r['bare loop']:>8.2f} "
              f"{fs / r['syscalls']:>7.2f} "
              f"{(fs / gnu if gnu else float('nan')):>7.2f} "
              f"{fmt_mb(peaks[preset]['fsmodel']):>9}")
    print("\n== goals")
    for preset, r in results.items():
        fs = r["fsmodel"]
        print(f"   {preset:<7} fsmodel/tarfile {fs / r['tarfile']:5.2f}x (goal >= "
              f"{GOAL_VS_TARFILE:g}x: {verdict(fs / r['tarfile'] >= GOAL_VS_TARFILE)});  "
              f"fsmodel/bare loop {fs / r['bare loop']:5.2f}x (goal >= {GOAL_VS_BARE:g}x: "
              f"{verdict(fs / r['bare loop'] >= GOAL_VS_BARE)});  "
              f"SimKernel {r['SimKernel']:,.0f}/s (goal >= {GOAL_SIM_RATE:,}: "
              f"{verdict(r['SimKernel'] >= GOAL_SIM_RATE)})")
    if "large" in peaks:
        p = peaks["large"]["fsmodel"]
        print(f"   large   peak memory {fmt_mb(p)} (goal <= {fmt_mb(GOAL_PEAK_LARGE)}: "
              f"{verdict(p <= GOAL_PEAK_LARGE)})")
    else:
        print(f"   large   peak memory: not measured (goal <= {fmt_mb(GOAL_PEAK_LARGE)}; "
              f"run with --presets large)")
    return 0


def _mem_available():
    value = _proc_field("/proc/meminfo", "MemAvailable")
    return int(value.split()[0]) * 1024 if value else None


if __name__ == "__main__":
    sys.exit(main())
