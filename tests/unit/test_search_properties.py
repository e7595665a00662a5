"""Properties of hybrid search: BM25, the scores, task support, and how levels interleave.

References: BM25 written here from the standard formula (``idf = ln(1 + (N - df + 0.5) /
(df + 0.5))``, term weight ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))``,
summed over the query's distinct terms) with the module's ``BM25_K1``/``BM25_B`` and its
``search_terms`` tokenisation. Scores written here, item by item, from the module docstring:
cosine minus ``specificity`` times the similarity to the unit mean of all vectors, plus
``lexical`` times BM25 over the query's mass (distinct terms' idf, an unseen term's at df 0,
times ``k1 + 1``), plus ``time`` when the item's span lies within a window of the query's
dates, plus ``task`` times the mean of the two best of those scores among its group's
candidates (its own when alone or ungrouped), the task part among the ``TASK_POOL`` (or four
times ``limit``) best by the other signals (the pool is lowered in the inverted-file test).
Hits must be the ``limit`` best candidates, best first, up to float32 rounding. Candidates:
every allowed item, or with the inverted file (limit lowered) the items of the ``PROBES``
nearest cells and the ``depth`` best BM25 matches.
Interleaving against a two-way merge written from its docstring.

Cases run: 100 (BM25), 100 (scores, exact), 50 (scores, inverted file), 200 (task support),
300 (interleave), 200 (``_top``), 5 (the cells against the vectors' last bits), plus
regressions.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases import search
from consolidation_assets.phases.dates import query_windows
from consolidation_assets.phases.graph import KEY_BYTES, text_key
from consolidation_assets.phases.neighbors import partition
from consolidation_assets.phases.search import (
    BM25_B,
    BM25_K1,
    Hit,
    HybridIndex,
    LexicalIndex,
    SearchSettings,
    _top,
    group_support,
    interleave,
    search_terms,
)
from tests.unit.strategies import (
    DETAILS,
    PROPERTY_SETTINGS,
    TOPIC_WORDS,
    memory_texts,
    normalized_rows,
    unit_vectors,
)

queries = st.lists(st.sampled_from(TOPIC_WORDS[:10] + list(DETAILS) + ["the", "zzz"])).map(" ".join)


def brute_bm25(texts: list[str], query: str) -> np.ndarray:
    documents = [Counter(search_terms(t)) for t in texts]
    n = len(documents)
    lengths = [sum(d.values()) for d in documents]
    average = sum(lengths) / n if n else 1.0
    scores = np.zeros(n)
    for term in set(search_terms(query)):
        df = sum(term in d for d in documents)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(documents):
            tf = d[term]
            if tf:
                norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[i] / average)
                scores[i] += idf * tf * (BM25_K1 + 1) / (tf + norm)
    return scores


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(memory_texts(max_n=40), queries)
def test_bm25_matches_the_standard_formula(texts: list[str], query: str) -> None:
    got = LexicalIndex(texts).scores(query)
    assert got.shape == (len(texts),)
    np.testing.assert_allclose(got, brute_bm25(texts, query), rtol=1e-5, atol=1e-6)


def ranked(items: np.ndarray, scores: np.ndarray, depth: int) -> list[int]:
    order = sorted(range(items.size), key=lambda j: (-scores[j], items[j]))
    return [int(items[j]) for j in order[:depth]]


TOLERANCE = 1e-5


def brute_mass(texts: list[str], query: str) -> float:
    """Each distinct query term's idf (an unseen term's at document frequency zero) times
    ``k1 + 1``, from the standard formula."""
    documents = [set(search_terms(t)) for t in texts]
    n = len(documents)
    total = 0.0
    for term in set(search_terms(query)):
        df = sum(term in d for d in documents)
        total += math.log(1 + (n - df + 0.5) / (df + 0.5))
    return total * (BM25_K1 + 1)


def brute_scores(
    texts: list[str],
    vectors: np.ndarray,
    query_vector: np.ndarray,
    query: str,
    items: list[int],
    spans: np.ndarray | None,
    groups: np.ndarray | None,
    chosen: SearchSettings,
    limit: int,
) -> dict[int, float]:
    """The score of each candidate, one at a time, as the module docstring defines it; with a
    task weight, only for the ``TASK_POOL`` (or four times ``limit``) best by the others."""
    total = vectors.astype(np.float64).sum(axis=0)
    center = total / np.linalg.norm(total) if np.linalg.norm(total) > 0 else total
    bm25 = brute_bm25(texts, query)
    mass = brute_mass(texts, query)
    windows = query_windows(query)
    base = {}
    for i in items:
        score = float(vectors[i] @ query_vector) - chosen.specificity * float(vectors[i] @ center)
        if mass > 0:
            score += chosen.lexical * bm25[i] / mass
        if spans is not None and any(w.holds(*spans[i]) for w in windows):
            score += chosen.time
        base[i] = score
    if chosen.task:
        pool = max(search.TASK_POOL, 4 * limit)
        items = sorted(items, key=lambda i: (-base[i], i))[:pool]
    final = {}
    for i in items:
        group = -1 if groups is None else groups[i]
        mates = [base[j] for j in items if group >= 0 and groups[j] == group] or [base[i]]
        best = sorted(mates, reverse=True)[:2]
        final[i] = base[i] + chosen.task * sum(best) / len(best)
    return final


@st.composite
def corpora(draw: st.DrawFn, min_n: int = 0) -> tuple[list[str], np.ndarray]:
    vectors = draw(unit_vectors(min_n=min_n))
    texts = draw(memory_texts(min_n=vectors.shape[0], max_n=vectors.shape[0]))
    return texts, vectors


DAYS = [datetime(2026, 3, d, tzinfo=UTC) for d in (1, 2, 3, 20)]
dated_queries = st.tuples(queries, st.sampled_from([None, *DAYS])).map(
    lambda pair: pair[0] if pair[1] is None else f"{pair[0]} on {pair[1]:%d %B, %Y}"
)
search_settings = st.builds(
    SearchSettings,
    lexical=st.sampled_from([0.0, 0.5, 1.5]),
    specificity=st.sampled_from([0.0, 0.25, 0.75]),
    time=st.sampled_from([0.0, 0.2]),
    task=st.sampled_from([0.0, 0.5]),
)


def check_search(
    index: HybridIndex,
    texts: list[str],
    vectors: np.ndarray,
    data: st.DataObject,
    query_vector: np.ndarray,
    semantic_items: np.ndarray,
) -> None:
    """One search with drawn text, settings, limit, depth and filter, against the brute-force
    scores of the candidates: ``semantic_items`` and the ``depth`` best BM25 matches."""
    n = len(texts)
    query = data.draw(dated_queries)
    chosen = data.draw(search_settings)
    limit = data.draw(st.integers(0, 12))
    depth = data.draw(st.integers(1, 15))
    mask = data.draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n, max_size=n)))
    allowed = None if mask is None else np.array(mask, dtype=bool)
    hits = index.search(query_vector, query, limit, allowed, depth, chosen)
    if n == 0 or limit <= 0:
        assert hits == []
        return
    everything = np.ones(n, dtype=bool) if allowed is None else allowed
    bm25 = brute_bm25(texts, query)
    # The depth cut ranks the index's own float32 BM25, so that a tie is a tie on both sides
    # (its values are checked against the formula above).
    own = index.lexical.scores(query)
    matched = np.flatnonzero((own > 0) & everything)
    candidates = {int(i) for i in semantic_items if everything[i]}
    if semantic_items.size < n:
        candidates |= set(ranked(matched, own[matched], depth))
    items = sorted(candidates)
    final = brute_scores(
        texts, vectors, query_vector, query, items, index.spans, index.groups, chosen, limit
    )
    assert_ranked(hits, final, limit)
    for hit in hits:
        assert hit.score == pytest.approx(
            min(1.0, max(final[hit.index] / chosen.ceiling(), 1e-4)), abs=1e-4
        )
        assert 0 < hit.score <= 1
        assert hit.lexical == pytest.approx(float(bm25[hit.index]), rel=1e-5, abs=1e-6)
        assert hit.semantic == pytest.approx(float(vectors[hit.index] @ query_vector), abs=1e-6)
        spans = index.spans
        assert hit.dated == (
            spans is not None and any(w.holds(*spans[hit.index]) for w in query_windows(query))
        )


def assert_ranked(hits: list[Hit], final: dict[int, float], limit: int) -> None:
    """The hits are the ``limit`` best candidates, best first, up to float32 rounding: scores
    closer than ``TOLERANCE`` may come in either order (identical rows can differ by one unit
    of the last place after a matrix product)."""
    got = [h.index for h in hits]
    assert len(got) == len(set(got)) == min(limit, len(final))
    assert set(got) <= set(final)
    for a, b in itertools.pairwise(got):
        assert final[a] >= final[b] - TOLERANCE
    left_out = [final[i] for i in final if i not in set(got)]
    if got and left_out:
        assert min(final[i] for i in got) >= max(left_out) - TOLERANCE


def spans_and_groups(data: st.DataObject, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Drawn creation spans (some on the query dates, some over several days) and tasks."""
    day = st.sampled_from([d.timestamp() + 3600 for d in DAYS])
    spans = data.draw(
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(day, st.sampled_from([0.0, 0.0, 86400.0 * 3])), min_size=n, max_size=n
            ).map(lambda rows: np.array([(a, a + b) for a, b in rows]).reshape(-1, 2)),
        )
    )
    groups = data.draw(
        st.one_of(
            st.none(),
            st.lists(st.integers(-1, 3), min_size=n, max_size=n).map(
                lambda g: np.array(g, dtype=np.int64)
            ),
        )
    )
    return spans, groups


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(corpora(), st.data())
def test_scores_match_the_brute_force_definition(
    corpus: tuple[list[str], np.ndarray], data: st.DataObject
) -> None:
    texts, vectors = corpus
    dim = vectors.shape[1]
    raw = data.draw(st.lists(st.integers(-2, 2), min_size=dim, max_size=dim))
    query_vector = normalized_rows(np.array([raw], dtype=np.float64))[0]
    spans, groups = spans_and_groups(data, len(texts))
    index = HybridIndex(texts, vectors, spans=spans, groups=groups)
    check_search(index, texts, vectors, data, query_vector, np.arange(len(texts)))


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(corpora(min_n=31), st.integers(1, 4), st.data())
def test_search_through_the_inverted_file(
    corpus: tuple[list[str], np.ndarray], probes: int, data: st.DataObject
) -> None:
    """Above the limit the candidates are the items of the cells nearest the query, and the
    best BM25 matches among the others."""
    texts, vectors = corpus
    query_vector = vectors[data.draw(st.integers(0, len(texts) - 1))]
    spans, groups = spans_and_groups(data, len(texts))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "EXACT_LIMIT", 30)
        patch.setattr(search, "PROBES", probes)
        patch.setattr(search, "TASK_POOL", data.draw(st.sampled_from([1, 5, 1000])))
        index = HybridIndex(texts, vectors, spans=spans, groups=groups)
        keys = np.array([text_key(t) for t in texts], dtype=f"S{KEY_BYTES}")
        centroids, cell_of = partition(vectors, keys)
        cells = np.argsort(-(centroids @ query_vector), kind="stable")[:probes]
        items = np.flatnonzero(np.isin(cell_of, cells))
        found, _ = index.vectors.candidates(query_vector)
        assert sorted(found.tolist()) == items.tolist()
        check_search(index, texts, vectors, data, query_vector, items)


