"""The command line: outcomes, JSON shape, and one clear line (exit 2) for bad input."""

import json
import subprocess
import sys

import pytest

from fsmodel.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "fsmodel", *args], capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_explain_creator_ee_case():
    code, out, err = run("explain", "lsetxattr", "--type", "symlink", "--name", "user.foo")
    assert code == 0 and not err
    assert out.splitlines()[0].startswith("lsetxattr('user.foo') -> EPERM")
    assert "R3.4-user-file-type" in out and "fs/xattr.c: xattr_permission" in out
    assert "S5-rofs" in out  # a check passed before the deciding one


def test_explain_json():
    code, out, _ = run("explain", "getxattr", "--name", "trusted.x", "--uid", "1000", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"errno", "rule", "reason", "source", "trace"} <= set(data)
    assert data["errno"] == "ENODATA" and data["rule"] == "R3.3-trusted-read"
    assert all({"check", "what", "source"} <= set(t) for t in data["trace"])
    code, out, _ = run("explain", "setxattr", "--name", "user.x", "--json")
    assert json.loads(out)["errno"] is None


@pytest.mark.parametrize("args, needle", [
    (["explain", "lsetxattr", "--fs", "tmpfs", "--kernel", "6.5", "--name", "user.x"],
     "EOPNOTSUPP"),
    (["explain", "setxattr", "--value-size", "4041"], "ENOSPC"),
    (["explain", "setxattr", "--fs", "btrfs", "--value-size", "16223"], "ENOSPC"),
    (["explain", "setxattr", "--fs", "ext4", "--fs-option", "block_size=1024", "--value-size",
      "969"], "ENOSPC"),
    (["explain", "setxattr", "--flags", "create", "--exists"], "EEXIST"),
    (["explain", "setxattr", "--flags", "create|replace", "--fs", "xfs"], "success"),
    (["explain", "setxattr", "--type", "directory", "--mode", "777", "--sticky", "--uid", "1000"],
     "R3.4-sticky-dir"),
    (["explain", "setxattr", "--name", "trusted.x", "--uid", "1000", "--caps", "CAP_SYS_ADMIN",
      "--mode", "0"], "success"),
    (["explain", "setxattr", "--immutable", "--readonly"], "EROFS"),
    (["explain", "getxattr", "--name", "security.capability", "--value-hex", ""], "success"),
    (["explain", "listxattr", "--exists", "--size", "0"], "success = 9"),
])
def test_explain_outcomes(args, needle):
    code, out, err = run(*args)
    assert code == 0, err
    assert needle in out.splitlines()[0] or needle in out


@pytest.mark.parametrize("args", [
    ["explain", "bogus"],
    ["explain", "setxattr", "--mode", "9z"],
    ["explain", "setxattr", "--caps", "CAP_NOPE"],
    ["explain", "setxattr", "--fs-option", "nope=1"],
    ["explain", "setxattr", "--fs-option", "novalue"],
    ["explain", "setxattr", "--value", "a", "--value-size", "2"],
    ["explain", "setxattr", "--value-hex", "zz"],
    ["explain", "setxattr", "--kernel", "banana"],
    ["explain", "setxattr", "--flags", "sideways"],
    ["explain", "setxattr", "--owner", "x:y"],
    ["explain", "setxattr", "--fs", "ntfs"],
    ["explain", "setxattr", "--uid", "-3"],
    ["crosscheck", "--fs", "nope"],
    ["nope"],
    [],
])
def test_bad_input_is_one_line_and_exit_2(args):
    code, out, err = run(*args)
    assert code == 2
    assert "Traceback" not in err
    if args:
        assert len(err.strip().splitlines()) == 1 and err.startswith("fsmodel: error:")


def test_crosscheck_without_root_says_so(monkeypatch, capsys):
    monkeypatch.setattr("fsmodel._privilege.os.geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as exc:
        main(["crosscheck"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "root" in err


@pytest.mark.privileged
def test_crosscheck_runs_on_this_kernel():
    code, out, err = run("crosscheck", "--fs", "tmpfs", "--sequences", "3", "--length", "20")
    assert code == 0, out + err
    assert "tmpfs" in out and " 0\n" in out + "\n"


def test_explain_from_a_user_namespace():
    """A rootless runtime: root of its namespace, still no trusted.* (capable())."""
    from click.testing import CliRunner

    from fsmodel.cli import cli

    result = CliRunner().invoke(cli, ["explain", "setxattr", "--name", "trusted.x",
                                      "--userns", "65536", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["errno"], data["rule"]) == ("EPERM", "R3.3-trusted-write")
    result = CliRunner().invoke(cli, ["explain", "setxattr", "--name", "trusted.x", "--json"])
    assert json.loads(result.output)["errno"] is None
