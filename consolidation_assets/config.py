"""Run config of the consolidation assets: the scope of a run and each phase's thresholds.

Defaults come from the phases' settings dataclasses, so the tuned values live in one place.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import dagster as dg
from pydantic import Field

from consolidation_assets.phases.hierarchy import HierarchySettings
from consolidation_assets.phases.merging import MergeSettings
from consolidation_assets.phases.patterns import PatternSettings
from consolidation_assets.phases.playbook import PlaybookSettings
from consolidation_assets.scope import Scope

_PATTERN = PatternSettings()
_MERGE = MergeSettings()
_HIERARCHY = HierarchySettings()
_PLAYBOOK = PlaybookSettings()


class ScopedConfig(dg.Config):
    """Which of the project's memories this run considers (empty: all of them)."""

    memory_types: list[str] = Field(
        default_factory=list, description="only these memory types (empty: every type)"
    )
    since: str | None = Field(default=None, description="only memories created at or after (ISO)")
    until: str | None = Field(default=None, description="only memories created before (ISO)")

    def scope(self) -> Scope:
        return Scope.from_dict(
            {"memory_types": self.memory_types, "since": self.since, "until": self.until}
        )


class PatternsConfig(ScopedConfig):
    similarity_threshold: float = Field(
        default=_PATTERN.similarity_threshold,
        description="least average cosine similarity between the memories of a pattern",
    )
    min_support: int = Field(default=_PATTERN.min_support, description="memories per pattern")
    neighbors: int = Field(default=_PATTERN.neighbors, description="neighbours per memory")

    def settings(self) -> PatternSettings:
        return PatternSettings(
            similarity_threshold=self.similarity_threshold,
            min_support=self.min_support,
            neighbors=self.neighbors,
        )


class MergeConfig(ScopedConfig):
    duplicate_threshold: float = Field(
        default=_MERGE.duplicate_threshold,
        description="least duplicate score (mean of cosine similarity and word coverage) of a "
        "source and its merged memory's canonical",
    )
    min_cosine: float = Field(
        default=_MERGE.min_cosine, description="least cosine similarity of a merged pair"
    )
    neighbors: int = Field(default=_MERGE.neighbors, description="candidates per memory")
    detail_guard: bool = Field(
        default=_MERGE.detail_guard,
        description="refuse merges of texts with conflicting numbers, paths, ids or negation",
    )

    def settings(self) -> MergeSettings:
        return MergeSettings(
            duplicate_threshold=self.duplicate_threshold,
            min_cosine=self.min_cosine,
            neighbors=self.neighbors,
            detail_guard=self.detail_guard,
        )


class HierarchyConfig(ScopedConfig):
    similarity_threshold: float = Field(
        default=_HIERARCHY.similarity_threshold,
        description="least average similarity between the memories of a level-1 principle",
    )
    level_decay: float = Field(
        default=_HIERARCHY.level_decay, description="threshold factor per higher level"
    )
    min_similarity: float = Field(
        default=_HIERARCHY.min_similarity, description="no level groups below this similarity"
    )
    max_levels: int = Field(default=_HIERARCHY.max_levels, description="principle levels")

    def settings(self) -> HierarchySettings:
        return HierarchySettings(
            similarity_threshold=self.similarity_threshold,
            level_decay=self.level_decay,
            min_similarity=self.min_similarity,
            max_levels=self.max_levels,
        )


class PlaybookConfig(ScopedConfig):
    min_pattern_confidence: float = Field(
        default=_PLAYBOOK.min_pattern_confidence,
        description="least confidence of a pattern that becomes an entry on its own",
    )
    match_threshold: float = Field(
        default=_PLAYBOOK.match_threshold,
        description="similarity at which a candidate reinforces an existing entry",
    )
    duplicate_threshold: float = Field(
        default=_PLAYBOOK.duplicate_threshold,
        description="similarity at which two candidates are one entry",
    )

    def settings(self) -> PlaybookSettings:
        return PlaybookSettings(
            min_pattern_confidence=self.min_pattern_confidence,
            match_threshold=self.match_threshold,
            duplicate_threshold=self.duplicate_threshold,
        )


def settings_metadata(settings: object) -> dict[str, Any]:
    """A settings dataclass as flat metadata entries (numbers stay numbers)."""
    return {f"setting_{key}": value for key, value in asdict(settings).items()}  # type: ignore[call-overload]


def scope_run_config(scope: Scope, asset_names: list[str]) -> dict[str, Any]:
    """Run config giving every consolidation asset the same scope."""
    data = scope.to_dict()
    values = {
        "memory_types": data["memory_types"],
        "since": data["since"],
        "until": data["until"],
    }
    return {"ops": {name: {"config": dict(values)} for name in asset_names}}
