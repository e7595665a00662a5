"""What agents call: search, task context, lineage, feedback, and a project's figures.

A :class:`KnowledgeBase` keeps one search index per project in memory and rebuilds it only
when a phase has rewritten its output, memories have arrived or the playbook has changed, so a
query costs an embedding of the query and a few milliseconds of search.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from consolidation_assets.phases.search import Hit, HybridIndex, SearchSettings, interleave
from consolidation_assets.phases.text import shorten
from consolidation_assets.services import settings
from consolidation_assets.services.embedders import Embedder, make_embedder
from consolidation_assets.services.memory_input import (
    MEMORY_TYPES,
    parse_timestamp,
    validate_project_id,
)
from consolidation_assets.store import MemoryStore, knowledge
from consolidation_assets.store import lineage as links
from consolidation_assets.store.knowledge import FeedbackResult, UnknownEntryError

DEFAULT_BUDGET_CHARS = 4000
# How many entries, general items and memories task context considers before the budget.
CONTEXT_CANDIDATES = 30
# Below this cosine an item only counts as relevant when it shares a term with the query or
# was made on a date the query names.
MIN_SIMILARITY = 0.2
CONTEXT_ITEM_CHARS = 240
# The most relevant entry is cut to fit a small budget rather than left out, down to this.
MIN_SHRUNK_CHARS = 60
PATTERN_TYPES = ("failure", "gotcha", "decision", "workflow", "success")
__all__ = [
    "FeedbackResult",
    "KnowledgeBase",
    "SearchResult",
    "TaskContext",
    "UnknownEntryError",
]


@dataclass(frozen=True)
class SearchResult:
    """One consolidated item ranked for a query."""

    level: int
    kind: str
    id: str
    text: str
    score: float
    semantic_similarity: float
    lexical_score: float
    confidence: float
    source_memory_ids: list[str]
    sources: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.sources is None:
            data.pop("sources")
        return data


@dataclass
class TaskContext:
    """What an agent should read before a task, within a character budget."""

    project_id: str
    task: str
    budget_chars: int
    markdown: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    principles: list[dict[str, Any]] = field(default_factory=list)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    memories: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "playbook_entries": len(self.entries),
            "principles": len(self.principles),
            "patterns": len(self.patterns),
            "memories": len(self.memories),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "task": self.task,
            "budget_chars": self.budget_chars,
            "chars": len(self.markdown),
            "counts": self.counts,
            "playbook_entries": self.entries,
            "principles": self.principles,
            "patterns": self.patterns,
            "memories": self.memories,
            "markdown": self.markdown,
        }


@dataclass
class _ProjectIndex:
    version: tuple
    catalogue: knowledge.Catalogue
    items: HybridIndex
    playbook: knowledge.Playbook
    entries: HybridIndex
    by_memory_type: dict[str, np.ndarray]
    by_pattern_type: dict[str, np.ndarray]


def feedback_weight(helpful: float, harmful: float) -> float:
    """How feedback moves an entry in task context: 1 with none, below 1 when it mostly hurt.

    Laplace-smoothed share of helpful reports, doubled so that no feedback is neutral; one
    harmful report alone gives 0.67, three give 0.4, three helpful give 1.6.
    """
    return 2.0 * (helpful + 1.0) / (helpful + harmful + 2.0)


class KnowledgeBase:
    """The consolidated store, read as agents need it."""

    def __init__(
        self,
        db: MemoryStore | str | None = None,
        embedding_service: Embedder | None = None,
        search_settings: SearchSettings | None = None,
    ) -> None:
        self.store = settings.memory_store(db)
        self.embeddings = embedding_service or make_embedder()
        self.search_settings = search_settings or SearchSettings()
        self._indexes: dict[str, _ProjectIndex] = {}
        self._lock = threading.Lock()

    def index(self, project_id: str) -> _ProjectIndex:
        """The project's search index, rebuilt only when the store has changed under it."""
        project_id = validate_project_id(project_id)
        engine = self.store.engine
        current = knowledge.version(engine, project_id)
        with self._lock:
            cached = self._indexes.get(project_id)
            if cached is not None and cached.version == current:
                return cached
        if cached is not None and cached.version[:2] == current[:2]:
            # Only the playbook changed (feedback, say): the large item index still holds.
            playbook = knowledge.load_active_playbook(engine, project_id)
            built = replace(
                cached,
                version=current,
                playbook=playbook,
                entries=self._entry_index(playbook, cached.items),
            )
            with self._lock:
                self._indexes[project_id] = built
            return built
        catalogue = knowledge.load_catalogue(engine, project_id, self.embeddings.model_id)
        playbook = knowledge.load_active_playbook(engine, project_id)
        memory_type_masks = {
            t: np.array([t in types for types in catalogue.memory_types], dtype=bool)
            for t in MEMORY_TYPES
        }
        pattern_type_masks = {
            t: np.array([p == t for p in catalogue.pattern_types], dtype=bool)
            for t in PATTERN_TYPES
        }
        items = HybridIndex(
            catalogue.search_texts,
            catalogue.vectors,
            spans=catalogue.spans,
            groups=catalogue.tasks,
            settings=self.search_settings,
        )
        built = _ProjectIndex(
            version=current,
            catalogue=catalogue,
            items=items,
            playbook=playbook,
            entries=self._entry_index(playbook, items),
            by_memory_type=memory_type_masks,
            by_pattern_type=pattern_type_masks,
        )
        with self._lock:
            self._indexes[project_id] = built
        return built

    def _entry_index(self, playbook: knowledge.Playbook, items: HybridIndex) -> HybridIndex:
        """The playbook's entries, scored on the scale of the project's items (the same mean
        direction), so that context can weigh an entry against a memory."""
        return HybridIndex(
            playbook.texts, playbook.vectors, center=items.center, settings=self.search_settings
        )

    def embed_query(self, text: str) -> np.ndarray:
        return self.embeddings.encode([text])[0]

    def search(
        self,
        query: str,
        project_id: str,
        *,
        level: int | None = None,
        memory_type: str | None = None,
        pattern_type: str | None = None,
        since: str | datetime | None = None,
        limit: int = 10,
        with_sources: bool = False,
        query_vector: np.ndarray | None = None,
    ) -> list[SearchResult]:
        """Merged memories, patterns and principles ranked by relevance to ``query``.

        Hybrid: embedding similarity with BM25, dates and tasks (see ``phases.search``), so an
        exact error code or file name is found even where the embedding blurs it. A memory
        absorbed by a merge is represented by its merged memory, found by every source's
        words. Without a level, specific memories come first and patterns and principles
        join them only where they score well (``interleave``). ``query_vector`` skips
        embedding the query (it was done already).
        """
        if not query.strip():
            raise ValueError("query: must not be empty")
        if level is not None and level not in (1, 2, 3):
            raise ValueError(
                f"level: {level!r} is not 1 (memories), 2 (patterns) or 3 (principles)"
            )
        if memory_type is not None and memory_type not in MEMORY_TYPES:
            raise ValueError(
                f"memory_type: {memory_type!r} is not one of {', '.join(MEMORY_TYPES)}"
            )
        if pattern_type is not None and pattern_type not in PATTERN_TYPES:
            raise ValueError(
                f"pattern_type: {pattern_type!r} is not one of {', '.join(PATTERN_TYPES)}"
            )
        if limit < 1:
            raise ValueError(f"limit: {limit} must be at least 1")
        index = self.index(project_id)
        catalogue = index.catalogue
        allowed = np.ones(len(catalogue), dtype=bool)
        if level is not None:
            allowed &= catalogue.levels == level
        if memory_type is not None:
            allowed &= index.by_memory_type[memory_type]
        if pattern_type is not None:
            allowed &= index.by_pattern_type[pattern_type]
        if since is not None:
            moment = since if isinstance(since, datetime) else _timestamp("since", since)
            allowed &= catalogue.timestamps >= moment.timestamp()
        vector = self.embed_query(query) if query_vector is None else query_vector
        general = catalogue.levels >= 2 if level is None else None
        specific, broad = index.items.search_split(vector, query, limit, allowed, general)
        specific = [h for h in specific if _relevant(h)]
        broad = [h for h in broad if _relevant(h)]
        hits = interleave(specific, broad, limit) if level is None else specific
        results = [_result(catalogue, h) for h in hits]
        if with_sources:
            results = self._with_sources(results)
        return results

    def _with_sources(self, results: list[SearchResult]) -> list[SearchResult]:
        wanted = sorted({m for r in results for m in r.source_memory_ids})
        found = knowledge.memories_by_id(self.store.engine, wanted)
        return [
            SearchResult(
                **{**asdict(r), "sources": [found[m] for m in r.source_memory_ids if m in found]}
            )
            for r in results
        ]

    def context(
        self,
        task: str,
        project_id: str,
        *,
        budget_chars: int = DEFAULT_BUDGET_CHARS,
        query_vector: np.ndarray | None = None,
    ) -> TaskContext:
        """What to read before ``task``, as Markdown within ``budget_chars``: playbook entries,
        principles, patterns and memories, the most relevant first (cut to fit if need be),
        then the others by relevance while they fit. A pattern or principle an entry already
        shown rests on is not shown again.

        Every candidate is scored on one scale (see ``phases.search``), entries weighed by
        their feedback (``feedback_weight``), so the room goes where the task points: a task
        naming an exact error, file or setting gets the memory that holds it, a task about a
        kind of problem gets the advice and the principles.
        """
        if not task.strip():
            raise ValueError("task: must not be empty")
        if budget_chars < 200:
            raise ValueError(f"budget_chars: {budget_chars} is below the minimum of 200")
        index = self.index(project_id)
        vector = self.embed_query(task) if query_vector is None else query_vector
        memories, general = index.items.search_split(
            vector, task, CONTEXT_CANDIDATES, None, index.catalogue.levels >= 2
        )
        general_scores = {index.catalogue.ids[h.index]: h.score for h in general}
        entries = _ranked_entries(index, vector, task, general_scores)
        candidates = [
            *(("entries", rank, e, e["relevance"]) for rank, e in enumerate(entries)),
            *_catalogue_candidates(index.catalogue, general, memories),
        ]
        builder = _ContextBuilder(task, budget_chars)
        chosen: dict[str, list[tuple[int, dict[str, Any]]]] = {key: [] for key in _SECTION_TITLES}
        shown: set[str] = set()
        for section, rank, item, _ in sorted(candidates, key=lambda c: -c[3]):
            if item["id"] in shown or not builder.add(section, rank, item, shrink=not shown):
                continue
            shown |= {item["id"], *item.pop("_behind", ())}
            chosen[section].append((rank, item))
        context = TaskContext(project_id, task, budget_chars, builder.render())
        context.entries, context.principles, context.patterns, context.memories = (
            [item for _, item in sorted(chosen[key], key=lambda pair: pair[0])]
            for key in ("entries", "principles", "patterns", "memories")
        )
        return context

    def lineage(self, item_id: str, depth: int = 3, max_children: int = 20) -> dict[str, Any]:
        """The tree above and below any item: what a memory fed, what an entry rests on."""
        if depth < 1:
            raise ValueError(f"depth: {depth} must be at least 1")
        engine = self.store.engine
        root = links.find_node(engine, item_id)
        if root is None:
            raise LookupError(
                "no memory, merged memory, pattern, principle or playbook entry has the id "
                f"{item_id!r}"
            )

        def grow(node: links.Node, step, remaining: int, seen: set) -> tuple[list[dict], int]:
            if remaining == 0:
                return [], 0
            found = [
                link for link in step(engine, node) if (link.node.kind, link.node.id) not in seen
            ]
            children = []
            for link in found[:max_children]:
                below, more = grow(
                    link.node, step, remaining - 1, seen | {(link.node.kind, link.node.id)}
                )
                children.append(
                    {
                        **_node_dict(link.node),
                        "relation": link.relation,
                        "similarity": None
                        if link.similarity is None
                        else round(link.similarity, 4),
                        "children": below,
                        "more": more,
                    }
                )
            return children, max(0, len(found) - max_children)

        start = {(root.kind, root.id)}
        up, up_more = grow(root, links.links_up, depth, start)
        down, down_more = grow(root, links.links_down, depth, start)
        return {
            **_node_dict(root),
            "depth": depth,
            "up": up,
            "up_more": up_more,
            "down": down,
            "down_more": down_more,
        }

    def feedback(self, entry_id: str, helpful: bool, note: str | None = None) -> FeedbackResult:
        """Count an agent's report on a playbook entry; it stays through every re-run."""
        return knowledge.record_feedback(self.store.engine, entry_id, helpful, note)

    def stats(self, project_id: str) -> dict[str, Any]:
        """Total, consolidated and raw memories, reduction, distributions and the last run."""
        return knowledge.project_figures(self.store.engine, validate_project_id(project_id))


