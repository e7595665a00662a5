"""Properties of ``hierarchy.build_hierarchy`` and of the playbook phase.

Inputs: patterns extracted (``patterns.extract_patterns``) from generated batches of themes,
topics and memories; a random subset of them (none, one, two or all), run against a batch
from which some memories were dropped, so patterns whose members are partly or entirely
missing occur. Existing playbook entries come from an earlier integration of another batch,
with random statuses and feedback counters.

References are the inputs themselves: every id an output cites must be one of theirs (and ids
made for one project never collide with another's), the principle tree must be well formed,
folding must leave no two candidates at the threshold (brute-force cosine over all pairs) and
lose no evidence, and integration must write each entry at most once, keep every existing
entry, never touch feedback counters, and change nothing when repeated.

Cases run: 80 (hierarchy), 50 (hierarchy of rich projects, 120-160 memories), 60 (candidates
and folding), 60 (integration, twice each), 50 (folding of generated candidates), 50
(integration of generated candidates, twice each).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.hierarchy import HierarchySettings, build_hierarchy
from consolidation_assets.phases.patterns import PatternSettings, extract_patterns
from consolidation_assets.phases.playbook import (
    EntryCandidate,
    EntryState,
    PlaybookSettings,
    build_candidates,
    fold_duplicates,
    integrate_playbook,
)
from consolidation_assets.phases.types import MemoryBatch, Pattern, Principle
from tests.unit.strategies import (
    PROPERTY_SETTINGS,
    START,
    clustered_batches,
    normalized_rows,
    unit_vectors,
)

hierarchy_settings = st.builds(
    HierarchySettings,
    similarity_threshold=st.sampled_from([0.3, 0.35, 0.4]),
    level_decay=st.sampled_from([0.6, 0.75, 0.85]),
    min_similarity=st.sampled_from([0.05, 0.05, 0.28]),
    max_levels=st.integers(1, 4),
    neighbors=st.sampled_from([1, 4, 10]),
)
playbook_settings = st.builds(
    PlaybookSettings,
    min_pattern_confidence=st.sampled_from([0.0, 0.4, 0.6]),
    match_threshold=st.sampled_from([0.8, 0.9, 0.99]),
    duplicate_threshold=st.sampled_from([0.8, 0.9, 0.99]),
    support_overlap=st.sampled_from([0.3, 0.5, 1.0]),
)


def without(batch: MemoryBatch, dropped: set[int]) -> MemoryBatch:
    keep = [i for i in range(len(batch)) if i not in dropped]
    return MemoryBatch(
        ids=[batch.ids[i] for i in keep],
        texts=[batch.texts[i] for i in keep],
        vectors=batch.vectors[keep],
        memory_types=[batch.memory_types[i] for i in keep],
        success=[batch.success[i] for i in keep],
        task_ids=[batch.task_ids[i] for i in keep],
        created_at=[batch.created_at[i] for i in keep],
    )


@st.composite
def projects(draw: st.DrawFn, min_n: int = 0) -> tuple[MemoryBatch, list[Pattern]]:
    """A project's memories and the patterns extracted from them."""
    full = draw(clustered_batches(min_n=max(min_n, draw(st.sampled_from([0, 60]))), max_n=160))
    support = draw(st.integers(2, 4))
    return full, extract_patterns("project", full, PatternSettings(min_support=support)).patterns


