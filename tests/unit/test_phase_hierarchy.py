"""Hierarchy creation on the Banking77 sample: principles over related intents."""

import pytest

from consolidation_assets.phases.hierarchy import build_hierarchy
from consolidation_assets.phases.patterns import extract_patterns
from tests.helpers import banking77_sample, make_batch


@pytest.fixture(scope="module")
def banking(embedder):
    texts, intents = banking77_sample()
    batch = make_batch(embedder, texts)
    return batch, intents, extract_patterns("bank", batch).patterns


def test_every_principle_covers_at_least_two_patterns(banking) -> None:
    batch, _, patterns = banking
    hierarchy = build_hierarchy("bank", batch, patterns)
    assert hierarchy.principles, "related intents must group into principles"
    pattern_ids = {p.id for p in patterns}
    for principle in hierarchy.principles:
        assert len(principle.pattern_ids) >= 2
        assert set(principle.pattern_ids) <= pattern_ids
        assert principle.statement and principle.keywords
    level_one = [p for p in hierarchy.principles if p.level == 1]
    covered = [pid for p in level_one for pid in p.pattern_ids]
    assert len(covered) == len(set(covered)), "a pattern belongs to one level-1 principle"


def test_higher_levels_abstract_principles(banking) -> None:
    batch, _, patterns = banking
    principles = build_hierarchy("bank", batch, patterns).principles
    by_id = {p.id: p for p in principles}
    for principle in principles:
        if principle.level > 1:
            assert len(principle.child_ids) >= 2
            children = [by_id[c] for c in principle.child_ids]
            assert all(
                c.level == principle.level - 1 and c.parent_id == principle.id for c in children
            )
            assert set(principle.pattern_ids) == {pid for c in children for pid in c.pattern_ids}
        if principle.parent_id:
            assert by_id[principle.parent_id].level == principle.level + 1


def test_principles_group_related_intents(banking) -> None:
    batch, intents, patterns = banking
    intent_of = dict(zip(batch.ids, intents, strict=True))
    principles = [p for p in build_hierarchy("bank", batch, patterns).principles if p.level == 1]
    by_id = {p.id: p for p in patterns}
    shared_words = 0
    for principle in principles:
        families = set()
        for pid in principle.pattern_ids:
            members = by_id[pid].member_ids
            majority = max(
                set(intent_of[m] for m in members), key=[intent_of[m] for m in members].count
            )
            families.add(majority.split("_")[0])
        shared_words += len(families) < len(principle.pattern_ids)
    assert shared_words >= len(principles) // 2, "most principles join intents of one family"