def _result(catalogue: knowledge.Catalogue, hit: Hit) -> SearchResult:
    i = hit.index
    return SearchResult(
        level=int(catalogue.levels[i]),
        kind=catalogue.kinds[i],
        id=catalogue.ids[i],
        text=catalogue.texts[i],
        score=hit.score,
        semantic_similarity=round(hit.semantic, 4),
        lexical_score=round(hit.lexical, 4),
        confidence=round(float(catalogue.confidence[i]), 4),
        source_memory_ids=list(catalogue.sources[i]),
    )


def _relevant(hit: Hit) -> bool:
    return hit.semantic >= MIN_SIMILARITY or hit.lexical > 0 or hit.dated


def _ranked_entries(
    index: _ProjectIndex, vector: np.ndarray, task: str, general_scores: dict[str, float]
) -> list[dict[str, Any]]:
    """The relevant active entries, best first.

    An entry is as relevant as the best of its own score and the scores of the patterns and
    principles it rests on (it is their wording for agents), times its feedback weight.
    """
    playbook = index.playbook
    ranked = []
    for hit in index.entries.search(vector, task, limit=CONTEXT_CANDIDATES):
        if not _relevant(hit):
            continue
        i = hit.index
        behind = (*playbook.principle_ids[i], *playbook.pattern_ids[i])
        best = max([hit.score, *(general_scores.get(b, 0.0) for b in behind)])
        weight = feedback_weight(playbook.helpful[i], playbook.harmful[i])
        ranked.append((best * weight, i, behind))
    ranked.sort(key=lambda row: (-row[0], row[1]))
    return [
        {
            "id": playbook.ids[i],
            "category": playbook.categories[i],
            "content": playbook.texts[i],
            "relevance": round(float(relevance), 4),
            "helpful_count": int(playbook.helpful[i]),
            "harmful_count": int(playbook.harmful[i]),
            "_behind": behind,
        }
        for relevance, i, behind in ranked
    ]


