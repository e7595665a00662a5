"""Validation of incoming memories: the one gate in front of the store, for the CLI and Python.

A file is accepted whole or not at all. Every problem is reported with the line it is on, the
field and the reason, so a user can fix the file in one pass.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consolidation_assets.store.memories import NewMemory, content_hash
from consolidation_assets.store.scope import MEMORY_TYPES, parse_timestamp

__all__ = [
    "MEMORY_TYPES",
    "InvalidMemoriesError",
    "NewMemory",
    "Problem",
    "content_hash",
    "parse_jsonl",
    "parse_timestamp",
    "validate_memories",
]

DEFAULT_MEMORY_TYPE = "discovery"
MAX_CONTENT_CHARS = 20_000
MAX_TEXT_FIELD_CHARS = 20_000
MAX_ID_CHARS = 128
MAX_TAGS = 50
MAX_JSON_FIELD_CHARS = 64_000
PROJECT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PROJECT_ID_RULE = (
    "1 to 64 characters of lowercase letters, digits, '-' and '_', starting with a letter or digit"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")

OPTIONAL_TEXT_FIELDS = ("goal", "result", "feedback")
OPTIONAL_ID_FIELDS = ("task_id", "agent_id")
KNOWN_FIELDS = frozenset(
    {
        "id",
        "project_id",
        "content",
        "memory_type",
        "tool_usage",
        "success",
        "tags",
        "metadata",
        "created_at",
        *OPTIONAL_TEXT_FIELDS,
        *OPTIONAL_ID_FIELDS,
    }
)


@dataclass(frozen=True)
class Problem:
    """One reason a line was refused."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class InvalidMemoriesError(ValueError):
    """Raised when input is refused; nothing of it has been written."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:200])
        more = f"\n  ... and {len(problems) - 200} more" if len(problems) > 200 else ""
        super().__init__(
            f"{source}: {len(problems)} problem(s), nothing was written:\n{shown}{more}"
        )


def _kind(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    names = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _unpaired_surrogate(value: str) -> bool:
    """Whether a string holds half of a surrogate pair, which no UTF-8 store can keep."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_field_problem(value: object) -> str | None:
    """Why a free-form JSON field (metadata, tool_usage) cannot be stored as given, if it can't."""
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return "contains NaN or Infinity, which JSON does not allow"
    except RecursionError:
        return "is nested too deeply"
    except TypeError as exc:
        return f"is not JSON data ({exc})"
    if _unpaired_surrogate(encoded):
        return "contains an unpaired surrogate, which is not valid Unicode"
    if len(encoded) > MAX_JSON_FIELD_CHARS:
        return f"is {len(encoded)} characters as JSON, the limit is {MAX_JSON_FIELD_CHARS}"
    return None


def check_project_id(project_id: object) -> str | None:
    """The reason ``project_id`` is not a safe partition key, or None when it is."""
    if not isinstance(project_id, str):
        return f"must be a string, got {_kind(project_id)}"
    if not PROJECT_ID_PATTERN.match(project_id):
        return f"{project_id[:80]!r} is not a valid project id ({PROJECT_ID_RULE})"
    return None


def validate_project_id(project_id: object) -> str:
    """``project_id`` itself, or ValueError naming the rule it breaks."""
    reason = check_project_id(project_id)
    if reason:
        raise ValueError(f"project_id: {reason}")
    return project_id  # type: ignore[return-value]


