#!/usr/bin/env python3
"""SimKernel's setxattr/getxattr against the real kernel's on tmpfs, side by side.

Prints, from one run, the median cost per call of each and the ratio
model / kernel (goal: <= 1.0, the model no slower than asking the kernel).
The kernel side is ``os.setxattr``/``os.getxattr`` on a file in a tmpfs
(``/dev/shm`` unless ``--dir`` names another tmpfs directory); the model side
is a :class:`fsmodel.SimKernel` of the tmpfs profile with the same path depth.
Medians over ``--repeat`` rounds of ``--number`` calls each; the machine is
noisy, so compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile

import fsmodel
from _timing import per_call




def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/dev/shm", help="a tmpfs directory for the kernel side")
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fsmodel-bench-") as d:
        real = os.path.join(d, "f")
        open(real, "w").close()
        try:
            os.setxattr(real, "user.bench", b"value")
        except OSError as exc:
            print(f"bench: {args.dir} does not take user.* xattrs ({exc.strerror}); "
                  "use --dir on a tmpfs of Linux >= 6.6", file=sys.stderr)
            return 2
        depth = real.count("/") - 1
        sim = fsmodel.SimKernel("tmpfs")
        parts = ["", *real.strip("/").split("/")[:-1]]
        for i in range(2, len(parts) + 1):
            sim.mkdir("/".join(parts[:i]) or "/", 0o755)
        sim.mknod(real, stat.S_IFREG | 0o644)
        sim.setxattr(real, "user.bench", b"value")

        value = b"value"
        rows = [
            ("setxattr", lambda: os.setxattr(real, "user.bench", value),
             lambda: sim.setxattr(real, "user.bench", value)),
            ("getxattr", lambda: os.getxattr(real, "user.bench"),
             lambda: sim.getxattr(real, "user.bench")),
            ("lsetxattr", lambda: os.setxattr(real, "user.bench", value, follow_symlinks=False),
             lambda: sim.lsetxattr(real, "user.bench", value)),
            ("listxattr", lambda: os.listxattr(real), lambda: sim.listxattr(real)),
        ]
        print(f"path {real!r} ({depth} directories deep), {args.repeat} x {args.number} calls, "
              f"median µs per call")
        print(f"{'call':<10} {'kernel (tmpfs)':>15} {'SimKernel':>10} {'ratio':>7}")
        for name, kernel_fn, sim_fn in rows:
            k = per_call(kernel_fn, args.number, args.repeat)
            s = per_call(sim_fn, args.number, args.repeat)
            print(f"{name:<10} {k:>15.2f} {s:>10.2f} {s / k:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
