"""fsmodel: Linux extended-attribute semantics, testable without root.

* :class:`SimKernel` — an in-memory Linux whose every errno comes from the
  rules (``fsmodel._rules``), each verdict naming the rule, a reason and the
  kernel source.
* :class:`HostKernel` — the same interface executed by the real kernel in a
  directory (root only), so any call sequence can run on both and be compared.
* :func:`explain` — what one xattr call returns on a given file, filesystem,
  caller and kernel, and why.
* :func:`fake_linux` — pyfakefs with the same rules: Python's own ``os``
  behaves as on ext4/tmpfs/xfs/btrfs in anyone's tests (also the ``linux_fs``
  pytest fixture).
"""

from ._rules.codecs import acl_value, fcaps_value
from ._rules.constants import XATTR_CREATE, XATTR_REPLACE
from ._rules.verdict import Check, Rule, Verdict
from ._sim.kernel import SimKernel
from .explain import explain

__all__ = [
    "Check",
    "HostKernel",
    "Rule",
    "SimKernel",
    "Verdict",
    "XATTR_CREATE",
    "XATTR_REPLACE",
    "acl_value",
    "explain",
    "fake_linux",
    "fcaps_value",
]


def __getattr__(name):
    # HostKernel pulls in ctypes and the mount helpers; load it on first use.
    if name == "HostKernel":
        from .host import HostKernel

        return HostKernel
    if name == "fake_linux":
        from .fake import fake_linux

        return fake_linux
    raise AttributeError(f"module 'fsmodel' has no attribute {name!r}")
