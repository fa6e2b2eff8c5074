"""``fsmodel crosscheck``: the differential test on this machine's kernel.

For each filesystem configuration: a scratch filesystem (or the user's
``--dir``), a :class:`SimKernel` of the same profile and kernel version, and
seeded random call sequences (``fsmodel.testing.differential``) run on both,
every result and errno compared.  Prints an agreement table and every
mismatch with the calls that led to it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ._rules.kernel import parse_version
from .testing.backends import (
    Situation,
    fresh_host_factory,
    host_factory,
    pair_factory,
    sim_factory,
)
from .testing.differential import Mismatch, run_random

#: Configurations crosschecked by default: the specification's §4 table.
DEFAULT_CONFIGS = {
    "tmpfs": Situation("tmpfs"),
    "tmpfs-small": Situation("tmpfs", {"nr_inodes": 64}),
    "ext4": Situation("ext4"),
    "ext4-1k": Situation("ext4", {"block_size": 1024}),
    "ext4-128": Situation("ext4", {"inode_size": 128}),
    "ext4-ea_inode": Situation("ext4", {"ea_inode": True}),
    "xfs": Situation("xfs"),
    "btrfs": Situation("btrfs"),
    "ramfs": Situation("ramfs"),
}
QUICK = ("tmpfs", "ext4", "xfs", "btrfs")


@dataclass
class Report:
    config: str
    situation: Situation
    sequences: int = 0
    calls: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: str | None = None


def host_kernel_version() -> str:
    release = os.uname().release
    major, minor = parse_version(release)
    return f"{major}.{minor}"


def _sysctl(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/fs/{name}") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return default


def _sim_like_host(situation: Situation):
    make = sim_factory(situation)
    knobs = {k: _sysctl(k, 0) for k in ("protected_hardlinks", "protected_symlinks",
                                         "protected_regular", "protected_fifos")}

    @contextlib.contextmanager
    def sim():
        with make() as k:
            k.sysctl.update(knobs)
            yield k

    return sim


def crosscheck(configs: dict[str, Situation], sequences: int, length: int, seed: int,
               directory: str | None = None, progress=None) -> list[Report]:
    from . import _mounts

    reports = []
    available = _mounts.available_filesystems()
    for label, base in configs.items():
        situation = Situation(base.fs, base.options, host_kernel_version())
        report = Report(label, situation)
        reports.append(report)
        if directory is None and situation.fs not in available:
            report.skipped = f"cannot mount {situation.fs} here (missing mkfs or kernel support)"
            continue
        sim = _sim_like_host(situation)
        with contextlib.ExitStack() as stack:
            if directory is not None:
                host = host_factory(directory)
            elif situation.fs == "tmpfs" and situation.options.get("nr_inodes"):
                host = fresh_host_factory(situation)
            else:
                mountpoint = stack.enter_context(
                    _mounts.scratch_mount(situation.fs, **situation.options))
                host = host_factory(mountpoint)

            def tick(done, calls, found, label=label):
                if progress:
                    progress(label, done, sequences, calls, found)

            report.calls, report.mismatches = run_random(
                pair_factory(sim, host), label, sequences, length, seed, tick)
            report.sequences = sequences
    return reports


def _mount_of(directory: str) -> tuple[str, str, str, str]:
    """(mount point, fs type, source, super options) of ``directory``, from mountinfo."""
    best = ("", "unknown", "", "")
    real = os.path.realpath(directory)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mountpoint = parts[4].encode().decode("unicode_escape")
            sep = parts.index("-")
            if (real == mountpoint or real.startswith(mountpoint.rstrip("/") + "/")) \
                    and len(mountpoint) >= len(best[0]):
                best = (mountpoint, parts[sep + 1], parts[sep + 2], parts[sep + 3])
    return best


def detect_fs(directory: str) -> str:
    """The filesystem type of ``directory``."""
    return _mount_of(directory)[1]


def detect_situation(directory: str) -> Situation:
    """The profile and options that describe the filesystem ``directory`` is on.

    ext4: block size from statvfs, inode size and ea_inode from ``tune2fs -l``;
    tmpfs: ``nr_inodes`` is the inode count statvfs reports; btrfs: the node
    size from sysfs.  What cannot be read keeps the profile's default.
    """
    import subprocess

    mountpoint, fs, source, _ = _mount_of(directory)
    st = os.statvfs(directory)
    options: dict = {}
    if fs == "ext4":
        options["block_size"] = st.f_bsize
        try:
            out = subprocess.run(["tune2fs", "-l", source], capture_output=True, text=True,
                                 timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.startswith("Inode size:"):
                options["inode_size"] = int(line.split(":")[1])
            if line.startswith("Filesystem features:") and "ea_inode" in line.split(":")[1].split():
                options["ea_inode"] = True
    elif fs == "tmpfs":
        options["nr_inodes"] = st.f_files
    elif fs == "btrfs":
        import glob

        for path in glob.glob("/sys/fs/btrfs/*/nodesize"):
            devices = os.path.join(os.path.dirname(path), "devices")
            names = os.listdir(devices) if os.path.isdir(devices) else []
            if any(source.endswith("/" + n) for n in names):
                with open(path) as f:
                    options["nodesize"] = int(f.read())
    return Situation(fs, options)
