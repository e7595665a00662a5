"""The ONNX Runtime embedder: PyTorch's vectors, batch- and order-invariant, int8 kept apart in
the cache, the choice of runtime, and the export's checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consolidation_assets.services import onnx_embedder
from consolidation_assets.services.embedders import (
    PACKAGED_MODEL_ID,
    CachingEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
    model_cache_dir,
)
from consolidation_assets.services.onnx_embedder import (
    ATTENTION_BUDGET,
    OnnxEmbedder,
    OnnxExportError,
    _encode,
    batches,
    default_threads,
    ensure_export,
)
from consolidation_assets.services.runner import run_all
from consolidation_assets.store import MemoryStore
from consolidation_assets.store.outputs import load_output
from consolidation_assets.store.schema import upgrade
from tests.helpers import SAMPLE_DATA, ingest_sample


@pytest.fixture(scope="module")
def onnx() -> OnnxEmbedder:
    return OnnxEmbedder(model_cache_dir(), threads=2)


@pytest.fixture(scope="module")
def torch_model() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def sample_texts(limit: int) -> list[str]:
    texts = []
    for path in sorted(SAMPLE_DATA.glob("*.jsonl")):
        texts += [json.loads(line)["content"] for line in path.read_text().splitlines()]
    return texts[::3][:limit]


def test_vectors_match_pytorch_so_the_cache_stays_valid(onnx, torch_model) -> None:
    texts = [*sample_texts(200), "", "ok", "ORA-01555 " * 300]
    ours, reference = onnx.encode(texts), torch_model.encode(texts)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert float(np.max(1.0 - np.sum(ours * reference, axis=1))) < 1e-4
    assert onnx.model_id == torch_model.model_id == PACKAGED_MODEL_ID
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=120
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(TEXT, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_a_text_gets_the_same_vector_in_any_batch_and_order(onnx, texts, random) -> None:
    """Batching by length and restoring the order must be invisible: each text's vector equals
    the one it gets alone, whatever its neighbours in the batch."""
    together = onnx.encode(texts)
    alone = np.vstack([onnx.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    order = list(range(len(texts)))
    random.shuffle(order)
    shuffled = onnx.encode([texts[i] for i in order])
    assert np.allclose(shuffled, together[order], atol=1e-5)


class TableSession:
    """A stand-in model whose hidden state of a token is a fixed row of a table, so that the
    mean pooling has a brute-force answer."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def run(self, _outputs, feeds):
        return [self.table[feeds["input_ids"]]]


class FakeEncoding:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.type_ids = [0] * len(ids)


class FakeTokenizer:
    def __init__(self, tokens: list[list[int]]) -> None:
        self.tokens = tokens

    def encode_batch(self, texts):
        return [FakeEncoding(self.tokens[int(t)]) for t in texts]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 49), min_size=1, max_size=20), min_size=1, max_size=30),
    st.integers(1, 7),
    st.integers(0, 2**31 - 1),
)
def test_pooling_is_the_mean_of_each_texts_own_tokens(tokens, batch_size, seed) -> None:
    """Against brute force: padding never leaks into a text's mean, whatever the batch."""
    table = np.random.default_rng(seed).normal(size=(50, 6)).astype(np.float32)
    texts = [str(i) for i in range(len(tokens))]
    got = _encode(TableSession(table), FakeTokenizer(tokens), texts, batch_size)
    for row, ids in zip(got, tokens, strict=True):
        mean = table[ids].mean(axis=0)
        assert np.allclose(row, mean / np.linalg.norm(mean), atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=300), st.integers(1, 128))
def test_batches_hold_every_row_once_within_the_attention_budget(lengths, batch_size) -> None:
    """Longest first, each row once; a batch exceeds neither bound unless it is one row (a
    text longer than the budget allows still gets embedded)."""
    found = batches(lengths, batch_size)
    rows = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in rows] == sorted(lengths, reverse=True)
    for batch in found:
        width = max(lengths[i] for i in batch)
        assert len(batch) == 1 or (
            len(batch) <= batch_size and len(batch) * width * width <= ATTENTION_BUDGET
        )


