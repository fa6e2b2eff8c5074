"""The ``fsmodel`` command line: a thin shell over the rules, the kernels and the tests.

Exit codes: 0 success; 1 the thing checked failed (a crosscheck mismatch, an
extraction failing as the runtime would, a --fail-on cell); 2 bad input or
usage, with one line on stderr and never a traceback.
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
@click.option("--userns", type=click.IntRange(0), default=0, show_default=True, metavar="N",
              help="Call from a user namespace mapping N ids (a rootless runtime); the owner "
                   "and caller ids are then the namespace's.")
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
            uid, gid, groups, caps, userns, mode, owner, sticky, immutable, append, readonly,
            exists, as_json):
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
                      userns=userns, mode=mode, owner=owner[0], group=owner[1], sticky=sticky,
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


# ------------------------------------------------------------------ images

def _names(kind):
    """--policy / --host: repeatable, comma lists allowed, validated."""
    def parse(ctx, param, values):
        from .layer.hosts import get_host
        from .layer.policies import get_policy

        get = get_policy if kind == "policy" else get_host
        out = []
        for value in values:
            for name in (v.strip() for v in value.split(",")):
                if not name:
                    continue
                try:
                    item = get(name)
                except ValueError as exc:
                    raise click.BadParameter(str(exc)) from None
                if item not in out:
                    out.append(item)
        return out
    return parse


def _open_image(source):
    from .layer.image import MalformedImage, open_image

    try:
        return open_image(source)
    except FileNotFoundError:
        raise BadInput(f"{source}: no such file or directory") from None
    except IsADirectoryError:
        raise BadInput(f"{source}: a directory that is not an OCI layout or docker save "
                       f"directory") from None
    except PermissionError as exc:
        raise BadInput(f"{source}: {exc.strerror}") from None
    except MalformedImage as exc:
        raise BadInput(f"{source}: {exc}") from None


def _bad_layer(source, exc):
    return BadInput(f"{source}: {exc}")


def _progress(total=None, unit="B", desc=""):
    """A progress bar on stderr when it is a terminal (tqdm), else nothing."""
    if not sys.stderr.isatty():
        return None, (lambda: None)
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=desc, leave=False,
               file=sys.stderr)
    return bar.update, bar.close


def _describe_image(image, layers=None) -> str:
    kinds = {"layer": "layer", "docker-save": "docker save archive",
             "docker-save-oci": "docker save archive (OCI form)", "oci-layout": "OCI image layout"}
    n = len(image.layers)
    text = f"{image.source}: {kinds.get(image.kind, image.kind)}"
    if image.ref:
        text += f" {image.ref}"
    text += f", {n} layer{'s' if n != 1 else ''}"
    if layers is not None:
        text += f", {sum(l.entries for l in layers)} entries"
    return text


@cli.command()
@click.argument("source", type=click.Path(), metavar="SOURCE")
@click.option("--policy", "policies", multiple=True, callback=_names("policy"),
              metavar="POLICY", help="A runtime policy (repeat, or comma-separate) "
              "[default: every policy].")
@click.option("--host", "hosts", multiple=True, callback=_names("host"), metavar="HOST",
              help="A host, root|rootless-FS[-KERNEL] (repeat, or comma-separate) "
              "[default: the 8 named hosts].")
@click.option("--fail-on", "fail_on", multiple=True, metavar="POLICY@HOST",
              help="Exit 1 if this cell fails ('*' matches any policy or host); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the cells as a JSON list.")
def check(source, policies, hosts, fail_on, as_json):
    """Which runtimes on which hosts fail to unpack SOURCE, and why.

    SOURCE is a layer tar (plain, gzip, zstd, bzip2 or xz), a docker save
    archive or an OCI image layout (directory or tar).  Each cell applies
    the layers on a simulated host under a runtime's policy: ok, ok with N
    warnings, or FAIL with the message the runtime prints.
    """
    from .layer import MalformedLayer
    from .layer.check import check as run_check
    from .layer.check import load_layers
    from .layer.hosts import DEFAULT_HOSTS, get_host
    from .layer.image import MalformedImage
    from .layer.policies import POLICIES

    policies = policies or list(POLICIES.values())
    hosts = hosts or [get_host(h) for h in DEFAULT_HOSTS]
    wanted = []
    for item in fail_on:
        p, sep, h = item.partition("@")
        if not sep or not p or not h:
            raise click.BadParameter(f"{item!r} is not POLICY@HOST", param_hint="'--fail-on'")
        if p != "*" and p not in [x.name for x in policies]:
            raise click.BadParameter(f"{item!r}: policy {p!r} is not in the matrix",
                                     param_hint="'--fail-on'")
        if h != "*" and h not in [x.name for x in hosts]:
            raise click.BadParameter(f"{item!r}: host {h!r} is not in the matrix",
                                     param_hint="'--fail-on'")
        wanted.append((p, h))
    image = _open_image(source)
    with image:
        update, done = _progress(desc="reading")
        try:
            layers = load_layers(image, update)
        except (MalformedLayer, MalformedImage) as exc:
            raise _bad_layer(source, exc) from None
        finally:
            done()
    update, done = _progress(len(policies) * len(hosts), unit="cell", desc="checking")
    try:
        cells = run_check(layers, policies, hosts, update)
    finally:
        done()
    failed = [c for c in cells if c.outcome == "fail"
              and any(p in ("*", c.policy) and h in ("*", c.host) for p, h in wanted)]
    if as_json:
        click.echo(json.dumps([c.as_json() for c in cells], indent=2))
    else:
        click.echo(_describe_image(image, layers))
        click.echo()
        click.echo(_matrix(cells, policies, hosts))
        details = _details(cells, hosts)
        if details:
            click.echo()
            click.echo(details)
    if failed:
        names = ", ".join(f"{c.policy}@{c.host}" for c in failed)
        click.echo(f"fsmodel: {len(failed)} cell(s) named by --fail-on failed: {names}", err=True)
    sys.exit(1 if failed else 0)


def _cell_text(cell) -> str:
    if cell.outcome == "fail":
        return "FAIL"
    if cell.outcome == "warn":
        return f"warn {len(cell.warnings)}"
    return "ok"


def _matrix(cells, policies, hosts) -> str:
    by = {(c.policy, c.host): c for c in cells}
    head = ["policy"] + [h.name for h in hosts]
    rows = [[p.name] + [_cell_text(by[p.name, h.name]) for h in hosts] for p in policies]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [head] + rows]
    return "\n".join(lines)


def _details(cells, hosts) -> str:
    groups: dict = {}
    for c in cells:
        if c.outcome == "ok":
            continue
        key = (c.outcome, c.policy, c.error, c.entry, c.xattr, c.errno, c.rule,
               tuple(c.warnings) if c.outcome == "warn" else ())
        groups.setdefault(key, []).append(c.host)
    out = []
    for (outcome, policy, error, entry, xattr, code, rule, warnings), where in groups.items():
        on = "every host" if len(where) == len(hosts) and len(hosts) > 1 else ", ".join(where)
        if outcome == "fail":
            out.append(f"FAIL  {policy} on {on}:")
            out.append(f"      {error}")
            why = _cause(entry, xattr, code, rule)
            if why:
                out.append(f"      {why}")
        else:
            out.append(f"warn  {policy} on {on}:")
            out.extend(f"      {w}" for w in warnings)
    return "\n".join(out)


def _xattr_text(value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return json.dumps(text)
    return "0x" + value.hex()


@cli.command()
@click.argument("source", type=click.Path(), metavar="SOURCE")
@click.option("--into", "into", type=click.Path(file_okay=False), metavar="DIR",
              help="Unpack into DIR on the real filesystem (created if missing; must be empty "
              "unless --onto).")
@click.option("--onto", is_flag=True, help="DIR holds a rootfs: apply the layers onto it.")
@click.option("--keep-partial", is_flag=True,
              help="On failure keep what was unpacked (default: remove what was created).")
@click.option("--policy", "policy_name", default="containerd", show_default=True,
              metavar="POLICY", help="The runtime whose xattr policy to follow.")
@click.option("--simulate", "simulate", metavar="HOST",
              help="Unpack on a simulated HOST (e.g. root-ext4) and print the tree instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def extract(source, into, onto, keep_partial, policy_name, simulate, as_json):
    """Unpack SOURCE's layers as a runtime would, confined to DIR.

    Exit 0 when it succeeded (warnings on stderr), 1 when it failed as the
    runtime would (what was created is removed unless --keep-partial), 2 for
    bad input or usage.
    """
    from .layer.hosts import get_host
    from .layer.policies import get_policy

    try:
        policy = get_policy(policy_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--policy'") from None
    if simulate and into:
        raise click.UsageError("use either --into DIR or --simulate HOST")
    if not simulate and not into:
        raise click.UsageError("missing --into DIR (or --simulate HOST)")
    host = None
    if simulate:
        try:
            host = get_host(simulate)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--simulate'") from None
    else:
        into = os.path.abspath(into)
        if os.path.lexists(into) and not os.path.isdir(into):
            raise BadInput(f"--into {into}: not a directory")
        if os.path.isdir(into) and os.listdir(into) and not onto:
            raise BadInput(f"--into {into} is not empty (use --onto to apply onto an "
                           f"existing rootfs)")
    image = _open_image(source)
    with image:
        if host is not None:
            _extract_simulated(source, image, policy, host, as_json)
        else:
            _extract_real(source, image, policy, into, keep_partial, as_json)


def _run_extract(source, image, target, policy, privilege):
    from .layer import MalformedLayer
    from .layer.extract import extract as run_extract
    from .layer.image import MalformedImage

    update, done = _progress(desc="unpacking")
    try:
        return run_extract(image, target, policy, privilege=privilege, progress=update), None
    except (MalformedLayer, MalformedImage) as exc:
        return None, exc
    finally:
        done()


def _report(outcome, as_json, extra=None):
    data = outcome.as_json()
    if extra:
        data.update(extra)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for w in data["warnings"]:
            click.echo(f"warning: {w}", err=True)
    return data


def _extract_real(source, image, policy, into, keep_partial, as_json):
    from .layer.dirtarget import DirTarget

    created_dir = not os.path.exists(into)
    try:
        os.makedirs(into, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--into {into}: {exc.strerror}") from None
    root = os.geteuid() == 0
    target = DirTarget(into, chown=root)
    with target:
        outcome, bad = _run_extract(source, image, target, policy, "root" if root else "rootless")
        failed = bad is not None or not outcome.ok
        removed = 0
        if failed and not keep_partial:
            removed = target.undo()
    if failed and not keep_partial and created_dir:
        try:
            os.rmdir(into)
        except OSError:
            pass
    if bad is not None:
        raise _bad_layer(source, bad)
    data = _report(outcome, as_json, {"into": into, "removed": removed,
                                      "kept_partial": failed and keep_partial})
    if outcome.ok:
        if not as_json:
            click.echo(f"{into}: {outcome.entries} entries from {outcome.layers} layer(s), "
                       f"policy {policy.name}, {len(data['warnings'])} warning(s)")
        sys.exit(0)
    if not as_json:
        _print_failure(data, policy)
        if keep_partial:
            click.echo(f"fsmodel: kept the partial rootfs in {into}", err=True)
        else:
            click.echo(f"fsmodel: removed the {removed} entries this run created", err=True)
            if target.destroyed:
                click.echo(f"fsmodel: {target.destroyed} pre-existing entries were replaced or "
                           f"removed and cannot be restored", err=True)
    sys.exit(1)


def _print_failure(data, policy):
    click.echo(f"{policy.tool}: {data['error']}", err=True)
    why = _cause(data["entry"], data["xattr"], data["errno"], data["rule"])
    if why:
        click.echo(f"  {why}", err=True)


def _cause(entry, xattr, code, rule) -> str:
    """``entry E, xattr X: ERRNO (rule R)``: what a failure came from, as far as known."""
    why = ", ".join(([f"entry {entry}"] if entry else []) + ([f"xattr {xattr}"] if xattr else []))
    if code:
        why += f": {code}" + (f" (rule {rule})" if rule else "")
    return why


def _extract_simulated(source, image, policy, host, as_json):
    import stat as _stat

    from .layer.apply import KernelTarget
    from .layer.hosts import ROOTFS

    with host.boot() as k:
        outcome, bad = _run_extract(source, image, KernelTarget(k, ROOTFS), policy,
                                    host.privilege)
        if bad is not None:
            raise _bad_layer(source, bad)
        tree = []
        for path, st, xattrs in k.tree(ROOTFS):
            rel = path[len(ROOTFS):] or "/"
            item = {"path": rel, "mode": _stat.filemode(st.st_mode), "uid": st.st_uid,
                    "gid": st.st_gid, "size": st.st_size if _stat.S_ISREG(st.st_mode) else None,
                    "target": k.readlink(path) if _stat.S_ISLNK(st.st_mode) else None,
                    "rdev": (f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
                             if _stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode) else None),
                    "xattrs": {n: _xattr_text(v) for n, v in sorted(xattrs.items())}}
            tree.append(item)
    data = _report(outcome, as_json, {"host": host.name, "tree": tree})
    if not as_json:
        click.echo(f"# {host.name}: {host.describe()}; policy {policy.name}")
        for item in tree:
            line = f"{item['mode']} {item['uid']}:{item['gid']}"
            if item["size"] is not None:
                line += f" {item['size']}"
            if item["rdev"]:
                line += f" {item['rdev']}"
            line += f" {item['path']}"
            if item["target"] is not None:
                line += f" -> {item['target']}"
            for n, v in item["xattrs"].items():
                line += f"  {n}={v}"
            click.echo(line)
        if not outcome.ok:
            _print_failure(data, policy)
    sys.exit(0 if outcome.ok else 1)


# ------------------------------------------------------------------ fuzz

def _fuzz_progress(seconds):
    """Live progress on stderr: a tqdm bar on a terminal, else a plain line now and then."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=seconds, unit="s", desc="fuzzing", leave=False, file=sys.stderr,
                   bar_format="{desc} {bar} {elapsed}/{total}s {postfix}")

        def update(status, elapsed, total):
            bar.n = min(int(elapsed), seconds)
            bar.set_postfix_str(f"#{status.execs:,} {status.exec_per_sec:,} exec/s "
                                f"cov {status.cov} ft {status.ft} corp {status.corpus} "
                                f"crashes {status.crashes}", refresh=True)
        return update, bar.close

    every = min(30.0, max(1.0, seconds / 10))
    last = [0.0]

    def update(status, elapsed, total):
        if status.execs and elapsed - last[0] >= every:
            last[0] = elapsed
            click.echo(f"fuzzing {elapsed:.0f}/{total:.0f}s: #{status.execs} execs, "
                       f"{status.exec_per_sec} exec/s, cov {status.cov} ft {status.ft}, "
                       f"corpus {status.corpus}, crashes {status.crashes}", err=True)
    return update, (lambda: None)


