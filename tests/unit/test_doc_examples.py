"""Every code example in README.md and docs/**/*.md runs, and shows what it prints.

Documents are collected automatically, so a new doc is covered the day it is
written.  Each fenced block is one test, named ``DOC:LINE`` (the line of its
opening fence), so a failure points at the doc line.  The conventions:

``pycon``
    A doctest (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``).  Errors are shown as
    tracebacks: ``Traceback (most recent call last):``, ``  ...``, then the
    exception line.
``python``
    Executed; it must not raise.  If its last line is a comment naming an
    exception, ``# PermissionError: [Errno 1] Operation not permitted: '/x'``,
    the block must raise that exception with that message (``...`` elides, as
    in doctest).  What a ``python`` block prints is not checked: use ``pycon``
    to show output.
``console``
    Each ``$ command`` line (a trailing ``\\`` continues it) is run by bash
    from the repository root, stderr merged into stdout; the lines up to the
    next ``$`` are its whole output, compared as doctest does with
    ``ELLIPSIS`` (a ``...`` line elides lines, ``...`` inside a line elides
    text; trailing spaces and blank lines are ignored).  The command must exit
    0: show a failing one as ``$ fsmodel ... || echo "exit $?"``.  ``fsmodel``
    and ``python`` are this checkout's, whatever is installed.  A command
    starting with ``sudo`` runs (without the word ``sudo``) only as root, and
    is skipped with the reason otherwise.
anything else (``sh``, ``text``, no language...)
    Must be marked as not run, with the reason, by an HTML comment on the
    line before the fence: ``<!-- not run: installs the package -->``.  The
    same comment marks a ``pycon``/``python``/``console`` block that cannot run
    in a test.  Marked blocks are reported as skipped with their reason; an
    unmarked block that cannot run fails.

The ``pycon`` and ``python`` blocks of one document share one namespace and
run in document order, from the repository root (a block selected alone first
runs the blocks before it).  Console blocks run on their own.
"""

from __future__ import annotations

