"""The export contract: a project's consolidated knowledge as one JSON object or Markdown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from consolidation_assets.phases.playbook import CATEGORIES, EntryState
from consolidation_assets.store import outputs

_CATEGORY_TITLES = {
    "troubleshooting": "Troubleshooting",
    "gotchas": "Gotchas",
    "architecture": "Architecture and decisions",
    "dependencies": "Dependencies",
    "patterns": "Patterns that work",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_project(engine: Engine, project_id: str) -> dict[str, Any]:
    """Patterns, merged memories (groups of two or more), principles and the whole playbook."""
    patterns = outputs.load_patterns(engine, project_id)
    merged = outputs.load_merged(engine, project_id)
    principles = outputs.load_principles(engine, project_id)
    playbook = outputs.load_playbook(engine, project_id)
    return {
        "project_id": project_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "patterns": [
            {
                "id": p.id,
                "label": p.label,
                "summary": p.summary,
                "keywords": list(p.keywords),
                "pattern_type": p.pattern_type,
                "confidence": p.confidence,
                "support": p.support,
                "distinct_tasks": p.distinct_tasks,
                "cohesion": p.cohesion,
                "central_memory_id": p.central_memory_id,
                "first_seen": _iso(p.first_seen),
                "last_seen": _iso(p.last_seen),
                "memory_ids": list(p.member_ids),
            }
            for p in patterns
        ],
        "merged_memories": [
            {
                "id": g.id,
                "content": g.content,
                "canonical_memory_id": g.canonical_memory_id,
                "source_memory_ids": list(g.source_ids),
                "source_similarities": list(g.source_similarities),
                "pattern_id": g.pattern_id,
                "details": list(g.details),
                "min_similarity": g.min_similarity,
                "first_seen": _iso(g.first_seen),
                "last_seen": _iso(g.last_seen),
            }
            for g in merged
            if len(g.source_ids) >= 2
        ],
        "principles": [
            {
                "id": p.id,
                "statement": p.statement,
                "label": p.label,
                "cited_memory_ids": list(p.cited_memory_ids),
                "writer": p.writer,
                "level": p.level,
                "parent_id": p.parent_id,
                "pattern_ids": list(p.pattern_ids),
                "child_principle_ids": list(p.child_ids),
                "keywords": list(p.keywords),
                "support": p.support,
                "cohesion": p.cohesion,
            }
            for p in principles
        ],
        "playbook": [_entry(e) for e in playbook],
    }


def _entry(entry: EntryState) -> dict[str, Any]:
    return {
        "id": entry.id,
        "category": entry.category,
        "content": entry.content,
        "status": entry.status,
        "priority": entry.priority,
        "tags": list(entry.tags),
        "helpful_count": entry.helpful_count,
        "harmful_count": entry.harmful_count,
        "evidence_count": entry.evidence_count,
        "supporting_memory_ids": sorted(entry.supporting_memory_ids),
        "source_pattern_ids": list(entry.source_pattern_ids),
        "source_principle_ids": list(entry.source_principle_ids),
        "created_at": _iso(entry.created_at),
        "updated_at": _iso(entry.updated_at),
    }


def playbook_markdown(engine: Engine, project_id: str, limit: int | None = None) -> str:
    """The active playbook as an agent reads it: by category, most important first."""
    entries = [e for e in outputs.load_playbook(engine, project_id) if e.status == "active"]
    lines = [f"# Playbook: {project_id}", ""]
    if not entries:
        lines.append("_No playbook entries yet: ingest memories and run the consolidation._")
        return "\n".join(lines) + "\n"
    shown = 0
    for category in CATEGORIES:
        in_category = [e for e in entries if e.category == category]
        if not in_category or (limit is not None and shown >= limit):
            continue
        lines += [f"## {_CATEGORY_TITLES.get(category, category.title())}", ""]
        for entry in in_category:
            if limit is not None and shown >= limit:
                break
            feedback = ""
            if entry.helpful_count or entry.harmful_count:
                feedback = f", helpful {entry.helpful_count}, harmful {entry.harmful_count}"
            lines.append(
                f"- {entry.content} _(evidence: {entry.evidence_count} memories{feedback}; "
                f"id {entry.id})_"
            )
            shown += 1
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
