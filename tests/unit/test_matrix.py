"""fsmodel.matrix and `fsmodel matrix`: the cells are the model's outcomes, and every
rendering shows all of them."""

import dataclasses
import os
import re
import runpy
import struct

import pytest

from fsmodel import explain
from fsmodel.cli import main
from fsmodel.matrix import (
    CALLERS,
    CALLS,
    FILESYSTEMS,
    NAMESPACES,
    STYLE,
    TYPES,
    Matrix,
    compute_matrix,
    differences,
    render,
    render_markdown,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs", "matrix")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def matrix():
    return compute_matrix()


@pytest.fixture(scope="module")
def ext4(matrix):
    return matrix.only("ext4")


def test_every_combination_is_a_cell(matrix):
    assert matrix.filesystems == FILESYSTEMS
    assert len(matrix.cells) == (len(FILESYSTEMS) * len(CALLS) * len(NAMESPACES) * len(TYPES)
                                 * len(CALLERS))
    assert len({c.key for c in matrix.cells}) == len(matrix.cells)


def test_frozen(matrix):
    with pytest.raises(dataclasses.FrozenInstanceError):
        matrix.kernel = "6.1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        matrix.cells[0].errno = "EPERM"


def test_every_cell_agrees_with_explain(matrix):
    # explain() builds each situation its own way, on a fresh SimKernel
    for c in matrix.cells:
        verdict = explain(**c.explain_kwargs())
        assert (verdict.rule.errno_name, verdict.rule.id) == (c.errno, c.rule.id), c


def test_user_namespace_by_file_type(matrix):
    for fs in ("ext4", "xfs", "btrfs", "tmpfs"):
        assert matrix.cell(fs, "setxattr", "user", "regular", "owner").errno is None
        assert matrix.cell(fs, "lsetxattr", "user", "symlink", "owner").errno == "EPERM"
        assert matrix.cell(fs, "lsetxattr", "user", "symlink", "root").rule.id == \
            "R3.4-user-file-type"
        for ftype in ("fifo", "chardev", "blockdev", "socket"):
            assert matrix.cell(fs, "setxattr", "user", ftype, "root").errno == "EPERM"
            assert matrix.cell(fs, "getxattr", "user", ftype, "owner").errno == "ENODATA"
        assert matrix.cell(fs, "setxattr", "user", "regular", "other user").errno == "EACCES"


def test_path_forms_follow_the_symlink(matrix):
    for c in matrix.cells:
        if c.type == "symlink" and c.call in ("setxattr", "getxattr", "removexattr", "listxattr"):
            regular = matrix.cell(c.fs, c.call, c.namespace, "regular", c.caller)
            assert (c.errno, c.preset) == (regular.errno, regular.preset), c


def test_no_follow_forms_differ_only_on_symlinks(matrix):
    for c in matrix.cells:
        if c.call.startswith("l") and c.call != "listxattr" and c.type != "symlink":
            path_form = matrix.cell(c.fs, c.call[1:], c.namespace, c.type, c.caller)
            assert (c.errno, c.preset, c.listed) == \
                (path_form.errno, path_form.preset, path_form.listed), c


def test_list_never_fails_and_hides_trusted_except_on_btrfs(matrix):
    lists = [c for c in matrix.cells if c.op == "list"]
    assert all(c.errno is None for c in lists)
    for fs in ("ext4", "xfs", "tmpfs"):
        assert matrix.cell(fs, "listxattr", "trusted", "regular", "owner").outcome == "hidden"
        assert matrix.cell(fs, "listxattr", "trusted", "regular", "root").outcome == "ok"
    assert matrix.cell("btrfs", "listxattr", "trusted", "regular", "owner").outcome == "ok"


def test_preset_where_root_may(matrix):
    assert all(c.preset is None for c in matrix.cells if c.op == "set")
    assert all(c.preset is False for c in matrix.cells if c.fs == "ramfs" and c.op != "set")
    assert matrix.cell("ext4", "getxattr", "trusted", "fifo", "root").preset is True
    assert matrix.cell("ext4", "lgetxattr", "user", "symlink", "root").preset is False
    # a missing attribute's get, where it could not be preset, is the file-type rule's ENODATA
    assert matrix.cell("ext4", "lgetxattr", "user", "symlink", "root").errno == "ENODATA"


def test_ramfs_has_no_xattrs(matrix):
    for c in matrix.cells:
        if c.fs == "ramfs" and c.errno:
            assert c.errno in ("EOPNOTSUPP", "EPERM", "EACCES", "ENODATA"), c
    assert matrix.cell("ramfs", "setxattr", "trusted", "regular", "root").errno == "EOPNOTSUPP"


def test_kernel_version_changes_cells():
    old = compute_matrix("tmpfs", "6.5")
    assert old.kernel == "6.5"
    assert old.cell("tmpfs", "setxattr", "user", "regular", "owner").errno == "EOPNOTSUPP"
    assert compute_matrix("tmpfs").cell("tmpfs", "setxattr", "user", "regular",
                                        "owner").errno is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="fs='zfs'"):
        compute_matrix("zfs")
    with pytest.raises(ValueError):
        compute_matrix((), "6.18")


