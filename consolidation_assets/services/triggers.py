"""When to consolidate a project: the new-memories cursor and the decision it drives.

Plain Python, so the sensor stays thin and the rule is tested on its own. The cursor keeps a
global high-water mark (the last memory ``seq`` seen) and, per project, the memories that arrived
since its last requested run; a project is due once that count reaches the threshold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from consolidation_assets.services.memory_input import check_project_id
from consolidation_assets.store.arrivals import ProjectArrivals


@dataclass
class ArrivalCursor:
    last_seq: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    project_seq: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"last_seq": self.last_seq, "pending": self.pending, "project_seq": self.project_seq},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ArrivalCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            last_seq=int(data.get("last_seq", 0)),
            pending={k: int(v) for k, v in data.get("pending", {}).items()},
            project_seq={k: int(v) for k, v in data.get("project_seq", {}).items()},
        )


@dataclass(frozen=True)
class ArrivalPlan:
    """What a tick does: projects to run (with their run keys), projects seen, the new cursor."""

    due: dict[str, str]
    seen: list[str]
    skipped: dict[str, str]
    cursor: ArrivalCursor


def plan_arrivals(
    cursor: ArrivalCursor, arrivals: list[ProjectArrivals], threshold: int
) -> ArrivalPlan:
    """Fold this tick's arrivals into the cursor; projects at the threshold become due.

    The run key is the project and its highest memory ``seq``: a tick evaluated twice on the
    same data asks for the same key, which Dagster launches once.
    """
    pending = dict(cursor.pending)
    project_seq = dict(cursor.project_seq)
    last_seq = cursor.last_seq
    due: dict[str, str] = {}
    skipped: dict[str, str] = {}
    seen: list[str] = []
    for arrival in sorted(arrivals, key=lambda a: a.project_id):
        last_seq = max(last_seq, arrival.max_seq)
        if (reason := check_project_id(arrival.project_id)) is not None:
            skipped[arrival.project_id] = reason
            continue
        seen.append(arrival.project_id)
        pending[arrival.project_id] = pending.get(arrival.project_id, 0) + arrival.count
        project_seq[arrival.project_id] = max(
            project_seq.get(arrival.project_id, 0), arrival.max_seq
        )
    for project, count in sorted(pending.items()):
        if count >= threshold:
            due[project] = f"{project}:{project_seq[project]}"
    for project in due:
        pending.pop(project)
    return ArrivalPlan(due, seen, skipped, ArrivalCursor(last_seq, pending, project_seq))
