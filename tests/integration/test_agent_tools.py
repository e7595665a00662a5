"""Search, task context, lineage, feedback and figures over a consolidated sample project."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import dagster as dg
import numpy as np
import pytest
from sqlalchemy import select

from consolidation_assets.engine import ConsolidationEngine
from consolidation_assets.phases.search import HybridIndex, search_terms
from consolidation_assets.services.agent_tools import KnowledgeBase, feedback_weight, render_lineage
from consolidation_assets.services.memory_input import validate_memories
from consolidation_assets.store import MemoryStore, outputs
from consolidation_assets.store.knowledge import UnknownEntryError, entry_history
from consolidation_assets.store.memories import insert_memories
from consolidation_assets.store.models import MergedMemorySource, PlaybookChange, PlaybookEntry
from tests.helpers import SAMPLE_DATA, make_batch, sample_answer_key

PROJECT = "web-backend"


def sample_records() -> list[dict]:
    path = SAMPLE_DATA / f"{PROJECT}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ingest(store, records: list[dict]) -> None:
    insert_memories(store.engine, validate_memories(records, "test"))


def consolidate(store: MemoryStore, embedder, instance: dg.DagsterInstance) -> KnowledgeBase:
    ingest(store, sample_records())
    result = ConsolidationEngine(store, embedder, PROJECT, instance=instance).execute()
    assert result.status.value == "completed", result.error_message
    return KnowledgeBase(store, embedder)


@pytest.fixture(scope="module")
def consolidated(
    backend, tmp_path_factory, embedder, request
) -> Iterator[tuple[KnowledgeBase, dg.DagsterInstance]]:
    """The sample project consolidated once per backend, for the tests that only read it."""
    overrides = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('agent_tools') / 'memories.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database("agent_tools")
        overrides = {"storage": {"postgres": {"postgres_url": server.create_database("tools")}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield consolidate(MemoryStore(url), embedder, instance), instance


@pytest.fixture
def knowledge(consolidated) -> KnowledgeBase:
    """The shared consolidated project, read only."""
    return consolidated[0]


@pytest.fixture
def own_knowledge(store, embedder, instance) -> KnowledgeBase:
    """A consolidated project of the test's own, which it may change (feedback)."""
    return consolidate(store, embedder, instance)


def test_search_terms_keep_codes_and_file_names_whole_and_by_parts() -> None:
    terms = search_terms("ORA-01555 in app/core/config.py with the STRIPE_WEBHOOK_SECRET")
    assert {"ora-01555", "ora", "01555", "app/core/config.py", "config"} <= set(terms)
    assert "stripe_webhook_secret" in terms and "the" not in terms


def test_hybrid_index_finds_an_exact_code_the_embedding_blurs(embedder) -> None:
    texts = [
        "The nightly export failed with ORA-01555 snapshot too old on the orders table.",
        "The nightly export failed because the orders table snapshot expired.",
        "Nightly exports of the orders table fail when the snapshot is too old.",
        "Billing retries use exponential backoff.",
    ]
    batch = make_batch(embedder, texts)
    index = HybridIndex(texts, batch.vectors)
    query = "ORA-01555"
    hits = index.search(embedder.encode([query])[0], query, limit=2)
    assert hits[0].index == 0 and hits[0].lexical > 0


def test_search_ranks_the_memory_naming_an_exact_setting_first(knowledge) -> None:
    named = [r["id"] for r in sample_records() if "STRIPE_WEBHOOK_SECRET" in r["content"]]
    results = knowledge.search("STRIPE_WEBHOOK_SECRET", PROJECT, limit=5)
    assert set(results[0].source_memory_ids) & set(named)
    assert results[0].lexical_score > 0


def test_search_finds_the_pattern_of_a_described_problem(knowledge) -> None:
    topic = set(
        sample_answer_key()["projects"][PROJECT]["topics"]["db-connection-pool-exhaustion"][
            "memory_ids"
        ]
    )
    results = knowledge.search(
        "requests time out waiting for a free database connection from the pool",
        PROJECT,
        level=2,
        limit=3,
    )
    assert results and all(r.level == 2 and r.kind == "pattern" for r in results)
    best = set(results[0].source_memory_ids)
    assert len(best & topic) >= len(best) / 2


def test_memories_absorbed_by_a_merge_are_returned_once(knowledge) -> None:
    with knowledge.store.engine.connect() as conn:
        absorbed = set(conn.scalars(select(MergedMemorySource.memory_id)))
    assert absorbed
    results = knowledge.search("database connection pool", PROJECT, level=1, limit=200)
    returned_raw = {r.id for r in results if r.kind == "memory"}
    assert not returned_raw & absorbed
    covered = [m for r in results for m in r.source_memory_ids]
    assert len(covered) == len(set(covered))


