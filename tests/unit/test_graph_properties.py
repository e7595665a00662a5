"""Properties of ``graph.text_graph``: collapsing exact duplicates and carrying a graph over.

References: exact duplicates are grouped by a dictionary on ``text.normalize`` (first
occurrence order); a graph extended from the previous run's stored graph must hold, row by
row, the same neighbour similarities as the graph built from scratch, which below
``EXACT_LIMIT`` is the exact top-k. Where a row's similarities have no near tie the neighbour
indices must agree too. A previous graph that no longer applies (texts gone, other ``k``)
must be ignored.

Cases run: 100 (collapse), 100 (grown batches), 50 (previous graph not applicable).
"""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.graph import TextGraph, text_graph
from consolidation_assets.phases.text import normalize
from consolidation_assets.phases.types import MemoryBatch
from tests.unit.strategies import PROPERTY_SETTINGS, batch_of, normalized_rows, unit_vectors

TIE = 1e-6
SPELLINGS = (str, str.upper, str.title, lambda t: f"  {t}. ", lambda t: t.replace(" ", "\t"))


@st.composite
def labelled_batches(draw: st.DrawFn, max_n: int = 200) -> MemoryBatch:
    """Memories over synthetic vectors whose texts repeat (in other case and spacing) with
    their vector: a text's copies share one vector, as they would from a model that ignores
    case."""
    vectors = draw(unit_vectors(max_n=max_n))
    n = vectors.shape[0]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    repeat_share = draw(st.sampled_from([0.0, 0.2, 0.5]))
    source = np.arange(n)
    repeats = np.flatnonzero(rng.random(n) < repeat_share)
    repeats = repeats[repeats > 0]
    source[repeats] = rng.integers(0, repeats, repeats.size)
    while not np.array_equal(source[source], source):
        source = source[source]
    spellings = rng.integers(0, len(SPELLINGS), n).tolist()
    texts = [SPELLINGS[s](f"note {source[i]} on the pool") for i, s in enumerate(spellings)]
    return batch_of(texts, vectors[source])


def subset(batch: MemoryBatch, rows: list[int]) -> MemoryBatch:
    return MemoryBatch(
        ids=[batch.ids[i] for i in rows],
        texts=[batch.texts[i] for i in rows],
        vectors=batch.vectors[rows],
        memory_types=[batch.memory_types[i] for i in rows],
        success=[batch.success[i] for i in rows],
        task_ids=[batch.task_ids[i] for i in rows],
        created_at=[batch.created_at[i] for i in rows],
    )


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(labelled_batches(), st.integers(1, 12))
def test_exact_duplicates_collapse_by_normalised_text(batch: MemoryBatch, k: int) -> None:
    graph = text_graph(batch, k)
    first: dict[str, int] = {}
    expected_of = [first.setdefault(normalize(t), len(first)) for t in batch.texts]
    rows = sorted({normalize(t): i for i, t in reversed(list(enumerate(batch.texts)))}.values())
    assert graph.unique_of.tolist() == expected_of
    assert graph.unique_rows.tolist() == rows
    assert graph.weights.tolist() == np.bincount(expected_of, minlength=len(rows)).tolist()
    assert graph.exact_duplicates == len(batch) - len(rows)
    keys = [hashlib.sha1(normalize(batch.texts[r]).encode()).digest() for r in rows]
    assert graph.keys.tolist() == [key.rstrip(b"\0") for key in keys]
    assert graph.searched == len(rows)
    assert graph.neighbors.indices.shape == (len(rows), k)


def assert_same_graph(extended: TextGraph, scratch: TextGraph, batch: MemoryBatch) -> None:
    """Per row the same neighbour similarities; the same neighbours where nothing ties."""
    assert extended.unique_rows.tolist() == scratch.unique_rows.tolist()
    assert extended.unique_of.tolist() == scratch.unique_of.tolist()
    assert extended.weights.tolist() == scratch.weights.tolist()
    assert extended.keys.tolist() == scratch.keys.tolist()
    a, b = extended.neighbors, scratch.neighbors
    assert a.indices.shape == b.indices.shape
    assert ((a.indices < 0) == (b.indices < 0)).all()
    valid = b.indices >= 0
    np.testing.assert_allclose(a.similarities[valid], b.similarities[valid], atol=TIE, rtol=0)
    vectors = batch.vectors[scratch.unique_rows].astype(np.float64)
    everything = vectors @ vectors.T
    np.fill_diagonal(everything, np.inf)
    for row in range(b.indices.shape[0]):
        ranked = np.sort(everything[row])[::-1][1 : scratch.k + 2]
        if (np.abs(np.diff(ranked)) > TIE).all():
            assert a.indices[row].tolist() == b.indices[row].tolist(), row


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(labelled_batches(), st.integers(1, 12), st.data())
def test_a_grown_batch_extends_to_the_graph_built_from_scratch(
    batch: MemoryBatch, k: int, data: st.DataObject
) -> None:
    """Memories kept from the last run (a subsequence) plus new ones, in any positions."""
    n = len(batch)
    kept = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    before = subset(batch, [i for i in range(n) if kept[i]])
    previous = text_graph(before, k).stored()
    extended = text_graph(batch, k, previous)
    scratch = text_graph(batch, k)
    assert_same_graph(extended, scratch, batch)
    old_texts = {normalize(t) for t in before.texts}
    new_texts = {normalize(t) for t in batch.texts} - old_texts
    assert extended.searched == (len(new_texts) if old_texts else len(scratch.unique_rows))


@settings(PROPERTY_SETTINGS, max_examples=50)
@given(labelled_batches(max_n=80), st.integers(1, 8), st.data())
def test_a_previous_graph_that_no_longer_applies_is_ignored(
    batch: MemoryBatch, k: int, data: st.DataObject
) -> None:
    """Texts of the last run gone, or another k: the graph is built from scratch."""
    n = len(batch)
    extra = data.draw(st.integers(1, 3))
    gone = batch_of(
        [*batch.texts, *(f"gone {i}" for i in range(extra))],
        np.vstack([batch.vectors, normalized_rows(np.ones((extra, batch.vectors.shape[1])))]),
    )
    other_k = data.draw(st.sampled_from([k, k + 1]))
    previous = text_graph(gone, other_k).stored()
    graph = text_graph(batch, k, previous)
    scratch = text_graph(batch, k)
    assert graph.searched == len(scratch.unique_rows) and n == len(batch)
    assert_same_graph(graph, scratch, batch)