@st.composite
def views(
    draw: st.DrawFn, full: MemoryBatch, patterns: list[Pattern]
) -> tuple[MemoryBatch, list[Pattern]]:
    """A later run's inputs: none, one, two or all of the patterns, against the batch with
    some memories gone (sometimes every member of a pattern)."""
    how_many = draw(st.sampled_from(["none", "one", "two", "all", "all", "all"]))
    if how_many != "all":
        count = {"none": 0, "one": 1, "two": 2}[how_many]
        chosen = draw(st.permutations(range(len(patterns))))[:count]
        patterns = [patterns[i] for i in sorted(chosen)]
    dropped: set[int] = set()
    if patterns and draw(st.booleans()):
        position = full.index()
        victim = draw(st.sampled_from(patterns))
        dropped |= {position[m] for m in victim.member_ids}
    share = draw(st.sampled_from([0.0, 0.1, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dropped |= set(np.flatnonzero(rng.random(len(full)) < share).tolist())
    return without(full, dropped), patterns


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[MemoryBatch, list[Pattern]]:
    return draw(views(*draw(projects())))


def check_tree(principles: list[Principle], patterns: list[Pattern], batch: MemoryBatch) -> None:
    """The principle tree is well formed and cites only the given patterns."""
    pattern_ids = {p.id for p in patterns}
    by_id = {p.id: p for p in principles}
    assert len(by_id) == len(principles), "principle ids are unique"
    level_one = [p for p in principles if p.level == 1]
    covered = [pid for p in level_one for pid in p.pattern_ids]
    assert len(covered) == len(set(covered)), "a pattern is in at most one level-1 principle"
    position = batch.index()
    members = {p.id: {m for m in p.member_ids if m in position} for p in patterns}
    levels = sorted({p.level for p in principles})
    assert levels == list(range(1, len(levels) + 1))
    for p in principles:
        assert set(p.pattern_ids) <= pattern_ids
        assert len(p.pattern_ids) == len(set(p.pattern_ids)) >= 2
        assert all(members[pid] for pid in p.pattern_ids), "only patterns present in the batch"
        assert p.support == sum(len(members[pid]) for pid in p.pattern_ids)
        assert -1.0 - 1e-6 <= p.cohesion <= 1.0 + 1e-6
        if p.level == 1:
            assert p.child_ids == ()
        else:
            children = [by_id[c] for c in p.child_ids]
            assert len(children) >= 2 and all(c.level == p.level - 1 for c in children)
            assert all(c.parent_id == p.id for c in children)
            assert set(p.pattern_ids) == {pid for c in children for pid in c.pattern_ids}
        if p.parent_id is not None:
            parent = by_id[p.parent_id]
            assert parent.level == p.level + 1 and p.id in parent.child_ids


@settings(PROPERTY_SETTINGS, max_examples=80)
@given(scenarios(), hierarchy_settings)
def test_hierarchy_cites_only_its_inputs(
    scenario: tuple[MemoryBatch, list[Pattern]], hierarchy: HierarchySettings
) -> None:
    batch, patterns = scenario
    result = build_hierarchy("project", batch, patterns, hierarchy)
    assert result.patterns_considered == len(patterns)
    check_tree(result.principles, patterns, batch)
    other = build_hierarchy("other-project", batch, patterns, hierarchy)
    assert len(other.principles) == len(result.principles)
    assert not {p.id for p in other.principles} & {p.id for p in result.principles}


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(
    projects(min_n=120),
    st.builds(
        HierarchySettings,
        similarity_threshold=st.sampled_from([0.3, 0.35, 0.4]),
        level_decay=st.sampled_from([0.6, 0.75]),
        min_similarity=st.just(0.05),
        max_levels=st.just(4),
    ),
)
def test_principle_tree_on_rich_projects(
    project: tuple[MemoryBatch, list[Pattern]], hierarchy: HierarchySettings
) -> None:
    """Many patterns in related themes: about a fifth of these cases reach level 2, so the
    parent and child links are exercised, not only level 1."""
    batch, patterns = project
    check_tree(build_hierarchy("project", batch, patterns, hierarchy).principles, patterns, batch)


def check_candidates(
    candidates: list[EntryCandidate],
    patterns: list[Pattern],
    principles: list[Principle],
    threshold: float,
) -> None:
    pattern_ids = {p.id for p in patterns}
    principle_ids = {p.id for p in principles}
    memory_ids = {m for p in patterns for m in p.member_ids}
    assert len({c.key for c in candidates}) == len(candidates)
    assert len({c.content for c in candidates}) == len(candidates), "no two share a text"
    for c in candidates:
        assert c.key in pattern_ids | principle_ids
        assert set(c.source_pattern_ids) <= pattern_ids
        assert set(c.source_principle_ids) <= principle_ids
        assert c.supporting_memory_ids <= memory_ids
        assert 0.0 <= c.priority <= 1.0
    if len(candidates) > 1:
        vectors = np.array([c.embedding for c in candidates], dtype=np.float64)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        assert sims.max() < threshold + 1e-5, "folding leaves no two at the threshold"


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(scenarios(), playbook_settings)
def test_candidates_cite_only_their_inputs(
    scenario: tuple[MemoryBatch, list[Pattern]], playbook: PlaybookSettings
) -> None:
    batch, patterns = scenario
    principles = build_hierarchy("project", batch, patterns).principles
    candidates = build_candidates(batch, patterns, principles, playbook)
    check_candidates(candidates, patterns, principles, playbook.duplicate_threshold)


@st.composite
def generated_candidates(
    draw: st.DrawFn, vectors: np.ndarray | None = None
) -> list[EntryCandidate]:
    """Candidates with duplicated embeddings, equal texts and equal priorities."""
    vectors = draw(unit_vectors(max_n=60)) if vectors is None else vectors
    n = vectors.shape[0]
    texts = draw(st.lists(st.sampled_from("abcdefgh"), min_size=n, max_size=n))
    priorities = draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=n, max_size=n))
    return [
        EntryCandidate(
            key=f"k{i}",
            category="patterns",
            content=f"entry {texts[i]}",
            priority=priorities[i],
            tags=(),
            supporting_memory_ids=frozenset({f"m{i}", f"m{i + 1}"}),
            source_kind="pattern",
            source_pattern_ids=(f"pat{i}",),
            source_principle_ids=(f"pr{i % 3}",),
            embedding=vectors[i],
        )
        for i in range(n)
    ]


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(generated_candidates(), st.sampled_from([0.5, 0.9, 0.99]))
def test_folding_leaves_no_duplicates_and_loses_no_evidence(
    candidates: list[EntryCandidate], threshold: float
) -> None:
    folded = fold_duplicates(candidates, threshold)
    by_key = {c.key: c for c in candidates}
    assert len({c.content for c in folded}) == len(folded)
    if len(folded) > 1:
        vectors = np.array([c.embedding for c in folded], dtype=np.float64)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        assert sims.max() < threshold + 1e-5
    for field in ("supporting_memory_ids", "source_pattern_ids", "source_principle_ids"):
        before = {x for c in candidates for x in getattr(c, field)}
        assert before == {x for c in folded for x in getattr(c, field)}, field
    order = [(-c.priority, c.key) for c in folded]
    assert order == sorted(order), "highest priority first"
    for c in folded:
        source = by_key[c.key]
        assert (c.content, c.priority) == (source.content, source.priority)


@st.composite
def existing_entries(draw: st.DrawFn, candidates: list[EntryCandidate]) -> list[EntryState]:
    """Entries an earlier run made from ``candidates``, some since staled or archived, all with
    feedback, plus a few unrelated ones."""
    made = integrate_playbook("project", candidates, [], START).written
    entries = []
    for entry in made:
        entries.append(
            replace(
                entry,
                status=draw(st.sampled_from(["active", "active", "stale", "archived"])),
                helpful_count=draw(st.integers(0, 5)),
                harmful_count=draw(st.integers(0, 5)),
            )
        )
    for i in range(draw(st.integers(0, 3))):
        entries.append(
            EntryState(
                id=f"pb-unrelated-{i}",
                category="patterns",
                content=f"unrelated entry {i}",
                priority=0.5,
                tags=(),
                status="active",
                source_kind="pattern",
                source_pattern_ids=(),
                source_principle_ids=(),
                supporting_memory_ids=frozenset({f"elsewhere-{i}"}),
                embedding=normalized_rows(np.ones((1, 24)) * (-1) ** i)[0],
                created_at=START,
                updated_at=START,
                helpful_count=3,
                harmful_count=1,
            )
        )
    return entries


def apply(existing: list[EntryState], written: list[EntryState]) -> list[EntryState]:
    """The stored entries after a run: written ones replace or join the existing ones."""
    by_id = {e.id: e for e in existing}
    by_id.update({e.id: e for e in written})
    return list(by_id.values())


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(projects(), playbook_settings, st.data())
def test_integration_keeps_entries_and_counters_and_settles(
    project: tuple[MemoryBatch, list[Pattern]], playbook: PlaybookSettings, data: st.DataObject
) -> None:
    """An earlier run's entries (from another view of the same project) meet this run's."""

    def candidates_of(batch: MemoryBatch, patterns: list[Pattern]) -> list[EntryCandidate]:
        principles = build_hierarchy("project", batch, patterns).principles
        return build_candidates(batch, patterns, principles, playbook)

    existing = data.draw(existing_entries(candidates_of(*data.draw(views(*project)))))
    batch, patterns = data.draw(views(*project))
    candidates = candidates_of(batch, patterns)
    in_scope = data.draw(st.sampled_from([None, list(batch.ids)]))
    now = START + timedelta(days=1)
    first = integrate_playbook("project", candidates, existing, now, playbook, in_scope)

    old = {e.id: e for e in existing}
    written_ids = [e.id for e in first.written]
    assert len(written_ids) == len(set(written_ids)), "an entry is written once"
    assert len(first.changes) == len(first.written)
    for entry, change in zip(first.written, first.changes, strict=True):
        assert change.entry_id == entry.id
        if entry.id in old:
            before = old[entry.id]
            assert change.kind in {"updated", "reactivated", "staled"}
            assert (entry.helpful_count, entry.harmful_count) == (
                before.helpful_count,
                before.harmful_count,
            ), "feedback counters are never touched"
            assert entry.created_at == before.created_at
            if change.kind == "staled":
                assert before.status == "active" and entry.status == "stale"
                scope = set(in_scope) if in_scope is not None else None
                assert scope is None or before.supporting_memory_ids & scope
        else:
            assert change.kind == "created" and entry.status == "active"
            assert (entry.helpful_count, entry.harmful_count) == (0, 0)
            assert entry.source_pattern_ids in {c.source_pattern_ids for c in candidates}
    after = apply(existing, first.written)
    assert {e.id for e in existing} <= {e.id for e in after}, "no entry is ever dropped"
    assert first.active_after == sum(e.status == "active" for e in after)

    second = integrate_playbook(
        "project", candidates, after, now + timedelta(days=1), playbook, in_scope
    )
    assert second.written == [] and second.changes == [], "a repeat changes nothing"


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(projects(), playbook_settings, st.data())
def test_no_active_entry_cites_a_replaced_pattern_after_a_narrowed_run(
    project: tuple[MemoryBatch, list[Pattern]], playbook: PlaybookSettings, data: st.DataObject
) -> None:
    """A run that saw only part of the memories leaves the other entries active, citing only
    the patterns and principles that exist after it."""
    earlier_batch, earlier_patterns = data.draw(views(*project))
    earlier_principles = build_hierarchy("project", earlier_batch, earlier_patterns).principles
    earlier = build_candidates(earlier_batch, earlier_patterns, earlier_principles, playbook)
    existing = integrate_playbook("project", earlier, [], START, playbook).written
    batch, patterns = data.draw(views(*project))
    principles = build_hierarchy("project", batch, patterns).principles
    candidates = build_candidates(batch, patterns, principles, playbook)
    in_scope = data.draw(st.lists(st.sampled_from(list(batch.ids) or ["none"]), unique=True))
    current = [p.id for p in patterns] + [p.id for p in principles]
    now = START + timedelta(days=1)
    run = integrate_playbook(
        "project", candidates, existing, now, playbook, in_scope, current_sources=current
    )
    after = apply(existing, run.written)
    assert {e.id for e in existing} <= {e.id for e in after}, "no entry is ever dropped"
    for entry in after:
        if entry.status == "active":
            assert set(entry.source_pattern_ids) | set(entry.source_principle_ids) <= set(current)
    again = integrate_playbook(
        "project", candidates, after, now, playbook, in_scope, current_sources=current
    )
    assert again.written == [], "a repeat changes nothing"


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(unit_vectors(max_n=80), st.data(), playbook_settings)
def test_integration_of_generated_candidates_settles(
    vectors: np.ndarray, data: st.DataObject, playbook: PlaybookSettings
) -> None:
    """Folded candidates with duplicated and tied embeddings, against entries made from
    other such candidates (over the same vectors): a repeat of the run changes nothing."""
    split = data.draw(st.integers(0, vectors.shape[0]))
    earlier = data.draw(generated_candidates(vectors[:split]))
    current = data.draw(generated_candidates(vectors[split:]))
    threshold = playbook.duplicate_threshold
    made = integrate_playbook("p", fold_duplicates(earlier, threshold), [], START, playbook)
    candidates = fold_duplicates(current, threshold)
    now = START + timedelta(days=1)
    first = integrate_playbook("p", candidates, made.written, now, playbook)
    after = apply(made.written, first.written)
    second = integrate_playbook("p", candidates, after, now + timedelta(days=1), playbook)
    assert second.written == [] and second.changes == [], "a repeat changes nothing"
