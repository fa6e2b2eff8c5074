"""The ``fsmodel`` command line: a thin shell over the rules, the kernels and the tests.

Exit codes: 0 success; 1 the thing checked failed (a crosscheck mismatch);
2 bad input or usage, with one line on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from ._rules.constants import FILE_TYPES, XATTR_CREATE, XATTR_REPLACE
from ._rules.kernel import parse_version
from ._sim.kernel import _CALLS


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", None) or getattr(
    click.exceptions, "NoArgsIsHelp", click.exceptions.UsageError)


class BadInput(click.ClickException):
    exit_code = 2


def _octal(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 8)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an octal mode like 644 or 1777") from None


def _flags(ctx, param, value):
    names = {"0": 0, "none": 0, "create": XATTR_CREATE, "replace": XATTR_REPLACE}
    total = 0
    for part in value.replace(",", "|").split("|"):
        part = part.strip().lower()
        if part in names:
            total |= names[part]
            continue
        try:
            total |= int(part, 0)
        except ValueError:
            raise click.BadParameter(
                f"{part!r}: use create, replace, create|replace or a number") from None
    return total


def _kernel(ctx, param, value):
    try:
        parse_version(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _caps(ctx, param, value):
    if value is None:
        return None
    if value.strip().lower() in ("", "none"):
        return ()
    from ._rules.constants import caps_mask

    caps = [c.strip() for c in value.split(",") if c.strip()]
    try:
        caps_mask(caps)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return tuple(caps)


def _options(ctx, param, values):
    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. block_size=1024)")
        lowered = raw.lower()
        if lowered in ("true", "yes", "on"):
            out[key] = True
        elif lowered in ("false", "no", "off"):
            out[key] = False
        else:
            try:
                out[key] = int(raw, 0)
            except ValueError:
                out[key] = raw
    return out


def _owner(ctx, param, value):
    uid, _, gid = value.partition(":")
    try:
        return int(uid), (int(gid) if gid else None)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not UID or UID:GID") from None


def _groups(ctx, param, value):
    try:
        return tuple(int(g) for g in value.split(",") if g.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of group ids") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fsmodel")
def cli():
    """Linux extended-attribute semantics, testable without root."""


@cli.command()
@click.argument("call", type=click.Choice(sorted(_CALLS)), metavar="CALL")
@click.option("--name", default="user.foo", show_default=True, help="Attribute name.")
@click.option("--type", "ftype", type=click.Choice(list(FILE_TYPES)), default="regular",
              show_default=True, help="Type of the file the call is made on.")
@click.option("--value", help="Value as text (set calls).")
@click.option("--value-hex", help="Value as hex bytes (set calls).")
@click.option("--value-size", type=click.IntRange(0), help="Value of N bytes 'x' (set calls).")
@click.option("--flags", default="0", callback=_flags, show_default=True,
              help="create, replace, create|replace or a number.")
@click.option("--size", type=click.IntRange(0), default=65536, show_default=True,
              help="Buffer size for get and list calls (0 asks for the length).")
@click.option("--fs", type=click.Choice(["ext4", "xfs", "btrfs", "tmpfs", "ramfs"]),
              default="ext4", show_default=True, help="Filesystem profile.")
@click.option("--fs-option", "fs_options", multiple=True, callback=_options, metavar="KEY=VALUE",
              help="Filesystem option, e.g. block_size=1024, inode_size=128, ea_inode=true, "
                   "nr_inodes=64, nodesize=16384.")
@click.option("--kernel", default="6.18", show_default=True, callback=_kernel,
              help="Kernel version.")
@click.option("--uid", type=click.IntRange(0), default=0, show_default=True, help="Caller's uid.")
@click.option("--gid", type=click.IntRange(0), help="Caller's gid [default: the uid].")
@click.option("--groups", default="", callback=_groups, help="Caller's supplementary groups.")
@click.option("--caps", callback=_caps,
              help="Caller's capabilities, comma-separated (CAP_SYS_ADMIN,...), or 'none' "
                   "[default: all for uid 0, none otherwise].")
@click.option("--mode", callback=_octal, help="File mode in octal [default: 644, 755 for dirs].")
@click.option("--owner", default="0", callback=_owner, show_default=True, help="UID[:GID] of the file.")
@click.option("--sticky", is_flag=True, help="Set the sticky bit (directories).")
@click.option("--immutable", is_flag=True, help="Make the file immutable (chattr +i).")
@click.option("--append", is_flag=True, help="Make the file append-only (chattr +a).")
@click.option("--readonly", is_flag=True, help="Mount the filesystem read-only.")
@click.option("--exists/--missing", "exists", default=None,
              help="Whether the attribute is already set [default: yes for get/remove].")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def explain(call, name, ftype, value, value_hex, value_size, flags, size, fs, fs_options, kernel,
            uid, gid, groups, caps, mode, owner, sticky, immutable, append, readonly, exists,
            as_json):
    """What an xattr syscall returns, the rule that decided it, why, and where in the kernel.

    \b
    Example (the creator-ee case):
      fsmodel explain lsetxattr --type symlink --name user.foo
    """
    from .explain import explain as run, render

    given = [v is not None for v in (value, value_hex, value_size)]
    if sum(given) > 1:
        raise BadInput("give only one of --value, --value-hex and --value-size")
    data = None
    if value is not None:
        data = os.fsencode(value)
    elif value_hex is not None:
        try:
            data = bytes.fromhex(value_hex)
        except ValueError:
            raise BadInput(f"--value-hex {value_hex!r} is not hex bytes") from None
    try:
        verdict = run(call, name=name, type=ftype, value=data, value_size=value_size, flags=flags,
                      size=size, fs=fs, kernel=kernel, uid=uid, gid=gid, groups=groups, caps=caps,
                      mode=mode, owner=owner[0], group=owner[1], sticky=sticky,
                      immutable=immutable, append=append, readonly=readonly, exists=exists,
                      fs_options=fs_options)
    except (TypeError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"cannot build that situation: {exc.strerror} ({exc.filename})") from None
    if as_json:
        out = verdict.to_json()
        result = verdict.result
        out["result"] = result.hex() if isinstance(result, bytes) else result
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render(verdict, call, name if "list" not in call else None))


@cli.command()
@click.option("--fs", "configs", multiple=True,
              help="Configuration to check (repeatable): tmpfs, tmpfs-small, ext4, ext4-1k, "
                   "ext4-128, ext4-ea_inode, xfs, btrfs, ramfs, or 'all' "
                   "[default: tmpfs, ext4, xfs, btrfs].")
@click.option("--sequences", type=click.IntRange(1), default=100, show_default=True,
              help="Random call sequences per configuration.")
@click.option("--length", type=click.IntRange(1), default=40, show_default=True,
              help="Calls per sequence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, exists=True),
              help="Check in this directory (on whatever filesystem it is) instead of scratch "
                   "mounts.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
def crosscheck(configs, sequences, length, seed, directory, as_json):
    """Run the model and this machine's kernel side by side; report every disagreement.

    Needs root: it mounts scratch filesystems (or uses --dir) and switches callers.
    """
    from . import crosscheck as xc
    from ._privilege import privilege_problem

    problem = privilege_problem()
    if problem:
        raise BadInput(f"crosscheck runs the real kernel and {problem}")
    if directory is not None:
        fs = xc.detect_fs(directory)
        if fs not in ("ext4", "xfs", "btrfs", "tmpfs", "ramfs"):
            raise BadInput(f"{directory} is on {fs}, which fsmodel does not model")
        chosen = {f"{fs} ({directory})": xc.detect_situation(directory)}
    else:
        names = list(configs) or list(xc.QUICK)
        if "all" in names:
            names = list(xc.DEFAULT_CONFIGS)
        unknown = [n for n in names if n not in xc.DEFAULT_CONFIGS]
        if unknown:
            raise BadInput(f"unknown configuration {unknown[0]!r}; expected one of "
                           f"{', '.join(xc.DEFAULT_CONFIGS)} or all")
        chosen = {n: xc.DEFAULT_CONFIGS[n] for n in names}

    def progress(label, done, total, calls, found):
        if not as_json and sys.stderr.isatty():
            click.echo(f"\r{label}: {done}/{total} sequences, {calls} calls, {found} mismatches",
                       err=True, nl=done == total)

    reports = xc.crosscheck(chosen, sequences, length, seed, directory, progress)
    failed = any(r.mismatches for r in reports)
    if as_json:
        click.echo(json.dumps([{
            "config": r.config, "fs": r.situation.fs, "options": r.situation.options,
            "kernel": r.situation.kernel, "sequences": r.sequences, "calls": r.calls,
            "mismatches": [str(m) for m in r.mismatches], "skipped": r.skipped,
        } for r in reports], indent=2))
    else:
        click.echo(f"kernel {os.uname().release}; model kernel {xc.host_kernel_version()}")
        click.echo(f"{'configuration':<16} {'sequences':>9} {'calls':>8} {'mismatches':>10}")
        for r in reports:
            if r.skipped:
                click.echo(f"{r.config:<16} skipped: {r.skipped}")
            else:
                click.echo(f"{r.config:<16} {r.sequences:>9} {r.calls:>8} {len(r.mismatches):>10}")
        for r in reports:
            for m in r.mismatches:
                click.echo("")
                click.echo(str(m))
    sys.exit(1 if failed else 0)


def main(argv=None):
    """Entry point: click without its multi-line usage errors or tracebacks."""
    try:
        cli.main(args=argv, prog_name="fsmodel", standalone_mode=False)
    except _NO_ARGS as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "usage: fsmodel COMMAND", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = f" (try 'fsmodel {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent else \
            " (try 'fsmodel --help')"
        click.echo(f"fsmodel: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"fsmodel: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("fsmodel: aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
