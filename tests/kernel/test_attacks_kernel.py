"""The P/L/W/D attacks of tests/attacks.py on the real kernel (HostKernel, tmpfs and ext4).

Each test gets a fresh HostKernel chrooted into its own directory of a scratch
filesystem; the canaries (``/outside``, ``/etc``, ``/root-evil``, ``/canary``)
sit next to the extraction root ``/root`` inside that directory, and the same
snapshot (real ``lstat``, ``readlink``, ``llistxattr``/``lgetxattr`` through the
HostKernel) must be unchanged after the layers are applied. The right answers
each case states are checked on the real tree too.
"""


import pytest

from tests.attacks import cases, run_case, site_on_kernel

pytestmark = pytest.mark.privileged

FILESYSTEMS = ["tmpfs", "ext4"]
CLASSES = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10",
           "L1", "L2", "L3", "L4", "W1", "W2", "W3", "W4", "W5", "W6", "W7",
           "D1", "D2", "D3", "D4"]



@pytest.fixture(params=FILESYSTEMS)
def host_site(request, hosts):
    cm = hosts(request.param)()
    k = cm.__enter__()
    try:
        yield site_on_kernel(k)
    finally:
        try:
            cm.__exit__(None, None, None)
        except ValueError as exc:
            # An exception the applier let escape in the middle of a HostKernel call (the
            # RecursionError of D3) leaves its channel broken; the unmount and close still
            # ran. The test itself has already failed with the real cause.
            if "closed (or broken) HostKernel" not in str(exc):
                raise


def _params(classes):
    return [pytest.param(c, id=repr(c)) for cls in classes for c in cases(cls)]


@pytest.mark.parametrize("case", _params(["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9",
                                          "P10"]))
def test_p_attacks_stay_inside_on_the_real_kernel(host_site, case):
    run_case(host_site, case)


@pytest.mark.parametrize("case", _params(["L1", "L2", "L3", "L4"]))
def test_l_attacks_stay_inside_on_the_real_kernel(host_site, case):
    run_case(host_site, case)


@pytest.mark.parametrize("case", _params(["W1", "W2", "W3", "W4", "W5", "W6", "W7"]))
def test_w_attacks_stay_inside_on_the_real_kernel(host_site, case):
    run_case(host_site, case)


@pytest.mark.parametrize("case", _params(["D1", "D2", "D3", "D4"]))
def test_d_attacks_stay_inside_on_the_real_kernel(host_site, case):
    run_case(host_site, case)


def test_every_confinement_class_has_cases():
    assert all(cases(cls) for cls in CLASSES)
