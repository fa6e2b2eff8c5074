"""The outcome matrix: every xattr call × namespace × file type × caller, per filesystem.

:func:`compute_matrix` makes each call once, on a fresh file, and records what
came back: ``ok`` or the errno, and (on the model) the rule that decided it.
Nothing here decides an outcome.  By default the calls run on a
:class:`~fsmodel.SimKernel` of each filesystem; pass ``kernel_factory`` to run
the very same calls on any backend with the same interface — the real kernel
through :class:`~fsmodel.HostKernel` on a scratch mount is how the matrix is
verified (:func:`differences`, ``tests/kernel/test_matrix_kernel.py``,
``fsmodel matrix --verify``).

Preconditions of every cell (see :data:`PRECONDITIONS`, printed with every
rendering):

* The file is new, in a root-owned 0755 directory that is not sticky, owned by
  uid 1000 gid 1000 ("owner"), mode 0644 (directories 0755; device nodes are
  0:0; a symlink is 0777 and points to a regular file prepared like the
  regular row, so the path forms on a symlink act on that file).
* set: the attribute does not exist; flags 0; a valid value for the name.
* get, list, remove: root (every capability) first sets the attribute with the
  same form (path or no-follow) as the call.  Where the kernel refuses even
  root (``user.*`` on a symlink, fifo, device or socket; anything on ramfs;
  an ACL on a symlink; an unknown prefix) the cell is the outcome for a
  missing attribute, and says so (``preset`` False).
* get and list use a 65536-byte buffer.  A list cell is ``ok`` or an errno;
  ``hidden`` marks an ``ok`` list that does not show the preset attribute.

The ``f*`` forms are left out on purpose: ``fsetxattr(fd)`` and friends run
the same checks as the path form on the opened inode (``path_*xattrat`` with
``AT_EMPTY_PATH``), so for files that can be opened they repeat the path
column, and symlinks, device nodes without a driver and sockets can only be
opened with ``O_PATH``, which every ``f*`` call rejects with EBADF (R1.1) —
a fact about fds, not about xattrs.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from ._rules.codecs import (
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_USER,
    ACL_USER_OBJ,
    acl_value,
    fcaps_value,
)
from ._rules.constants import FILE_TYPES, S_IFDIR, S_IFLNK
from ._rules.kernel import DEFAULT_KERNEL, features
from ._rules.verdict import Rule, errno_name
from ._sim.kernel import _CALLS

__all__ = [
    "CALLERS",
    "CALLS",
    "FILESYSTEMS",
    "FORMATS",
    "NAMESPACES",
    "PRECONDITIONS",
    "TYPES",
    "Caller",
    "Cell",
    "Matrix",
    "Namespace",
    "compute_matrix",
    "differences",
    "provenance",
    "render",
    "verify_on_host",
]

FILESYSTEMS = ("ext4", "xfs", "btrfs", "tmpfs", "ramfs")
CALLS = ("setxattr", "lsetxattr", "getxattr", "lgetxattr",
         "listxattr", "llistxattr", "removexattr", "lremovexattr")
TYPES = tuple(FILE_TYPES)
FORMATS = ("md", "html", "svg", "png")

OWNER = 1000
"""uid and gid of every file in the matrix (the "owner" caller)."""
OTHER = 1001
"""uid and gid of the "other" caller."""
BUFFER = 65536
"""Buffer size of the get and list calls."""


@dataclass(frozen=True)
class Namespace:
    """A namespace as the matrix shows it: a label and the representative name used."""

    label: str
    name: str
    value: bytes


@dataclass(frozen=True)
class Caller:
    label: str
    uid: int
    caps: tuple | None   # None: every capability for uid 0, none for others (as ``become``)

    def become(self, k):
        return k.become(self.uid, self.uid, (), self.caps)


_ACL = acl_value((ACL_USER_OBJ, 6, None), (ACL_USER, 4, OWNER), (ACL_GROUP_OBJ, 4, None),
                 (ACL_MASK, 4, None), (ACL_OTHER, 4, None))

NAMESPACES = (
    Namespace("user", "user.foo", b"value"),
    Namespace("trusted", "trusted.foo", b"value"),
    Namespace("security", "security.foo", b"value"),
    Namespace("file capabilities", "security.capability", fcaps_value(permitted=1 << 10)),
    Namespace("POSIX ACL", "system.posix_acl_access", _ACL),
    Namespace("unknown prefix", "foo.bar", b"value"),
)
"""Representative names; values are valid for the name (a v2 file-capability value with
CAP_NET_BIND_SERVICE, an access ACL with a named entry for uid 1000 so that it is stored)."""

CALLERS = (
    Caller("root", 0, None),
    Caller("root, no caps", 0, ()),
    Caller("owner", OWNER, None),
    Caller("other user", OTHER, None),
)

PRECONDITIONS = (
    "Each cell is one call on a fresh file in a root-owned 0755 directory (not sticky).",
    (f"The file is owned by uid {OWNER} gid {OWNER}, mode 0644 (directories 0755; device "
     "nodes 0:0); a symlink (0777) points to a regular file prepared like the regular row, "
     "so the path forms on a symlink act on that file."),
    (f"Callers: root = uid 0 with every capability; root, no caps = uid 0 with an empty "
     f"capability set; owner = uid {OWNER} gid {OWNER}; other user = uid {OTHER} gid {OTHER} "
     "(no capabilities, no supplementary groups)."),
    ("set: the attribute does not exist before; flags 0; a valid value (v2 file "
     "capabilities, an access ACL with a named entry for uid 1000, else b\"value\")."),
    ("get, list, remove: root first sets the attribute with the same form as the call. "
     "Where the kernel refuses that even to root (†), the cell shows the outcome for a "
     "missing attribute."),
    (f"get and list use a {BUFFER}-byte buffer; list: 'hidden' = ok, but the preset attribute "
     "is not in the list."),
    ("f* forms are left out: on an open file they repeat the path form; symlinks, driverless "
     "device nodes and sockets only open with O_PATH, which every f* call rejects (EBADF)."),
)


@dataclass(frozen=True)
class Cell:
    """One call's outcome and the situation it was made in."""

    fs: str
    call: str
    namespace: str          # Namespace.label
    type: str
    caller: str             # Caller.label
    errno: str | None       # None: success
    rule: Rule | None = None    # the deciding rule (model runs only)
    preset: bool | None = None  # get/list/remove: did the attribute exist before the call?
    listed: tuple[str, ...] | None = None   # list: the names returned, sorted

    @property
    def op(self) -> str:
        """``set``, ``get``, ``list`` or ``remove``."""
        return _CALLS[self.call][0]

    @property
    def name(self) -> str:
        return _NS[self.namespace].name

    @property
    def hidden(self) -> bool:
        """An ``ok`` list that does not show the attribute root had set."""
        return self.listed is not None and bool(self.preset) and self.name not in self.listed

    @property
    def outcome(self) -> str:
        """``ok``, ``hidden`` (list only) or the errno name."""
        if self.errno:
            return self.errno
        return "hidden" if self.hidden else "ok"

    @property
    def key(self) -> tuple:
        return (self.fs, self.call, self.namespace, self.type, self.caller)

    def explain_kwargs(self) -> dict:
        """The :func:`fsmodel.explain` situation that is this cell.

        A path-form call on a symlink acts on the regular file it points to, which the
        matrix prepares like the regular row: that situation is the regular row's.
        """
        caller = _CALLERS[self.caller]
        ftype = "regular" if self.type == "symlink" and _CALLS[self.call][1] == "path" \
            else self.type
        kwargs = {"call": self.call, "name": self.name, "type": ftype, "fs": self.fs,
                  "uid": caller.uid, "gid": caller.uid, "caps": caller.caps, "owner": OWNER,
                  "group": OWNER, "mode": _mode(ftype), "size": BUFFER}
        if self.op == "set":
            kwargs["value"] = _NS[self.namespace].value
            kwargs["exists"] = False
        else:
            kwargs["preset"] = _NS[self.namespace].value
            kwargs["exists"] = True
        return kwargs


