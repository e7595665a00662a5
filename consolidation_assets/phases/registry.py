"""The one list of consolidation phases; everything else reads it.

Each phase is a name (its asset's and its output's), the name job records use, a settings
dataclass, a compute function from :class:`PhaseInputs` to :class:`PhaseOutput`, the phases it
truly reads (every phase also reads the project's memories), the store tables it writes, and an
algorithm version. The Dagster assets, their run config, the lineage, the checks' targets, the
job records and the benchmarks are all built from this list, so a new phase is a new module and
one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from consolidation_assets.phases import hierarchy, merging, patterns, playbook
from consolidation_assets.phases.types import PhaseInputs, PhaseOutput


@dataclass(frozen=True)
class Phase:
    """One consolidation phase.

    ``version`` is the algorithm's version: bump it when the phase computes something different
    from the same inputs, so stored outputs are recomputed and the asset shows a new code
    version. ``updates_previous`` marks a phase that reads its own last output and updates it
    (the playbook) rather than replacing it. ``change_metrics`` are metrics of what a run changed,
    which a run that reuses the stored output reports as zero. ``writes_text`` marks a phase
    that words texts with a writer (extractive, or an LLM when one is configured).
    """

    name: str
    step: str
    settings_type: type
    compute: Callable[[PhaseInputs, Any], PhaseOutput]
    upstream: tuple[str, ...]
    outputs: tuple[str, ...]
    version: str
    description: str
    kinds: tuple[str, ...] = ("python", "sql")
    updates_previous: bool = False
    change_metrics: tuple[str, ...] = ()
    writes_text: bool = False

    def settings(self, values: dict[str, Any] | None = None) -> Any:
        """The settings dataclass from a mapping of field values (defaults for the rest)."""
        names = {f.name for f in fields(self.settings_type)}
        return self.settings_type(**{k: v for k, v in (values or {}).items() if k in names})


PHASES: tuple[Phase, ...] = (
    Phase(
        name="patterns",
        step="pattern_extraction",
        settings_type=patterns.PatternSettings,
        compute=patterns.compute,
        upstream=(),
        outputs=("patterns", "pattern_members"),
        version="14",
        description=(
            "Recurring patterns across the project's memories. Memories are embedded (cache "
            "first) and grouped into communities of their shared-nearest-neighbour graph "
            "(Louvain, no k to choose), a community too loose for `similarity_threshold` being "
            "split again when its parts stand apart (`split_overlap`); one-off memories with no "
            "close neighbour of their own, or that too few of the community list among their "
            "nearest, are left out, and every community of at least "
            "`min_support` memories becomes a pattern labelled by its most central memory and "
            "its distinctive keywords."
        ),
        kinds=("python", "pytorch", "sql"),
    ),
    Phase(
        name="merged_memories",
        step="memory_merging",
        settings_type=merging.MergeSettings,
        compute=merging.compute,
        upstream=("patterns",),
        outputs=("merged_memories", "merged_memory_sources"),
        version="11",
        description=(
            "Near-duplicate memories merged into one, every source kept and linked. Exact "
            "duplicates always merge; near-duplicates merge when their duplicate score (a "
            "logistic model of cosine similarity, word coverage, uncovered words and the "
            "project's density, fitted on public dev sets) clears the threshold, unless they "
            "commit to different details (numbers, versions, paths, ids, error codes, "
            "negation); no merged memory holds two memories that do. Each merged memory names "
            "the pattern its canonical memory belongs to."
        ),
    ),
    Phase(
        name="principles",
        step="hierarchy_creation",
        settings_type=hierarchy.HierarchySettings,
        compute=hierarchy.compute,
        upstream=("patterns",),
        outputs=("principles", "principle_patterns"),
        version="9",
        description=(
            "Principles abstracted from patterns (level 1) and from principles (level 2 and up). "
            "Each principle covers at least two patterns and is measured on their member "
            "memories, never on summaries of summaries. A writer states each principle: the "
            "most general lesson its patterns share (extractive, the default) or an LLM's "
            "wording that passed the grounding checks."
        ),
        writes_text=True,
    ),
    Phase(
        name="playbook_entries",
        step="playbook_integration",
        settings_type=playbook.PlaybookSettings,
        compute=playbook.compute,
        upstream=("patterns", "principles"),
        outputs=("playbook_entries", "playbook_entry_memories", "playbook_changes"),
        version="10",
        description=(
            "The playbook agents read before they work: entries created, reinforced or marked "
            "stale. Entries are matched to principles and strong patterns by meaning; nothing is "
            "deleted and feedback counters survive every run. Entries read as instructions, "
            "and a memory that says nothing reusable is never one."
        ),
        updates_previous=True,
        writes_text=True,
        change_metrics=(
            "playbook_entries_created",
            "playbook_entries_updated",
            "playbook_entries_stale",
            "playbook_entries_reactivated",
        ),
    ),
)

PHASE_NAMES: tuple[str, ...] = tuple(p.name for p in PHASES)
_BY_NAME = {p.name: p for p in PHASES}


def phase(name: str) -> Phase:
    """The phase called ``name``; KeyError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no phase {name!r}; the phases are {', '.join(PHASE_NAMES)}") from None


def downstream(name: str) -> tuple[str, ...]:
    """The phases that read ``name``'s output."""
    return tuple(p.name for p in PHASES if name in p.upstream)


def _check_order() -> None:
    """Every phase's upstream phases come before it, so running PHASES in order is valid."""
    seen: set[str] = set()
    for p in PHASES:
        missing = [u for u in p.upstream if u not in seen]
        if missing:
            raise ValueError(f"phase {p.name!r} reads {missing} before they are computed")
        seen.add(p.name)


_check_order()