def _text(
    obj: Mapping[str, Any],
    key: str,
    line: int,
    problems: list[Problem],
    *,
    limit: int,
    required: bool = False,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            problems.append(Problem(line, key, "is required"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(line, key, f"must be a string, got {_kind(value)}"))
        return None
    if required and not value.strip():
        problems.append(Problem(line, key, "must not be empty"))
        return None
    if len(value) > limit:
        problems.append(Problem(line, key, f"is {len(value)} characters, the limit is {limit}"))
        return None
    if _CONTROL.search(value):
        problems.append(Problem(line, key, "contains control characters"))
        return None
    if _unpaired_surrogate(value):
        problems.append(Problem(line, key, "contains an unpaired surrogate, not valid Unicode"))
        return None
    return value


def validate_record(
    obj: object, line: int, default_project: str | None, now: datetime
) -> tuple[NewMemory | None, list[Problem]]:
    """One parsed JSON value checked against the ingest contract."""
    problems: list[Problem] = []
    if not isinstance(obj, dict):
        return None, [Problem(line, "(line)", f"must be a JSON object, got {_kind(obj)}")]
    for key in sorted(set(obj) - KNOWN_FIELDS, key=str)[:10]:
        name = str(key)[:80]
        shown = name if name.strip() and name.isprintable() else json.dumps(name)
        problems.append(Problem(line, shown, "is not a known field"))

    content = _text(obj, "content", line, problems, limit=MAX_CONTENT_CHARS, required=True)

    project_id = obj.get("project_id", default_project)
    if project_id is None:
        problems.append(Problem(line, "project_id", "is required (or pass --project)"))
    elif (reason := check_project_id(project_id)) is not None:
        problems.append(Problem(line, "project_id", reason))
    elif default_project is not None and project_id != default_project:
        problems.append(
            Problem(
                line, "project_id", f"{project_id!r} differs from --project {default_project!r}"
            )
        )

    memory_id = obj.get("id")
    if memory_id is not None:
        if not isinstance(memory_id, str):
            problems.append(
                Problem(line, "id", f"must be a string, got {type(memory_id).__name__}")
            )
        elif not memory_id.strip() or len(memory_id) > MAX_ID_CHARS:
            problems.append(Problem(line, "id", f"must be 1 to {MAX_ID_CHARS} characters"))
        elif (
            _ID_FORBIDDEN.search(memory_id)
            or memory_id != memory_id.strip()
            or _unpaired_surrogate(memory_id)
        ):
            problems.append(
                Problem(
                    line,
                    "id",
                    "must not contain control characters, unpaired surrogates or surrounding "
                    "spaces",
                )
            )

    memory_type = obj.get("memory_type", DEFAULT_MEMORY_TYPE)
    if not isinstance(memory_type, str):
        problems.append(Problem(line, "memory_type", f"must be a string, got {_kind(memory_type)}"))
    elif memory_type not in MEMORY_TYPES:
        problems.append(
            Problem(
                line,
                "memory_type",
                f"{str(memory_type)[:40]!r} is not one of {', '.join(MEMORY_TYPES)}",
            )
        )

    texts = {
        key: _text(obj, key, line, problems, limit=MAX_TEXT_FIELD_CHARS)
        for key in OPTIONAL_TEXT_FIELDS
    }
    ids = {key: _text(obj, key, line, problems, limit=MAX_ID_CHARS) for key in OPTIONAL_ID_FIELDS}

    success = obj.get("success")
    if success is not None and not isinstance(success, bool):
        problems.append(
            Problem(line, "success", f"must be true, false or null, got {_kind(success)}")
        )

    tags = obj.get("tags")
    if tags is None:
        tags = []
    elif not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(Problem(line, "tags", "must be a list of strings"))
    elif len(tags) > MAX_TAGS or any(
        len(t) > MAX_ID_CHARS or _CONTROL.search(t) or _unpaired_surrogate(t) for t in tags
    ):
        problems.append(
            Problem(
                line,
                "tags",
                f"at most {MAX_TAGS} tags of at most {MAX_ID_CHARS} characters, "
                "without control characters",
            )
        )

    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        problems.append(Problem(line, "metadata", f"must be a JSON object, got {_kind(metadata)}"))
    elif (reason := _json_field_problem(metadata)) is not None:
        problems.append(Problem(line, "metadata", reason))

    tool_usage = obj.get("tool_usage")
    if tool_usage is not None and not isinstance(tool_usage, dict | list):
        problems.append(
            Problem(
                line, "tool_usage", f"must be an object or a list, got {type(tool_usage).__name__}"
            )
        )
    elif tool_usage is not None and (reason := _json_field_problem(tool_usage)) is not None:
        problems.append(Problem(line, "tool_usage", reason))

    created_at = now
    raw_created = obj.get("created_at")
    if raw_created is not None:
        if not isinstance(raw_created, str):
            problems.append(Problem(line, "created_at", "must be an ISO 8601 string"))
        else:
            try:
                created_at = parse_timestamp(raw_created)
            except (ValueError, OverflowError):
                problems.append(
                    Problem(
                        line, "created_at", f"{raw_created[:40]!r} is not an ISO 8601 timestamp"
                    )
                )

    if problems:
        return None, problems
    return (
        NewMemory(
            id=memory_id or f"mem-{uuid.uuid4().hex}",
            project_id=project_id,
            memory_type=memory_type,
            content=content,  # type: ignore[arg-type]
            created_at=created_at,
            tool_usage=tool_usage,
            success=success,
            tags=list(tags),
            metadata=dict(metadata),
            line=line,
            **texts,
            **ids,
        ),
        [],
    )


def parse_jsonl(
    data: bytes, source: str, default_project: str | None = None, now: datetime | None = None
) -> list[NewMemory]:
    """Every memory of a JSONL file, or InvalidMemoriesError naming every bad line."""
    if default_project is not None and (reason := check_project_id(default_project)):
        raise InvalidMemoriesError(source, [Problem(0, "--project", reason)])
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    numbered: list[tuple[int, NewMemory]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(number, "(line)", f"is not valid UTF-8 (byte {exc.start})"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(number, "(line)", f"is not valid JSON: {exc.msg}"))
            continue
        except RecursionError:
            problems.append(Problem(number, "(line)", "is nested too deeply to read"))
            continue
        memory, line_problems = validate_record(obj, number, default_project, now)
        problems.extend(line_problems)
        if memory is not None:
            numbered.append((number, memory))
    return _accepted(source, numbered, problems)


def validate_memories(
    records: Iterable[Mapping[str, Any]],
    source: str = "memories",
    default_project: str | None = None,
) -> list[NewMemory]:
    """The Python API's gate: the same rules as a file, records numbered from 1."""
    now = datetime.now(UTC)
    problems: list[Problem] = []
    numbered: list[tuple[int, NewMemory]] = []
    for number, record in enumerate(records, start=1):
        memory, line_problems = validate_record(record, number, default_project, now)
        problems.extend(line_problems)
        if memory is not None:
            numbered.append((number, memory))
    return _accepted(source, numbered, problems)


def _accepted(
    source: str, numbered: list[tuple[int, NewMemory]], problems: list[Problem]
) -> list[NewMemory]:
    """The memories once ids repeated within the input agree; else every problem raised."""
    first: dict[str, NewMemory] = {}
    unique: list[NewMemory] = []
    for number, memory in numbered:
        earlier = first.get(memory.id)
        if earlier is None:
            first[memory.id] = memory
            unique.append(memory)
        elif not same_memory(earlier, memory):
            problems.append(Problem(number, "id", f"{memory.id!r} is repeated with other content"))
    if problems:
        raise InvalidMemoriesError(source, sorted(problems, key=lambda p: p.line))
    return unique


def same_memory(a: NewMemory, b: NewMemory) -> bool:
    """Whether two records with one id describe the same memory (re-ingest adds nothing)."""
    return a.project_id == b.project_id and a.content == b.content
