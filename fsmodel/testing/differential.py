"""Differential testing: the same call sequence on two backends, compared call by call.

An :class:`OpSpace` generates calls (caller, method, arguments) from a small
world of paths, names and values chosen to hit the interesting cases: every
file type, sticky and immutable inodes, every namespace, invalid and bare
names, the 255/256-byte boundary, values around each filesystem's limits,
every flag value and buffer size, and callers with and without capabilities.
Choices go through one ``choose(options)`` function, so the same space drives
Hypothesis (which shrinks failures) and a seeded ``random.Random`` (which
``fsmodel crosscheck`` uses to report every mismatch).

Outcomes are compared after :func:`outcome` normalises them: errno names for
failures; for ``stat`` the fields every filesystem agrees on.
"""

from __future__ import annotations

import contextlib
import os
import random
import stat as _stat
from dataclasses import dataclass

from .._rules.codecs import (
    ACL_GROUP,
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_USER,
    ACL_USER_OBJ,
    acl_value,
    fcaps_value,
)
from .._rules.verdict import errno_name

#: The callers a sequence switches between: (label, uid, gid, groups, caps).
CALLERS = (
    ("root", 0, 0, (), None),
    ("root-nocaps", 0, 0, (), ()),
    ("uid1000", 1000, 1000, (), None),
    ("uid1001", 1001, 1001, (1000,), None),
    ("uid1000+SYS_ADMIN", 1000, 1000, (), ("CAP_SYS_ADMIN",)),
    ("uid1000+DAC_OVERRIDE", 1000, 1000, (), ("CAP_DAC_OVERRIDE",)),
    ("uid1000+DAC_READ_SEARCH", 1000, 1000, (), ("CAP_DAC_READ_SEARCH",)),
    ("uid1000+FOWNER", 1000, 1000, (), ("CAP_FOWNER",)),
    ("uid1000+SETFCAP", 1000, 1000, (), ("CAP_SETFCAP",)),
    ("uid1000+CHOWN", 1000, 1000, (), ("CAP_CHOWN",)),
    ("uid1000+FSETID", 1000, 1000, (), ("CAP_FSETID",)),
    ("uid1000+LINUX_IMMUTABLE", 1000, 1000, (), ("CAP_LINUX_IMMUTABLE",)),
    ("uid1000+MKNOD", 1000, 1000, (), ("CAP_MKNOD",)),
)

BASE = "/t"
PATHS = (
    f"{BASE}/a", f"{BASE}/b", f"{BASE}/d", f"{BASE}/d/a", f"{BASE}/d/b", f"{BASE}/s",
    f"{BASE}/s/a", f"{BASE}/l", f"{BASE}/d/l", f"{BASE}/d/e/a", f"{BASE}/a/x",
)
DIRS = (f"{BASE}/d", f"{BASE}/s", f"{BASE}/d/e", f"{BASE}/a", f"{BASE}/b")

_FULL_ACL = acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 1000), (ACL_GROUP_OBJ, 4, None),
                      (ACL_GROUP, 2, 1000), (ACL_MASK, 6, None), (ACL_OTHER, 4, None))
