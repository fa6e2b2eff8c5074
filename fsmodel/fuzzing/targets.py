"""The fuzz targets, and ``main(name)`` which runs libFuzzer (atheris) on one of them.

``TARGETS`` maps a name to a :class:`Target`; ``fuzz/<name>_fuzzer.py`` is
``main("<name>")`` and nothing else, and ``fsmodel fuzz`` runs the same.

Instrumentation (research/ecosystem.md §2.5): ``atheris.instrument_imports`` only
patches modules *first imported* inside its block.  Importing this module loads the
harness and the mutator (which import no code under test) and the package
``fsmodel`` itself, whose ``__init__`` loads the rules and the simulated kernel.  So
:func:`instrument` does two things: it imports the target's modules (``Target.modules``:
the layer code, the differential driver, ``tarfile`` for the reader's oracle) inside
``instrument_imports``, then patches, in place with ``atheris.instrument_func``, every
function of the fsmodel modules that were already loaded (what ``instrument_all``
does, restricted to fsmodel).  ``fsmodel.fuzzing`` itself is never instrumented: its
coverage is the harness's, not the code's.  Nor are a target's ``uninstrumented``
packages (the layer target's simulated kernel), unless the environment sets
``FSMODEL_FUZZ_INSTRUMENT_ALL=1``.  A module of ``Target.modules`` outside
fsmodel that is already imported cannot be instrumented any more, and is an error.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass

from . import harnesses, mutator

__all__ = ["TARGETS", "Target", "dictionary_text", "instrument", "main", "options_text"]


@dataclass(frozen=True)
class Target:
    """One fuzz target.

    ``test_one_input(data)`` returns or raises (a crash); ``custom_mutator(data, max_size,
    seed)`` and ``custom_crossover(data1, data2, max_out_size, seed)`` are handed to
    ``atheris.Setup`` (None: libFuzzer's own); ``needs_root`` targets mount filesystems;
    ``max_len`` (bytes) and ``timeout`` (seconds per input) are the libFuzzer defaults;
    ``dictionary`` the tokens of its ``-dict`` file; ``modules`` what ``main`` imports
    inside the instrumentation block; ``uninstrumented`` fsmodel packages left out of
    the coverage feedback (besides ``fsmodel.fuzzing``, never instrumented).
    """

    name: str
    test_one_input: Callable[[bytes], None]
    custom_mutator: Callable | None
    custom_crossover: Callable | None
    needs_root: bool
    max_len: int
    timeout: int
    dictionary: tuple[bytes, ...]
    modules: tuple[str, ...] = ()
    uninstrumented: tuple[str, ...] = ()

    @property
    def invariant(self) -> str:
        """The one-line statement of what the target checks."""
        return _INVARIANTS[self.name]


_INVARIANTS = {
    "layer": "any bytes are applied inside the root or rejected (MalformedLayer, UnsafeEntry, "
             "the policy's ExtractionFailed); nothing outside the root changes, no user.* "
             "xattr sits on a special file, every hardlink resolves.",
    "reader": "the reader raises only MalformedLayer, reads the same whole and chunked, and "
              "reads what tarfile reads where both accept (documented differences aside).",
    "xattr": "any syscall sequence keeps SimKernel consistent: listxattr and getxattr agree, "
             "capacity accounting stays within the filesystem's limits.",
    "kernel_diff": "SimKernel and the real kernel (tmpfs) give the same result and errno for "
                   "every call of any syscall sequence.",
}

#: choice streams for FuzzedDataProvider: runs that pick the first or the last option
_CHOICE_TOKENS = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x00\x01\x00")
_LAYER_MODULES = ("fsmodel.layer.errors", "fsmodel.layer.ops", "fsmodel.layer.reader",
                  "fsmodel.layer.policies", "fsmodel.layer.apply", "fsmodel.layer.hosts")

TARGETS: dict[str, Target] = {t.name: t for t in (
    # The extractor and the rules are the layer target's code under test; the simulated
    # kernel's own code (path walks, lookup caches, inode and fd tables) is its host,
    # fuzzed by the xattr and kernel_diff targets.  Its branches say how the simulator
    # reached an answer (a cache hit, a remembered parent), not what the answer was,
    # which the rules' branches do say; instrumenting it costs a tenth to a quarter of
    # the target's exec/s (bench/bench_fuzz.py --instrument-all).
    Target("layer", harnesses.layer_one_input, mutator.mutate, mutator.crossover,
           needs_root=False, max_len=65536, timeout=25, dictionary=mutator.DICTIONARY,
           modules=_LAYER_MODULES, uninstrumented=("fsmodel._sim",)),
    Target("reader", harnesses.reader_one_input, mutator.mutate, mutator.crossover,
           needs_root=False, max_len=65536, timeout=25, dictionary=mutator.DICTIONARY,
           modules=("fsmodel.layer.errors", "fsmodel.layer.ops", "fsmodel.layer.reader",
                    "tarfile")),
    Target("xattr", harnesses.xattr_one_input, None, None, needs_root=False, max_len=4096,
           timeout=25, dictionary=_CHOICE_TOKENS, modules=("fsmodel.testing.differential",)),
    Target("kernel_diff", harnesses.kernel_diff_one_input, None, None, needs_root=True,
           max_len=4096, timeout=60, dictionary=_CHOICE_TOKENS,
           modules=("fsmodel.testing.differential", "fsmodel.testing.backends",
                    "fsmodel.crosscheck", "fsmodel.host", "fsmodel._mounts")),
)}


def token_text(token: bytes) -> str:
    """One libFuzzer dictionary token: quoted, every byte outside printable ASCII (and
    ``"``, ``\\``) written ``\\xNN``."""
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}"
                      for b in bytes(token))
    return f'"{escaped}"'


