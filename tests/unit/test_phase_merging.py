"""Memory merging on real pairs (MRPC), real agent streams, and the detail guard."""

import csv
import json
from pathlib import Path

from consolidation_assets.phases.graph import text_graph
from consolidation_assets.phases.merging import (
    MergeSettings,
    is_duplicate,
    merge_memories,
    neighbour_density,
)
from consolidation_assets.phases.text import normalize
from tests.helpers import cosine, isabella_stream, make_batch, shared_path


def group_of(outcome) -> dict[str, str]:
    return {m: g.id for g in outcome.groups for m in g.source_ids}


def test_mrpc_merges_are_precise(embedder) -> None:
    path = shared_path("mrpc", "msr-para-val.tsv")
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    texts: dict[str, str] = {}
    pairs = []
    for quality, id1, id2, s1, s2 in rows:
        texts[id1], texts[id2] = s1, s2
        pairs.append((id1, id2, quality == "1"))
    ids = list(texts)
    batch = make_batch(embedder, [texts[i] for i in ids], ids=ids)
    groups = group_of(merge_memories("mrpc", batch))
    merged = [(a, b, same) for a, b, same in pairs if a in groups and groups[a] == groups.get(b)]
    true_positive = sum(same for _, _, same in merged)
    precision = true_positive / len(merged)
    recall = true_positive / sum(same for _, _, same in pairs)
    print(f"MRPC val: {len(merged)} pairs merged, precision {precision:.3f}, recall {recall:.3f}")
    assert len(merged) >= 50
    assert precision >= 0.90


def test_exact_duplicates_in_agent_streams_always_merge(embedder) -> None:
    nodes = isabella_stream()
    batch = make_batch(
        embedder, [n["description"] for n in nodes], ids=[n["node_id"] for n in nodes]
    )
    outcome = merge_memories("isabella", batch)
    groups = group_of(outcome)
    by_text: dict[str, list[str]] = {}
    for node in nodes:
        by_text.setdefault(normalize(node["description"]), []).append(node["node_id"])
    duplicated = [ids for ids in by_text.values() if len(ids) > 1]
    assert len(duplicated) > 20
    for ids in duplicated:
        assert ids[0] in groups and {groups.get(i) for i in ids} == {groups[ids[0]]}
    assert outcome.metrics["exact_duplicates"] == sum(len(ids) - 1 for ids in duplicated)


def test_detail_guard_keeps_different_facts_apart(embedder) -> None:
    texts = [
        "The staging database listens on port 5432; connect through the bastion host.",
        "The staging database listens on port 5433; connect through the bastion host.",
        "Pin fastapi to 0.110.1 because 0.111 breaks the dependency override in tests.",
        "Pin fastapi to 0.110.2 because 0.111 breaks the dependency override in tests.",
        "Enable connection pooling in PgBouncer for the reporting service.",
        "Do not enable connection pooling in PgBouncer for the reporting service.",
        "Nginx returned HTTP 502 when the upstream gunicorn workers were restarting.",
        "Nginx returned HTTP 504 when the upstream gunicorn workers were restarting.",
    ]
    batch = make_batch(embedder, texts)
    for a, b in zip(range(0, 8, 2), range(1, 8, 2), strict=True):
        assert cosine(batch.vectors[a], batch.vectors[b]) >= 0.9, "the trap must be a real one"
    groups = group_of(merge_memories("guard", batch))
    for a, b in zip(range(0, 8, 2), range(1, 8, 2), strict=True):
        assert groups.get(batch.ids[a]) is None or groups.get(batch.ids[a]) != groups.get(
            batch.ids[b]
        )
    unguarded = group_of(merge_memories("guard", batch, settings=MergeSettings(detail_guard=False)))
    assert any(unguarded.get(batch.ids[a]) == unguarded.get(batch.ids[a + 1]) for a in (0, 2, 6))


def test_groups_do_not_chain(embedder) -> None:
    texts = [
        "Run the database migrations before starting the API server.",
        "Run database migrations before you start the API server.",
        "Always run the migrations before starting the server.",
        "Start the API server only after the migrations have run.",
        "Migrations must run before the API server starts.",
    ]
    batch = make_batch(embedder, texts)
    settings = MergeSettings(duplicate_threshold=0.2, min_cosine=0.7)
    groups = merge_memories("chain", batch, settings=settings).groups
    assert groups
    graph = text_graph(batch, settings.neighbors)
    density = neighbour_density(graph.neighbors.similarities)[graph.unique_of]
    for group in groups:
        leader = batch.ids.index(group.canonical_memory_id)
        for source in group.source_ids:
            index = batch.ids.index(source)
            similarity = cosine(batch.vectors[leader], batch.vectors[index])
            pair_density = (density[leader] + density[index]) / 2
            assert is_duplicate(
                batch.texts[leader], batch.texts[index], similarity, settings, pair_density
            )


def test_a_text_that_adds_a_fact_is_not_a_duplicate(embedder) -> None:
    texts = [
        "The deploy failed because the disk on the build agent was full.",
        "The deploy failed because the disk on the build agent was full; we also rotated the "
        "registry credentials and moved the nightly backups to another bucket.",
        "Deploy failed: the build agent's disk was full.",
    ]
    batch = make_batch(embedder, texts)
    groups = group_of(merge_memories("facts", batch))
    assert groups.get(batch.ids[0]) is not None
    assert groups.get(batch.ids[0]) == groups.get(batch.ids[2])
    assert groups.get(batch.ids[1]) != groups.get(batch.ids[0])


def test_isabella_near_paraphrases_merge_precisely(embedder) -> None:
    """The labelled pairs of Isabella's stream (``benchmarks/labels``), on the bundled stream:
    merges stay precise and take a share of the near-paraphrases. These pairs helped fit the
    shipped model, so this guards against regressions; held-out figures are the benchmark's."""
    nodes = isabella_stream()
    batch = make_batch(
        embedder, [n["description"] for n in nodes], ids=[n["node_id"] for n in nodes]
    )
    groups = group_of(merge_memories("isabella", batch))
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "labels"
    labels = [
        json.loads(line)
        for line in (path / "generative_agents_pairs.jsonl").read_text().splitlines()
        if line.startswith('{"a": "Isabella_Rodriguez/')
    ]
    merged = []
    for label in labels:
        a, b = label["a"].split("/")[1], label["b"].split("/")[1]
        merged.append((groups.get(a) is not None and groups.get(a) == groups.get(b), label["same"]))
    hits = sum(m and same for m, same in merged)
    print(f"Isabella: {sum(m for m, _ in merged)} labelled pairs merged, {hits} rightly")
    assert len(labels) > 150
    assert hits >= 5
    assert hits / max(sum(m for m, _ in merged), 1) >= 0.9


def test_a_role_in_capitals_is_a_detail(embedder) -> None:
    """Two facts about one masking policy that differ in the value and the role it applies
    to: PII_ANALYST is an identifier, REPORTER an ALL-CAPS name, so the guard keeps them apart
    even where the model would merge."""
    texts = [
        "PII_EMAIL_MASK returns the clear value for role PII_ANALYST.",
        "PII_EMAIL_MASK returns the masked value for role REPORTER.",
    ]
    batch = make_batch(embedder, texts)
    assert merge_memories("roles", batch).groups == []
    always = MergeSettings(duplicate_threshold=0.0, min_cosine=0.0)
    assert merge_memories("roles", batch, settings=always).groups == []
