"""``fsmodel check``: which runtimes on which hosts fail to unpack an image, and why.

Each cell of the matrix applies the image's layers, bottom to top, under one
:mod:`policy <fsmodel.layer.policies>` on a fresh SimKernel booted as one
:mod:`host <fsmodel.layer.hosts>`.  The layers are read (and their digests
verified) once; cells replay the entries without file content, which cannot
change an xattr's outcome on a host profile (none of them runs out of space).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .apply import Applier, ExtractionFailed, KernelTarget, UnsafeEntry
from .extract import counting, distinct, failure_fields, paced_gc
from .hosts import ROOTFS, Host
from .ops import Data, Entry
from .policies import Policy
from .reader import Reader, _events, iter_layer

__all__ = ["Cell", "LoadedLayer", "check", "load_layers", "run_cell"]


@dataclass(frozen=True)
class LoadedLayer:
    """One layer's entries (content dropped) and the DiffID runtimes name it by.

    ``events`` is the layer as Go reads it (PAX global headers ignored);
    ``global_events`` as POSIX tars read it, when the layer has global headers.
    """

    diff_id: str
    events: tuple
    entries: int
    global_events: tuple | None = None

    def events_for(self, policy: Policy) -> tuple:
        if policy.pax_globals and self.global_events is not None:
            return self.global_events
        return self.events


def load_layers(image, progress=None) -> list[LoadedLayer]:
    """Read every layer of an opened :class:`~fsmodel.layer.image.Image` once
    (twice if it holds PAX global headers, which tools read differently).

    Raises MalformedLayer / MalformedImage for the input's faults.
    ``progress(n)`` is called with the bytes read, for a progress bar.
    """
    out = []
    for blob in image.layers:
        with blob.open() as stream:
            chunks = stream if progress is None else counting(stream, progress)
            reader = Reader(pax_globals=False)
            events = tuple(e for e in _events(reader, chunks) if not isinstance(e, Data))
            diff_id = stream.finish()
        global_events = None
        if reader.saw_global:
            with blob.open() as stream:
                global_events = tuple(e for e in iter_layer(stream, pax_globals=True)
                                      if not isinstance(e, Data))
        out.append(LoadedLayer(blob.diff_id or diff_id, events,
                               sum(isinstance(e, Entry) for e in events), global_events))
    return out


@dataclass
class Cell:
    """One policy on one host.  ``outcome`` is ok, warn or fail; on failure
    ``error`` is the text the tool prints and ``entry``/``xattr``/``errno``/``rule``
    what caused it; ``warnings`` are the texts the tool logs."""

    policy: str
    host: str
    outcome: str
    error: str | None = None
    entry: str | None = None
    xattr: str | None = None
    errno: str | None = None
    rule: str | None = None
    warnings: list = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def run_cell(layers: list[LoadedLayer], policy: Policy, host: Host) -> Cell:
    warnings: list[str] = []
    with host.boot() as k:
        target = KernelTarget(k, ROOTFS)
        for layer in layers:
            applier = Applier(target, policy, privilege=host.privilege, layer=layer.diff_id)
            try:
                try:
                    applier.apply(layer.events_for(policy))
                finally:
                    warnings.extend(w.message for w in applier.report.warnings)
            except (ExtractionFailed, UnsafeEntry) as exc:
                return Cell(policy.name, host.name, "fail", warnings=distinct(warnings),
                            **failure_fields(exc))
    return Cell(policy.name, host.name, "warn" if warnings else "ok",
                warnings=distinct(warnings))


def check(layers: list[LoadedLayer], policies, hosts, progress=None) -> list[Cell]:
    """The matrix, policy-major: ``[run_cell(layers, p, h) for p in policies for h in hosts]``."""
    cells = []
    with paced_gc():
        for policy in policies:
            for host in hosts:
                cells.append(run_cell(layers, policy, host))
                if progress is not None:
                    progress(1)
    return cells