def dictionary_text(target: Target) -> str:
    """The target's libFuzzer ``-dict`` file."""
    lines = [f"# {target.name}_fuzzer: generated from fsmodel.fuzzing.targets by "
             f"fuzz/make_seeds.py; do not edit"]
    lines += [f"kw{i}={token_text(token)}" for i, token in enumerate(target.dictionary)]
    return "\n".join(lines) + "\n"


def options_text(target: Target) -> str:
    """The target's ``.options`` file (OSS-Fuzz / ClusterFuzzLite)."""
    return (f"[libfuzzer]\nmax_len = {target.max_len}\ntimeout = {target.timeout}\n"
            f"dict = {target.name}_fuzzer.dict\n")


def _fuzzing_module(name: str) -> bool:
    return name == __package__ or name.startswith(__package__ + ".")


def instrument(target: Target) -> int:
    """Instrument fsmodel (and ``target.modules``) for coverage; returns how many
    already-loaded functions were patched in place (see the module docstring)."""
    import atheris

    for name in target.modules:
        if name.split(".")[0] != "fsmodel" and name in sys.modules:
            raise RuntimeError(f"{name} was imported before the instrumentation block: atheris "
                               f"cannot instrument it (import nothing of it before main())")
    skipped = () if os.environ.get("FSMODEL_FUZZ_INSTRUMENT_ALL") == "1" else target.uninstrumented

    def left_out(name: str) -> bool:
        return _fuzzing_module(name) or any(name == p or name.startswith(p + ".")
                                            for p in skipped)

    loaded = {name for name in sys.modules
              if (name == "fsmodel" or name.startswith("fsmodel.")) and not left_out(name)}
    packages = sorted({name.split(".")[0] for name in target.modules} | {"fsmodel"})
    excluded = sorted(name for name in sys.modules if left_out(name)) + list(skipped)
    with atheris.instrument_imports(include=packages, exclude=excluded):
        for name in target.modules:
            importlib.import_module(name)
    patched = 0
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and getattr(obj, "__module__", None) in loaded:
            atheris.instrument_func(obj)
            patched += 1
    return patched


def _flag(argv: list[str], name: str) -> bool:
    return any(arg.startswith(f"-{name}=") for arg in argv[1:])


def _with_defaults(target: Target, argv: list[str]) -> list[str]:
    """``argv`` plus the target's ``-max_len``, ``-timeout`` and ``-dict`` unless given.
    The dictionary is the ``.dict`` beside the script when there is one (a checkout),
    else a temporary file (an installed package)."""
    argv = list(argv)
    if not _flag(argv, "max_len"):
        argv.append(f"-max_len={target.max_len}")
    if not _flag(argv, "timeout"):
        argv.append(f"-timeout={target.timeout}")
    if target.dictionary and not _flag(argv, "dict"):
        beside = os.path.join(os.path.dirname(os.path.abspath(argv[0])),
                              f"{target.name}_fuzzer.dict") if argv else ""
        if not (beside and os.path.isfile(beside)):
            fd, beside = tempfile.mkstemp(prefix=f"fsmodel-{target.name}-", suffix=".dict")
            with os.fdopen(fd, "w") as f:
                f.write(dictionary_text(target))
        argv.append(f"-dict={beside}")
    return argv


def main(name: str, argv: list[str] | None = None) -> None:
    """Fuzz the target ``name`` with libFuzzer; ``argv`` (default ``sys.argv``: its first
    item must be the executable script, which libFuzzer re-executes for ``-fork`` and
    ``-jobs``) holds libFuzzer's flags and corpus directories. Never returns."""
    import atheris

    target = TARGETS[name]
    argv = _with_defaults(target, sys.argv if argv is None else argv)
    if target.needs_root:
        harnesses.private_mounts()   # what it mounts cannot outlive the process
    patched = instrument(target)
    print(f"INFO: fsmodel.fuzzing: target {name}; instrumented {', '.join(target.modules)} "
          f"on import and {patched} functions already loaded", file=sys.stderr)
    atheris.Setup(argv, target.test_one_input, custom_mutator=target.custom_mutator,
                  custom_crossover=target.custom_crossover)
    atheris.Fuzz()
