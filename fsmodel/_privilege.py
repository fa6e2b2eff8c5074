"""Can this process run the real-kernel tests and `fsmodel crosscheck`?"""

from __future__ import annotations

import os

CAP_SYS_ADMIN = 21


def effective_caps() -> int:
    """The effective capability mask of this process, from /proc/self/status."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def privilege_problem() -> str | None:
    """None if we can mount scratch filesystems and switch credentials, else why not.

    Being uid 0 is not enough: containers can be root without CAP_SYS_ADMIN.
    """
    if not os.path.exists("/proc/self/status"):
        return "not running on Linux"
    if os.geteuid() != 0:
        return "needs root (uid 0) with CAP_SYS_ADMIN; running as uid %d" % os.geteuid()
    if not effective_caps() >> CAP_SYS_ADMIN & 1:
        return "running as root but without CAP_SYS_ADMIN (a restricted container?)"
    return None