@cli.command()
@click.argument("target", metavar="TARGET")
@click.option("--time", "seconds", type=click.IntRange(1), default=60, show_default=True,
              help="Seconds of fuzzing (crash minimisation and the corpus merge come after).")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Parallel fuzzing processes; above 1, libFuzzer's -fork=N (crash-resistant).")
@click.option("--corpus", type=click.Path(), metavar="DIR",
              help="The target's corpus [default: ./corpus/TARGET if it exists, else "
                   "~/.cache/fsmodel/corpus/TARGET]; crashes are saved in DIR/regressions/.")
def fuzz(target, seconds, jobs, corpus):
    """Fuzz TARGET (layer, reader, xattr, kernel_diff) with atheris/libFuzzer.

    New inputs that add coverage are merged into the corpus; each crash is
    minimised and saved as regressions/crash-<sha1> there, where the tests
    replay it.  Exit 0 without crashes, 1 with crashes, 2 for bad usage.
    Ctrl-C stops fuzzing and still merges and summarises.
    """
    from .fuzzing.campaign import Campaign, CampaignError, HarnessError

    module = os.environ.get("FSMODEL_FUZZ_TARGETS") or None
    try:
        campaign = Campaign(target, seconds=seconds, jobs=jobs, corpus=corpus,
                            **({"module": module} if module else {}))
    except CampaignError as exc:
        raise BadInput(str(exc)) from None
    campaign.progress, done = _fuzz_progress(seconds)
    try:
        summary = campaign.run()
    except CampaignError as exc:
        raise BadInput(str(exc)) from None
    except HarnessError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"{exc.filename}: {exc.strerror}") from None
    finally:
        done()
    click.echo(summary.render())
    sys.exit(1 if summary.crashes else 0)


