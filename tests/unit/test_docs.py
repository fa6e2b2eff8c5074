"""The docs name rules that exist."""

import pathlib
import re

from fsmodel._rules import filesystems, vfs, xattr
from fsmodel._rules.kernel import features
from fsmodel._rules.verdict import Rule

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def all_rule_ids():
    ids = set()
    for module in (xattr, vfs, filesystems):
        ids |= {v.id for v in vars(module).values() if isinstance(v, Rule)}
    for name in filesystems.PROFILES:
        fs = filesystems.make_filesystem(name, features("6.18"))
        ids |= {v.id for v in vars(fs).values() if isinstance(v, Rule)}
        ids |= {v.id for v in vars(type(fs)).values() if isinstance(v, Rule)}
    return ids


def test_rule_ids_in_docs_exist():
    known = all_rule_ids()
    for doc in DOCS.glob("*.md"):
        for rule_id in re.findall(r"`(R\d[\w.\-]*)`", doc.read_text()):
            assert rule_id in known, f"{doc.name} names {rule_id}, which no rule has"


def test_extractor_doc_embeds_the_current_policy_table():
    from fsmodel.layer.policies import markdown_table

    text = (DOCS / "extractor.md").read_text()
    block = re.search(r"<!-- policies:start[^>]*-->\n(.*?)<!-- policies:end -->", text, re.S)
    assert block and block.group(1) == markdown_table()