def brute_group_support(groups: list[int], scores: list[float]) -> list[float]:
    out = []
    for i, group in enumerate(groups):
        mates = [s for g, s in zip(groups, scores, strict=True) if g == group and g >= 0]
        best = sorted(mates or [scores[i]], reverse=True)[:2]
        out.append(sum(best) / len(best))
    return out


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-1, 4), min_size=n, max_size=n),
            st.lists(st.sampled_from([-0.5, 0.0, 0.25, 1.0, 2.0]), min_size=n, max_size=n),
        )
    )
)
def test_group_support_is_the_mean_of_the_two_best_of_the_group(
    case: tuple[list[int], list[float]],
) -> None:
    groups, scores = case
    got = group_support(np.array(groups, dtype=np.int64), np.array(scores))
    np.testing.assert_allclose(got, brute_group_support(groups, scores))


def hits_of(scores: list[float], offset: int) -> list[Hit]:
    ordered = sorted(scores, reverse=True)
    return [Hit(offset + i, s, 0.5, 0.0) for i, s in enumerate(ordered)]


def brute_interleave(specific: list[Hit], general: list[Hit], limit: int) -> list[Hit]:
    """The rule written out as a two-way merge: the first ``limit`` specific results, with the
    admitted general ones (at most one per ten places, each scoring at least the third
    specific result) merged in by score, after specific ones of equal score and never first;
    then the other general results while there is room."""
    spec = specific[:limit]
    third = spec[2].score if len(spec) >= 3 else -math.inf
    admitted = [g for g in general if g.score >= third][: math.ceil(limit / 10)]
    out: list[Hit] = []
    s, g = 0, 0
    while s < len(spec) or g < len(admitted):
        general_next = g < len(admitted) and (
            s == len(spec) or (bool(out) and admitted[g].score > spec[s].score)
        )
        if general_next:
            out.append(admitted[g])
            g += 1
        else:
            out.append(spec[s])
            s += 1
    out = out[:limit]
    rest = [h for h in general if h not in admitted]
    return out + rest[: limit - len(out)]


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(
    st.lists(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]), max_size=25),
    st.lists(st.sampled_from([0.2, 0.5, 0.8, 0.95]), max_size=6),
    st.integers(1, 25),
)
def test_interleave_keeps_specific_answers_on_top(
    specific_scores: list[float], general_scores: list[float], limit: int
) -> None:
    specific = hits_of(specific_scores, 0)
    general = hits_of(general_scores, 100)
    merged = interleave(specific, general, limit)
    assert merged == brute_interleave(specific, general, limit)
    if specific:
        assert merged[0] == specific[0]
    if len(specific) >= limit:
        assert sum(h.index >= 100 for h in merged) <= math.ceil(limit / 10)


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(
    st.integers(0, 60).flatmap(
        lambda n: st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5]), min_size=n, max_size=n)
    ),
    st.integers(1, 45),
)
def test_top_orders_by_score_then_index(scores: list[float], k: int) -> None:
    """Items by descending score, ties by index, at most k: what its docstring says."""
    values = np.array(scores)
    items = np.arange(values.size) * 3
    assert _top(items, values, k).tolist() == ranked(items, values, k)