VALUES = (
    b"", b"v", b"value", b"x" * 68, b"x" * 69, b"x" * 100, b"x" * 720, b"x" * 968, b"x" * 969,
    b"x" * 3792, b"x" * 3793, b"x" * 4040, b"x" * 4041, b"x" * 15973, b"x" * 16222,
    b"x" * 16223, b"x" * 40000, b"x" * 65536, b"x" * 65537,
    # POSIX ACLs: minimal (mode-equivalent), extended, invalid, wrong version, bad size
    acl_value((ACL_USER_OBJ, 7, None), (ACL_GROUP_OBJ, 5, None), (ACL_OTHER, 0, None)),
    acl_value((ACL_USER_OBJ, 6, None), (ACL_GROUP_OBJ, 4, None), (ACL_MASK, 4, None),
              (ACL_OTHER, 4, None)),
    _FULL_ACL,
    acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 1000), (ACL_GROUP_OBJ, 4, None),
              (ACL_OTHER, 4, None)),
    acl_value((ACL_GROUP_OBJ, 4, None), (ACL_USER_OBJ, 6, None), (ACL_OTHER, 4, None)),
    acl_value((ACL_USER_OBJ, 6, None), (ACL_GROUP_OBJ, 4, None), (ACL_OTHER, 8, None)),
    acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 6, 0xFFFFFFFF), (ACL_GROUP_OBJ, 4, None),
              (ACL_MASK, 6, None), (ACL_OTHER, 4, None)),
    acl_value((ACL_USER_OBJ, 6, None), version=1),
    acl_value(), _FULL_ACL[:-3], b"\x02\x00",
    # file capabilities: v2, v2 effective, v3 root 0, v3 root 1000, v3 unmappable, v1, junk
    fcaps_value(permitted=1 << 10), fcaps_value(permitted=1 << 10, effective=True),
    fcaps_value(permitted=1 << 10, rootid=0), fcaps_value(permitted=1 << 10, rootid=1000),
    fcaps_value(permitted=1 << 10, rootid=0xFFFFFFFF),
    b"\x00\x00\x00\x01" + b"\x00" * 8, b"\x02\x00\x00\x02" + b"\x00" * 16,
    # btrfs properties
    b"zstd", b"lzo", b"none", b"bogus",
)
NAMES = (
    "user.a", "user.b", "user.zz", "user.mm", "user.B", "user.0123456789", "user.x1", "user.x2",
    "user.x3", "trusted.b", "user.", "user", "trusted.t", "trusted.overlay.opaque",
    "trusted.", "security.s", "security.capability", "security.", "system.posix_acl_access",
    "system.posix_acl_default", "system.foo", "system.", "foo.bar", "gnu.g", "btrfs.compression",
    "btrfs.foo", "", "user." + "n" * 250, "user." + "n" * 251, "trusted." + "m" * 247,
    "security." + "k" * 246, "user.é",
)
FLAGS = (0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4, -1)
SIZES = (65536, 65536, 65536, 65536, 0, 0, 1, 4, 5, 7, 8, 10, 20, 28, 44, 100000)
MODES = (0o644, 0o600, 0o000, 0o444, 0o666, 0o755, 0o700, 0o777, 0o1777, 0o2755, 0o4755, 0o2775,
         0o640, 0o660, 0o1755, 0o007)
IDS = (0, 1000, 1001, -1)


def outcome(result=None, exc: BaseException | None = None):
    """A comparable form of what a call did: ``("ok", value)`` or ``("err", "EPERM")``."""
    if exc is not None:
        if isinstance(exc, OSError) and exc.errno:
            return ("err", errno_name(exc.errno))
        return ("raised", type(exc).__name__)
    if isinstance(result, os.stat_result):
        mode = result.st_mode
        is_dir = _stat.S_ISDIR(mode)
        return ("ok", {"mode": oct(mode), "uid": result.st_uid, "gid": result.st_gid,
                       "nlink": None if is_dir else result.st_nlink,
                       "size": result.st_size if _stat.S_ISLNK(mode) or _stat.S_ISREG(mode) else None,
                       "rdev": result.st_rdev if _stat.S_ISCHR(mode) or _stat.S_ISBLK(mode) else None})
    return ("ok", result)


def call(k, method: str, args: tuple):
    try:
        return outcome(getattr(k, method)(*args))
    except (OSError, ValueError, TypeError, OverflowError) as exc:
        return outcome(exc=exc)


@dataclass
class Step:
    caller: str
    method: str
    args: tuple

    def __str__(self):
        shown = []
        for a in self.args:
            if isinstance(a, bytes) and len(a) > 24:
                shown.append(f"<{len(a)} bytes {a[:8]!r}...>")
            elif isinstance(a, str) and len(a) > 40:
                shown.append(f"{a[:12]!r}...<{len(a)} chars>")
            elif isinstance(a, int) and not isinstance(a, bool) and 0o100 <= a < 0o200000 and self.method in (
                    "chmod", "mkdir", "mknod"):
                shown.append(oct(a))
            else:
                shown.append(repr(a))
        return f"[{self.caller}] {self.method}({', '.join(shown)})"


