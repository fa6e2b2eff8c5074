"""Every attack class of shared/research/attacks.md against the reader and the applier.

The property for every P/L/W/D attack: nothing outside the extraction root changes
(``attack()`` snapshots the canaries, the root's parent and everything else outside
before and after), the outcome is one the applier documents (success, UnsafeEntry,
MalformedLayer, ExtractionFailed — anything else escaping is a bug), and where the
attack has a right answer, the root's tree shows it. H attacks: the reader raises
MalformedLayer or reads the bytes the same way whatever the chunking. X/M/R: the
policy's decision, the mode and device rules, and the limits.
"""

import os
import random
import zlib

import pytest

from fsmodel._rules.codecs import (
    ACL_GROUP_OBJ,
    ACL_OTHER,
    ACL_USER_OBJ,
    acl_value,
    fcaps_value,
)
from fsmodel.layer import Limits, MalformedLayer, Symlink, iter_layer
from fsmodel.layer.policies import get_policy
from tests.attacks import (
    BLOCK,
    DEFAULT_LIMITS,
    EOF_BLOCKS,
    GNU,
    STAR,
    V7,
    attack,
    base256,
    cases,
    checksum,
    gnu_long,
    gzip_bomb,
    header,
    layer,
    m,
    make_site,
    make_target,
    octal,
    pad,
    patched,
    pax,
    pax_body_layer,
    pax_record,
    read_consistently,
    with_checksum,
    xattr_layer,
)

#: Target kinds every test runs on (tests/attacks.py KINDS).
TARGET_KINDS = ["sim"]

#: The policies whose differences matter to these attacks (xattr errors, skips, order).
POLICIES = ["containerd", "containerd-legacy", "moby", "containers-storage", "umoci", "strict"]


@pytest.fixture(params=TARGET_KINDS)
def kind(request):
    return request.param


@pytest.fixture
def site(kind, tmp_path):
    return make_site(kind, tmp_path)


def matrix(cls):
    """(case, policy) pairs for a class; heavy cases under containerd only."""
    return [pytest.param(c, p, id=f"{c.id}-{p}") for c in cases(cls)
            for p in (["containerd"] if c.heavy else POLICIES)]


def run(site, case, policy):
    from tests.attacks import run_case

    return run_case(site, case, policy)


def test_make_target_gives_a_target_and_an_outside_snapshot(tmp_path):
    for kind in TARGET_KINDS:
        _target, read_outside = make_target(kind, tmp_path)
        snapshot = read_outside()
        assert "/outside/canary" in snapshot and "/" in snapshot
        assert not any(p == "/root" or p.startswith("/root/") for p in snapshot)
        assert read_outside() == snapshot


# =========================================================================== P

