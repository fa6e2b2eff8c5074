#!/usr/bin/env python3
"""layer: any bytes are applied inside the root or rejected; nothing outside the root changes, no user.* xattr sits on a special file, every hardlink resolves."""

import os
import sys

# A checkout's own fsmodel comes before an installed one (libFuzzer re-executes this file).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_ROOT, "fsmodel", "__init__.py")):
    sys.path.insert(0, _ROOT)

from fsmodel.fuzzing.targets import main  # noqa: E402

if __name__ == "__main__":
    main("layer")