def test_search_filters_and_sources(knowledge) -> None:
    principles = knowledge.search("caching", PROJECT, level=3, limit=5)
    assert principles and {r.kind for r in principles} == {"principle"}
    warnings = knowledge.search("redis", PROJECT, memory_type="warning", limit=5, with_sources=True)
    assert warnings
    for r in warnings:
        assert any(s["memory_type"] == "warning" for s in r.sources)
        assert [s["id"] for s in r.sources] == r.source_memory_ids
    assert knowledge.search("redis", PROJECT, since="2100-01-01", limit=5) == []
    patterns = outputs.load_patterns(knowledge.store.engine, PROJECT)
    type_of = {p.id: p.pattern_type for p in patterns}
    gotcha = next(p for p in patterns if p.pattern_type == "gotcha")
    found = knowledge.search(gotcha.label, PROJECT, pattern_type="gotcha", limit=5)
    assert found and found[0].id == gotcha.id
    assert {(r.level, type_of[r.id]) for r in found} == {(2, "gotcha")}
    everything = knowledge.search(gotcha.label, PROJECT, level=2, limit=5)
    assert {type_of[r.id] for r in everything} - {"gotcha"}, "the filter has others to drop"
    with pytest.raises(ValueError, match="level"):
        knowledge.search("x", PROJECT, level=4)
    with pytest.raises(ValueError, match="since"):
        knowledge.search("x", PROJECT, since="last week")


def test_search_puts_a_specific_memory_first_and_few_patterns_among_them(knowledge) -> None:
    query = "requests time out waiting for a free database connection from the pool"
    results = knowledge.search(query, PROJECT, limit=10)
    assert results[0].level == 1
    assert sum(r.level > 1 for r in results) <= 1
    alone = knowledge.search(query, PROJECT, level=1, limit=10)
    specific = [r.id for r in results if r.level == 1]
    assert specific == [r.id for r in alone][: len(specific)]


def test_a_merged_memory_is_found_by_a_word_only_another_source_has(knowledge) -> None:
    by_id = {r["id"]: r["content"] for r in sample_records()}
    everywhere = Counter(t for text in by_id.values() for t in set(search_terms(text)))
    found = 0
    for merged in outputs.load_merged(knowledge.store.engine, PROJECT):
        own = set(search_terms(merged.content))
        for source in merged.source_ids:
            rare = sorted(t for t in set(search_terms(by_id[source])) - own if everywhere[t] == 1)
            if not rare:
                continue
            results = knowledge.search(rare[0], PROJECT, level=1, limit=3)
            assert merged.id in [r.id for r in results], (rare[0], merged.id)
            found += 1
    assert found, "no merged memory has a source with a word of its own"


def test_a_date_in_the_query_brings_the_memories_of_that_day(knowledge) -> None:
    day = "2026-08-29"
    made = {r["id"] for r in sample_records() if r["created_at"].startswith(day)}
    results = knowledge.search("what went wrong on 29 August, 2026", PROJECT, level=1, limit=5)
    assert results and all(set(r.source_memory_ids) & made for r in results[:3])
    undated = knowledge.search("what went wrong", PROJECT, level=1, limit=5)
    assert sum(bool(set(r.source_memory_ids) & made) for r in undated[:3]) < 3


def test_context_holds_the_memory_that_names_the_exact_setting(knowledge) -> None:
    named = {r["id"] for r in sample_records() if "STRIPE_WEBHOOK_SECRET" in r["content"]}
    context = knowledge.context(
        "the deploy fails: STRIPE_WEBHOOK_SECRET is missing in staging", PROJECT, budget_chars=1500
    )
    assert any(set(m["memory_ids"]) & named for m in context.memories)
    assert "## Memories" in context.markdown and len(context.markdown) <= 1500
    assert context.to_dict()["counts"]["memories"] == len(context.memories)


def test_context_does_not_repeat_what_an_entry_rests_on(knowledge) -> None:
    playbook = knowledge.index(PROJECT).playbook
    behind = {
        entry_id: {*principles, *patterns}
        for entry_id, principles, patterns in zip(
            playbook.ids, playbook.principle_ids, playbook.pattern_ids, strict=True
        )
    }
    context = knowledge.context("fix slow order list queries in the API", PROJECT)
    shown = {item["id"] for item in context.principles + context.patterns}
    for entry in context.entries:
        assert not shown & behind[entry["id"]]


@pytest.mark.parametrize("budget", [400, 1500, 4000])
def test_context_puts_entries_first_and_keeps_its_budget(knowledge, budget) -> None:
    context = knowledge.context(
        "fix slow order list queries in the API", PROJECT, budget_chars=budget
    )
    assert len(context.markdown) <= budget
    assert context.entries, "no playbook entry fitted"
    assert context.markdown.index("## Playbook") < context.markdown.find("## Principles") or (
        "## Principles" not in context.markdown
    )
    data = context.to_dict()
    assert data["counts"]["playbook_entries"] == len(context.entries)
    assert data["chars"] == len(context.markdown)