_NS = {n.label: n for n in NAMESPACES}
_CALLERS = {c.label: c for c in CALLERS}


@dataclass(frozen=True)
class Matrix:
    """Every cell of some filesystems on one kernel version.

    ``verified_on`` names the real kernel the same cells were observed on (``uname -r``)
    and by what, when they were; ``None`` for a model-only matrix.
    """

    kernel: str
    filesystems: tuple[str, ...]
    cells: tuple[Cell, ...]
    verified_on: str | None = None
    _index: dict = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {c.key: c for c in self.cells})

    def cell(self, fs: str, call: str, namespace: str, type: str, caller: str) -> Cell:
        return self._index[fs, call, namespace, type, caller]

    def only(self, fs: str) -> Matrix:
        """The part of this matrix about one filesystem."""
        return replace(self, filesystems=(fs,), cells=tuple(c for c in self.cells if c.fs == fs))

    def verified(self, on: str) -> Matrix:
        """This matrix, recorded as observed on the real kernel ``on``."""
        return replace(self, verified_on=on)

    def rules(self) -> list[Rule]:
        """The distinct deciding rules of failed cells, in order of first appearance."""
        seen: dict[str, Rule] = {}
        for c in self.cells:
            if c.errno and c.rule is not None:
                seen.setdefault(c.rule.id, c.rule)
        return list(seen.values())