def test_regression_top_breaks_ties_at_the_cut_by_index() -> None:
    """argpartition left a tie at the k-th place to chance: of the two best (equal) scores,
    at indices 14 and 15, it kept 15."""
    scores = np.array([0.0] * 14 + [1.0, 1.0])
    assert _top(np.arange(16) * 3, scores, 1).tolist() == [42]


@settings(PROPERTY_SETTINGS, max_examples=5)
@given(st.integers(2_900, 3_100), st.integers(0, 2**32 - 1))
def test_the_inverted_files_cells_do_not_depend_on_the_vectors_last_bits(n: int, seed: int) -> None:
    """The same texts embedded on another CPU differ in their vectors' last bits; the items'
    cells come from their texts' digests, so almost every query searches the same items."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 20, 32))
    vectors = normalized_rows(
        centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, 32))
    )
    other_cpu = normalized_rows(vectors + 1e-7 * rng.standard_normal((n, 32)).astype(np.float32))
    texts = [f"memory {i}" for i in range(n)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "EXACT_LIMIT", 1_000)
        here = HybridIndex(texts, vectors).vectors
        there = HybridIndex(texts, other_cpu).vectors
    same = [
        np.array_equal(np.sort(here.candidates(q)[0]), np.sort(there.candidates(q)[0]))
        for q in vectors[:200]
    ]
    assert np.mean(same) >= 0.99