def test_differences_name_the_cell(ext4):
    c = ext4.cell("ext4", "lsetxattr", "user", "symlink", "owner")
    changed = Matrix(ext4.kernel, ext4.filesystems, tuple(
        dataclasses.replace(x, errno=None, rule=None) if x is c else x for x in ext4.cells))
    assert differences(ext4, ext4) == []
    (line,) = differences(ext4, changed)
    assert "lsetxattr('user.foo') on symlink as owner" in line and "EPERM" in line


# ------------------------------------------------------------------ renderings

def test_markdown_has_every_label_and_cell(ext4):
    text = render_markdown(ext4)
    for label in CALLS + TYPES + tuple(c.label for c in CALLERS) + \
            tuple(n.name for n in NAMESPACES):
        assert label in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "caller" not in line
            and not line.startswith("| #") and not re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(NAMESPACES) * len(TYPES) * len(CALLERS)
    assert "Model of Linux 6.18; not verified" in text
    for rule in ext4.rules():
        assert f"`{rule.id}`" in text
    assert "verified on Linux 6.18.99-test" in render_markdown(ext4.verified("6.18.99-test"))


def test_html_is_a_page_with_tooltips_and_legend(ext4):
    html = render(ext4, "html").decode()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for label in CALLS + TYPES + tuple(c.label for c in CALLERS) + \
            tuple(n.name for n in NAMESPACES):
        assert label in html
    assert html.count('<td class="cell"') == len(ext4.cells)
    assert 'title="lsetxattr(&#39;user.foo&#39;) on a symlink as owner: EPERM' in html
    assert "R3.4-user-file-type" in html
    for outcome in ("ok", "EPERM", "EACCES", "ENODATA", "EOPNOTSUPP"):
        assert STYLE[outcome][0] in html and STYLE[outcome][1] in html


def test_svg_has_labels_and_legend(ext4):
    svg = render(ext4, "svg").decode()
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    for text in ("ext4", "lremovexattr", "root, no caps", "blockdev", "system.posix_acl_access",
                 "EPERM: operation not permitted", "hidden: ok, but the attribute is not listed",
                 "attribute could not be preset"):
        assert text in svg, text


# ------------------------------------------------------------------ command line

def run(*args):
    with pytest.raises(SystemExit) as exit_info:
        main(["matrix", *args])
        raise SystemExit(0)
    return exit_info.value.code


@pytest.mark.parametrize("args", [
    ["--fs", "zfs"], ["--kernel", "six"], ["--format", "gif"], ["--format", "png"],
    ["--format", "svg"], ["--fs", "ext4", "--format", "png"], ["--verify", "--kernel", "5.4", "--fs", "ramfs"],
])
def test_cli_bad_options_exit_2_with_one_line(capsys, args):
    assert run(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("fsmodel: error:") and err.count("\n") == 1


def test_cli_markdown_to_stdout(capsys):
    assert run("--fs", "ramfs", "--fs", "ramfs") == 0
    out = capsys.readouterr().out
    assert "## ramfs" in out and "## ext4" not in out
    assert out == render_markdown(compute_matrix("ramfs"))


def test_cli_one_file_per_filesystem(tmp_path):
    assert run("--fs", "tmpfs", "--fs", "ramfs", "--format", "html",
               "--output", str(tmp_path / "m-{fs}.html")) == 0
    assert sorted(os.listdir(tmp_path)) == ["m-ramfs.html", "m-tmpfs.html"]
    assert 'id="tmpfs"' in (tmp_path / "m-tmpfs.html").read_text()


# ------------------------------------------------------------------ docs/matrix

def test_checked_in_markdown_is_current(matrix):
    with open(os.path.join(DOCS, "matrix.md"), encoding="utf-8") as f:
        text = f.read()
    verified = re.search(r"verified on Linux (\S+) ", text)
    expected = matrix.verified(verified.group(1)) if verified else matrix
    assert text == render_markdown(expected), \
        "docs/matrix/matrix.md is stale: run python docs/matrix/generate.py [--verify]"


def test_checked_in_pictures_exist_and_regenerate(tmp_path):
    for fs in FILESYSTEMS:
        with open(os.path.join(DOCS, f"{fs}.png"), "rb") as f:
            assert f.read(8) == PNG, fs
    generate = runpy.run_path(os.path.join(DOCS, "generate.py"))
    assert generate["main"](["--out", str(tmp_path), "--fs", "tmpfs"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["matrix.md", "tmpfs.png"]
    png = (tmp_path / "tmpfs.png").read_bytes()
    assert png[:8] == PNG
    width, height = struct.unpack(">II", png[16:24])
    assert 1500 < width < 3000 and 1200 < height < 2500
    assert (tmp_path / "matrix.md").read_text() == render_markdown(compute_matrix())