# ------------------------------------------------------------------ computing

def _mode(ftype: str) -> int:
    return {"directory": 0o755, "symlink": 0o777}.get(ftype, 0o644)


def _sim_factory(fs: str, kernel: str):
    from ._sim.kernel import SimKernel

    return contextlib.nullcontext(SimKernel(fs, kernel))


def compute_matrix(fs: str | Iterable[str] = FILESYSTEMS, kernel: str = DEFAULT_KERNEL, *,
                   kernel_factory: Callable | None = None) -> Matrix:
    """Make every call of the matrix and record the outcomes.

    ``fs`` is one filesystem name or several.  ``kernel_factory(fs)`` returns a context
    manager giving a backend with the ``SimKernel`` interface whose root directory is on a
    filesystem of type ``fs`` (as root, umask 0); the default is a fresh ``SimKernel(fs,
    kernel)``, which also records each cell's deciding rule.  Every cell gets a file of
    its own, so the cells do not see each other.
    """
    names = (fs,) if isinstance(fs, str) else tuple(fs)
    if not names:
        raise ValueError("fs=(), but at least one filesystem is needed")
    for name in names:
        if name not in FILESYSTEMS:
            raise ValueError(f"fs={name!r}, but only {', '.join(FILESYSTEMS)} are modelled")
    kernel = features(kernel).name
    factory = kernel_factory or (lambda f: _sim_factory(f, kernel))
    cells = []
    for name in names:
        with factory(name) as k:
            cells.extend(_cells(k, name, model=kernel_factory is None))
    return Matrix(kernel, names, tuple(cells))


def _cells(k, fs: str, model: bool) -> list[Cell]:
    k.chmod("/", 0o755)
    k.mkdir("/m", 0o755)
    k.chmod("/m", 0o755)
    out = []
    n = 0
    for ns in NAMESPACES:
        for ftype in TYPES:
            for caller in CALLERS:
                for call in CALLS:
                    n += 1
                    out.append(_cell(k, f"/m/c{n}", fs, call, ns, ftype, caller, model))
    return out


def _cell(k, path, fs, call, ns: Namespace, ftype, caller: Caller, model: bool) -> Cell:
    op, how = _CALLS[call]
    nofollow = how == "nofollow"
    _make_file(k, path, ftype)
    preset = None
    if op != "set":
        try:
            (k.lsetxattr if nofollow else k.setxattr)(path, ns.name, ns.value)
            preset = True
        except OSError:
            preset = False
    args = {"set": (ns.name, ns.value, 0), "get": (ns.name, BUFFER), "list": (BUFFER,),
            "remove": (ns.name,)}[op]
    rule = None
    with caller.become(k):
        if model:
            verdict = k.explain(call, path, *args)
            rule, code, result = verdict.rule, verdict.rule.errno, verdict.result
        else:
            try:
                result, code = getattr(k, call)(path, *args), 0
            except OSError as exc:
                result, code = None, exc.errno
    listed = tuple(sorted(result)) if op == "list" and not code else None
    return Cell(fs, call, ns.label, ftype, caller.label, errno_name(code), rule, preset, listed)


