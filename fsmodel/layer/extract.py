"""Unpacking an image's layers, bottom to top, onto a target under a policy.

:func:`extract` drives the reader and the applier over every layer of an
opened :class:`~fsmodel.layer.image.Image`, verifying each layer's digests as
its bytes go by (a mismatch found at the end of a layer fails the extraction,
as a runtime refuses to commit a layer whose DiffID does not match).  The
target is the real filesystem (:class:`~fsmodel.layer.dirtarget.DirTarget`) or
any kernel (:class:`~fsmodel.layer.apply.KernelTarget`).
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field

from .apply import Applier, ExtractionFailed, UnsafeEntry
from .reader import iter_layer

__all__ = ["Outcome", "counting", "distinct", "extract", "failure_fields", "paced_gc"]


@dataclass
class Outcome:
    """What an extraction did; ``failure`` is the ExtractionFailed/UnsafeEntry, if any."""

    entries: int = 0
    layers: int = 0
    warnings: list = field(default_factory=list)  # fsmodel.layer.apply.Warning
    failure: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_json(self) -> dict:
        f = self.failure
        out = {"outcome": "fail" if f else ("warn" if self.warnings else "ok"),
               "error": None, "entry": None, "xattr": None, "errno": None, "rule": None,
               "entries": self.entries, "layers": self.layers,
               "warnings": distinct(w.message for w in self.warnings)}
        if f is not None:
            out.update(failure_fields(f))
        return out


def failure_fields(exc: ExtractionFailed | UnsafeEntry) -> dict:
    """What a report says of a failure: the tool's text and what caused it."""
    if isinstance(exc, ExtractionFailed):
        return {"error": exc.message, "entry": exc.entry.lstrip("/"), "xattr": exc.xattr,
                "errno": exc.errno, "rule": exc.rule}
    return {"error": f"refused entry {exc.path!r}: {exc.reason}",
            "entry": exc.path.lstrip("/"), "xattr": None, "errno": None, "rule": None}


def distinct(messages) -> list[str]:
    """One line per distinct message, in order (moby collects one per entry)."""
    return list(dict.fromkeys(m for m in messages if m))


@contextlib.contextmanager
def paced_gc(threshold: int = 100_000):
    """Collect garbage less often while a layer is applied, then restore the settings.

    An extraction allocates a few short-lived objects per entry, and on
    SimKernel keeps one long-lived inode per entry: with CPython's default
    generation-0 threshold (700) the collector walks that growing heap over and
    over (12% of the time of a 200,000-entry layer).  Nothing here makes
    reference cycles that need collecting promptly.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], threshold), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def extract(image, target, policy, *, privilege: str = "root", progress=None) -> Outcome:
    """Apply ``image``'s layers to ``target``; the runtime's failure is returned, not raised.

    MalformedLayer / MalformedImage (the input's fault) and OSError from the
    source propagate.  ``progress(n)`` gets the uncompressed bytes read.
    """
    with paced_gc():
        return _extract(image, target, policy, privilege, progress)


def _extract(image, target, policy, privilege, progress) -> Outcome:
    outcome = Outcome()
    for blob in image.layers:
        with blob.open(diff_id=False) as stream:
            chunks = stream if progress is None else counting(stream, progress)
            applier = Applier(target, policy, privilege=privilege,
                              layer=blob.diff_id or _LayerName(blob))
            try:
                applier.apply(iter_layer(chunks, pax_globals=policy.pax_globals))
            except (ExtractionFailed, UnsafeEntry) as exc:
                outcome.failure = exc
            finally:
                outcome.entries += applier.report.entries
                outcome.warnings.extend(applier.report.warnings)
            if outcome.failure is not None:
                return outcome
            stream.finish()
        outcome.layers += 1
    return outcome


class _LayerName:
    """A plain layer's DiffID for the messages that name it: computed (by reading
    the layer again) only if a message needs it, so extraction does not hash."""

    def __init__(self, blob):
        self._blob = blob
        self._text = None

    def __str__(self) -> str:
        if self._text is None:
            with self._blob.open() as stream:
                self._text = stream.finish()
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def counting(chunks, progress):
    """The chunks, reporting each one's size to ``progress`` (a progress bar)."""
    for chunk in chunks:
        progress(len(chunk))
        yield chunk
