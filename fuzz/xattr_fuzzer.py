#!/usr/bin/env python3
"""xattr: any syscall sequence keeps SimKernel consistent: listxattr and getxattr agree, capacity accounting stays in bounds."""

import os
import sys

# A checkout's own fsmodel comes before an installed one (libFuzzer re-executes this file).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_ROOT, "fsmodel", "__init__.py")):
    sys.path.insert(0, _ROOT)

from fsmodel.fuzzing.targets import main  # noqa: E402

if __name__ == "__main__":
    main("xattr")