def _make_file(k, path: str, ftype: str) -> None:
    mode = FILE_TYPES[ftype]
    if mode == S_IFDIR:
        k.mkdir(path, 0o755)
    elif mode == S_IFLNK:
        target = path + ".target"
        _make_file(k, target, "regular")
        k.symlink(os.path.basename(target), path)
    else:
        k.mknod(path, mode | 0o644, 0)
    if mode != S_IFLNK:
        k.chmod(path, _mode(ftype))
    k.lchown(path, OWNER, OWNER)


# ------------------------------------------------------------------ verifying

def differences(model: Matrix, observed: Matrix) -> list[str]:
    """Where ``observed`` (e.g. the real kernel's) differs from ``model``: one line each.

    Compares the errno, whether the attribute could be preset and, for lists, the names.
    """
    out = []
    for c in model.cells:
        try:
            o = observed.cell(*c.key)
        except KeyError:
            continue
        if (c.errno, c.preset, c.listed) != (o.errno, o.preset, o.listed):
            why = f" (model rule {c.rule.id})" if c.rule else ""
            out.append(f"{c.fs} {c.call}({c.name!r}) on {c.type} as {c.caller}: model "
                       f"{_describe(c)}, observed {_describe(o)}{why}")
    return out


def _describe(c: Cell) -> str:
    text = c.errno or "ok"
    if c.listed is not None:
        text += f" {list(c.listed)}"
    if c.preset is False:
        text += " (attribute not preset)"
    return text


def verify_on_host(matrix: Matrix) -> tuple[Matrix, list[str]]:
    """Run ``matrix``'s cells on this machine's kernel, on a scratch mount of each filesystem.

    Returns the matrix recorded as verified on ``uname -r`` and an empty list when every
    cell agrees, else the unchanged matrix and the differences.  Needs root; raises
    ValueError when the model's kernel version is not the one running here.
    """
    from .crosscheck import host_kernel_version
    from .testing import Situation, scratch_host_factory

    running = host_kernel_version()
    if running != matrix.kernel:
        raise ValueError(f"the matrix models Linux {matrix.kernel}, but this machine runs "
                         f"{os.uname().release}; ask for --kernel {running} to verify it here")

    @contextlib.contextmanager
    def host(fs):
        with scratch_host_factory(Situation(fs)) as factory, factory() as k:
            yield k

    observed = compute_matrix(matrix.filesystems, matrix.kernel, kernel_factory=host)
    problems = differences(matrix, observed)
    if problems:
        return matrix, problems
    return matrix.verified(os.uname().release), []


# ------------------------------------------------------------------ rendering

STYLE = {
    "ok": ("#4daf4a", "success"),
    "hidden": ("#b8e0b4", "ok, but the attribute is not listed"),
    "EPERM": ("#e41a1c", "operation not permitted"),
    "EACCES": ("#ff7f00", "permission denied"),
    "ENODATA": ("#80b1d3", "no such attribute"),
    "EOPNOTSUPP": ("#bdbdbd", "operation not supported"),
    "EINVAL": ("#984ea3", "invalid argument"),
}
OTHER_STYLE = ("#ffff33", "other errno")
DAGGER = "†"


def _style(outcome: str) -> tuple[str, str]:
    return STYLE.get(outcome, OTHER_STYLE)


def _legend(matrix: Matrix) -> list[tuple[str, str, str]]:
    """(outcome, colour, meaning) for every outcome that occurs, in a fixed order."""
    present = {c.outcome for c in matrix.cells}
    out = [(o, *STYLE[o]) for o in STYLE if o in present]
    for o in sorted(present - set(STYLE)):
        code = getattr(_errno, o, None)
        out.append((o, OTHER_STYLE[0], os.strerror(code).lower() if code else OTHER_STYLE[1]))
    return out


def provenance(matrix: Matrix) -> str:
    """One line: which kernel the matrix models and where it was verified."""
    text = f"Model of Linux {matrix.kernel}"
    if matrix.verified_on:
        text += (f"; every cell verified on Linux {matrix.verified_on} (scratch mounts, "
                 f"by `fsmodel matrix --verify`; tests/kernel/test_matrix_kernel.py re-checks it)")
    else:
        text += "; not verified on a real kernel"
    return text + "."


