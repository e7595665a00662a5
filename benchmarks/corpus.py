"""Realistic synthetic projects for the scale benchmark, built from real public text.

Each memory wraps a real coding-agent rule (the CC0 awesome-cursorrules bullets) or a real agent
memory (the Apache-2.0 Generative Agents streams) in the situation an agent records it in: the
component it worked on, the task, what happened. The same rule recurs across tasks in different
words, some memories are repeated verbatim, and the memory types follow a mix like real agents'.
Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from benchmarks import datasets

MEMORY_TYPES = [
    ("error_fix", 0.30),
    ("discovery", 0.20),
    ("decision", 0.10),
    ("learning", 0.15),
    ("warning", 0.10),
    ("codebase_knowledge", 0.15),
]
COMPONENTS = [
    f"{area}/{part}"
    for area in (
        "api",
        "worker",
        "web",
        "mobile",
        "billing",
        "auth",
        "search",
        "etl",
        "infra",
        "reports",
        "notifications",
        "admin",
        "cli",
        "sdk",
        "payments",
        "catalog",
    )
    for part in (
        "handlers",
        "models",
        "services",
        "tests",
        "config",
        "migrations",
        "views",
        "jobs",
        "clients",
        "utils",
        "schemas",
        "routes",
        "hooks",
        "store",
    )
]
ERRORS = [
    "TypeError: cannot read properties of undefined",
    "AssertionError in the integration suite",
    "a flaky timeout in CI",
    "a 500 from the staging endpoint",
    "a lint failure on the pre-commit hook",
    "an import cycle at startup",
    "a race between two background jobs",
    "a failing snapshot test",
    "a memory spike in the worker",
    "a deadlock in the test database",
    "a broken build after the dependency bump",
    "wrong results in the nightly report",
]
TEMPLATES = {
    "error_fix": [
        "Hit {error} in {component}; fixed it by following the rule: {rule}",
        "{component}: {error}. The fix that worked: {rule}",
        "Fixed {error} while working on {component}. Lesson: {rule}",
    ],
    "discovery": [
        "While reading {component} I found that the codebase expects this: {rule}",
        "Discovered in {component}: {rule}",
    ],
    "decision": [
        "Decided for {component}: {rule}",
        "Team decision recorded while changing {component}: {rule}",
    ],
    "learning": [
        "Learned on task {task} in {component}: {rule}",
        "Takeaway from {component}: {rule}",
    ],
    "warning": [
        "Careful in {component}: {rule}",
        "Warning for anyone touching {component}: {rule}",
    ],
    "codebase_knowledge": [
        "{component} convention: {rule}",
        "How {component} is organised: {rule}",
    ],
}
REPEAT_SHARE = 0.05


def base_texts() -> list[str]:
    """The real sentences memories are built around: rule bullets and agent memories."""
    texts: list[str] = []
    path = datasets.SHARED_DATA / "cursorrules_coding_agent_rules" / "rule_bullets.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    streams = datasets.agent_streams() or {}
    for nodes in streams.values():
        texts += [n["description"] for n in nodes if n["type"] in ("thought", "chat")]
    seen: set[str] = set()
    unique = []
    for text in texts:
        key = text.strip().lower()
        if key and key not in seen and len(text) >= 20:
            seen.add(key)
            unique.append(text.strip().replace("**", ""))
    return unique


def project_memories(
    project_id: str, count: int, seed: int = 0, start_index: int = 0, bases: list[str] | None = None
) -> list[dict]:
    """``count`` memory records for one project, ready for ingest."""
    rng = random.Random(f"{project_id}:{seed}:{start_index}")
    bases = bases if bases is not None else base_texts()
    if not bases:
        raise RuntimeError(f"no base texts under {datasets.SHARED_DATA}")
    weights = [w for _, w in MEMORY_TYPES]
    names = [n for n, _ in MEMORY_TYPES]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # A project's recurring themes: rules drawn with a skew, so some recur often, most rarely.
    ranked = rng.sample(bases, k=min(len(bases), max(50, count // 8)))
    records: list[dict] = []
    for i in range(count):
        index = start_index + i
        if records and rng.random() < REPEAT_SHARE:
            repeated = dict(rng.choice(records))
            repeated["id"] = f"{project_id}-{index:07d}"
            repeated["task_id"] = f"task-{rng.randrange(count // 4 + 1):06d}"
            repeated["created_at"] = (start + timedelta(seconds=37 * index)).isoformat()
            records.append(repeated)
            continue
        memory_type = rng.choices(names, weights)[0]
        rule = ranked[int(len(ranked) * rng.random() ** 2)]
        task = f"task-{rng.randrange(count // 4 + 1):06d}"
        content = rng.choice(TEMPLATES[memory_type]).format(
            error=rng.choice(ERRORS), component=rng.choice(COMPONENTS), rule=rule, task=task
        )
        records.append(
            {
                "id": f"{project_id}-{index:07d}",
                "project_id": project_id,
                "memory_type": memory_type,
                "content": content,
                "task_id": task,
                "agent_id": f"agent-{rng.randrange(8)}",
                "success": rng.choice([True, True, False, None])
                if memory_type == "error_fix"
                else None,
                "tags": [memory_type],
                "created_at": (start + timedelta(seconds=37 * index)).isoformat(),
            }
        )
    return records