class OpSpace:
    """The calls a differential sequence is made of.

    ``next_step(choose)`` returns the next :class:`Step`; ``choose(options)``
    picks one element of a sequence (Hypothesis' ``sampled_from`` or a
    ``random.Random.choice``).  The space keeps a little state (open fds) so
    that fd calls mostly name open files.
    """

    #: Relative weights of the kinds of call.
    KINDS = (("xattr", 12), ("create", 5), ("attr", 4), ("caller", 3), ("delete", 1),
             ("fd", 2), ("flags", 1), ("stat", 1), ("mount", 1))

    def __init__(self, fs: str):
        self.fs = fs
        self.fds: list[int] = []
        self.caller = "root"
        self.readonly = 0  # steps left before the read-only mount is made writable again
        self.existing: set[str] = {BASE}
        self.attrs: dict = {}  # target -> names a set call succeeded with
        self.sizes_seen: set[int] = set()  # lengths size-0 queries returned
        self._fresh = 0
        self._kinds = [k for k, w in self.KINDS for _ in range(w)]

    def _path(self, choose, pool=None):
        """Mostly a path that exists (as far as the results showed), sometimes any."""
        pool = PATHS + DIRS if pool is None else pool
        known = sorted(p for p in self.existing if p in pool or p == BASE)
        if known and choose((True, True, True, False)):
            return choose(known)
        return choose(pool)

    def setup(self) -> list[Step]:
        """The start of every sequence: the work directory and a few files."""
        return [
            Step("root", "chmod", ("/", 0o755)),
            Step("root", "mkdir", (BASE, 0o777)),
            Step("root", "chmod", (BASE, 0o777)),
            Step("root", "mknod", (f"{BASE}/a", _stat.S_IFREG | 0o644, 0)),
            Step("root", "mkdir", (f"{BASE}/d", 0o755)),
            Step("root", "mkdir", (f"{BASE}/s", 0o1777)),
            Step("root", "chmod", (f"{BASE}/s", 0o1777)),
        ]

    def next_step(self, choose) -> Step:
        if self.readonly:
            self.readonly -= 1
            if not self.readonly:
                return Step("root", "remount", ("/", False))
        kind = choose(self._kinds)
        return getattr(self, "_" + kind)(choose)

    def _caller(self, choose):
        label = choose([c[0] for c in CALLERS])
        self.caller = label
        return Step(label, "become", ())

    def _xattr(self, choose):
        op = choose(("set", "set", "set", "get", "get", "list", "remove"))
        hows = ("", "", "l", "l", "f", "f") if self.fds else ("", "", "", "l", "l", "l", "f")
        how = choose(hows)
        method = f"{how}{op}xattr"
        if how == "f":
            target = choose(self.fds + [-100, 99]) if self.fds else choose((3, -100, 99))
        else:
            target = self._path(choose)
        if op == "list":
            return Step(self.caller, method, (target, self._size(choose)))
        if self.attrs and op != "set" and how != "f" and choose((True, True, False)):
            target = choose(sorted(self.attrs, key=str))
            name = choose(sorted(self.attrs[target]))
            method = f"{how}{op}xattr"
        else:
            name = choose(NAMES)
        if op == "set":
            value = choose(VALUES)
            if self.fs == "btrfs" and len(value) >= 8000:
                # Whether a btrfs value this large can later be replaced depends on the
                # B-tree leaf layout, which the model only estimates (docs/rules.md): such
                # values go to a name nothing else uses, so they are never replaced.
                self._fresh += 1
                name = f"user.big{self._fresh}"
            return Step(self.caller, method, (target, name, value, choose(FLAGS)))
        if op == "get":
            return Step(self.caller, method, (target, name, self._size(choose)))
        return Step(self.caller, method, (target, name))

    def _size(self, choose):
        """A buffer size: a usual one, or one around a length a size-0 query returned."""
        if self.sizes_seen and choose((True, False, False)):
            n = choose(sorted(self.sizes_seen))
            return max(0, n + choose((-1, 0, 0, 1)))
        return choose(SIZES)

    def _create(self, choose):
        kind = choose(("file", "file", "dir", "fifo", "symlink", "symlink", "link", "chr", "blk", "sock"))
        path = choose(PATHS + DIRS)
        if kind == "dir":
            return Step(self.caller, "mkdir", (path, choose(MODES)))
        if kind == "symlink":
            target = choose(("a", "d", "../a", f"{BASE}/a", f"{BASE}/d", "missing", "l", "/", "b/"))
            return Step(self.caller, "symlink", (target, path))
        if kind == "link":
            return Step(self.caller, "link", (self._path(choose, PATHS), path))
        fmt = {"file": _stat.S_IFREG, "fifo": _stat.S_IFIFO, "chr": _stat.S_IFCHR,
               "blk": _stat.S_IFBLK, "sock": _stat.S_IFSOCK}[kind]
        return Step(self.caller, "mknod", (path, fmt | choose(MODES), 0))

    def _attr(self, choose):
        what = choose(("chmod", "chmod", "chown", "lchown", "umask"))
        if what == "umask":
            return Step(self.caller, "umask", (choose((0, 0o022, 0o077, 0o002)),))
        path = self._path(choose)
        if what == "chmod":
            return Step(self.caller, "chmod", (path, choose(MODES)))
        return Step(self.caller, what, (path, choose(IDS), choose(IDS)))

    def _delete(self, choose):
        what = choose(("unlink", "rmdir", "rename"))
        if what == "rename":
            return Step(self.caller, "rename", (self._path(choose), choose(PATHS + DIRS)))
        return Step(self.caller, what, (self._path(choose),))

    def _fd(self, choose):
        if self.fds and choose((True, False)):
            return Step(self.caller, "close", (choose(self.fds),))
        flags = choose((os.O_RDONLY, os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_NONBLOCK,
                        getattr(os, "O_PATH", 0o10000000), os.O_RDONLY | os.O_DIRECTORY,
                        os.O_WRONLY | os.O_CREAT, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                        os.O_WRONLY | os.O_APPEND, os.O_RDONLY | os.O_NOFOLLOW,
                        os.O_WRONLY | os.O_TRUNC))
        # O_NONBLOCK always: a blocking open of a FIFO would wait forever for a peer.
        return Step(self.caller, "open", (self._path(choose), flags | os.O_NONBLOCK, choose(MODES)))

    def _flags(self, choose):
        return Step(self.caller, "set_flags", (self._path(choose), choose((True, False)),
                                               choose((False, False, True))))

    def _stat(self, choose):
        return Step(self.caller, choose(("stat", "lstat")), (self._path(choose),))

    def _mount(self, choose):
        self.readonly = choose((1, 2, 3, 5))
        return Step("root", "remount", ("/", True))

    def observe(self, step: Step, result):
        """Track fds and paths created and removed (by the results both backends agreed on)."""
        if result[0] != "ok":
            if step.method == "remount" and step.args[1]:
                self.readonly = 0
            return
        method, args = step.method, step.args
        if method.endswith(("getxattr", "listxattr")) and args[-1] == 0 and result[1]:
            self.sizes_seen.add(result[1])
        if method.endswith("setxattr") and not method.startswith("f"):
            self.attrs.setdefault(args[0], set()).add(args[1])
        elif method == "open":
            self.fds.append(result[1])
        elif method == "close" and args[0] in self.fds:
            self.fds.remove(args[0])
        elif method in ("mkdir", "mknod"):
            self.existing.add(args[0])
        elif method in ("symlink", "link"):
            self.existing.add(args[1])
        elif method in ("unlink", "rmdir"):
            self.existing.discard(args[0])
            self.existing = {p for p in self.existing if not p.startswith(args[0] + "/")}
        elif method == "rename":
            old, new = args
            moved = {p for p in self.existing if p == old or p.startswith(old + "/")}
            self.existing -= moved
            self.existing |= {new + p[len(old):] for p in moved}


