"""The memory store: ingest is all-or-nothing and idempotent; raw memories are never changed."""

import hashlib
import json

import numpy as np
import pytest
from sqlalchemy import inspect, select

from consolidation_assets.services.embedders import CachingEmbedder
from consolidation_assets.services.ingest import store_memories
from consolidation_assets.services.memory_input import InvalidMemoriesError, parse_jsonl
from consolidation_assets.store.embeddings import fill_cached
from consolidation_assets.store.memories import count_memories, insert_memories


def jsonl(records) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def test_schema_is_created_on_first_use(store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "memories",
        "memory_embeddings",
        "patterns",
        "pattern_members",
        "merged_memories",
        "merged_memory_sources",
        "principles",
        "principle_patterns",
        "playbook_entries",
        "playbook_entry_memories",
        "playbook_changes",
        "consolidation_jobs",
    } <= tables


def test_reingesting_the_same_ids_adds_nothing(store) -> None:
    records = [{"id": f"a{i}", "project_id": "p", "content": f"memory {i}"} for i in range(5)]
    first = insert_memories(store.engine, parse_jsonl(jsonl(records), "f"))
    again = insert_memories(store.engine, parse_jsonl(jsonl(records), "f"))
    assert (first.inserted, again.inserted, again.already_present) == (5, 0, 5)
    assert count_memories(store.engine, "p") == 5


def test_stored_id_with_other_content_refuses_the_whole_batch(store) -> None:
    insert_memories(
        store.engine,
        parse_jsonl(jsonl([{"id": "a", "project_id": "p", "content": "one"}]), "f"),
    )
    batch = parse_jsonl(
        jsonl(
            [
                {"id": "b", "project_id": "p", "content": "new"},
                {"id": "a", "project_id": "p", "content": "changed"},
            ]
        ),
        "g",
    )
    with pytest.raises(InvalidMemoriesError, match="line 2: id"):
        store_memories(store.engine, batch, "g")
    assert count_memories(store.engine, "p") == 1


def test_embedding_cache_embeds_each_text_once(store, embedder) -> None:
    texts = ["Use WAL mode for SQLite.", "Use WAL mode for SQLite.", "Pin numpy below 3."]
    hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    cache = CachingEmbedder(embedder, store.engine)
    vectors, embedded = cache.vectors_for(hashes, texts)
    assert embedded == 2 and vectors.shape == (3, 384)
    assert abs(float(vectors[0] @ vectors[0]) - 1.0) < 1e-5
    again, embedded_again = cache.vectors_for(hashes, texts)
    assert embedded_again == 0
    assert (again == vectors).all()
    out = np.zeros_like(vectors)
    assert fill_cached(store.engine, embedder.model_id, hashes, out).all()
    assert (out == vectors).all()


def test_run_snapshots_hold_live_runs_only(store) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from consolidation_assets.store.engine import transaction
    from consolidation_assets.store.jobs import JobRecord, save_job
    from consolidation_assets.store.models import RunSnapshot
    from consolidation_assets.store.run_snapshots import (
        SNAPSHOT_RETENTION,
        pin_snapshot,
        snapshot_count,
    )

    records = [{"id": f"s{i}", "project_id": "p", "content": f"memory {i}"} for i in range(3)]
    insert_memories(store.engine, parse_jsonl(jsonl(records), "f"))
    bound = pin_snapshot(store.engine, "run-live", "p")
    assert pin_snapshot(store.engine, "run-done", "p") == bound
    assert pin_snapshot(store.engine, "run-forgotten", "p") == bound
    with transaction(store.engine) as session:
        session.execute(
            update(RunSnapshot)
            .where(RunSnapshot.run_id == "run-forgotten")
            .values(created_at=datetime.now(UTC) - SNAPSHOT_RETENTION - timedelta(hours=1))
        )
    save_job(store.engine, JobRecord("run-live", "p", "running", "manual"))
    save_job(store.engine, JobRecord("run-done", "p", "completed", "manual"))
    assert snapshot_count(store.engine) == 2, "a finished run's snapshot goes with its record"
    pin_snapshot(store.engine, "run-next", "p")
    with store.engine.connect() as conn:
        left = set(conn.scalars(select(RunSnapshot.run_id)))
    assert left == {"run-live", "run-next"}, "snapshots older than the retention are swept"
