"""The phases on the bundled sample projects, judged against their answer key."""

import re
from datetime import timedelta

import numpy as np
import pytest
from sklearn.metrics import v_measure_score

from benchmarks.writing import VerbatimIndex, is_verbatim
from consolidation_assets.phases.hierarchy import build_hierarchy
from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.phases.patterns import extract_patterns
from consolidation_assets.phases.playbook import PlaybookSettings, build_candidates
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.phases.writing import says_nothing_reusable
from consolidation_assets.services.memory_input import parse_jsonl
from tests.helpers import SAMPLE_DATA, paraphrased_verdicts, sample_answer_key

PROJECTS = ["web-backend", "data-pipeline", "mobile-app"]


@pytest.fixture(scope="module", params=PROJECTS)
def project(request, embedder):
    name = request.param
    path = SAMPLE_DATA / f"{name}.jsonl"
    memories = parse_jsonl(path.read_bytes(), str(path))
    batch = MemoryBatch(
        ids=[m.id for m in memories],
        texts=[m.content for m in memories],
        vectors=embedder.encode([m.content for m in memories]),
        memory_types=[m.memory_type for m in memories],
        success=[m.success for m in memories],
        task_ids=[m.task_id for m in memories],
        created_at=[m.created_at for m in memories],
        goals=[m.goal for m in memories],
        results=[m.result for m in memories],
        feedback_texts=[m.feedback for m in memories],
    )
    return name, batch, sample_answer_key()["projects"][name]


def test_sample_projects_are_rich_enough(project) -> None:
    _, batch, _ = project
    assert len(batch) >= 150
    assert set(batch.memory_types) == {
        "error_fix",
        "discovery",
        "decision",
        "learning",
        "warning",
        "codebase_knowledge",
    }


def test_patterns_follow_topics_and_leave_noise_out(project) -> None:
    name, batch, key = project
    topic = {m: t for t, v in key["topics"].items() for m in v["memory_ids"]}
    result = extract_patterns(name, batch)
    owner = {m: p.id for p in result.patterns for m in p.member_ids}
    v_measure = v_measure_score(
        [topic.get(m, f"noise-{m}") for m in batch.ids],
        [owner.get(m, f"alone-{m}") for m in batch.ids],
    )
    print(f"{name}: V-measure {v_measure:.3f} against topics")
    assert v_measure >= 0.75
    assert sum(m in owner for m in key["noise"]) <= 1


def test_merges_take_duplicates_and_refuse_traps(project) -> None:
    name, batch, key = project
    topic = {m: t for t, v in key["topics"].items() for m in v["memory_ids"]}
    groups = merge_memories(name, batch).groups
    group_of = {m: g.id for g in groups for m in g.source_ids}

    def together(ids):
        return ids[0] in group_of and len({group_of.get(i) for i in ids}) == 1

    assert all(together(g) for g in key["exact_duplicate_groups"])
    near = key["near_duplicate_groups"]
    assert sum(together(g) for g in near) >= 0.9 * len(near)
    for a, b in key["must_not_merge_pairs"]:
        assert group_of.get(a) is None or group_of.get(a) != group_of.get(b), (a, b)
    for group in groups:
        assert len({topic.get(m, m) for m in group.source_ids}) == 1, group.source_ids


# Verdicts an agent's run may store as memories: recurring, so they form a pattern, and saying
# nothing another agent could act on.
VERDICTS = paraphrased_verdicts()
KEYWORD_LIST_OPENING = re.compile(r"^[^:;.]{1,60}, [^:;.]{1,40} and [^:;.]{1,40}: ")


def with_verdicts(batch: MemoryBatch, embedder) -> MemoryBatch:
    n = len(VERDICTS)
    last = max(batch.created_at)
    return MemoryBatch(
        ids=[*batch.ids, *(f"verdict-{i}" for i in range(n))],
        texts=[*batch.texts, *VERDICTS],
        vectors=np.vstack([batch.vectors, embedder.encode(VERDICTS)]),
        memory_types=[*batch.memory_types, *["learning"] * n],
        success=[*batch.success, *[False] * n],
        task_ids=[*batch.task_ids, *(f"verdict-task-{i}" for i in range(n))],
        created_at=[*batch.created_at, *(last + timedelta(hours=i) for i in range(n))],
        goals=[*batch.goals, *[None] * n],
        results=[*batch.results, *[None] * n],
        feedback_texts=[*batch.feedback_texts, *[None] * n],
    )


def test_principles_generalize_and_entries_instruct(project, embedder) -> None:
    """Fewer than half the principles are one memory's sentence, no statement or entry opens
    with a keyword list, and no entry is made from a memory that says nothing reusable."""
    name, batch, _ = project
    batch = with_verdicts(batch, embedder)
    patterns = extract_patterns(name, batch).patterns
    verdict_ids = {f"verdict-{i}" for i in range(len(VERDICTS))}
    assert any(set(p.member_ids) >= verdict_ids for p in patterns), "the verdicts recur"
    principles = build_hierarchy(name, batch, patterns).principles
    candidates = build_candidates(batch, patterns, principles, PlaybookSettings())

    index = VerbatimIndex(batch.texts)
    verbatim = [p.statement for p in principles if is_verbatim(p.statement, index)]
    print(f"{name}: {len(verbatim)} of {len(principles)} principles verbatim")
    assert principles and len(verbatim) < len(principles) / 2, verbatim
    for text in [p.statement for p in principles] + [c.content for c in candidates]:
        assert not KEYWORD_LIST_OPENING.match(text), text
    for principle in principles:
        assert not principle.statement.startswith(principle.label), principle.statement
        assert principle.cited_memory_ids and not set(principle.cited_memory_ids) & verdict_ids

    texts = dict(zip(batch.ids, batch.texts, strict=True))
    for candidate in candidates:
        assert not any(v.rstrip(".") in candidate.content for v in VERDICTS), candidate.content
        support = candidate.supporting_memory_ids
        assert any(not says_nothing_reusable(texts[m]) for m in support), candidate.content