def render(matrix: Matrix, fmt: str) -> bytes:
    """The matrix as ``md``, ``html``, ``svg`` or ``png`` (bytes)."""
    if fmt == "md":
        return render_markdown(matrix).encode()
    if fmt == "html":
        return render_html(matrix).encode()
    if fmt in ("svg", "png"):
        return render_picture(matrix, fmt)
    raise ValueError(f"fmt={fmt!r}, but only {', '.join(FORMATS)} are rendered")


def _cell_text(c: Cell) -> str:
    return c.outcome + (DAGGER if c.preset is False else "")


def render_markdown(matrix: Matrix) -> str:
    rules = matrix.rules()
    number = {r.id: i for i, r in enumerate(rules, 1)}
    lines = ["# xattr outcomes: call × namespace × file type × caller", "",
             provenance(matrix), "",
             "Regenerate with `python docs/matrix/generate.py` (or `fsmodel matrix --format md`).",
             "", "## Reading the tables", ""]
    lines += [f"* {p}" for p in PRECONDITIONS]
    lines += [("* A cell is `ok` or the errno; the superscript number is the deciding rule "
               "(see [Rules](#rules)); † = the attribute could not be preset (see above)."),
              "", "Representative names: " + ", ".join(
                  f"{ns.label} `{ns.name}`" for ns in NAMESPACES) + ".", ""]
    for fs in matrix.filesystems:
        lines += [f"## {fs}", ""]
        for ns in NAMESPACES:
            lines += [f"### {fs}: {ns.label} (`{ns.name}`)", "",
                      "| file type | caller | " + " | ".join(CALLS) + " |",
                      "|---|---|" + "---|" * len(CALLS)]
            for ftype in TYPES:
                for caller in CALLERS:
                    row = [ftype, caller.label]
                    for call in CALLS:
                        c = matrix.cell(fs, call, ns.label, ftype, caller.label)
                        text = _cell_text(c)
                        if c.errno and c.rule is not None:
                            text += f"<sup>{number[c.rule.id]}</sup>"
                        row.append(text)
                    lines.append("| " + " | ".join(row) + " |")
            lines.append("")
    if rules:
        lines += ["## Rules", "", "| # | rule | errno | why | kernel source |", "|---|---|---|---|---|"]
        for r in rules:
            reason, source = (t.replace("|", "\\|") for t in (r.reason, r.source))
            lines.append(f"| {number[r.id]} | `{r.id}` | {r.errno_name} | {reason} | {source} |")
        lines.append("")
    return "\n".join(lines)


def render_html(matrix: Matrix) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fsmodel", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    template = env.get_template("matrix.html.j2")

    def title(c: Cell) -> str:
        parts = [f"{c.call}({c.name!r}) on a {c.type} as {c.caller}: {c.errno or 'ok'}"]
        if c.rule is not None:
            parts.append(f"rule {c.rule.id}: {c.rule.reason} [{c.rule.source}]")
        if c.preset is False:
            parts.append("the attribute could not be preset (the kernel refuses it to root)")
        if c.listed is not None:
            parts.append("listed: " + (", ".join(c.listed) or "nothing"))
        return "\n".join(parts)

    return template.render(
        matrix=matrix, provenance=provenance(matrix), preconditions=PRECONDITIONS,
        namespaces=NAMESPACES, types=TYPES, callers=CALLERS, calls=CALLS,
        legend=_legend(matrix), style=_style, text=_cell_text, title=title, dagger=DAGGER)


