"""Rules and verdicts: what the model answers, and why.

A :class:`Rule` is one outcome the kernel can produce, with the errno it
returns (0 for success), a one-sentence reason and the kernel function that
decides it.  Rules are module-level constants, so deciding a syscall on the
fast path allocates nothing: a check returns ``None`` (passed) or the
``Rule`` that stopped the call.

A :class:`Check` names one step of a pipeline (what it verifies, where the
kernel does it).  Explaining a call (:func:`fsmodel.explain`) runs the same
pipeline with a trace and reports the checks passed before the deciding
rule; that is a :class:`Verdict`.
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rule:
    """One outcome of a syscall: errno (0 = success), rule id, reason, kernel source."""

    id: str
    errno: int
    reason: str
    source: str

    @property
    def errno_name(self) -> str | None:
        """The errno's symbolic name (``EOPNOTSUPP``, not Python's ``ENOTSUP``) or None."""
        return errno_name(self.errno)


@dataclass(frozen=True, slots=True)
class Check:
    """One step of a pipeline, as it appears in an explanation's trace."""

    id: str
    what: str
    source: str


@dataclass(frozen=True)
class Verdict:
    """The model's answer to one call: the deciding rule and the checks passed before it."""

    rule: Rule
    trace: tuple[Check, ...] = field(default=())
    result: object = None

    @property
    def errno(self) -> int:
        return self.rule.errno

    @property
    def ok(self) -> bool:
        return self.rule.errno == 0

    def to_json(self) -> dict:
        return {
            "errno": self.rule.errno_name,
            "rule": self.rule.id,
            "reason": self.rule.reason,
            "source": self.rule.source,
            "trace": [{"check": c.id, "what": c.what, "source": c.source} for c in self.trace],
        }


# Python names errno 95 ENOTSUP (its first alias); the kernel and man pages say EOPNOTSUPP.
_PREFERRED = {_errno.EOPNOTSUPP: "EOPNOTSUPP", _errno.ENODATA: "ENODATA", _errno.EAGAIN: "EAGAIN",
              _errno.EDEADLK: "EDEADLK"}


def errno_name(code: int) -> str | None:
    if not code:
        return None
    return _PREFERRED.get(code) or _errno.errorcode.get(code, str(code))


def errno_from_name(name: str) -> int:
    """``"EPERM"`` -> 1; accepts ``ENOTSUP``/``EOPNOTSUPP`` and ``ENOATTR``/``ENODATA``."""
    aliases = {"ENOATTR": "ENODATA", "ENOTSUP": "EOPNOTSUPP"}
    name = aliases.get(name.upper(), name.upper())
    value = getattr(_errno, name, None)
    if not isinstance(value, int):
        raise ValueError(f"unknown errno name {name!r}")
    return value