import builtins
import doctest
import os
import re
import subprocess
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUN_KINDS = {"pycon", "python", "console"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->")
LOOKS_LIKE_MARKER = re.compile(r"<!--\s*not[ _-]?run\b", re.I)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
EXPECTED_EXCEPTION = re.compile(r"#\s*(?P<name>[A-Za-z_][\w.]*)\s*:\s?(?P<message>.*)")
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
COMMAND_TIMEOUT = 120


def documents() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


@dataclass
class Block:
    doc: Path
    line: int           # 1-based line of the opening fence
    kind: str           # the info string's first word, lowercased
    text: str           # the content, de-indented
    not_run: str | None = None   # the reason from <!-- not run: ... -->
    problem: str | None = None   # a malformed fence or marker

    @property
    def name(self) -> str:
        return str(self.doc.relative_to(ROOT))

    @property
    def id(self) -> str:
        return f"{self.name}:{self.line}"


def parse(doc: Path) -> list[Block]:
    """The fenced code blocks of a Markdown document (CommonMark fences, indented ones too)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        kind = (m.group("info").split() or [""])[0].lower()
        start = i
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{%d,}[ \t]*$" % len(fence))
        body = []
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        block = Block(doc, start + 1, kind, "\n".join(body) + "\n")
        if i == len(lines):
            block.problem = f"the {fence} fence opened on line {start + 1} is never closed"
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()),
                        "")
        marker = NOT_RUN.search(previous)
        if marker:
            block.not_run = marker.group("reason")
        elif LOOKS_LIKE_MARKER.search(previous):
            block.problem = (f"malformed marker {previous!r}: write "
                             f"'<!-- not run: REASON -->'")
        blocks.append(block)
        i += 1
    return blocks


BLOCKS = [block for doc in documents() for block in parse(doc)]


# ------------------------------------------------------------------ python and pycon

@dataclass
class DocState:
    """One document's namespace and which of its Python blocks have run (and how)."""

    globs: dict
    outcomes: dict = field(default_factory=dict)   # line -> None (passed) or failure text


_STATES: dict[Path, DocState] = {}


def _state(doc: Path) -> DocState:
    """The namespace is a module's, registered in sys.modules: pyfakefs (``fake_linux()``)
    patches the ``os`` and ``open`` of registered modules only, and a plain dict's ``os``
    would reach the real filesystem."""
    if doc not in _STATES:
        module = types.ModuleType("doc:" + str(doc.relative_to(ROOT)))
        sys.modules[module.__name__] = module
        _STATES[doc] = DocState(module.__dict__)
    return _STATES[doc]


def _run_in_order(block: Block) -> str | None:
    """Run the document's Python blocks up to ``block`` (each once); ``block``'s failure text."""
    state = _state(block.doc)
    for earlier in BLOCKS:
        if earlier.doc != block.doc or earlier.line > block.line:
            continue
        if earlier.kind not in ("pycon", "python") or earlier.not_run or earlier.problem:
            continue
        if earlier.line in state.outcomes:
            continue
        run = _run_pycon if earlier.kind == "pycon" else _run_python
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            state.outcomes[earlier.line] = run(earlier, state.globs)
        finally:
            os.chdir(cwd)
    return state.outcomes[block.line]


def _run_pycon(block: Block, globs: dict) -> str | None:
    test = doctest.DocTestParser().get_doctest(
        block.text, globs, block.id, str(block.doc), block.line)
    test.globs = globs   # DocTest copied it; examples must run in the module's own namespace
    if not test.examples:
        return "a pycon block without a single '>>>' example"
    runner = doctest.DocTestRunner(verbose=False, optionflags=DOCTEST_FLAGS)
    out: list[str] = []
    result = runner.run(test, out=out.append, clear_globs=False)
    return "".join(out) if result.failed else None


def _expected_exception(block: Block, globs: dict):
    """(class, message) when the block's last line is ``# SomeError: message``, else None."""
    last = next((l.strip() for l in reversed(block.text.splitlines()) if l.strip()), "")
    m = EXPECTED_EXCEPTION.fullmatch(last)
    if not m:
        return None
    obj = globs.get(m.group("name"), getattr(builtins, m.group("name"), None))
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj, m.group("message")
    if m.group("name").endswith(("Error", "Exception")):
        raise LookupError(f"the last line names {m.group('name')}, which is not an exception "
                          f"class in the document's namespace")
    return None


def _run_python(block: Block, globs: dict) -> str | None:
    try:
        expected = _expected_exception(block, globs)
    except LookupError as exc:
        return str(exc)
    # padded so that tracebacks give the document's line numbers
    code = compile("\n" * block.line + block.text, str(block.doc), "exec")
    try:
        exec(code, globs)
    except BaseException as exc:   # noqa: BLE001 - the block's exception is the result
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        got = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if expected is None:
            return "raised:\n" + "".join(traceback.format_exception(exc))
        cls, message = expected
        if not isinstance(exc, cls) or not _matches(message, str(exc)):
            return (f"expected {cls.__name__}: {message}\n"
                    f"     got {got}\n" + "".join(traceback.format_exception(exc)))
        return None
    if expected is not None:
        return f"expected {expected[0].__name__}: {expected[1]}, but the block raised nothing"
    return None


def _matches(want: str, got: str) -> bool:
    return doctest.OutputChecker().check_output(want + "\n", got + "\n", doctest.ELLIPSIS)


# ------------------------------------------------------------------ console

@dataclass
class Command:
    line: int       # doc line of the '$'
    text: str       # without the '$ '
    want: str       # the output shown


def parse_console(block: Block) -> list[Command]:
    commands: list[Command] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if line.strip():
                raise ValueError(f"line {block.line + 1 + i}: output before the first '$ ' "
                                 f"command: {line!r}")
            i += 1
            continue
        start = i
        text = line[2:]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + lines[i].lstrip()
        want = []
        i += 1
        while i < len(lines) and not lines[i].startswith("$ "):
            want.append(lines[i])
            i += 1
        commands.append(Command(block.line + 1 + start, text.strip(), "\n".join(want)))
    return commands


def _normalise(text: str) -> str:
    return "\n".join(l.rstrip() for l in text.rstrip().splitlines()) + "\n"


@pytest.fixture(scope="session")
def console_env(tmp_path_factory):
    """PATH with this checkout's ``fsmodel`` and ``python`` first."""
    bin_dir = tmp_path_factory.mktemp("doc-bin")
    shim = bin_dir / "fsmodel"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fsmodel "$@"\n')
    shim.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(COLUMNS="100", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    env.pop("FORCE_COLOR", None)
    return env


def _run_console(block: Block, env: dict) -> tuple[list[str], list[str]]:
    """(failures, skipped commands)."""
    failures, skipped = [], []
    for cmd in parse_console(block):
        text = cmd.text
        if text.startswith("sudo "):
            if os.geteuid() != 0:
                skipped.append(f"line {cmd.line}: $ {text}")
                continue
            text = text[len("sudo "):]
        try:
            proc = subprocess.run(["bash", "-c", text], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            failures.append(f"{block.name}:{cmd.line}: $ {cmd.text}\n"
                            f"  took more than {COMMAND_TIMEOUT} s")
            continue
        got = _normalise(proc.stdout.decode("utf-8", "replace"))
        want = _normalise(cmd.want)
        if proc.returncode != 0:
            failures.append(f"{block.name}:{cmd.line}: $ {cmd.text}\n"
                            f"  exited {proc.returncode} (show a failing command as "
                            f"'... || echo \"exit $?\"'); it printed:\n{got}")
        elif not doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS):
            failures.append(f"{block.name}:{cmd.line}: $ {cmd.text}\n--- expected\n{want}"
                            f"--- got\n{got}")
    return failures, skipped


# ------------------------------------------------------------------ the tests

@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block(block: Block, request):
    if block.problem:
        pytest.fail(f"{block.id}: {block.problem}", pytrace=False)
    if block.not_run:
        pytest.skip(f"{block.id}: not run: {block.not_run}")
    if block.kind not in RUN_KINDS:
        what = f"a {block.kind!r} block" if block.kind else "a block without a language"
        pytest.fail(f"{block.id}: {what} is neither run (pycon, python, console) nor marked "
                    f"'<!-- not run: REASON -->' on the line before it", pytrace=False)
    if block.kind == "console":
        try:
            failures, skipped = _run_console(block, request.getfixturevalue("console_env"))
        except ValueError as exc:
            pytest.fail(f"{block.id}: {exc}", pytrace=False)
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)
        if skipped:
            pytest.skip(f"{block.id}: needs root: " + "; ".join(skipped))
        return
    failure = _run_in_order(block)
    if failure:
        pytest.fail(f"{block.id}:\n{failure}", pytrace=False)


def test_every_document_is_collected():
    """README.md and every docs/**/*.md, matrix.md included."""
    names = {str(d.relative_to(ROOT)) for d in documents()}
    assert {"README.md", "docs/tutorial.md", "docs/matrix/matrix.md"} <= names


def test_parser_conventions(tmp_path, monkeypatch):
    """Markers, indented fences, unclosed fences and console parsing, on a made-up doc."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    doc = tmp_path / "x.md"
    doc.write_text(
        "<!-- not run: installs the package -->\n"
        "```sh\npip install .\n```\n"
        "1. step\n\n   ```console\n   $ echo a \\\n     b\n   a b\n   $ true\n   ```\n"
        "<!-- notrun -->\n```text\nx\n```\n"
        "````python\n```\n````\n"
        "```pycon\n>>> 1\n")
    sh, console, text, python, pycon = parse(doc)
    assert (sh.kind, sh.not_run, sh.line) == ("sh", "installs the package", 2)
    assert console.kind == "console" and console.not_run is None
    assert [(c.line, c.text, c.want) for c in parse_console(console)] == [
        (8, "echo a b", "a b"), (11, "true", "")]
    assert text.problem and "malformed marker" in text.problem
    assert python.text == "```\n"
    assert pycon.problem and "never closed" in pycon.problem


def test_python_expected_exception_convention():
    globs = {"__builtins__": builtins}
    raising = Block(ROOT / "x.md", 1, "python",
                    "import os\nos.stat('/nonexistent-doc-path')\n"
                    "# FileNotFoundError: [Errno 2] ...: '/nonexistent-doc-path'\n")
    assert _run_python(raising, globs) is None
    wrong = Block(ROOT / "x.md", 1, "python", "x = 1\n# ValueError: boom\n")
    assert "raised nothing" in _run_python(wrong, globs)
    plain = Block(ROOT / "x.md", 1, "python", "x = 1\n# Note: not an exception\n")
    assert _run_python(plain, globs) is None
    typo = Block(ROOT / "x.md", 1, "python", "x = 1\n# PermisionError: x\n")
    assert "not an exception" in _run_python(typo, globs)


def test_console_sudo_runs_only_as_root(monkeypatch, console_env):
    block = Block(ROOT / "x.md", 1, "console",
                  "$ sudo echo as-root\nas-root\n$ echo hi \\\n  there\nhi there\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert _run_console(block, console_env) == ([], ["line 2: $ sudo echo as-root"])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert _run_console(block, console_env) == ([], [])
    wrong = Block(ROOT / "x.md", 1, "console", "$ echo one; false\none\n")
    failures, _ = _run_console(wrong, console_env)
    assert len(failures) == 1 and "exited 1" in failures[0]