def render_picture(matrix: Matrix, fmt: str) -> bytes:
    """A colour-coded grid per filesystem (stacked), as svg or png bytes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    n_rows, n_cols = len(TYPES) * len(CALLERS), len(CALLS)
    panel_cols = 3
    panel_rows = (len(NAMESPACES) + panel_cols - 1) // panel_cols
    cw, rh = 0.78, 0.2           # cell width and row height, inches
    label_w, head_h, gap_x, gap_y = 2.2, 1.3, 0.3, 0.35
    title_h, legend_h = 0.95, 1.9
    block_h = panel_rows * (n_rows * rh + head_h) + (panel_rows - 1) * gap_y
    width = label_w + panel_cols * n_cols * cw + (panel_cols - 1) * gap_x + 0.3
    fss = matrix.filesystems
    height = len(fss) * (title_h + block_h) + legend_h
    with plt.rc_context({"svg.fonttype": "none", "font.family": "DejaVu Sans",
                         "svg.hashsalt": "fsmodel"}):
        fig = plt.figure(figsize=(width, height), dpi=100)
        top = height
        for fs in fss:
            fig.text(0.3 / width, (top - 0.45) / height, f"{fs} — xattr outcomes on Linux "
                     f"{matrix.kernel}", fontsize=17, weight="bold", va="center")
            fig.text(0.3 / width, (top - 0.8) / height, provenance(matrix) + "  Rows: file "
                     f"type × caller; files owned by uid {OWNER}, mode 0644 (dirs 0755).",
                     fontsize=10, va="center", color="#333333")
            top -= title_h
            for i, ns in enumerate(NAMESPACES):
                pr, pc = divmod(i, panel_cols)
                left = label_w + pc * (n_cols * cw + gap_x)
                ptop = top - pr * (n_rows * rh + head_h + gap_y)
                bottom = ptop - head_h - n_rows * rh
                ax = fig.add_axes((left / width, bottom / height, n_cols * cw / width,
                                   n_rows * rh / height))
                _panel(ax, matrix, fs, ns, show_rows=pc == 0, Rectangle=Rectangle)
                fig.text((left + n_cols * cw / 2) / width, (ptop - 0.12) / height,
                         f"{ns.label}  ({ns.name})", fontsize=12, weight="bold",
                         ha="center", va="top")
            top -= block_h
        handles = [Patch(facecolor=colour, edgecolor="#555555", label=f"{o}: {meaning}")
                   for o, colour, meaning in _legend(matrix)]
        handles.append(Patch(facecolor="white", edgecolor="#555555",
                             label=(f"{DAGGER} attribute could not be preset: outcome for "
                                    f"a missing one")))
        fig.legend(handles=handles, loc="lower left", ncols=3, fontsize=10, frameon=False,
                   bbox_to_anchor=(0.3 / width, 0.85 / height), title="Outcome",
                   title_fontproperties={"weight": "bold", "size": 11}, alignment="left")
        notes = ("Preset: for get/list/remove root first sets the attribute with the call's own "
                 "form; set starts without it. A symlink points to a regular file prepared like "
                 "the regular row (path forms act on it).\nCallers: root (all capabilities), "
                 f"root without capabilities, owner (uid {OWNER}), other user (uid {OTHER}). "
                 "Get/list buffer 65536 bytes. f* forms omitted: they repeat the path form, or "
                 "EBADF on O_PATH fds.")
        fig.text(0.3 / width, 0.35 / height, notes, fontsize=9, va="center", color="#333333")
        out = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(out, format=fmt, metadata=metadata)
        plt.close(fig)
    return out.getvalue()


def _panel(ax, matrix: Matrix, fs: str, ns: Namespace, show_rows: bool, Rectangle) -> None:
    rows = [(t, c) for t in TYPES for c in CALLERS]
    ax.set_xlim(0, len(CALLS))
    ax.set_ylim(len(rows), 0)
    for y, (ftype, caller) in enumerate(rows):
        for x, call in enumerate(CALLS):
            c = matrix.cell(fs, call, ns.label, ftype, caller.label)
            colour = _style(c.outcome)[0]
            ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white",
                                   linewidth=0.8))
            dark = c.outcome in ("EPERM", "EINVAL", "ok")
            ax.text(x + 0.5, y + 0.55, _cell_text(c), ha="center", va="center", fontsize=7.5,
                    color="white" if dark else "black")
    for y in range(0, len(rows) + 1, len(CALLERS)):
        ax.axhline(y, color="black", linewidth=1.4)
    for x in (2, 4, 6):
        ax.axvline(x, color="black", linewidth=0.9)
    ax.set_xticks([x + 0.5 for x in range(len(CALLS))], CALLS, rotation=90, fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    if show_rows:
        ax.set_yticks([y + 0.5 for y in range(len(rows))], [c.label for _, c in rows],
                      fontsize=8.5)
        for i, ftype in enumerate(TYPES):
            ax.text(-1.45, i * len(CALLERS) + len(CALLERS) / 2, ftype, rotation=90,
                    ha="center", va="center", fontsize=10, weight="bold",
                    transform=ax.transData, clip_on=False)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