def _caller_args(label):
    for c in CALLERS:
        if c[0] == label:
            return c[1:]
    raise KeyError(label)


class Pair:
    """Two backends driven in lockstep; each step runs as its caller on both."""

    def __init__(self, a, b, names=("model", "kernel")):
        self.a, self.b = a, b
        self.names = names

    def run(self, step: Step):
        if step.method == "become":
            return ("ok", None), ("ok", None)
        results = []
        for k in (self.a, self.b):
            uid, gid, groups, caps = _caller_args(step.caller)
            with k.become(uid, gid, groups, caps):
                results.append(call(k, step.method, step.args))
        return tuple(results)


@dataclass
class Mismatch:
    """Two backends disagreed: on which call, after which calls, with what results."""

    fs: str
    steps: list
    index: int
    results: tuple
    names: tuple = ("model", "kernel")

    def __str__(self):
        lines = [f"{self.fs}: step {self.index} disagrees: {self.steps[self.index]}"]
        for name, res in zip(self.names, self.results):
            lines.append(f"    {name:>7}: {res}")
        lines.append("  after:")
        for s in self.steps[: self.index]:
            lines.append(f"    {s}")
        return "\n".join(lines)


def run_sequence(pair: Pair, space: OpSpace, choose, length: int, fs: str) -> Mismatch | None:
    """Drive one sequence; return the first mismatch, or None."""
    steps: list[Step] = []
    for step in space.setup() + [None] * length:
        if step is None:
            step = space.next_step(choose)
        steps.append(step)
        ra, rb = pair.run(step)
        if ra != rb:
            return Mismatch(fs, steps, len(steps) - 1, (ra, rb), pair.names)
        space.observe(step, ra)
    return None


