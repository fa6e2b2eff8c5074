"""Regenerate docs/matrix/: matrix.md (every filesystem) and one picture per filesystem.

    python docs/matrix/generate.py            # the model only
    python docs/matrix/generate.py --verify   # as root: also check every cell on this kernel

The same files come from the command line:
    fsmodel matrix --format md --output docs/matrix/matrix.md [--verify]
    fsmodel matrix --format png --output 'docs/matrix/{fs}.png'
tests/unit/test_matrix.py checks that matrix.md is current.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))   # this checkout's fsmodel

from fsmodel.matrix import FILESYSTEMS, compute_matrix, render, verify_on_host


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true",
                        help="run every cell on this machine's kernel too (root)")
    parser.add_argument("--out", default=HERE, help="directory to write (default: docs/matrix)")
    parser.add_argument("--fs", action="append", choices=FILESYSTEMS,
                        help="draw only this filesystem's picture (repeatable; default: all)")
    args = parser.parse_args(argv)
    matrix = compute_matrix()
    if args.verify:
        matrix, problems = verify_on_host(matrix)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
    with open(os.path.join(args.out, "matrix.md"), "wb") as f:
        f.write(render(matrix, "md"))
    for fs in args.fs or matrix.filesystems:
        with open(os.path.join(args.out, f"{fs}.png"), "wb") as f:
            f.write(render(matrix.only(fs), "png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
