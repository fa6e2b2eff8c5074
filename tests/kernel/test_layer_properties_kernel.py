"""Generated layers give the same results on SimKernel, fake_linux() and a real tmpfs.

The same tar bytes are applied under the same policy to an empty directory on each
backend; the outcome (success with its warnings, the tool's failure, or a refused
entry) and the resulting tree (types, modes, owners, sizes, xattrs) must be equal.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fsmodel
from fsmodel import strategies as fst
from fsmodel.layer.policies import POLICIES
from fsmodel.testing import Situation
from fsmodel.testing.backends import fake_linux_factory
from tests.conftest import scaled
from tests.layers import outcome
from tests.property.test_layer_properties import XATTRS

pytestmark = pytest.mark.privileged

LAYERS = fst.layers(xattrs=st.one_of(XATTRS, fst.xattrs(values=fst.xattr_values(max_size=64))
                                     .filter(lambda p: "=" not in p[0])),
                    max_entries=6)


@settings(max_examples=scaled(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LAYERS, st.sampled_from(sorted(POLICIES)))
def test_sim_fake_linux_and_a_real_tmpfs_agree(hosts, layer, policy):
    data = fst.encode(layer)
    expected = outcome(fsmodel.SimKernel("tmpfs"), data, policy)
    with hosts("tmpfs")() as k:
        real = outcome(k, data, policy)
    with fake_linux_factory(Situation("tmpfs"))() as k:
        fake = outcome(k, data, policy)
    assert real == expected
    assert fake == expected
