"""Properties of hybrid search: BM25 scores and reciprocal-rank fusion.

References: BM25 written here from the standard formula (``idf = ln(1 + (N - df + 0.5) /
(df + 0.5))``, term weight ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))``,
summed over the query's distinct terms) with the module's ``BM25_K1``/``BM25_B`` and its
``search_terms`` tokenisation; fusion written here from the module docstring: each side ranks
the allowed items (cosine; BM25 above zero) best first with ties by index, keeps ``depth``, and
an item scores ``1 / (60 + rank)`` (rank from 1) in each list it is in; hits are the ``limit``
best by fused score, ties by index. The fusion reference ranks the same float32 cosines the
exact index computes, so ties are ties on both sides. With the inverted file (limit lowered),
the semantic side ranks only the items of the ``PROBES`` cells nearest the query.

Cases run: 100 (BM25), 100 (fusion, exact), 50 (fusion, inverted file), 200 (``_top``),
plus regressions.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases import search
from consolidation_assets.phases.neighbors import partition
from consolidation_assets.phases.search import (
    BM25_B,
    BM25_K1,
    RRF_K,
    HybridIndex,
    LexicalIndex,
    _top,
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


def brute_fusion(
    semantic_items: np.ndarray,
    cosines: np.ndarray,
    bm25: np.ndarray,
    allowed: np.ndarray,
    limit: int,
    depth: int,
) -> list[tuple[int, float]]:
    depth = max(depth, limit)
    keep = allowed[semantic_items]
    semantic = ranked(semantic_items[keep], cosines[keep], depth)
    matched = np.flatnonzero((bm25 > 0) & allowed)
    lexical = ranked(matched, bm25[matched], depth)
    fused: dict[int, float] = {}
    for side in (semantic, lexical):
        for rank, item in enumerate(side, start=1):
            fused[item] = fused.get(item, 0.0) + 1 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]


@st.composite
def corpora(draw: st.DrawFn, min_n: int = 0) -> tuple[list[str], np.ndarray]:
    vectors = draw(unit_vectors(min_n=min_n))
    texts = draw(memory_texts(min_n=vectors.shape[0], max_n=vectors.shape[0]))
    return texts, vectors


def check_search(
    index: HybridIndex,
    texts: list[str],
    vectors: np.ndarray,
    data: st.DataObject,
    query_vector: np.ndarray,
    semantic_items: np.ndarray,
) -> None:
    """One search with drawn text, limit, depth and filter, against the brute-force fusion
    of the cosine ranking of ``semantic_items`` and the BM25 ranking of every item."""
    n = len(texts)
    query = data.draw(queries)
    limit = data.draw(st.integers(0, 12))
    depth = data.draw(st.integers(1, 15))
    mask = data.draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n, max_size=n)))
    allowed = None if mask is None else np.array(mask, dtype=bool)
    hits = index.search(query_vector, query, limit=limit, allowed=allowed, depth=depth)
    if n == 0 or limit <= 0:
        assert hits == []
        return
    bm25 = index.lexical.scores(query)
    everything = np.ones(n, dtype=bool) if allowed is None else allowed
    cosines = vectors[semantic_items] @ query_vector
    expected = brute_fusion(semantic_items, cosines, bm25, everything, limit, depth)
    assert [h.index for h in hits] == [item for item, _ in expected]
    top = 2 / (RRF_K + 1)
    for hit, (item, score) in zip(hits, expected, strict=True):
        assert hit.score == round(score / top, 4)
        assert 0 < hit.score <= 1
        assert hit.lexical == pytest.approx(float(bm25[item]))
        assert hit.semantic == pytest.approx(float(vectors[item] @ query_vector), abs=1e-6)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(corpora(), st.data())
def test_fusion_matches_brute_force_reciprocal_ranks(
    corpus: tuple[list[str], np.ndarray], data: st.DataObject
) -> None:
    texts, vectors = corpus
    dim = vectors.shape[1]
    raw = data.draw(st.lists(st.integers(-2, 2), min_size=dim, max_size=dim))
    query_vector = normalized_rows(np.array([raw], dtype=np.float64))[0]
    index = HybridIndex(texts, vectors)
    check_search(index, texts, vectors, data, query_vector, np.arange(len(texts)))


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(corpora(min_n=31), st.integers(1, 4), st.data())
def test_fusion_through_the_inverted_file(
    corpus: tuple[list[str], np.ndarray], probes: int, data: st.DataObject
) -> None:
    """Above the limit the semantic side ranks the items of the cells nearest the query."""
    texts, vectors = corpus
    query_vector = vectors[data.draw(st.integers(0, len(texts) - 1))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "EXACT_LIMIT", 30)
        patch.setattr(search, "PROBES", probes)
        index = HybridIndex(texts, vectors)
        centroids, cell_of = partition(vectors)
        cells = np.argsort(-(centroids @ query_vector), kind="stable")[:probes]
        items = np.flatnonzero(np.isin(cell_of, cells))
        found, _ = index.vectors.candidates(query_vector)
        assert sorted(found.tolist()) == items.tolist()
        check_search(index, texts, vectors, data, query_vector, items)


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
