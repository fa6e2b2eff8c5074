"""The P/L/W/D attacks of tests/attacks.py against DirTarget, the real-filesystem target
`fsmodel extract --into` uses.

Each case runs in a forked child that enters a private mount namespace, mounts
/proc where DirTarget needs it, and chroots into the test's own directory: the
canaries (``/outside``, ``/etc/passwd``, ``/root-evil``, ``/canary``) sit at the
chroot's root next to the extraction root ``/root``, so an archive's absolute
symlink such as ``/outside`` names a canary, never the host's own files, even
if confinement were broken.  The child reports the assertion (or any escaped
exception) to the parent through a pipe.
"""

import ctypes
import os
import traceback

import pytest

from fsmodel.layer.dirtarget import DirTarget, _remove
from fsmodel.testing.backends import OsCalls
from tests.attacks import CASES, Site, plant_canaries, run_case, walk

pytestmark = pytest.mark.privileged

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _dir_site() -> Site:
    view = OsCalls()
    plant_canaries(view, "/")
    target = DirTarget("/root")
    return Site(target=target,
                read_outside=lambda: walk(view, "/", exclude=("/root", "/proc")),
                read_inside=lambda: walk(view, "/root", relative=True),
                kernel=None)


def run_chrooted(base: str, case) -> str | None:
    """Run ``case`` on a DirTarget chrooted at ``base``; None, or the failure's text."""
    os.makedirs(os.path.join(base, "proc"))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(r)
            libc = _libc()
            if libc.unshare(CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
            if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "make / private")
            if libc.mount(b"proc", os.fsencode(os.path.join(base, "proc")), b"proc", 0,
                          None) != 0:
                raise OSError(ctypes.get_errno(), "mount proc")
            os.chroot(base)
            os.chdir("/")
            site = _dir_site()
            try:
                run_case(site, case)
            finally:
                site.target.close()
            code = 0
        except BaseException:
            os.write(w, traceback.format_exc().encode()[-20000:])
        finally:
            os.close(w)
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return report or f"child exited with status {status}"


PLD = [c for c in CASES if c.cls[0] in "PLWD"]


@pytest.fixture
def base(tmp_path):
    yield tmp_path
    # Some cases leave trees thousands of levels deep, which pytest's recursive
    # cleanup cannot remove: remove them here, iteratively, by fd.
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in os.listdir(fd):
            _remove(fd, name)
    finally:
        os.close(fd)


@pytest.mark.parametrize("case", [pytest.param(c, id=repr(c)) for c in PLD])
def test_attacks_stay_inside_on_dirtarget(base, case):
    failure = run_chrooted(str(base), case)
    assert failure is None, failure
