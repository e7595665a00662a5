"""The merge phase ships the pair model that ``make bench-quality`` fits on the dev sets.

The weights are constants in ``phases/merging.py``. Anything that changes which pairs the fit
sees or what it measures of them (the detail guard, the word lists, the density) changes the
fit, and the constants silently stop being what the benchmark's figures describe: refit with
``python -m benchmarks.quality`` and ship its "fitted on all paraphrase sets" line.
"""

from __future__ import annotations

import pytest

from benchmarks import quality
from consolidation_assets.phases.merging import PAIR_MODEL, MergeSettings
from consolidation_assets.store import MemoryStore
from tests.helpers import shared_path

pytestmark = pytest.mark.slow


def test_the_shipped_pair_model_is_the_fit_on_every_paraphrase_set(embedder, tmp_path) -> None:
    for folder in ("mrpc", "stsb", "generative_agents_memory", "cursorrules_coding_agent_rules"):
        shared_path(folder)
    store = MemoryStore(f"sqlite:///{tmp_path / 'vectors.db'}")
    sets = quality.merge_sets(store, embedder, with_intents=False)
    assert sorted(s.name for s in sets) == sorted(quality.PARAPHRASE_SETS)

    model, _ = quality.fitted(sets, MergeSettings())

    assert quality.same_model(model, PAIR_MODEL), (model, PAIR_MODEL)
