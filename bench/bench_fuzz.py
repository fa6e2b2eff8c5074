#!/usr/bin/env python3
"""Throughput of the ``layer`` fuzzer against a bare tarfile harness, in one run.

    python bench/bench_fuzz.py [--seconds 20] [--runs 3]

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


def run(script: Path, seconds: int, seed: int, env: dict | None = None) -> float:
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
        return float(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of one run (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--instrument-all", action="store_true",
                        help="also run the layer target with the simulated kernel instrumented")
    args = parser.parse_args(argv)
    sides = {**SIDES, **(ALL if args.instrument_all else {})}
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for i in range(args.runs):
        for side, (script, env) in sides.items():
            rates[side].append(run(script, args.seconds, seed=1000 + i, env=env))
            print(f"run {i + 1}/{args.runs} {side:>9}: {rates[side][-1]:8.0f} exec/s", flush=True)
    median = {side: statistics.median(r) for side, r in rates.items()}
    layer, bare = median["layer"], median["tarfile"]
    print(f"\nmedian over {args.runs} runs of {args.seconds} s (custom tar mutator on both sides):")
    print(f"  layer_fuzzer (fsmodel reader + applier + SimKernel + invariants): {layer:8.0f} exec/s")
    print(f"  bare harness (tarfile.open + iterate members):                    {bare:8.0f} exec/s")
    ratio = layer / bare if bare else float("nan")
    print(f"  ratio layer/bare: {ratio:.2f}x (goal >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")
    if "layer+sim" in median:
        every = median["layer+sim"]
        print(f"  layer_fuzzer, simulated kernel instrumented too:                   {every:8.0f} "
              f"exec/s ({every / bare:.2f}x the bare harness)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