def run_random(make_pair, fs: str, sequences: int, length: int = 40, seed: int = 0,
               progress=None) -> tuple[int, list[Mismatch]]:
    """Run ``sequences`` seeded random sequences; returns (calls compared, mismatches).

    ``make_pair()`` is a context manager yielding a fresh :class:`Pair`.
    """
    mismatches = []
    calls = 0
    for i in range(sequences):
        rng = random.Random(f"{seed}:{fs}:{i}")
        space = OpSpace(fs)
        with make_pair() as pair:
            found = run_sequence(pair, space, rng.choice, length, fs)
        calls += found.index + 1 if found else len(space.setup()) + length
        if found:
            mismatches.append(found)
        if progress:
            progress(i + 1, calls, len(mismatches))
    return calls, mismatches


def differential_machine(make_pair, fs: str):
    """A Hypothesis state machine class driving ``make_pair()``'s backends in lockstep.

    ``TestX = differential_machine(make_pair, "tmpfs").TestCase`` makes it a test.
    """
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

    class Machine(DifferentialMachine, RuleBasedStateMachine):
        _fs = fs

        @initialize()
        def start(self):
            self._stack = contextlib.ExitStack()
            self.pair = self._stack.enter_context(make_pair())
            self.space = OpSpace(fs)
            self.steps = []
            for step in self.space.setup():
                self._do(step)

        @rule(data=st.data())
        def step(self, data):
            def choose(options):
                # draw an index, not the option: failing examples print small numbers
                options = list(options)
                return options[data.draw(st.integers(0, len(options) - 1))]

            self._do(self.space.next_step(choose))

        def teardown(self):
            stack = getattr(self, "_stack", None)
            if stack is not None:
                stack.close()

    Machine.__name__ = Machine.__qualname__ = f"Differential_{fs}"
    return Machine


class DifferentialMachine:
    """Mixin with the comparison; see :func:`differential_machine`."""

    def _do(self, step: Step):
        self.steps.append(step)
        ra, rb = self.pair.run(step)
        if ra != rb:
            raise AssertionError(str(Mismatch(self._fs, self.steps, len(self.steps) - 1, (ra, rb),
                                              self.pair.names)))
        self.space.observe(step, ra)