def _catalogue_candidates(
    catalogue: knowledge.Catalogue, general: list[Hit], specific: list[Hit]
) -> list[tuple[str, int, dict[str, Any], float]]:
    """(section, rank, item, relevance) of the relevant principles, patterns and memories."""
    found = []
    for rank, hit in enumerate(h for h in general if _relevant(h)):
        i = hit.index
        section = "principles" if catalogue.levels[i] == 3 else "patterns"
        item = {
            "id": catalogue.ids[i],
            "text": shorten(catalogue.texts[i], CONTEXT_ITEM_CHARS),
            "relevance": hit.score,
            "confidence": round(float(catalogue.confidence[i]), 4),
            "source_memory_ids": len(catalogue.sources[i]),
        }
        found.append((section, rank, item, hit.score))
    for rank, hit in enumerate(h for h in specific if _relevant(h)):
        i = hit.index
        item = {
            "id": catalogue.ids[i],
            "kind": catalogue.kinds[i],
            "text": shorten(catalogue.texts[i], CONTEXT_ITEM_CHARS),
            "relevance": hit.score,
            "memory_ids": list(catalogue.sources[i]),
        }
        found.append(("memories", rank, item, hit.score))
    return found


def _timestamp(name: str, value: str) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO 8601 date or timestamp") from None


