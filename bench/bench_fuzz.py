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

The machine is shared and noisy: compare the ratio, not absolute figures.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDES = {"layer": ROOT / "fuzz" / "layer_fuzzer.py", "tarfile": ROOT / "bench" / "_tarfile_fuzzer.py"}


def run(script: Path, seconds: int, seed: int) -> float:
    with tempfile.TemporaryDirectory(prefix="fsmodel-bench-fuzz-") as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus" / "layer", corpus,
                        ignore=shutil.ignore_patterns("regressions"))
        result = subprocess.run(
            [str(script), str(corpus), f"-max_total_time={seconds}", "-print_final_stats=1",
             f"-seed={seed}", "-max_len=65536", f"-dict={ROOT / 'fuzz' / 'layer_fuzzer.dict'}",
             f"-artifact_prefix={tmp}/"],
            capture_output=True, text=True, timeout=seconds * 4 + 60, cwd=tmp)
        found = re.search(r"stat::average_exec_per_sec:\s+(\d+)", result.stderr)
        if result.returncode != 0 or not found:
            raise SystemExit(f"{script.name} failed (rc {result.returncode}):\n"
                             f"{result.stderr[-2000:]}")
        return float(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of one run (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    for i in range(args.runs):
        for side, script in SIDES.items():
            rates[side].append(run(script, args.seconds, seed=1000 + i))
            print(f"run {i + 1}/{args.runs} {side:>7}: {rates[side][-1]:8.0f} exec/s", flush=True)
    layer, bare = (statistics.median(rates[s]) for s in ("layer", "tarfile"))
    print(f"\nmedian over {args.runs} runs of {args.seconds} s (custom tar mutator on both sides):")
    print(f"  layer_fuzzer (fsmodel reader + applier + SimKernel + invariants): {layer:8.0f} exec/s")
    print(f"  bare harness (tarfile.open + iterate members):                    {bare:8.0f} exec/s")
    ratio = layer / bare if bare else float("nan")
    print(f"  ratio layer/bare: {ratio:.2f}x (goal >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
