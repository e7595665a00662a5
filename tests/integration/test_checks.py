"""Asset checks: each passes on a good output, fails on a deliberately broken one, and the
blocking ones keep bad output from flowing downstream."""

from dataclasses import replace

import dagster as dg
import pytest
from sqlalchemy import update

from consolidation_assets.defs.assets import consolidation_assets
from consolidation_assets.defs.checks import consolidation_checks
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.phases import hierarchy, merging, patterns, playbook
from consolidation_assets.store.models import Memory
from tests.helpers import before_phase, ingest_sample, run_resources

PHASE_MODULE = {
    "extract_patterns": patterns,
    "merge_memories": merging,
    "build_hierarchy": hierarchy,
    "integrate_playbook": playbook,
}

CHECKS = {key.name for check in consolidation_checks for key in check.check_keys}


def consolidate(instance, store, embedder):
    instance.add_dynamic_partitions(PROJECTS_PARTITION, ["mobile-app"])
    return dg.materialize(
        [*consolidation_assets, *consolidation_checks],
        instance=instance,
        partition_key="mobile-app",
        resources=run_resources(store, embedder),
        raise_on_error=False,
    )


def verdicts(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture
def project(store):
    ingest_sample(store, "mobile-app")
    ingest_sample(store, "web-backend")


def test_every_check_passes_on_a_good_run(project, instance, store, embedder) -> None:
    result = consolidate(instance, store, embedder)
    assert result.success
    assert verdicts(result) == dict.fromkeys(CHECKS, True)
    for evaluation in result.get_asset_check_evaluations():
        assert evaluation.metadata["project"].value == "mobile-app"


def foreign_member(original):
    def broken(*args, **kwargs):
        result = original(*args, **kwargs)
        first = result.patterns[0]
        bad = replace(
            first,
            member_ids=(*first.member_ids, "wb-0001"),
            member_similarities=(*first.member_similarities, 0.5),
            support=first.support + 1,
        )
        return replace(result, patterns=[bad, *result.patterns[1:]])

    return broken


def shared_source(original):
    def broken(*args, **kwargs):
        outcome = original(*args, **kwargs)
        a, b = outcome.groups[0], outcome.groups[1]
        bad = replace(
            b,
            source_ids=(*b.source_ids, a.source_ids[-1]),
            source_similarities=(*b.source_similarities, 0.9),
        )
        return replace(outcome, groups=[a, bad, *outcome.groups[2:]])

    return broken


def lone_principle(original):
    def broken(*args, **kwargs):
        hierarchy = original(*args, **kwargs)
        first = hierarchy.principles[0]
        return replace(hierarchy, principles=[replace(first, pattern_ids=first.pattern_ids[:1])])

    return broken


def twin_entries(original):
    def broken(*args, **kwargs):
        result = original(*args, **kwargs)
        a, b = result.written[0], result.written[1]
        return replace(result, written=[a, replace(b, content=a.content), *result.written[2:]])

    return broken


def unsourced_entry(original):
    def broken(*args, **kwargs):
        result = original(*args, **kwargs)
        first = result.written[0]
        return replace(
            result, written=[replace(first, supporting_memory_ids=frozenset()), *result.written[1:]]
        )

    return broken


def foreign_entry_source(original):
    def broken(*args, **kwargs):
        result = original(*args, **kwargs)
        first = result.written[0]
        leaked = replace(first, supporting_memory_ids=first.supporting_memory_ids | {"wb-0001"})
        return replace(result, written=[leaked, *result.written[1:]])

    return broken


@pytest.mark.parametrize(
    ("target", "breaker", "check", "skipped"),
    [
        (
            "extract_patterns",
            foreign_member,
            "patterns_are_consistent",
            {"merged_memories", "principles", "playbook_entries"},
        ),
        # Nothing reads merged memories: a bad merge fails the run but blocks no other phase.
        ("merge_memories", shared_source, "merge_groups_are_sound", set()),
        ("build_hierarchy", lone_principle, "principles_cite_patterns", {"playbook_entries"}),
        ("integrate_playbook", twin_entries, "active_entries_are_distinct", set()),
        ("integrate_playbook", unsourced_entry, "active_entries_have_sources", set()),
        ("integrate_playbook", foreign_entry_source, "outputs_stay_in_project", set()),
    ],
)
def test_each_check_fails_on_broken_output_and_blocks_downstream(
    project, instance, store, embedder, monkeypatch, target, breaker, check, skipped
) -> None:
    module = PHASE_MODULE[target]
    monkeypatch.setattr(module, target, breaker(getattr(module, target)))
    result = consolidate(instance, store, embedder)
    assert not result.success
    assert verdicts(result)[check] is False
    assert not materialized(result) & skipped, "a blocking check must stop downstream assets"
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == check)
    assert evaluation.metadata["problems"].value >= 1


def test_raw_memories_rewritten_during_a_run_are_caught(
    project, instance, store, embedder, monkeypatch
) -> None:
    def rewrite() -> None:
        with store.engine.begin() as conn:
            conn.execute(
                update(Memory).where(Memory.id == "ma-0001").values(content="tampered content")
            )

    before_phase(monkeypatch, "merged_memories", rewrite)
    result = consolidate(instance, store, embedder)
    assert verdicts(result)["raw_memories_intact"] is False
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "raw_memories_intact"
    )
    assert "ma-0001" in evaluation.description
