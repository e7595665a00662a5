"""Pattern extraction on real text: Banking77 intents and unrelated memories."""

from sklearn.metrics import v_measure_score

from consolidation_assets.phases.patterns import (
    PatternSettings,
    extract_patterns,
    infer_pattern_type,
)
from tests.helpers import banking77_sample, isabella_stream, make_batch


def labels_of(result, ids):
    """Pattern index per memory; memories in no pattern get their own singleton label."""
    owner = {m: k for k, p in enumerate(result.patterns) for m in p.member_ids}
    return [owner.get(m, f"alone-{m}") for m in ids]


def test_banking77_clusters_match_intents_without_k(embedder) -> None:
    texts, intents = banking77_sample()
    batch = make_batch(embedder, texts)
    result = extract_patterns("bank", batch)
    predicted = labels_of(result, batch.ids)
    v_measure = v_measure_score(intents, [str(p) for p in predicted])
    print(f"banking77 1000: V-measure {v_measure:.3f}, {len(result.patterns)} patterns")
    assert v_measure >= 0.70
    assert all(p.support >= 3 for p in result.patterns)
    assert result.metrics["memories_in_patterns"] == sum(p.support for p in result.patterns)


def test_patterns_are_deterministic_and_labelled(embedder) -> None:
    texts, _ = banking77_sample()
    batch = make_batch(embedder, texts[:400])
    first = extract_patterns("bank", batch)
    second = extract_patterns("bank", batch)
    assert [p.id for p in first.patterns] == [p.id for p in second.patterns]
    assert [p.member_ids for p in first.patterns] == [p.member_ids for p in second.patterns]
    top = first.patterns[0]
    central_text = batch.texts[batch.ids.index(top.central_memory_id)]
    assert top.label.rstrip("…") in central_text or central_text.startswith(top.label[:20])
    assert top.keywords, "a pattern needs distinctive keywords"
    assert 0.0 <= top.confidence <= 1.0


def test_unrelated_memories_stay_out_of_patterns(embedder) -> None:
    texts, intents = banking77_sample()
    card = [t for t, i in zip(texts, intents, strict=True) if i == "card_arrival"][:8]
    unrelated = [
        "Isabella is decorating Hobbs Cafe for the Valentine's Day party.",
        "The Alembic migration for the invoices table took a lock for nine minutes.",
        "Gradle sync failed because the Android SDK 34 platform was missing.",
        "The nightly Spark job wrote 1,200 Parquet files of 4 KB each.",
        "Klaus is writing a research paper on gentrification in low-income communities.",
    ]
    batch = make_batch(embedder, card + unrelated)
    result = extract_patterns("mix", batch)
    in_patterns = {m for p in result.patterns for m in p.member_ids}
    unrelated_ids = set(batch.ids[len(card) :])
    assert not in_patterns & unrelated_ids
    assert result.patterns and len(in_patterns) >= 5


def test_exact_repetitions_in_an_agent_stream_form_a_pattern(embedder) -> None:
    nodes = [n for n in isabella_stream() if n["type"] == "thought"]
    texts = [n["description"] for n in nodes]
    batch = make_batch(embedder, texts, ids=[n["node_id"] for n in nodes])
    result = extract_patterns("isabella", batch, PatternSettings())
    owner = {m: p.id for p in result.patterns for m in p.member_ids}
    groups: dict[str, list[str]] = {}
    for node_id, text in zip(batch.ids, texts, strict=True):
        groups.setdefault(text.strip().lower(), []).append(node_id)
    repeated = [ids for ids in groups.values() if len(ids) >= 3]
    assert repeated, "the stream repeats thoughts"
    for ids in repeated:
        assert len({owner.get(i) for i in ids}) == 1 and owner.get(ids[0]) is not None


def test_pattern_type_follows_members() -> None:
    assert infer_pattern_type(["error_fix", "error_fix", "learning"], [True, False, None]) == (
        "failure"
    )
    assert infer_pattern_type(["warning", "warning", "decision"], [None] * 3) == "gotcha"
    assert infer_pattern_type(["learning"] * 3, [True, True, True]) == "success"
    assert infer_pattern_type(["learning"] * 3, [False, False, True]) == "failure"
    assert infer_pattern_type(["decision", "decision", "discovery"], [None] * 3) == "decision"
    assert infer_pattern_type(["discovery", "codebase_knowledge"], [None, None]) == "workflow"
