"""The value formats the kernel parses: POSIX ACLs and file capabilities."""

import errno
import struct

from hypothesis import given
from hypothesis import strategies as st

from fsmodel._rules import codecs as c
from fsmodel._rules.crc import btrfs_name_hash, crc32c, xfs_da_hashname

TAGS = [c.ACL_USER_OBJ, c.ACL_USER, c.ACL_GROUP_OBJ, c.ACL_GROUP, c.ACL_MASK, c.ACL_OTHER]


def test_acl_decode_errors():
    assert c.acl_decode(b"") == errno.EINVAL
    assert c.acl_decode(b"\x02\x00\x00") == errno.EINVAL
    assert c.acl_decode(struct.pack("<I", 1)) == errno.EOPNOTSUPP
    assert c.acl_decode(struct.pack("<I", 2) + b"\x00" * 7) == errno.EINVAL
    assert c.acl_decode(struct.pack("<I", 2)) is None  # header only: "no ACL"
    assert c.acl_decode(c.acl_value((0x40, 7, None))) == errno.EINVAL
    assert c.acl_decode(c.acl_value((c.ACL_USER, 7, 0xFFFFFFFF))) == errno.EINVAL


def test_acl_decode_normalises_object_ids():
    raw = struct.pack("<I", 2) + struct.pack("<HHI", c.ACL_USER_OBJ, 6, 1234) \
        + struct.pack("<HHI", c.ACL_GROUP_OBJ, 4, 5) + struct.pack("<HHI", c.ACL_OTHER, 4, 0)
    acl = c.acl_decode(raw)
    assert acl == ((c.ACL_USER_OBJ, 6, None), (c.ACL_GROUP_OBJ, 4, None), (c.ACL_OTHER, 4, None))
    assert c.acl_encode(acl) == c.acl_value(*acl)


@given(st.lists(st.tuples(st.sampled_from(TAGS), st.integers(0, 7),
                          st.integers(0, 0xFFFFFFFE)), max_size=8))
def test_acl_round_trip(entries):
    entries = [(t, p, i if t in (c.ACL_USER, c.ACL_GROUP) else None) for t, p, i in entries]
    value = c.acl_value(*entries)
    decoded = c.acl_decode(value)
    if not entries:
        assert decoded is None
    else:
        assert decoded == tuple(entries)
        assert c.acl_encode(decoded) == value


def test_acl_valid():
    ok = ((c.ACL_USER_OBJ, 6, None), (c.ACL_USER, 6, 1), (c.ACL_USER, 4, 1),
          (c.ACL_GROUP_OBJ, 4, None), (c.ACL_GROUP, 2, 3), (c.ACL_MASK, 6, None),
          (c.ACL_OTHER, 4, None))
    assert c.acl_valid(ok) == 0  # duplicates accepted
    assert c.acl_valid(((c.ACL_USER_OBJ, 6, None), (c.ACL_GROUP_OBJ, 4, None),
                        (c.ACL_OTHER, 4, None))) == 0
    for bad in (
        ((c.ACL_USER_OBJ, 6, None), (c.ACL_USER, 6, 1), (c.ACL_GROUP_OBJ, 4, None),
         (c.ACL_OTHER, 4, None)),                                   # named entry, no mask
        ((c.ACL_GROUP_OBJ, 4, None), (c.ACL_USER_OBJ, 6, None), (c.ACL_OTHER, 4, None)),
        ((c.ACL_USER_OBJ, 8, None), (c.ACL_GROUP_OBJ, 4, None), (c.ACL_OTHER, 4, None)),
        ((c.ACL_USER_OBJ, 6, None), (c.ACL_GROUP_OBJ, 4, None)),    # no OTHER
        ((c.ACL_USER_OBJ, 6, None), (c.ACL_GROUP_OBJ, 4, None), (c.ACL_OTHER, 4, None),
         (c.ACL_OTHER, 4, None)),
    ):
        assert c.acl_valid(bad) == errno.EINVAL


def test_acl_equiv_mode_and_chmod():
    minimal = ((c.ACL_USER_OBJ, 7, None), (c.ACL_GROUP_OBJ, 5, None), (c.ACL_OTHER, 1, None))
    assert c.acl_equiv_mode(minimal, 0o100000) == (True, 0o100751)
    masked = ((c.ACL_USER_OBJ, 6, None), (c.ACL_USER, 7, 5), (c.ACL_GROUP_OBJ, 4, None),
              (c.ACL_MASK, 2, None), (c.ACL_OTHER, 0, None))
    assert c.acl_equiv_mode(masked, 0o100000) == (False, 0o100620)
    assert c.acl_chmod(masked, 0o751) == ((c.ACL_USER_OBJ, 7, None), (c.ACL_USER, 7, 5),
                                         (c.ACL_GROUP_OBJ, 4, None), (c.ACL_MASK, 5, None),
                                         (c.ACL_OTHER, 1, None))


def test_acl_create_masq():
    default = ((c.ACL_USER_OBJ, 7, None), (c.ACL_USER, 7, 5), (c.ACL_GROUP_OBJ, 5, None),
               (c.ACL_MASK, 7, None), (c.ACL_OTHER, 5, None))
    extended, acl, mode = c.acl_create_masq(default, 0o666)
    assert extended and mode == 0o664
    assert acl[3] == (c.ACL_MASK, 6, None) and acl[4] == (c.ACL_OTHER, 4, None)


def test_file_capabilities():
    v2 = c.fcaps_value(permitted=0x400)
    v3 = c.fcaps_value(permitted=0x400, effective=True, rootid=0)
    v3u = c.fcaps_value(permitted=0x400, rootid=1000)
    assert (len(v2), len(v3)) == (20, 24)
    assert c.fcaps_version(v2) == 2 and c.fcaps_version(v3) == 3
    assert c.fcaps_version(v2 + b"\0") == 0
    assert c.fcaps_version(b"\x00\x00\x00\x01" + b"\0" * 8) == 0
    assert c.fcaps_version(struct.pack("<I", 0x02000002) + v2[4:]) == 0
    back = c.fcaps_read_back(v3)
    assert len(back) == 20 and struct.unpack_from("<I", back)[0] == 0x02000001
    assert back[4:] == v3[4:20]
    assert c.fcaps_read_back(v3u) == v3u
    assert c.fcaps_read_back(b"") == errno.EINVAL


def test_hashes():
    # crc32c check value (standard, with the usual inversions around the kernel's raw form)
    assert crc32c(0xFFFFFFFF, b"123456789") ^ 0xFFFFFFFF == 0xE3069283
    assert btrfs_name_hash(b"user.a") == crc32c(0xFFFFFFFE, b"user.a")
    assert xfs_da_hashname(b"") == 0
    assert xfs_da_hashname(b"a") == ord("a")
    assert xfs_da_hashname(b"abcd") == (ord("a") << 21) ^ (ord("b") << 14) ^ (ord("c") << 7) ^ ord("d")
