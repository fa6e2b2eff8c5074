#!/usr/bin/env python3
"""os.setxattr under fake_linux() against plain pyfakefs and the real kernel, side by side.

Prints, from one run, the median cost per call of ``os.setxattr`` (and
``os.getxattr``) in three worlds: the real kernel on a tmpfs file
(``/dev/shm``), plain pyfakefs (its ``Patcher``), and ``fsmodel.fake_linux()``
— and the ratio fake_linux / plain pyfakefs (goal: at most 1.25).  The same
path depth everywhere.  Medians over ``--repeat`` rounds; compare ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from pyfakefs.fake_filesystem_unittest import Patcher

from _timing import per_call
from fsmodel import fake_linux




def measure(path, number, repeat):
    value = b"value"
    os.setxattr(path, "user.bench", value)
    return (per_call(lambda: os.setxattr(path, "user.bench", value), number, repeat),
            per_call(lambda: os.getxattr(path, "user.bench"), number, repeat))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--number", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fsmodel-bench-") as d:
        path = os.path.join(d, "f")
        open(path, "w").close()
        try:
            kernel = measure(path, args.number, args.repeat)
        except OSError as exc:
            print(f"bench: {args.dir} takes no user.* xattrs ({exc.strerror})", file=sys.stderr)
            return 2

    def in_fake():
        os.makedirs(os.path.dirname(path))
        with open(path, "w"):
            pass
        return measure(path, args.number, args.repeat)

    with Patcher():
        plain = in_fake()
    with fake_linux("tmpfs"):
        model = in_fake()

    print(f"path {path!r}, {args.repeat} x {args.number} calls, median µs per call")
    print(f"{'call':<10} {'kernel':>8} {'pyfakefs':>9} {'fake_linux':>11} "
          f"{'fake_linux/pyfakefs':>20} {'fake_linux/kernel':>18}")
    for i, call in enumerate(("setxattr", "getxattr")):
        print(f"{call:<10} {kernel[i]:>8.2f} {plain[i]:>9.2f} {model[i]:>11.2f} "
              f"{model[i] / plain[i]:>20.2f} {model[i] / kernel[i]:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
