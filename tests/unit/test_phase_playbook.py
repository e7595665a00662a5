"""Playbook integration: entries created once, reinforced, staled, reactivated, never lost."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from consolidation_assets.phases.hierarchy import build_hierarchy
from consolidation_assets.phases.patterns import extract_patterns
from consolidation_assets.phases.playbook import (
    PlaybookSettings,
    build_candidates,
    integrate_playbook,
)
from tests.helpers import banking77_sample, make_batch

T0 = datetime(2026, 10, 1, tzinfo=UTC)
T1 = datetime(2026, 10, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def consolidated(embedder):
    texts, _ = banking77_sample()
    batch = make_batch(embedder, texts)
    patterns = extract_patterns("bank", batch).patterns
    principles = build_hierarchy("bank", batch, patterns).principles
    return batch, patterns, principles


def test_no_two_active_entries_mean_the_same(consolidated) -> None:
    batch, patterns, principles = consolidated
    settings = PlaybookSettings()
    candidates = build_candidates(batch, patterns, principles, settings)
    result = integrate_playbook("bank", candidates, [], T0, settings)
    active = [e for e in result.written if e.status == "active"]
    assert len(active) == result.metrics["playbook_entries_created"] > 10
    vectors = np.array([e.embedding for e in active])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0)
    assert similarity.max() < settings.duplicate_threshold
    assert len({e.content for e in active}) == len(active)
    assert all(e.supporting_memory_ids for e in active)


def test_rerun_on_the_same_input_changes_nothing(consolidated) -> None:
    batch, patterns, principles = consolidated
    candidates = build_candidates(batch, patterns, principles, PlaybookSettings())
    first = integrate_playbook("bank", candidates, [], T0)
    again = integrate_playbook("bank", candidates, first.written, T1)
    assert again.changes == [] and again.written == []
    assert again.metrics["playbook_entries_active"] == len(first.written)


def test_entry_without_support_goes_stale_and_comes_back(consolidated) -> None:
    batch, patterns, principles = consolidated
    settings = PlaybookSettings()
    candidates = build_candidates(batch, patterns, principles, settings)
    first = integrate_playbook("bank", candidates, [], T0, settings)
    existing = [replace(e, helpful_count=3, harmful_count=1) for e in first.written]
    dropped = candidates[0]
    second = integrate_playbook("bank", candidates[1:], existing, T1, settings)
    staled = [c for c in second.changes if c.kind == "staled"]
    assert len(staled) == 1 and second.metrics["playbook_entries_created"] == 0
    stale_entry = next(e for e in second.written if e.id == staled[0].entry_id)
    assert stale_entry.status == "stale" and stale_entry.helpful_count == 3
    assert stale_entry.content == next(e for e in existing if e.id == stale_entry.id).content

    after = {e.id: e for e in existing}
    after.update({e.id: e for e in second.written})
    third = integrate_playbook("bank", candidates, list(after.values()), T1, settings)
    kinds = [c.kind for c in third.changes]
    assert kinds == ["reactivated"], kinds
    back = third.written[0]
    assert back.id == stale_entry.id and back.status == "active" and back.harmful_count == 1
    assert back.supporting_memory_ids >= dropped.supporting_memory_ids


def test_new_evidence_reinforces_instead_of_duplicating(consolidated) -> None:
    batch, patterns, principles = consolidated
    settings = PlaybookSettings()
    candidates = build_candidates(batch, patterns, principles, settings)
    first = integrate_playbook("bank", candidates, [], T0, settings)
    grown = [
        replace(c, supporting_memory_ids=c.supporting_memory_ids | {f"new-{i}"})
        for i, c in enumerate(candidates)
    ]
    second = integrate_playbook("bank", grown, first.written, T1, settings)
    assert {c.kind for c in second.changes} == {"updated"}
    assert len(second.changes) == len(candidates)
    assert all(
        e.evidence_count == old.evidence_count + 1
        for e, old in zip(
            sorted(second.written, key=lambda e: e.id),
            sorted(first.written, key=lambda e: e.id),
            strict=True,
        )
    )


def test_scoped_run_leaves_entries_outside_its_scope_alone(consolidated) -> None:
    batch, patterns, principles = consolidated
    candidates = build_candidates(batch, patterns, principles, PlaybookSettings())
    first = integrate_playbook("bank", candidates, [], T0)
    second = integrate_playbook("bank", [], first.written, T1, in_scope=["not-a-member"])
    assert second.changes == []
    third = integrate_playbook("bank", [], first.written, T1, in_scope=None)
    assert {c.kind for c in third.changes} == {"staled"}