@pytest.mark.parametrize("case,policy", matrix("P1"))
def test_p1_dotdot_names_are_refused(site, case, policy):
    """``..`` climbing above the root, in the ustar name, a PAX path or a GNU long name."""
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P2"))
def test_p2_absolute_names_are_root_relative(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P3"))
def test_p3_symlink_then_write_through_it_stays_inside(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P4"))
def test_p4_symlink_from_a_lower_layer_stays_inside(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P5"))
def test_p5_symlink_chains_and_loops_stay_inside(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P6"))
def test_p6_root_entry_must_be_a_directory(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P7"))
def test_p7_sibling_prefix_is_outside(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P8"))
def test_p8_impossible_names_fail_cleanly(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P9"))
def test_p9_empty_dot_and_slash_names(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("P10"))
def test_p10_case_and_unicode_collisions(site, case, policy):
    run(site, case, policy)


# =========================================================================== L

@pytest.mark.parametrize("case,policy", matrix("L1"))
def test_l1_hardlink_out_of_root_then_write(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("L2"))
def test_l2_hardlink_to_symlink_links_the_symlink(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("L3"))
def test_l3_no_deferred_fixup_through_a_later_symlink(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("L4"))
def test_l4_hardlink_edge_cases(site, case, policy):
    run(site, case, policy)


# =========================================================================== W

@pytest.mark.parametrize("case,policy", matrix("W1"))
def test_w1_escaping_whiteouts_are_refused(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("W2"))
def test_w2_whiteout_and_opaque_through_symlinked_dir(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("W3"))
def test_w3_opaque_at_root_keeps_this_layer(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("W4"))
def test_w4_whiteouts_are_order_independent(site, case, policy):
    run(site, case, policy)


def test_w4_opaque_position_does_not_matter(kind, tmp_path):
    """The same layer with its opaque marker first or last gives the same tree."""
    lower = layer(m("a/old", data=b"o"), m("a/b/old", data=b"o"), m("a/b/c/old", data=b"o"))
    entries = [m("a/b/c/foo", data=b"f"), m("a/new/", "dir"), m("a/b/x", data=b"x")]
    trees = []
    for position in range(len(entries) + 1):
        parts = entries[:position] + [m("a/.wh..wh..opq")] + entries[position:]
        s = make_site(kind, tmp_path)
        assert attack(s, [lower, layer(*parts)]).kind == "ok"
        trees.append({p: (n.type, n.size) for p, n in s.read_inside().items()})
    assert all(t == trees[0] for t in trees), trees
    assert set(trees[0]) == {"/", "/a", "/a/b", "/a/b/c", "/a/b/c/foo", "/a/new", "/a/b/x"}


@pytest.mark.parametrize("case,policy", matrix("W5"))
def test_w5_whiteouts_of_any_type_are_never_created(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("W6"))
def test_w6_aufs_metadata_is_not_created(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("W7"))
def test_w7_whiteout_of_missing_path(site, case, policy):
    run(site, case, policy)


# =========================================================================== D

@pytest.mark.parametrize("case,policy", matrix("D1"))
def test_d1_duplicates_last_wins_unlink_first(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("D2"))
def test_d2_dir_replaced_mid_archive(site, case, policy):
    run(site, case, policy)


@pytest.mark.parametrize("case,policy", matrix("D3"))
def test_d3_replacing_existing_trees(site, case, policy):
    run(site, case, policy)


def test_d3_replacing_a_tree_does_not_cross_a_mount(site):
    """A filesystem mounted under a replaced directory is not the layer's to empty."""
    k = site.kernel
    if not hasattr(k, "mount"):
        pytest.skip("this target kind cannot mount")
    root = site.target.root
    assert attack(site, [layer(m("d/m/", "dir"))]).kind == "ok"
    k.mount(root + "/d/m", "tmpfs")
    fd = k.open(root + "/d/m/mounted-canary", os.O_WRONLY | os.O_CREAT, 0o644)
    k.write(fd, b"other filesystem")
    k.close(fd)
    outcome = attack(site, [layer(m("d", data=b"abc"))])
    assert outcome.kind in ("ok", "failed")
    assert "mounted-canary" in k.listdir(root + "/d/m"), (
        f"the applier emptied a mounted filesystem ({outcome.kind}: {outcome.error})")


@pytest.mark.parametrize("case,policy", matrix("D4"))
def test_d4_pax_global_headers_do_not_rename(site, case, policy):
    run(site, case, policy)


# =========================================================================== H

def apply_read(site, data, limits=DEFAULT_LIMITS):
    """The reader's verdict (consistent over chunkings), then the same bytes applied
    with everything outside the root unchanged."""
    result = read_consistently(data, limits)
    outcome = attack(site, [data], limits=limits)
    if result[0] == "malformed":
        assert outcome.kind == "malformed"
    return result, outcome


def paths(result):
    assert result[0] == "events", result
    return [e.path for e in result[1] if hasattr(e, "path")]


H1 = {
    "base256-8gib": pax(None, body=b"", size=base256(8 << 30, 12)),
    "octal-max": pax(None, body=b"", size=b"77777777777\0"),
    "over-1mib-present": pax([("comment", "x" * (1 << 20))]),
    "record-over-limit": pax([("comment", "x" * (200 << 10))]),
}


@pytest.mark.parametrize("name", sorted(H1))
def test_h1_pax_header_size_bombs_are_malformed(site, name):
    result, _ = apply_read(site, H1[name] + m("f") + EOF_BLOCKS)
    assert result[0] == "malformed"


def test_h2_record_count_bomb_reads_consistently(site):
    body = pax_record("a", "b") * ((512 << 10) // 6)
    result, outcome = apply_read(site, layer(pax(None, body=body) + m("f", data=b"x")))
    assert paths(result) == ["f"] and outcome.kind == "ok"


def test_h2_xattr_count_over_limit_is_malformed(site):
    records = [(f"SCHILY.xattr.user.{i}", "v") for i in range(10000)]
    result, _ = apply_read(site, layer(m("f", records=records)))
    assert result[0] == "malformed"


@pytest.mark.parametrize("policy", POLICIES)
def test_h2_xattrs_filling_the_inode_fail_cleanly(site, policy):
    records = [(f"SCHILY.xattr.user.n{i:04}", "v" * 40) for i in range(1024)]
    result = read_consistently(layer(m("f", records=records)))
    assert result[0] == "events"
    outcome = attack(site, [layer(m("f", records=records))], policy)
    assert outcome.kind in ("ok", "failed")


H3 = {
    "past-end": b"99 path=a\n",
    "too-small": b"3 a=b\n",
    "zero": b"0 a=b\n",
    "recursion-tar": b"0 \n" + bytes(100),
    "negative": b"-5 a=\n",
    "plus": b"+12 path=ab\n",
    "leading-zero": b"012 path=ab\n",
    "leading-space": b" 12 path=a\n",
    "non-digit": b"1x path=abc\n",
    "no-space": b"11path=abc\n",
    "no-equals": b"9 pathab\n",
    "empty-key": b"5 =x\n",
    "nul-key": pax_record(b"SCHILY.xattr.null\0", b"1"),
    "no-newline": pax_record("path", "abc")[:-1] + b"x",
    "no-newline-at-end": b"10 path=ab",
    "trailing-garbage": pax_record("path", "abc") + b"xx",
    "nul-padding": pax_record("path", "abc") + b"\0" * 10,
    "bad-size-value": pax_record("size", "-1"),
    "bad-uid-value": pax_record("uid", "12a"),
    "bad-mtime-value": pax_record("mtime", "1.2.3"),
    "uid-over-32bit": pax_record("uid", str(2**32)),
    "bad-base64": pax_record("LIBARCHIVE.xattr.user.x", "!!!"),
}


@pytest.mark.parametrize("name", sorted(H3))
def test_h3_records_that_lie_about_their_length_are_malformed(site, name):
    result, _ = apply_read(site, pax_body_layer(H3[name]))
    assert result[0] == "malformed", result


def _nested(total: int) -> bytes:
    """A body of ``total`` bytes whose first blocks are hostile headers."""
    inner = m("../../evil", "symlink", target="/") + m("../outside/canary", data=b"smuggled")
    return inner[:total] + bytes(max(0, total - len(inner)))


def test_h4_pax_size_wins_over_an_intervening_gnu_longname(site):
    data = layer(pax([("size", "2048")]) + gnu_long("long-" + "n" * 120)
                 + header(b"file_a", size=16) + _nested(2048) + m("file_b", data=b"b"))
    result, outcome = apply_read(site, data)
    assert paths(result) == ["long-" + "n" * 120, "file_b"]
    assert result[1][0].size == 2048
    assert outcome.kind == "ok"


def test_h4_tarmageddon_ustar_size_zero_pax_size_n(site):
    data = layer(pax([("size", "1024")]) + header(b"a", size=0) + _nested(1024)
                 + m("b", data=b"b"))
    result, _ = apply_read(site, data)
    assert paths(result) == ["a", "b"]


def test_h4_pax_size_zero_over_ustar_size(site):
    """PAX size 0 over a ustar size: the 'body' is read as headers, the same way each time."""
    data = layer(pax([("size", "0")]) + header(b"a", size=512) + _nested(512))
    result, _ = apply_read(site, data)
    assert result[0] in ("events", "malformed")


@pytest.mark.parametrize("value", ["-1", "99999999999999999999", "+5", " 5", "0x10", ""])
def test_h4_bad_pax_sizes_are_malformed(site, value):
    result, _ = apply_read(site, layer(pax([("size", value)]) + m("a", data=b"abc")))
    assert result[0] == "malformed"


def test_h4_pax_path_with_gnu_longname_is_malformed(site):
    data = layer(pax([("path", "a")]) + gnu_long("b") + m("c", data=b"c", fmt=GNU))
    result, _ = apply_read(site, data)
    assert result[0] == "malformed"


H5_MALFORMED = {
    "L-100mib": header(b"././@LongLink", b"L", size=100 << 20, fmt=GNU) + EOF_BLOCKS,
    "L-then-eof": gnu_long("a") + EOF_BLOCKS,
    "L-then-stream-end": gnu_long("a"),
    "K-truncated": header(b"././@LongLink", b"K", size=1000, fmt=GNU) + b"x" * 100,
    "L-empty": gnu_long(b"", nul=False) + m("f") + EOF_BLOCKS,
    "L-only-nul": gnu_long(b"") + m("f") + EOF_BLOCKS,
    "x-then-eof": pax([("path", "a")]) + EOF_BLOCKS,
    "g-between-x-and-entry": pax([("uid", "1")]) + pax([("comment", "c")], b"g") + m("f")
    + EOF_BLOCKS,
}


@pytest.mark.parametrize("name", sorted(H5_MALFORMED))
def test_h5_gnu_long_name_abuse_is_malformed(site, name):
    result, _ = apply_read(site, H5_MALFORMED[name])
    assert result[0] == "malformed", result


@pytest.mark.parametrize("order", ["LKx", "LxK", "KLx", "KxL", "xLK", "xKL"])
def test_h5_long_name_link_and_pax_in_any_order(site, order):
    parts = {"L": gnu_long("name-" + "n" * 100), "K": gnu_long("target-" + "t" * 100, b"K"),
             "x": pax([("uid", "1234")])}
    data = layer(b"".join(parts[c] for c in order)
                 + m("s", "symlink", target="t", fmt=GNU))
    result, outcome = apply_read(site, data)
    (entry,) = [e for e in result[1] if isinstance(e, Symlink)]
    assert (entry.path, entry.target, entry.uid) == ("name-" + "n" * 100, "target-" + "t" * 100,
                                                     1234)
    assert outcome.kind == "ok"


def test_h5_redundant_and_unterminated_long_names(site):
    data = layer(gnu_long("first") + gnu_long(b"second", nul=False) + m("f", data=b"x", fmt=GNU))
    result, _ = apply_read(site, data)
    assert paths(result) == ["second"]


H6 = {
    "gnu-S": header(b"sparse", b"S", size=512, fmt=GNU) + bytes(512) + EOF_BLOCKS,
    "gnu-S-isextended": header(b"sparse", b"S", size=0, fmt=GNU, patch={482: b"\1"})
    + b"\xff" * 512 + EOF_BLOCKS,
    "pax-0.1-map": layer(pax([("GNU.sparse.numblocks", "1"), ("GNU.sparse.offset", "0"),
                              ("GNU.sparse.numbytes", "1")]) + m("f", data=b"x")),
    "pax-0.1-map-string": layer(pax([("GNU.sparse.map", "0,1,-5,99999999999999999999")])
                                + m("f", data=b"x")),
    "pax-1.0": layer(pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"),
                          ("GNU.sparse.name", "f"), ("GNU.sparse.realsize", str(2**62))])
                     + m("GNUSparseFile.0/f", data=b"1\n0\n1\n" + bytes(506))),
    "sun-holesdata": layer(pax([("SUN.holesdata", " 0 1")]) + m("f", data=b"x")),
}


@pytest.mark.parametrize("name", sorted(H6))
def test_h6_sparse_files_are_malformed(site, name):
    result, _ = apply_read(site, H6[name])
    assert result[0] == "malformed", result


H7_MALFORMED = {
    "negative-size": header(b"f", size=base256(-1, 12)) + EOF_BLOCKS,
    "V-negative-size": header(b"label", b"V", size=base256(-512, 12)) + EOF_BLOCKS,
    "size-past-end": header(b"f", size=10000) + pad(b"x" * 100) + EOF_BLOCKS,
    "size-int64": header(b"f", size=base256(2**63 - 1, 12)) + EOF_BLOCKS,
    "size-2^64": header(b"f", size=base256(2**64, 12)) + EOF_BLOCKS,
    "devmajor-2^32": header(b"c", b"3", devmajor=base256(2**32, 8)) + EOF_BLOCKS,
    "devminor-negative": header(b"c", b"4", devminor=base256(-1, 8)) + EOF_BLOCKS,
    "junk-body-on-symlink": m("s", "symlink", b"junk" * 10, target="t") + EOF_BLOCKS,
    "junk-body-on-dir": m("d/", "dir", b"junk" * 10) + EOF_BLOCKS,
}


@pytest.mark.parametrize("name", sorted(H7_MALFORMED))
def test_h7_negative_huge_and_misplaced_sizes_are_malformed(site, name):
    result, _ = apply_read(site, H7_MALFORMED[name])
    assert result[0] == "malformed", result


@pytest.mark.parametrize("etype", ["dir", "symlink", "fifo", "chr", "hardlink", "blk"])
def test_h7_size_on_header_only_types_is_never_content(site, etype):
    """A body on a non-file is read as the next headers (Go, tarfile), never written."""
    inner = m("smuggled", data=b"s") + m("../outside/canary", data=b"x")
    data = layer(m("f", data=b"abc"), m(f"n-{etype}", etype, inner, target="f", major=1, minor=3))
    result, outcome = apply_read(site, data)
    assert paths(result) == ["f", f"n-{etype}", "smuggled", "../outside/canary"]
    assert outcome.kind == "unsafe"


H8_OK = {
    "base256-mode": (header(b"f", mode=base256(0o755, 8)), {"mode": 0o755}),
    "uid-all-nul": (header(b"f", uid=b"\0" * 8), {"uid": 0}),
    "uid-base256-go17": (header(b"f", uid=base256(1000, 8), gid=b"10000000"),
                         {"uid": 1000, "gid": 0o10000000}),
    "mtime-overflow": (header(b"f", mtime=15155542402), {"mtime": 15155542402}),
    "mtime-negative": (header(b"f", mtime=base256(-2**31, 12)), {"mtime": -2**31}),
    "mtime-whitespace": (header(b"f", fmt=V7, mtime=b" " * 11 + b"\0"), {"mtime": 0}),
    "octal-space-terminated": (header(b"f", mode=b"0000644 "), {"mode": 0o644}),
    "octal-leading-spaces": (header(b"f", mode=b"    644\0"), {"mode": 0o644}),
    "uid-max": (header(b"f", uid=base256(2**32 - 1, 8)), {"uid": 2**32 - 1}),
}
H8_MALFORMED = {
    "embedded-space": header(b"f", mode=b"0 644\0\0\0"),
    "digit-8": header(b"f", mode=b"0000899\0"),
    "nul-then-digits": header(b"f", size=b"\0" * 7 + b"0016\0"),
    "garbage": header(b"f", uid=b"abcdefg\0"),
    "high-byte-not-base256": header(b"f", gid=b"\x81" + bytes(7)),
    "uid-2^32": header(b"f", uid=base256(2**32, 8)),
    "mode-huge": header(b"f", mode=base256(2**40, 8)),
}


@pytest.mark.parametrize("name", sorted(H8_OK))
def test_h8_numeric_field_tricks_parse_exactly(site, name):
    block, fields = H8_OK[name]
    result, _ = apply_read(site, block + EOF_BLOCKS)
    assert result[0] == "events", result
    entry = result[1][0]
    for field, value in fields.items():
        assert getattr(entry, field) == value


@pytest.mark.parametrize("name", sorted(H8_MALFORMED))
def test_h8_malformed_numbers_are_malformed(site, name):
    result, _ = apply_read(site, H8_MALFORMED[name] + EOF_BLOCKS)
    assert result[0] == "malformed", result


@pytest.mark.parametrize("policy", POLICIES)
def test_h8_uid_minus_one_does_not_leave_a_root_owned_setuid_file(site, policy):
    """uid 2**32-1 is chown's "leave unchanged": the file would silently stay root-owned
    with its setuid bit. The catalogue: reject it (or the uid must be what was asked)."""
    data = layer(m("su", data=b"\x7fELF", mode=0o4755, uid=2**32 - 1, gid=2**32 - 1))
    outcome = attack(site, [data], policy)
    if outcome.kind == "ok":
        node = site.read_inside()["/su"]
        assert (node.uid, node.gid) == (2**32 - 1, 2**32 - 1), (
            f"uid/gid -1 left /su owned by {node.uid}:{node.gid} with mode {node.mode:o}")


def test_h9_checksum_variants(site):
    base = header(b"caf\xe9-\xff", size=0)
    variants = {
        "signed": with_checksum(base, signed=True),
        "seven-digits": with_checksum(base, b"%07o\0" % checksum(base)),
        "space-terminated": with_checksum(base, b"%06o \0" % checksum(base)),
        "leading-space": with_checksum(base, b" %06o\0" % checksum(base)),
        "spaces-only-after": with_checksum(base, b"%06o  " % checksum(base)),
    }
    for name, block in variants.items():
        result, _ = apply_read(site, block + EOF_BLOCKS)
        assert paths(result) == ["caf\udce9-\udcff"], name
    for bad in (with_checksum(base, 1), with_checksum(base, b"garbage!"),
                patched(base, {0: b"X"}, fix_checksum=False)):
        assert read_consistently(bad + EOF_BLOCKS)[0] == "malformed"


def test_h9_lone_zero_block_then_data_is_malformed(site):
    result, _ = apply_read(site, m("a") + bytes(BLOCK) + m("../outside/canary") + EOF_BLOCKS)
    assert result[0] == "malformed"


def test_h9_concatenated_archives_stop_at_the_first_end(site):
    result, outcome = apply_read(site, layer(m("a")) + layer(m("../outside/canary", data=b"x")))
    assert paths(result) == ["a"] and outcome.kind == "ok"


@pytest.mark.parametrize("tail", [b"junk" * 300, bytes(5000), b"\xff" * 512])
def test_h9_data_after_the_end_is_ignored(site, tail):
    result, _ = apply_read(site, layer(m("a")) + tail)
    assert paths(result) == ["a"]


def test_h9_missing_or_partial_end(site):
    assert paths(apply_read(site, m("a") + m("b"))[0]) == ["a", "b"]
    assert paths(apply_read(site, m("a") + bytes(BLOCK))[0]) == ["a"]
    assert apply_read(site, m("a") + b"x" * 100)[0][0] == "malformed"
    assert apply_read(site, m("a", data=b"abc" * 200)[:700])[0][0] == "malformed"


@pytest.mark.parametrize("flag", [b"D", b"M", b"N", b"V", b"X", b"S", b"A", b"Z", b"I", b"8",
                                  b"\xff"])
def test_h10_unknown_and_unsupported_typeflags_are_malformed(site, flag):
    result, _ = apply_read(site, header(b"etc/passwd", flag, size=0) + EOF_BLOCKS)
    assert result[0] == "malformed", result


def test_h10_contiguous_and_v7_directory_types(site):
    result, _ = apply_read(site, layer(m("c", typeflag=b"7", data=b"x"),
                                       m("d/", typeflag=b"\0")))
    assert [type(e).__name__ for e in result[1]] == ["File", "Data", "Directory", "EndOfLayer"]


def test_h10_trailing_extension_headers(site):
    assert apply_read(site, m("a") + pax([("path", "b")]) + EOF_BLOCKS)[0][0] == "malformed"
    result, _ = apply_read(site, m("a") + pax([("comment", "c")], b"g") + EOF_BLOCKS)
    assert result[0] in ("events", "malformed")


def test_h11_gnu_magic_ignores_the_prefix_area(site):
    block = header(b"name", fmt=GNU, patch={345: octal(12345, 12), 357: octal(67890, 12)})
    result, _ = apply_read(site, block + EOF_BLOCKS)
    assert paths(result) == ["name"]


def test_h11_posix_prefix_is_part_of_the_name_and_is_confined(site):
    block = header(b"canary", prefix=b"../../outside")
    result, outcome = apply_read(site, block + EOF_BLOCKS)
    assert paths(result) == ["../../outside/canary"] and outcome.kind == "unsafe"


def test_h11_garbage_prefix_and_other_layouts(site):
    for block in (header(b"n", prefix=b"p" * 155),
                  header(b"n", fmt=STAR, prefix=b"dir"),
                  header(b"n", fmt=V7, patch={265: b"garbage-uname", 345: b"../../x"}),
                  header(b"n", fmt=GNU, patch={345: b"go17/prefix"})):
        result, outcome = apply_read(site, block + EOF_BLOCKS)
        assert result[0] == "events" and outcome.kind == "ok", result


def _mutants(seed_layer: bytes, n: int):
    rng = random.Random(0x7a7)
    for i in range(n):
        data = bytearray(seed_layer)
        for _ in range(rng.randint(1, 4)):
            how = rng.random()
            blocks = len(data) // BLOCK
            if blocks == 0:
                break
            if how < 0.5:
                pos = rng.randrange(blocks) * BLOCK + rng.choice(
                    [rng.randrange(BLOCK), 100 + rng.randrange(60), 156, 157 + rng.randrange(8)])
                data[pos] = rng.randrange(256)
            elif how < 0.8:
                b = rng.randrange(blocks) * BLOCK
                data[b:b + BLOCK] = with_checksum(bytes(data[b:b + BLOCK]))
                data[b + 156] = rng.choice(b"0123456xgLKS\0")
                data[b:b + BLOCK] = with_checksum(bytes(data[b:b + BLOCK]))
            else:
                cut = rng.randrange(len(data))
                data = data[:cut] if rng.random() < 0.5 else data + data[cut:cut + BLOCK]
        yield i, bytes(data)


_SEED = layer(pax([("path", "p/" + "x" * 120), ("SCHILY.xattr.user.a", "1")])
              + m("ignored", data=b"hello"),
              gnu_long("g/" + "y" * 120) + m("short", "symlink", target="p", fmt=GNU),
              m("d/", "dir"), m("d/f", data=b"abc" * 200), m("h", "hardlink", target="d/f"),
              m("d/.wh.f"), m("e/.wh..wh..opq"))


@pytest.mark.parametrize("chunk", range(4))
def test_h_fuzzed_headers_read_consistently_and_stay_confined(kind, tmp_path, chunk):
    """Random corruptions of a layer using every extension: only documented outcomes,
    the same events whatever the chunking, nothing outside the root touched."""
    failures = {}
    for i, data in list(_mutants(_SEED, 240))[chunk::4]:
        try:
            read_consistently(data, chunk_sizes=(1, 7, 65536))
            attack(make_site(kind, tmp_path), [data])
        except Exception as exc:  # noqa: BLE001 - collect every distinct failure
            failures.setdefault(f"{type(exc).__name__}: {str(exc)[:160]}", i)
    assert not failures, "\n".join(f"mutant {i}: {what}" for what, i in failures.items())


# =========================================================================== X

_EXPECT_SET, _EXPECT_SKIPPED = "set", "skipped"


def _expected(policy, name, code, kind, privilege="root"):
    p = get_policy(policy)
    if "SCHILY" not in p.encodings or not p.includes(name) or p.skips(name):
        return _EXPECT_SKIPPED
    if code is None:
        return _EXPECT_SET
    return p.decide(code, name, kind, privilege)


def _canon(code):
    return "EOPNOTSUPP" if code in ("ENOTSUP", "EOPNOTSUPP") else code


def check_xattr(site, policy, data, path, name, value, code, kind, privilege="root"):
    """Apply ``data``; the xattr ``name`` (kernel errno ``code``, None: settable) must be
    set, skipped, or failed/warned as the policy decides."""
    outcome = attack(site, [data], policy, privilege=privilege)
    want = _expected(policy, name, code, kind, privilege)
    if want == "fail":
        assert outcome.kind == "failed", (want, outcome)
        assert (outcome.error.xattr, _canon(outcome.error.errno)) == (name, code)
        return outcome
    assert outcome.kind == "ok", (want, outcome.kind, outcome.error)
    xattrs = dict(site.read_inside()[path].xattrs)
    if want == _EXPECT_SET:
        assert xattrs.get(name) == value, (name, xattrs)
    else:
        assert name not in xattrs
        if want in ("warn", "collect"):
            assert any(w.xattr == name and _canon(w.errno) == code for w in outcome.warnings), \
                outcome.warnings
    return outcome


X1 = {  # name -> errno the kernel answers on a regular file (None: it sets it)
    "": "ERANGE",
    "user.": "EINVAL",
    "user." + "a" * 251: "ERANGE",
    "foo.bar": "EOPNOTSUPP",
    "user.a%3Db": None,
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", list(X1), ids=lambda n: repr(n[:12]))
def test_x1_bad_xattr_names_follow_the_policy(site, policy, name):
    check_xattr(site, policy, xattr_layer(name, b"v"), "/e", name, b"v", X1[name], "regular")


def test_x1_empty_name_fails_containerd_with_erange(site):
    outcome = attack(site, [xattr_layer("", b"v")], "containerd")
    assert outcome.kind == "failed" and outcome.error.errno == "ERANGE"


def test_x1_equals_in_a_schily_name_ends_the_keyword():
    """``SCHILY.xattr.user.a=b=v``: the keyword ends at the first '=', as in Go."""
    result = read_consistently(layer(m("e", records=[("SCHILY.xattr.user.a=b", "v")])))
    assert [(x.name, x.value) for x in result[1][0].xattrs] == [("user.a", b"b=v")]


def test_x1_nul_in_xattr_name_is_malformed(site):
    data = layer(m("e", records=[(b"SCHILY.xattr.user.a\0evil", b"1")]))
    assert read_consistently(data)[0] == "malformed"
    data = layer(m("e", records=[(b"LIBARCHIVE.xattr.user.a%00evil", b"MQ")]))
    assert read_consistently(data)[0] == "malformed"


@pytest.mark.parametrize("policy", POLICIES)
def test_x1_same_name_in_two_encodings(site, policy):
    data = layer(m("e", records=[("SCHILY.xattr.user.k", "1"),
                                 ("LIBARCHIVE.xattr.user.k", "Mg==")]))
    outcome = attack(site, [data], policy)
    assert outcome.kind == "ok"
    value = dict(site.read_inside()["/e"].xattrs).get("user.k")
    if get_policy(policy).encodings == {"SCHILY"}:
        assert value == b"1"
    else:
        assert value in (b"1", b"2")


@pytest.mark.parametrize("policy", POLICIES)
def test_x2_value_over_xattr_size_max(site, policy):
    outcome = attack(site, [xattr_layer("user.big", b"x" * 65537)], policy)
    assert outcome.kind == "malformed" or (outcome.kind == "failed"
                                           and outcome.error.errno == "E2BIG"), outcome


@pytest.mark.parametrize("policy", POLICIES)
def test_x2_value_of_64k_on_ext4(site, policy):
    check_xattr(site, policy, xattr_layer("user.big", b"x" * 65536), "/e", "user.big",
                b"x" * 65536, "ENOSPC", "regular")


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("value", [b"\0\xff\0abc\n", b"\xc3\x28\xa0\xa1", b"", b"=\n=%3D"],
                         ids=["nul", "not-utf8", "empty", "separators"])
def test_x2_values_are_bytes(site, policy, value):
    check_xattr(site, policy, xattr_layer("user.v", value), "/e", "user.v", value, None,
                "regular")


_ACL = acl_value((ACL_USER_OBJ, 7, None), (ACL_GROUP_OBJ, 5, None), (ACL_OTHER, 5, None))
X3 = {  # name -> (value, entry type, errno)
    "trusted.overlay.opaque": (b"y", "dir", None),
    "trusted.overlay.redirect": (b"/etc", "dir", None),
    "trusted.overlay.metacopy": (b"", "file", None),
    "user.overlay.impure": (b"y", "dir", None),
    "security.capability": (fcaps_value(permitted=1 << 21, effective=True), "file", None),
    "security.capability-bad": (b"junk", "file", "EINVAL"),
    "security.selinux": (b"system_u:object_r:shadow_t:s0\0", "file", None),
    "system.posix_acl_default": (_ACL, "dir", None),
    "user.rootlesscontainers": (b"\x08\x00\x10\x00", "file", None),
    "user.containers.override_stat": (b"0:0:4755", "file", None),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("key", sorted(X3))
def test_x3_privileged_and_tool_private_namespaces(site, policy, key):
    value, kind, code = X3[key]
    name = key.replace("-bad", "")
    path = "e/" if kind == "dir" else "e"
    data = layer(m(path, kind, records=[(b"SCHILY.xattr." + name.encode(), value)]))
    check_xattr(site, policy, data, "/e", name, value, code,
                "directory" if kind == "dir" else "regular")


def test_x3_containerd_never_sets_trusted(site):
    data = layer(m("e/", "dir", xattrs={"trusted.overlay.opaque": "y"}))
    outcome = attack(site, [data], "containerd")
    assert outcome.kind == "ok"
    assert not dict(site.read_inside()["/e"].xattrs)
    assert [w.xattr for w in outcome.warnings] == ["trusted.overlay.opaque"]


X4 = {  # case -> (entry type, entry options, xattr, value, errno, policy kind)
    "user-on-symlink": ("symlink", {"target": "/outside/canary"}, "user.rpm.origin", b"x",
                        "EPERM", "special"),
    "user-on-fifo": ("fifo", {}, "user.foo", b"bar", "EPERM", "special"),
    "user-on-chr": ("chr", {"major": 1, "minor": 3}, "user.foo", b"bar", "EPERM", "special"),
    "user-on-blk": ("blk", {"major": 8, "minor": 0}, "user.foo", b"bar", "EPERM", "special"),
    "acl-default-on-file": ("file", {}, "system.posix_acl_default", _ACL, "EACCES", "regular"),
    "security-on-symlink": ("symlink", {"target": "x"}, "security.x", b"1", None, "special"),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("key,privilege", [
    (k, p) for k in sorted(X4) for p in ("root", "rootless")
    if not (p == "rootless" and X4[k][0] in ("chr", "blk"))])  # see test_m3_devices_in_a_user_n...
def test_x4_valid_xattr_on_the_wrong_file_type(site, policy, key, privilege):
    etype, opts, name, value, code, pkind = X4[key]
    data = layer(m("e", etype, records=[(b"SCHILY.xattr." + name.encode(), value)], **opts))
    check_xattr(site, policy, data, "/e", name, value, code, pkind, privilege)


@pytest.mark.parametrize("policy", POLICIES)
def test_x5_xattrs_on_a_hardlink_reach_one_inode_only(site, policy):
    caps = fcaps_value(permitted=1 << 21, effective=True)
    lower = layer(m("f", data=b"abc", xattrs={"user.orig": "1"}))
    upper = layer(m("h", "hardlink", target="f",
                    records=[(b"SCHILY.xattr.security.capability", caps),
                             (b"SCHILY.xattr.user.x", b"1")]),
                  m("s", "symlink", target="/outside/setuid"),
                  m("hs", "hardlink", target="s",
                    records=[(b"SCHILY.xattr.security.capability", caps)]))
    outcome = attack(site, [lower, upper], policy)
    assert outcome.kind in ("ok", "failed")
    if outcome.kind == "ok":
        inside = site.read_inside()
        assert inside["/h"].ino == inside["/f"].ino
        assert inside["/h"].xattrs == inside["/f"].xattrs
        assert inside["/hs"].type == "symlink"


# =========================================================================== M

@pytest.mark.parametrize("policy", POLICIES)
def test_m1_setuid_sticky_and_world_writable_are_kept_for_a_rootfs(site, policy):
    data = layer(m("su", data=b"x", mode=0o6755), m("ww/", "dir", mode=0o777),
                 m("tmp/", "dir", mode=0o1777), m("g", mode=0o2711, gid=5))
    assert attack(site, [data], policy).kind == "ok"
    inside = site.read_inside()
    assert {p: inside[p].mode for p in ("/su", "/ww", "/tmp", "/g")} == {
        "/su": 0o6755, "/ww": 0o777, "/tmp": 0o1777, "/g": 0o2711}


@pytest.mark.parametrize("typeflag,mode,etype,perm", [
    (b"0", 0o020644, "file", 0o644),
    (b"0", 0o170755, "file", 0o755),
    (b"0", 0o060000 | 0o4755, "file", 0o4755),
    (b"5", 0o100755, "dir", 0o755),
    (b"6", 0o140644, "fifo", 0o644),
])
def test_m2_type_bits_in_mode_are_masked(site, typeflag, mode, etype, perm):
    data = layer(header(b"x", typeflag, mode=mode))
    result = read_consistently(data)
    assert result[0] == "events" and result[1][0].mode == perm
    assert attack(site, [data]).kind == "ok"
    node = site.read_inside()["/x"]
    assert (node.type, node.mode) == (etype, perm)


def test_m2_mode_over_21_bits_is_malformed():
    assert read_consistently(layer(header(b"x", mode=base256(0o10000000, 8))))[0] == "malformed"


@pytest.mark.parametrize("policy", POLICIES)
def test_m3_devices_and_fifos_are_inert_nodes_inside(site, policy):
    data = layer(m("null", "chr", major=1, minor=3), m("sda", "blk", major=8, minor=0),
                 m("kmem", "chr", major=1, minor=2, mode=0o666), m("p", "fifo", mode=0o666),
                 m("dev", "symlink", target="/outside"), m("dev/sdb", "blk", major=8, minor=16))
    assert attack(site, [data], policy).kind == "ok"
    inside = site.read_inside()
    assert (inside["/null"].type, inside["/null"].rdev) == ("chr", os.makedev(1, 3))
    assert (inside["/sda"].type, inside["/sda"].rdev) == ("blk", os.makedev(8, 0))
    assert inside["/p"].type == "fifo" and inside["/outside/sdb"].type == "blk"


@pytest.mark.parametrize("policy", POLICIES)
def test_m3_devices_in_a_user_namespace(site, policy):
    """Rootless: devices are skipped, or (umoci) stood for by an empty mode-0 file; never
    a device node, and never anything outside."""
    data = layer(m("null", "chr", major=1, minor=3, xattrs={"user.x": "1"}),
                 m("sda", "blk", major=8, minor=0), m("after", data=b"a"))
    outcome = attack(site, [data], policy, privilege="rootless")
    assert outcome.kind in ("ok", "failed"), outcome
    inside = site.read_inside()
    for path in ("/null", "/sda"):
        if path in inside:
            assert inside[path].type == "file" and inside[path].size == 0, inside[path]
    if outcome.kind == "ok":
        assert "/after" in inside


def test_m3_huge_device_numbers(site):
    ok = layer(header(b"c", b"3", devmajor=base256(2**32 - 1, 8), devminor=base256(2**32 - 1, 8)))
    assert attack(site, [ok]).kind in ("ok", "failed")
    bad = layer(header(b"c", b"3", devmajor=base256(2**32, 8)))
    assert attack(site, [bad]).kind == "malformed"


@pytest.mark.parametrize("mode", [0o000, 0o500, 0o100])
@pytest.mark.parametrize("policy", POLICIES)
def test_m4_locked_directory_does_not_lock_out_later_entries_as_root(site, policy, mode):
    data = layer(m("d/", "dir", mode=mode), m("d/x", data=b"x"), m("d/sub/y", data=b"y"),
                 m("d/sub/", "dir", mode=mode), m("d/sub/z", data=b"z"))
    assert attack(site, [data], policy).kind == "ok"
    inside = site.read_inside()
    assert inside["/d"].mode == mode and inside["/d/sub"].mode == mode
    assert {"/d/x", "/d/sub/y", "/d/sub/z"} <= set(inside)


# =========================================================================== R

def test_r1_declared_size_over_the_byte_budget_is_malformed(site):
    limits = Limits(max_total_bytes=1 << 20)
    data = header(b"bomb", size=2 << 20) + EOF_BLOCKS
    assert read_consistently(data, limits)[0] == "malformed"
    assert attack(site, [data], limits=limits).kind == "malformed"


def test_r1_decompression_bomb_stops_at_the_budget(site):
    bomb = gzip_bomb(64 << 20)
    assert len(bomb) < (1 << 20)
    produced = 0

    def stream():
        nonlocal produced
        d = zlib.decompressobj(31)
        data = bomb
        while data or not d.eof:
            chunk = d.decompress(data, 65536)
            data = d.unconsumed_tail
            produced += len(chunk)
            if chunk:
                yield chunk
            elif not data:
                break

    limits = Limits(max_total_bytes=1 << 20)
    with pytest.raises(MalformedLayer) as exc:
        for _ in iter_layer(stream(), limits=limits):
            pass
    assert "max_total_bytes" in str(exc.value)
    assert produced <= 2 << 20


def test_r1_bomb_content_within_a_large_budget_is_streamed_not_held(site):
    """A file just under the budget streams through as bounded Data chunks."""
    data = layer(m("big", data=bytes(3 << 20)))
    sizes = [len(e.chunk) for e in iter_layer(data, limits=Limits(max_total_bytes=4 << 20))
             if hasattr(e, "chunk")]
    assert sum(sizes) == 3 << 20 and max(sizes) <= 64 << 10


def test_r1_entry_count_over_the_budget_is_malformed(site):
    limits = Limits(max_entries=100)
    at_limit = layer(*[m(f"f{i}") for i in range(100)])
    over = layer(*[m(f"f{i}") for i in range(101)])
    assert read_consistently(at_limit, limits)[0] == "events"
    assert read_consistently(over, limits)[0] == "malformed"
    assert attack(site, [over], limits=limits).kind == "malformed"


def test_r1_other_limits_are_malformed_not_crashes(site):
    cases_ = [
        (Limits(max_name_length=1000), layer(m("n/" * 600))),
        (Limits(max_xattrs=3), layer(m("f", xattrs={f"user.{i}": "v" for i in range(4)}))),
        (Limits(max_extension_bytes=4096), layer(pax([("comment", "c" * 5000)]) + m("f"))),
        (Limits(max_pax_record_size=64), layer(pax([("comment", "c" * 100)]) + m("f"))),
        (Limits(max_xattr_value_size=10), xattr_layer("user.v", b"v" * 11)),
    ]
    for limits, data in cases_:
        assert read_consistently(data, limits)[0] == "malformed", limits
        assert attack(site, [data], limits=limits).kind == "malformed"


def test_r1_many_zero_byte_entries_and_symlink_loops(site):
    data = layer(*[m(f"d{i % 50}/f{i}") for i in range(5000)],
                 m("loop", "symlink", target="loop"), m("loop/x"))
    assert attack(site, [data]).kind == "unsafe"
    assert len(site.read_inside()) == 1 + 50 + 5000 + 1
