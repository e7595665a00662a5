"""The phases on the bundled sample projects, judged against their answer key."""

import pytest
from sklearn.metrics import v_measure_score

from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.phases.patterns import extract_patterns
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.services.memory_input import parse_jsonl
from tests.helpers import SAMPLE_DATA, sample_answer_key

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
