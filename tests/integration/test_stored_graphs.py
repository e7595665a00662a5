"""A run carries the project's neighbour graph over from its last run, unless another search
built it: a graph found by an earlier search would keep that search's neighbours forever, since
a re-run only searches the new memories."""

from __future__ import annotations

import pytest

from consolidation_assets.services import runner
from consolidation_assets.services.runner import RunState
from consolidation_assets.store import MemoryStore
from tests.helpers import ingest_sample


def searched(store: MemoryStore, embedder) -> int:
    return RunState(store, embedder, "web-backend").graph(10).searched


def test_a_graph_is_reused_by_the_same_search_and_rebuilt_after_another(
    store: MemoryStore, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_sample(store, "web-backend")
    first = searched(store, embedder)
    assert first > 0

    assert searched(store, embedder) == 0, "nothing new: nothing searched"

    monkeypatch.setattr(runner, "SEARCH_VERSION", runner.SEARCH_VERSION + 1)
    assert searched(store, embedder) == first, "another search: every text searched again"
    assert searched(store, embedder) == 0
