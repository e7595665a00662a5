"""LoCoMo conversations as agent memories, with the questions that ask about them.

The data (``locomo_dev/locomo_dev.json`` in ../shared/data, CC BY-NC 4.0) is read where it
lies and never copied into the project. Each conversation's observation facts become one
project: one memory per fact, created at its session's date, its ``dia_id`` kept in the
metadata. Each answerable question (category 5 is adversarial and has no evidence) keeps the
dia_ids that answer it; two questions list no evidence and are left out, since nothing
can be found for them. A fact may cite more than one ``dia_id``, and one evidence field is
written ``"D8:6; D9:17"``: both are read as lists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import datasets

PATH = ("locomo_dev", "locomo_dev.json")
UNANSWERABLE = 5
_SESSION = re.compile(r"^session_(\d+)_observation$")


@dataclass(frozen=True)
class Question:
    """One answerable question and the dia_ids of its evidence."""

    text: str
    evidence: frozenset[str]
    category: int


@dataclass(frozen=True)
class Conversation:
    """One conversation as a project: its memory records and its questions."""

    name: str
    project_id: str
    records: list[dict[str, Any]]
    questions: list[Question]

    @property
    def dia_of(self) -> dict[str, frozenset[str]]:
        """The dia_ids each memory id carries."""
        return {r["id"]: frozenset(r["metadata"]["dia_ids"]) for r in self.records}


def path() -> Path:
    return datasets.SHARED_DATA.joinpath(*PATH)


def session_time(text: str) -> datetime:
    """LoCoMo's session stamp (``1:56 pm on 8 May, 2023``) as a UTC datetime."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def conversation(raw: dict[str, Any]) -> Conversation:
    """One conversation's facts as memory records and its answerable questions."""
    name = raw["sample_id"]
    project_id = f"locomo-{name}"
    records: list[dict[str, Any]] = []
    sessions = sorted(
        (int(m.group(1)), key) for key in raw["observation"] if (m := _SESSION.match(key))
    )
    for number, key in sessions:
        created = session_time(raw["conversation"][f"session_{number}_date_time"])
        for speaker, facts in raw["observation"][key].items():
            for fact, cited in facts:
                dia_ids = [cited] if isinstance(cited, str) else list(cited)
                records.append(
                    {
                        "id": f"{name}-f{len(records):04d}",
                        "project_id": project_id,
                        "content": fact,
                        "memory_type": "discovery",
                        "task_id": f"session-{number}",
                        "agent_id": speaker,
                        "created_at": created.isoformat(),
                        "metadata": {"dia_ids": dia_ids, "speaker": speaker, "session": number},
                    }
                )
    questions = [
        Question(str(q["question"]), evidence, int(q["category"]))
        for q in raw["qa"]
        if q["category"] != UNANSWERABLE and (evidence := _evidence(q.get("evidence", [])))
    ]
    return Conversation(name, project_id, records, questions)


def _evidence(cited: list[str]) -> frozenset[str]:
    return frozenset(part for item in cited for part in re.split(r"[;,\s]+", item) if part)


def conversations() -> list[Conversation] | None:
    """The three dev conversations, or None when the data is absent."""
    source = path()
    if not source.exists():
        return None
    return [conversation(raw) for raw in json.loads(source.read_text())]