# ------------------------------------------------------------------ matrix

@cli.command()
@click.option("--fs", "filesystems", multiple=True,
              type=click.Choice(["ext4", "xfs", "btrfs", "tmpfs", "ramfs"]),
              help="Filesystem (repeatable) [default: ext4, xfs, btrfs, tmpfs, ramfs].")
@click.option("--kernel", default="6.18", show_default=True, callback=_kernel,
              help="Kernel version.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "svg", "png"]), default="md",
              show_default=True, help="Markdown table, standalone HTML page, or a picture.")
@click.option("--output", "-o", metavar="FILE",
              help="Write to FILE; '{fs}' in it writes one file per filesystem "
                   "[default: stdout; png needs a file].")
@click.option("--verify", is_flag=True,
              help="Also make every call on this machine's kernel (root; scratch mounts) and "
                   "exit 1 where it differs; the output then names the kernel it was verified on.")
def matrix(filesystems, kernel, fmt, output, verify):
    """Every xattr call's outcome: namespace × file type × caller, per filesystem.

    \b
    Example:
      fsmodel matrix --fs ext4 --format png --output ext4.png
    """
    from . import matrix as mx

    filesystems = list(dict.fromkeys(filesystems)) or list(mx.FILESYSTEMS)
    per_fs = output is not None and "{fs}" in output
    if fmt in ("svg", "png") and len(filesystems) > 1 and not per_fs:
        raise BadInput(f"a {fmt} picture shows one filesystem: pick one --fs, or put '{{fs}}' "
                       f"in --output (e.g. --output 'matrix-{{fs}}.{fmt}')")
    if fmt == "png" and output is None:
        raise BadInput("--format png needs --output FILE")
    if verify:
        from ._privilege import privilege_problem

        problem = privilege_problem()
        if problem:
            raise BadInput(f"--verify runs the real kernel and {problem}")
    result = mx.compute_matrix(filesystems, kernel)
    if verify:
        from ._mounts import MountError

        try:
            result, problems = mx.verify_on_host(result)
        except (ValueError, MountError) as exc:
            raise BadInput(str(exc)) from None
        if problems:
            click.echo(f"fsmodel: {len(problems)} cell(s) differ on this kernel:", err=True)
            for line in problems:
                click.echo(f"  {line}", err=True)
            sys.exit(1)
    groups = [(fs, result.only(fs)) for fs in filesystems] if per_fs else [(None, result)]
    for fs, part in groups:
        data = mx.render(part, fmt)
        if output is None:
            click.echo(data, nl=False)
            continue
        path = output.replace("{fs}", fs) if fs else output
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise BadInput(f"--output {path}: {exc.strerror}") from None

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
