#!/usr/bin/env python3
"""bench baseline: tarfile.open and iterating the members, nothing else (never crashes)."""

import io
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_ROOT, "fsmodel", "__init__.py")):
    sys.path.insert(0, _ROOT)

import atheris  # noqa: E402

from fsmodel.fuzzing import mutator  # noqa: E402  (the layer fuzzer's mutator, uninstrumented)

assert "tarfile" not in sys.modules, "tarfile must first be imported inside the block"
with atheris.instrument_imports(include=["tarfile"]):
    import tarfile


def test_one_input(data: bytes) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for _ in archive:
                pass
    except Exception:  # noqa: BLE001 - a throughput baseline: tarfile's leaks are not the point
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=mutator.mutate,
                  custom_crossover=mutator.crossover)
    atheris.Fuzz()