def test_harmful_feedback_sinks_an_entry_in_context(own_knowledge) -> None:
    knowledge = own_knowledge
    task = "stop duplicate order confirmation emails from celery"
    first = knowledge.context(task, PROJECT).entries[0]["id"]
    for _ in range(3):
        knowledge.feedback(first, helpful=False, note="sent me the wrong way")
    after = [e["id"] for e in knowledge.context(task, PROJECT).entries]
    assert after[0] != first
    assert feedback_weight(0, 3) < 1 < feedback_weight(3, 0)


def test_lineage_goes_from_a_memory_to_its_entry_and_back(knowledge) -> None:
    with knowledge.store.engine.connect() as conn:
        entry_id = conn.scalar(
            select(PlaybookEntry.id)
            .where(PlaybookEntry.status == "active", PlaybookEntry.source_kind == "principle")
            .order_by(PlaybookEntry.priority.desc())
        )
    down = knowledge.lineage(entry_id, depth=3, max_children=500)

    def ids(tree: dict, kind: str) -> set[str]:
        found = set()
        for direction in ("up", "down", "children"):
            for child in tree.get(direction, []):
                if child["kind"] == kind:
                    found.add(child["id"])
                found |= ids(child, kind)
        return found

    memories = ids(down, "memory")
    assert memories
    memory_id = sorted(memories)[0]
    up = knowledge.lineage(memory_id, depth=4, max_children=500)
    assert entry_id in ids(up, "playbook_entry")
    assert down["kind"] == "playbook_entry" and up["kind"] == "memory"
    text = render_lineage(up)
    assert text.startswith(f"memory {memory_id}") and "up:" in text
    with pytest.raises(LookupError, match="no-such-id"):
        knowledge.lineage("no-such-id")


def test_feedback_survives_a_rerun_that_rewords_entries(store, embedder, instance) -> None:
    records = sample_records()
    ingest(store, records[:140])
    engine = ConsolidationEngine(store, embedder, PROJECT, instance=instance)
    assert engine.execute().status.value == "completed"
    knowledge = KnowledgeBase(store, embedder)
    with store.engine.connect() as conn:
        active = list(
            conn.scalars(select(PlaybookEntry.id).where(PlaybookEntry.status == "active"))
        )
    for number, entry_id in enumerate(active):
        knowledge.feedback(entry_id, helpful=True)
        if number % 2:
            knowledge.feedback(entry_id, helpful=False)
    ingest(store, records[140:])
    second = engine.execute()
    assert second.status.value == "completed"
    with store.engine.connect() as conn:
        reworded = list(
            conn.execute(
                select(PlaybookChange.entry_id).where(
                    PlaybookChange.run_id == second.job_id,
                    PlaybookChange.kind == "updated",
                    PlaybookChange.old_content != PlaybookChange.new_content,
                )
            ).scalars()
        )
        counts = dict(
            (row.id, (row.helpful_count, row.harmful_count))
            for row in conn.execute(
                select(PlaybookEntry.id, PlaybookEntry.helpful_count, PlaybookEntry.harmful_count)
            )
        )
    assert reworded, "the second run reworded no entry"
    for entry_id in reworded:
        expected = (1, active.index(entry_id) % 2)
        assert counts[entry_id] == expected
        kinds = [change["kind"] for change in entry_history(store.engine, entry_id)]
        assert kinds.count("feedback") == 1 + expected[1] and "updated" in kinds
    with pytest.raises(UnknownEntryError):
        knowledge.feedback("no-such-entry", helpful=True)


def test_figures_count_what_was_consolidated(knowledge) -> None:
    figures = knowledge.stats(PROJECT)
    total = len(sample_records())
    assert figures["total_memories"] == total
    assert figures["consolidated_memories"] + figures["raw_memories"] == total
    assert 0 < figures["reduction_percent"] < 100
    assert sum(figures["memory_types"].values()) == total
    levels = figures["abstraction_levels"]
    assert levels["1_memories"] < total and levels["2_patterns"] > 0 and levels["3_principles"] > 0
    assert figures["last_run"]["status"] == "completed"
    assert figures["playbook"]["active"] > 0


def test_an_index_is_rebuilt_only_when_the_store_changes(own_knowledge) -> None:
    knowledge = own_knowledge
    first = knowledge.index(PROJECT)
    assert knowledge.index(PROJECT) is first
    entry = first.playbook.ids[0]
    knowledge.feedback(entry, helpful=True)
    rebuilt = knowledge.index(PROJECT)
    assert rebuilt is not first
    assert rebuilt.playbook.helpful[rebuilt.playbook.ids.index(entry)] == np.float32(1)
    assert rebuilt.items is first.items, "feedback alone must not rebuild the item index"


def test_the_playbook_asset_carries_the_figures(consolidated) -> None:
    knowledge, instance = consolidated
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("playbook_entries"), asset_partitions=[PROJECT]
        ),
        limit=1,
    ).records[0]
    metadata = latest.asset_materialization.metadata
    figures = knowledge.stats(PROJECT)
    assert metadata["project_total_memories"].value == figures["total_memories"]
    assert metadata["project_reduction_percent"].value == figures["reduction_percent"]
    assert metadata["project_figures"].value["abstraction_levels"] == figures["abstraction_levels"]