def _node_dict(node: links.Node) -> dict[str, Any]:
    return {"kind": node.kind, "id": node.id, "project_id": node.project_id, "text": node.text}


_SECTION_TITLES = {
    "entries": "Playbook",
    "principles": "Principles",
    "patterns": "Recurring patterns",
    "memories": "Memories",
}


class _ContextBuilder:
    """Markdown grown item by item, refusing any item that would break the budget; each
    section lists its items by rank, whatever order they were added in."""

    def __init__(self, task: str, budget: int) -> None:
        self.task = task
        self.budget = budget
        self.sections: dict[str, list[tuple[int, str]]] = {key: [] for key in _SECTION_TITLES}

    def add(self, section: str, rank: int, item: dict[str, Any], shrink: bool = False) -> bool:
        """Add the item if it fits; with ``shrink``, cut its text to fit rather than drop it."""
        key = "content" if section == "entries" else "text"
        if self._fits(section, rank, item):
            return True
        if shrink:
            room = self.budget - len(self._rendered_with(section, rank, {**item, key: ""}))
            if room >= MIN_SHRUNK_CHARS:
                item[key] = shorten(item[key], room)
                return self._fits(section, rank, item)
        return False

    @staticmethod
    def _line(section: str, item: dict[str, Any]) -> str:
        if section == "entries":
            return f"- **{item['category']}**: {item['content']} `{item['id']}`"
        return f"- {item['text']} `{item['id']}`"

    def _rendered_with(self, section: str, rank: int, item: dict[str, Any]) -> str:
        self.sections[section].append((rank, self._line(section, item)))
        try:
            return self.render()
        finally:
            self.sections[section].pop()

    def _fits(self, section: str, rank: int, item: dict[str, Any]) -> bool:
        if len(self._rendered_with(section, rank, item)) > self.budget:
            return False
        self.sections[section].append((rank, self._line(section, item)))
        return True

    def render(self) -> str:
        parts = [f"# Before you start: {shorten(self.task, 100)}"]
        for key, title in _SECTION_TITLES.items():
            if self.sections[key]:
                lines = [line for _, line in sorted(self.sections[key])]
                parts.append(f"\n## {title}\n" + "\n".join(lines))
        return "\n".join(parts) + "\n"


def render_lineage(tree: dict[str, Any]) -> str:
    """The lineage as an indented text tree."""
    lines = [f"{tree['kind']} {tree['id']}: {shorten(tree['text'], 90)}"]

    def walk(children: list[dict], more: int, prefix: str) -> None:
        for position, child in enumerate(children):
            last = position == len(children) - 1 and not more
            similarity = f" ({child['similarity']:.3f})" if child["similarity"] is not None else ""
            lines.append(
                f"{prefix}{'└─' if last else '├─'} {child['relation']}{similarity}: "
                f"{child['kind']} {child['id']}: {shorten(child['text'], 70)}"
            )
            walk(child["children"], child["more"], prefix + ("   " if last else "│  "))
        if more:
            lines.append(f"{prefix}└─ … and {more} more")

    for direction in ("up", "down"):
        if tree[direction] or tree[f"{direction}_more"]:
            lines.append(f"{direction}:")
            walk(tree[direction], tree[f"{direction}_more"], "  ")
    return "\n".join(lines)
