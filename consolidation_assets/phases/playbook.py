"""Phase 4, playbook integration: instructions agents read before they work.

Principles and strong patterns become candidate entries. Candidates that say the same thing are
folded together; each remaining candidate is matched by meaning against the project's existing
entries: a match is reinforced (sources appended, priority raised, change logged), a candidate
with no match is created, and an active entry no candidate supports any more is marked stale.
Nothing is ever deleted, feedback counters are never touched here, and a re-run on unchanged
memories changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from consolidation_assets.phases.neighbors import cross_nearest, nearest_neighbors
from consolidation_assets.phases.text import markdown_table, saturating, shorten
from consolidation_assets.phases.types import (
    MemoryBatch,
    Pattern,
    PhaseInputs,
    PhaseOutput,
    Principle,
    stable_id,
    unit,
)
from consolidation_assets.phases.writing import (
    ExtractiveWriter,
    Writer,
    check_writer_choice,
    evidence,
)

CATEGORIES = ("troubleshooting", "gotchas", "architecture", "dependencies", "patterns")
_CATEGORY_OF_TYPE = {
    "failure": "troubleshooting",
    "gotcha": "gotchas",
    "decision": "architecture",
    "workflow": "patterns",
    "success": "patterns",
}
_DEPENDENCY_WORDS = re.compile(
    r"\b(?:upgrad\w*|downgrad\w*|pin(?:ned|ning)?|bump\w*|dependenc\w*|package\w*|"
    r"requirements\.txt|lockfile|lock file|version(?:s|ed)?)\b",
    re.IGNORECASE,
)
PRINCIPLE_ENTRY_CHARS = 600


@dataclass(frozen=True)
class PlaybookSettings:
    """Thresholds of the playbook phase.

    ``min_pattern_confidence``: a pattern outside every principle becomes an entry only above
    it. ``match_threshold``: the cosine similarity at which a candidate is the same entry as an
    existing one (reinforce, not create). ``duplicate_threshold``: candidates this similar are
    folded into one.
    """

    min_pattern_confidence: float = field(
        default=0.6,
        metadata={"description": "least confidence of a pattern that becomes an entry on its own"},
    )
    match_threshold: float = field(
        default=0.9,
        metadata={"description": "similarity at which a candidate reinforces an existing entry"},
    )
    duplicate_threshold: float = field(
        default=0.9, metadata={"description": "similarity at which two candidates are one entry"}
    )
    support_overlap: float = field(
        default=0.5,
        metadata={
            "description": "share of supporting memories at which a candidate is the same entry "
            "as one of its own kind"
        },
    )
    writer: str = field(
        default="auto",
        metadata={
            "description": "who words the entries: extractive, llm, or auto (the LLM writer "
            "when one is configured)"
        },
    )

    def __post_init__(self) -> None:
        check_writer_choice(self.writer)


@dataclass(frozen=True)
class EntryCandidate:
    key: str
    category: str
    content: str
    priority: float
    tags: tuple[str, ...]
    supporting_memory_ids: frozenset[str]
    source_kind: str
    source_pattern_ids: tuple[str, ...]
    source_principle_ids: tuple[str, ...]
    embedding: np.ndarray


@dataclass(frozen=True)
class EntryState:
    """A playbook entry as stored; the phase returns new states for what it changes."""

    id: str
    category: str
    content: str
    priority: float
    tags: tuple[str, ...]
    status: str
    source_kind: str
    source_pattern_ids: tuple[str, ...]
    source_principle_ids: tuple[str, ...]
    supporting_memory_ids: frozenset[str]
    embedding: np.ndarray
    created_at: datetime
    updated_at: datetime
    helpful_count: int = 0
    harmful_count: int = 0

    @property
    def evidence_count(self) -> int:
        return len(self.supporting_memory_ids)


@dataclass(frozen=True)
class EntryChange:
    entry_id: str
    kind: str
    old_content: str | None
    new_content: str | None
    reason: str


@dataclass(frozen=True)
class PlaybookIntegration:
    written: list[EntryState]
    changes: list[EntryChange]
    candidates: int
    active_after: int
    writer_metrics: dict[str, int | float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, int | float]:
        kinds = Counter(c.kind for c in self.changes)
        return {
            **self.writer_metrics,
            "playbook_candidates": self.candidates,
            "playbook_entries_created": kinds["created"],
            "playbook_entries_updated": kinds["updated"],
            "playbook_entries_stale": kinds["staled"],
            "playbook_entries_reactivated": kinds["reactivated"],
            "playbook_entries_active": self.active_after,
        }


def category_for(pattern_type: str, text: str) -> str:
    """The playbook section of an entry: by pattern type, dependencies by what it says."""
    if _DEPENDENCY_WORDS.search(text):
        return "dependencies"
    return _CATEGORY_OF_TYPE.get(pattern_type, "patterns")


def pattern_candidate(
    pattern: Pattern, batch: MemoryBatch, position: dict[str, int], writer: Writer
) -> EntryCandidate | None:
    """The pattern's entry as the writer words it; None when none of its memories says
    anything reusable."""
    seen = evidence(
        batch, pattern.id, pattern.pattern_type, pattern.keywords, pattern.member_ids, position
    )
    if not seen.members:
        return None
    category = category_for(pattern.pattern_type, seen.members[0].content)
    draft = writer.entry(seen, category)
    if draft is None:
        return None
    evidence_weight = saturating(pattern.support, 10.0)
    return EntryCandidate(
        key=pattern.id,
        category=category,
        content=draft.text,
        priority=round(pattern.confidence * (0.5 + 0.5 * evidence_weight), 4),
        tags=(pattern.pattern_type, *pattern.keywords[:4]),
        supporting_memory_ids=frozenset(pattern.member_ids),
        source_kind="pattern",
        source_pattern_ids=(pattern.id,),
        source_principle_ids=(),
        embedding=unit(np.asarray(pattern.centroid, dtype=np.float32)),
    )


def principle_candidate(
    principle: Principle, patterns_by_id: dict[str, Pattern]
) -> EntryCandidate | None:
    """The principle's entry: its statement, to keep in mind; None when the statement rests on
    no memory (its patterns hold no lesson)."""
    if not principle.cited_memory_ids:
        return None
    members = [patterns_by_id[p] for p in principle.pattern_ids if p in patterns_by_id]
    category = (
        Counter(category_for(p.pattern_type, p.label) for p in members).most_common(1)[0][0]
        if members
        else "patterns"
    )
    confidence = float(np.mean([p.confidence for p in members])) if members else 0.0
    evidence_weight = saturating(principle.support, 10.0)
    return EntryCandidate(
        key=principle.id,
        category=category,
        content=shorten(f"Keep in mind: {principle.statement}", PRINCIPLE_ENTRY_CHARS),
        priority=round(
            min(1.0, confidence * (0.5 + 0.5 * evidence_weight) + 0.05 * principle.level), 4
        ),
        tags=("principle", f"level-{principle.level}", *principle.keywords[:4]),
        supporting_memory_ids=frozenset(m for p in members for m in p.member_ids),
        source_kind="principle",
        source_pattern_ids=tuple(sorted(principle.pattern_ids)),
        source_principle_ids=(principle.id,),
        embedding=unit(np.asarray(principle.centroid, dtype=np.float32)),
    )


def build_candidates(
    batch: MemoryBatch,
    patterns: list[Pattern],
    principles: list[Principle],
    settings: PlaybookSettings,
    writer: Writer | None = None,
) -> list[EntryCandidate]:
    """One candidate per principle and per strong pattern, near-identical ones folded.

    A pattern none of whose memories is in the batch has no text to advise with (the hierarchy
    leaves such patterns out too), and one whose memories say nothing reusable gives no entry.
    """
    writer = writer or ExtractiveWriter()
    position = batch.index()
    by_id = {p.id: p for p in patterns}
    made = [principle_candidate(p, by_id) for p in principles]
    made += [
        pattern_candidate(p, batch, position, writer)
        for p in patterns
        if p.confidence >= settings.min_pattern_confidence
    ]
    return fold_duplicates([c for c in made if c is not None], settings.duplicate_threshold)


FOLD_NEIGHBORS = 20


def fold_duplicates(candidates: list[EntryCandidate], threshold: float) -> list[EntryCandidate]:
    """Candidates that say the same thing become one, keeping the higher-priority wording.

    Folding repeats until no two candidates left are at the threshold (or share a text): a
    neighbour list is finite, so one pass can miss a duplicate that the next one finds.
    """
    ordered = sorted(candidates, key=lambda c: (-c.priority, c.key))
    while len(ordered) > 1:
        absorbed_by = _duplicates(ordered, threshold)
        if not absorbed_by:
            break
        kept = {i: c for i, c in enumerate(ordered) if i not in absorbed_by}
        for j, i in sorted(absorbed_by.items()):
            keeper, other = kept[i], ordered[j]
            kept[i] = replace(
                keeper,
                supporting_memory_ids=keeper.supporting_memory_ids | other.supporting_memory_ids,
                source_pattern_ids=tuple(
                    sorted({*keeper.source_pattern_ids, *other.source_pattern_ids})
                ),
                source_principle_ids=tuple(
                    sorted({*keeper.source_principle_ids, *other.source_principle_ids})
                ),
            )
        ordered = [kept[i] for i in sorted(kept)]
    return ordered


def _duplicates(ordered: list[EntryCandidate], threshold: float) -> dict[int, int]:
    """Which candidate folds into which: each into the first (highest-priority) duplicate it
    has that is itself kept."""
    vectors = np.array([c.embedding for c in ordered], dtype=np.float32)
    neighbor_idx, neighbor_sim, _ = nearest_neighbors(vectors, FOLD_NEIGHBORS)
    pairs = set()
    for i in range(len(ordered)):
        for j, s in zip(neighbor_idx[i].tolist(), neighbor_sim[i].tolist(), strict=True):
            if j >= 0 and s >= threshold:
                pairs.add((min(i, j), max(i, j)))
    first_with_text: dict[str, int] = {}
    for i, candidate in enumerate(ordered):
        earlier = first_with_text.setdefault(candidate.content, i)
        if earlier != i:
            pairs.add((earlier, i))
    absorbed_by: dict[int, int] = {}
    for keeper, other in sorted(pairs):
        if keeper not in absorbed_by and other not in absorbed_by:
            absorbed_by[other] = keeper
    return absorbed_by


def integrate_playbook(
    project_id: str,
    candidates: list[EntryCandidate],
    existing: list[EntryState],
    now: datetime,
    settings: PlaybookSettings | None = None,
    in_scope: Iterable[str] | None = None,
    current_sources: Iterable[str] | None = None,
    writer_metrics: dict[str, int | float] | None = None,
) -> PlaybookIntegration:
    """Match candidates to existing entries; create, reinforce, reactivate or stale.

    ``in_scope`` is the set of memory ids the run looked at; an entry none of whose supporting
    memories was in scope stays active (a run narrowed to some memory types must not stale
    the entries other memories support). ``None`` means the run saw every memory.
    ``current_sources`` are the ids of the project's patterns and principles now: such an
    entry lets go of the ones the narrowed run replaced (it keeps its memories, and the next
    whole run links it again), so no active entry cites a pattern that is gone.
    """
    settings = settings or PlaybookSettings()
    matches = _match(candidates, existing, settings)
    written: list[EntryState] = []
    changes: list[EntryChange] = []
    matched_existing: set[int] = set()
    used_ids = {e.id for e in existing}
    for c_index, candidate in enumerate(candidates):
        e_index = matches.get(c_index)
        if e_index is None:
            entry_id = _new_id(project_id, candidate, used_ids)
            used_ids.add(entry_id)
            entry = EntryState(
                id=entry_id,
                category=candidate.category,
                content=candidate.content,
                priority=candidate.priority,
                tags=candidate.tags,
                status="active",
                source_kind=candidate.source_kind,
                source_pattern_ids=candidate.source_pattern_ids,
                source_principle_ids=candidate.source_principle_ids,
                supporting_memory_ids=candidate.supporting_memory_ids,
                embedding=candidate.embedding,
                created_at=now,
                updated_at=now,
            )
            written.append(entry)
            changes.append(EntryChange(entry_id, "created", None, entry.content, _why(candidate)))
            continue
        matched_existing.add(e_index)
        old = existing[e_index]
        new = _reinforced(old, candidate, now)
        if new is None:
            continue
        written.append(new)
        kind = "reactivated" if old.status != "active" else "updated"
        changes.append(
            EntryChange(old.id, kind, old.content, new.content, _what_changed(old, new, candidate))
        )

    scope = None if in_scope is None else set(in_scope)
    sources = None if current_sources is None else set(current_sources)
    for e_index, entry in enumerate(existing):
        if e_index in matched_existing or entry.status != "active":
            continue
        if scope is not None and not (entry.supporting_memory_ids & scope):
            unlinked = _without_replaced_sources(entry, sources, now)
            if unlinked is not None:
                written.append(unlinked)
                changes.append(
                    EntryChange(
                        entry.id,
                        "updated",
                        entry.content,
                        entry.content,
                        "a narrowed run replaced the patterns or principles it cited; "
                        "it keeps its supporting memories",
                    )
                )
            continue
        written.append(replace(entry, status="stale", updated_at=now))
        changes.append(
            EntryChange(
                entry.id,
                "staled",
                entry.content,
                entry.content,
                "no principle or pattern of this run supports it any more",
            )
        )

    final_status = {e.id: e.status for e in existing}
    final_status.update({e.id: e.status for e in written})
    active_after = sum(1 for status in final_status.values() if status == "active")
    return PlaybookIntegration(
        written, changes, len(candidates), active_after, dict(writer_metrics or {})
    )


def _without_replaced_sources(
    entry: EntryState, sources: set[str] | None, now: datetime
) -> EntryState | None:
    """The entry citing only patterns and principles that still exist, or None if it does."""
    if sources is None:
        return None
    patterns = tuple(p for p in entry.source_pattern_ids if p in sources)
    principles = tuple(p for p in entry.source_principle_ids if p in sources)
    if (patterns, principles) == (entry.source_pattern_ids, entry.source_principle_ids):
        return None
    return replace(
        entry, source_pattern_ids=patterns, source_principle_ids=principles, updated_at=now
    )


def _match(
    candidates: list[EntryCandidate], existing: list[EntryState], settings: PlaybookSettings
) -> dict[int, int]:
    """One-to-one matches, best similarity first: by meaning, or by shared evidence."""
    if not candidates or not existing:
        return {}
    queries = np.array([c.embedding for c in candidates], dtype=np.float32)
    base = np.array([e.embedding for e in existing], dtype=np.float32)
    neighbor_idx, neighbor_sim, _ = cross_nearest(queries, base, 10)
    pairs: list[tuple[float, int, int]] = []
    for c, candidate in enumerate(candidates):
        for e, s in zip(neighbor_idx[c].tolist(), neighbor_sim[c].tolist(), strict=True):
            if e < 0:
                continue
            entry = existing[e]
            same = s >= settings.match_threshold or candidate.content == entry.content
            if not same and entry.source_kind == candidate.source_kind:
                same = _jaccard(candidate.supporting_memory_ids, entry.supporting_memory_ids) >= (
                    settings.support_overlap
                )
            if same:
                pairs.append((-s, c, e))
    pairs.sort()
    taken_c: set[int] = set()
    taken_e: set[int] = set()
    matches: dict[int, int] = {}
    for _, c, e in pairs:
        if c in taken_c or e in taken_e:
            continue
        taken_c.add(c)
        taken_e.add(e)
        matches[c] = e
    return matches


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _reinforced(old: EntryState, candidate: EntryCandidate, now: datetime) -> EntryState | None:
    """The entry after reinforcement, or None when the candidate adds nothing."""
    support = old.supporting_memory_ids | candidate.supporting_memory_ids
    new = replace(
        old,
        category=candidate.category,
        content=candidate.content,
        priority=max(old.priority, candidate.priority),
        tags=candidate.tags,
        status="active",
        source_kind=candidate.source_kind,
        source_pattern_ids=candidate.source_pattern_ids,
        source_principle_ids=candidate.source_principle_ids,
        supporting_memory_ids=support,
        embedding=candidate.embedding,
    )
    unchanged = (
        new.status == old.status
        and new.content == old.content
        and new.category == old.category
        and new.supporting_memory_ids == old.supporting_memory_ids
        and new.tags == old.tags
        and new.source_pattern_ids == old.source_pattern_ids
        and new.source_principle_ids == old.source_principle_ids
    )
    if unchanged:
        return None
    return replace(new, updated_at=now)


def _new_id(project_id: str, candidate: EntryCandidate, used: set[str]) -> str:
    base = stable_id(
        "pb", project_id, candidate.source_kind, *sorted(candidate.supporting_memory_ids)
    )
    entry_id, n = base, 1
    while entry_id in used:
        n += 1
        entry_id = f"{base}-{n}"
    return entry_id


def _why(candidate: EntryCandidate) -> str:
    sources = candidate.source_principle_ids or candidate.source_pattern_ids
    return (
        f"new {candidate.source_kind} {', '.join(sources)} with "
        f"{len(candidate.supporting_memory_ids)} supporting memories"
    )


def _what_changed(old: EntryState, new: EntryState, candidate: EntryCandidate) -> str:
    parts = []
    if old.status != "active":
        parts.append(f"supported again by {candidate.source_kind} {candidate.key}")
    added = len(new.supporting_memory_ids) - len(old.supporting_memory_ids)
    if added:
        parts.append(f"{added} new supporting memories")
    if new.content != old.content:
        parts.append("wording follows its sources")
    if new.category != old.category:
        parts.append(f"category {old.category} -> {new.category}")
    if not parts:
        parts.append("sources renamed")
    return "; ".join(parts)


def compute(inputs: PhaseInputs, settings: PlaybookSettings) -> PhaseOutput:
    """The phase as the registry runs it: the playbook updated from principles and patterns.

    Its rows are the integration (the entries it changed and why), which the store upserts; the
    row count is the number of active entries afterwards.
    """
    existing: list[EntryState] = inputs.previous()
    patterns, principles = inputs.upstream("patterns"), inputs.upstream("principles")
    writer = inputs.writer(settings.writer)
    candidates = build_candidates(inputs.batch, patterns, principles, settings, writer)
    result = integrate_playbook(
        inputs.project_id,
        candidates,
        existing,
        inputs.now,
        settings,
        inputs.in_scope,
        current_sources=[p.id for p in patterns] + [p.id for p in principles],
        writer_metrics={"writer": writer.name, **writer.metrics()},
    )
    changed = {e.id: e for e in result.written}
    known = {e.id for e in existing}
    entries = [changed.get(e.id, e) for e in existing] + [
        e for e in result.written if e.id not in known
    ]
    active = sorted((e for e in entries if e.status == "active"), key=lambda e: (-e.priority, e.id))
    preview = markdown_table(
        ["category", "priority", "entry"],
        [[e.category, f"{e.priority:.2f}", shorten(e.content, 110)] for e in active[:5]],
    )
    return PhaseOutput(result, result.metrics, len(active), preview)
