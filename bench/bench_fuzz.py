#!/usr/bin/env python3
"""Throughput of the ``layer`` fuzzer against a bare tarfile harness, in one run.

    python bench/bench_fuzz.py [--seconds 20] [--runs 5]

Both sides run under libFuzzer (atheris) for a fixed time, ``--runs`` times each,
interleaved, and the median ``stat::average_exec_per_sec`` (``-print_final_stats=1``) of
each is printed with their ratio; the goal is layer ≥ 0.5× the bare harness.  What is
held equal:

* instrumentation: ``atheris.instrument_imports`` of the code under test on both sides —
  fsmodel for ``fuzz/layer_fuzzer.py`` (see fsmodel.fuzzing.targets), ``tarfile`` for
  ``bench/_tarfile_fuzzer.py``, which only opens the archive and iterates its members;
* the corpus: a fresh copy of ``corpus/layer/`` seeds (no regressions) for every run;
* the mutator: fsmodel.fuzzing.mutator's tar-aware ``mutate``/``crossover`` on both
  sides, with ``-dict=fuzz/layer_fuzzer.dict``, ``-max_len=65536`` and the same
  ``-seed`` per run index.

What is instrumented is each side's code under test: for the layer target the reader,
applier, policies and the rules, not the simulated kernel's own code (see
fsmodel.fuzzing.targets).  ``--instrument-all`` adds a third side, the layer target with
the simulated kernel instrumented too (``FSMODEL_FUZZ_INSTRUMENT_ALL=1``), to show
what that choice costs.

What is not held equal is the inputs: each side keeps what gives it new coverage, and
the layer target, with more code under test, keeps more and larger layers.  So the
bench then replays the corpus each side grew in its last run through both harnesses
(``bench/_replay.py``: instrumented the same way, no mutator, no libFuzzer) and prints
the time per input on the same inputs beside the exec/s.

The machine is shared and noisy: compare the ratio, not absolute figures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: side -> (script, extra environment)
SIDES = {"layer": (ROOT / "fuzz" / "layer_fuzzer.py", {}),
         "tarfile": (ROOT / "bench" / "_tarfile_fuzzer.py", {})}
ALL = {"layer+sim": (ROOT / "fuzz" / "layer_fuzzer.py", {"FSMODEL_FUZZ_INSTRUMENT_ALL": "1"})}


def run(script: Path, seconds: int, seed: int, env: dict | None = None,
        keep: Path | None = None) -> float:
    """The run's exec/s; ``keep``: where to copy the corpus it grew."""
    with tempfile.TemporaryDirectory(prefix="fsmodel-bench-fuzz-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus" / "layer", corpus,
                        ignore=shutil.ignore_patterns("regressions"))
        result = subprocess.run(
            [str(script), str(corpus), f"-max_total_time={seconds}", "-print_final_stats=1",
             f"-seed={seed}", "-max_len=65536", f"-dict={ROOT / 'fuzz' / 'layer_fuzzer.dict'}",
             f"-artifact_prefix={tmp}/"],
            capture_output=True, text=True, timeout=seconds * 4 + 60, cwd=tmp,
            env={**os.environ, "FSMODEL_FUZZ_INSTRUMENT_ALL": "0", **(env or {})})
        found = re.search(r"stat::average_exec_per_sec:\s+(\d+)", result.stderr)
        if result.returncode != 0 or not found:
            raise SystemExit(f"{script.name} failed (rc {result.returncode}):\n"
                             f"{result.stderr[-2000:]}")
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(corpus, keep)
        return float(found[1])


def replay(side: str, inputs: Path) -> float:
    """ms per input of ``side``'s harness on the files of ``inputs``."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "_replay.py"), side,
                             str(inputs)], capture_output=True, text=True, timeout=1800,
                            env={**os.environ, "FSMODEL_FUZZ_INSTRUMENT_ALL": "0"})
    if result.returncode != 0:
        raise SystemExit(f"replaying {inputs} on {side} failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of one run (default 20)")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    parser.add_argument("--instrument-all", action="store_true",
                        help="also run the layer target with the simulated kernel instrumented")
    args = parser.parse_args(argv)
    sides = {**SIDES, **(ALL if args.instrument_all else {})}
    with tempfile.TemporaryDirectory(prefix="fsmodel-bench-grown-") as tmp:
        grown = Path(tmp)   # the corpus each side grew in its last run
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for i in range(args.runs):
            for side, (script, env) in sides.items():
                keep = grown / side if i == args.runs - 1 and side in SIDES else None
                rates[side].append(run(script, args.seconds, seed=1000 + i, env=env, keep=keep))
                print(f"run {i + 1}/{args.runs} {side:>9}: {rates[side][-1]:8.0f} exec/s",
                      flush=True)
        median = {side: statistics.median(r) for side, r in rates.items()}
        layer, bare = median["layer"], median["tarfile"]
        print(f"\nmedian over {args.runs} runs of {args.seconds} s (custom tar mutator on both "
              f"sides):")
        print(f"  layer_fuzzer (fsmodel reader + applier + SimKernel + invariants): {layer:8.0f} "
              f"exec/s")
        print(f"  bare harness (tarfile.open + iterate members):                    {bare:8.0f} "
              f"exec/s")
        ratio = layer / bare if bare else float("nan")
        print(f"  ratio layer/bare: {ratio:.2f}x (goal >= 0.5x: "
              f"{'met' if ratio >= 0.5 else 'NOT met'})")
        if "layer+sim" in median:
            every = median["layer+sim"]
            print(f"  layer_fuzzer, simulated kernel instrumented too:                   "
                  f"{every:8.0f} exec/s ({every / bare:.2f}x the bare harness)")
        print("\nthe same inputs through both harnesses (instrumented alike, no mutator):")
        for grower in SIDES:
            inputs = grown / grower
            ms = {side: replay(side, inputs) for side in SIDES}
            count = sum(1 for p in inputs.iterdir() if p.is_file())
            print(f"  the corpus {grower} grew ({count} files): layer {ms['layer']:.3f} ms, "
                  f"tarfile {ms['tarfile']:.3f} ms per input; "
                  f"ratio {ms['tarfile'] / ms['layer']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
