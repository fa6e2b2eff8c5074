#!/usr/bin/env python3
"""bench helper: milliseconds per input of one side of bench_fuzz.py on a fixed set of inputs.

    python bench/_replay.py layer|tarfile DIR [--passes 3]

The side's harness is instrumented exactly as under libFuzzer (the layer target through
fsmodel.fuzzing.targets.instrument, tarfile by importing bench/_tarfile_fuzzer.py), every
file of DIR is run once to warm up, then ``--passes`` times; prints the fastest pass's
mean time per input in ms.  No mutator, no libFuzzer: the same inputs on both sides.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def harness(side: str):
    if side == "layer":
        from fsmodel.fuzzing import targets

        targets.instrument(targets.TARGETS["layer"])
        return targets.TARGETS["layer"].test_one_input
    spec = importlib.util.spec_from_file_location("_tarfile_fuzzer",
                                                  ROOT / "bench" / "_tarfile_fuzzer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.test_one_input


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=("layer", "tarfile"))
    parser.add_argument("inputs", type=Path)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    run = harness(args.side)
    inputs = [p.read_bytes() for p in sorted(args.inputs.iterdir()) if p.is_file()]
    if not inputs:
        raise SystemExit(f"no inputs in {args.inputs}")
    for data in inputs:
        run(data)
    best = float("inf")
    for _ in range(args.passes):
        start = time.perf_counter()
        for data in inputs:
            run(data)
        best = min(best, time.perf_counter() - start)
    print(f"{best / len(inputs) * 1e3:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