def test_int8_is_opt_in_and_never_shares_cache_entries(onnx, store) -> None:
    int8 = make_embedder(runtime="onnx-int8")
    assert int8.model_id == PACKAGED_MODEL_ID + "#onnx-int8" != onnx.model_id
    texts = sample_texts(60)
    CachingEmbedder(onnx, store.engine).encode(texts)
    cached = CachingEmbedder(int8, store.engine)
    vectors, embedded = cached.vectors_for([str(i) for i in range(len(texts))], texts)
    assert embedded == len(texts), "int8 reads no fp32 vector from the cache"
    agreement = np.sum(vectors * onnx.encode(texts), axis=1)
    assert 0.85 < float(agreement.mean()) < 0.9999


def test_the_runtime_setting(monkeypatch) -> None:
    assert isinstance(make_embedder(), OnnxEmbedder)
    assert isinstance(make_embedder(runtime="torch"), SentenceTransformerEmbedder)
    monkeypatch.setenv("CONSOLIDATION_EMBED_RUNTIME", "torch")
    assert isinstance(make_embedder(), SentenceTransformerEmbedder)
    assert isinstance(make_embedder(runtime="onnx"), OnnxEmbedder)
    assert isinstance(make_embedder("some/other-model"), SentenceTransformerEmbedder)
    with pytest.raises(ValueError, match="packaged all-MiniLM-L6-v2 only"):
        make_embedder("some/other-model", runtime="onnx")
    with pytest.raises(ValueError, match="one of auto, onnx, onnx-int8, torch"):
        make_embedder(runtime="tensorrt")
    monkeypatch.setenv("CONSOLIDATION_EMBED_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("CONSOLIDATION_EMBED_THREADS", "many")
    with pytest.raises(ValueError, match="CONSOLIDATION_EMBED_THREADS"):
        default_threads()


@pytest.mark.slow
def test_an_export_that_disagrees_is_never_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(onnx_embedder, "MAX_COSINE_GAP", -1.0)
    with pytest.raises(OnnxExportError, match="differs from PyTorch"):
        ensure_export(tmp_path)
    assert not list(tmp_path.rglob("*.onnx")), "nothing half-written is left to be used"
    fallback = OnnxEmbedder(tmp_path, threads=1, fall_back_to_torch=True)
    vectors = fallback.encode(["the run still embeds, with PyTorch"])
    assert fallback.runtime == "torch" and vectors.shape == (1, 384)


@pytest.mark.slow
@pytest.mark.parametrize("project", ["web-backend", "data-pipeline", "mobile-app"])
def test_either_runtime_consolidates_a_project_the_same(tmp_path, onnx, torch_model, project):
    """Patterns, merge groups, principles and the playbook come out identical."""
    outputs_by_runtime = []
    for name, model in (("torch", torch_model), ("onnx", onnx)):
        store = MemoryStore(f"sqlite:///{tmp_path / name}.db")
        upgrade(store.engine)
        ingest_sample(store, project)
        run_all(store, model, project)
        outputs_by_runtime.append(
            {
                "patterns": [p.member_ids for p in load_output(store.engine, "patterns", project)],
                "merged": [
                    g.source_ids for g in load_output(store.engine, "merged_memories", project)
                ],
                "principles": [
                    (p.statement, p.pattern_ids)
                    for p in load_output(store.engine, "principles", project)
                ],
                "playbook": sorted(
                    (e.id, e.content, e.status)
                    for e in load_output(store.engine, "playbook_entries", project)
                ),
            }
        )
    torch_outputs, onnx_outputs = outputs_by_runtime
    assert torch_outputs["patterns"]
    assert onnx_outputs == torch_outputs
