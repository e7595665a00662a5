import json
from datetime import UTC, datetime

import pytest

from consolidation_assets.services.memory_input import (
    InvalidMemoriesError,
    parse_jsonl,
    validate_memories,
)


def lines(*objects: object) -> bytes:
    return (
        b"\n".join(o if isinstance(o, bytes) else json.dumps(o).encode() for o in objects) + b"\n"
    )


def test_valid_file_gives_every_field() -> None:
    data = lines(
        {
            "id": "a1",
            "project_id": "web",
            "content": "Raised pool_size to 20 after QueuePool timeouts.",
            "memory_type": "error_fix",
            "goal": "stop timeouts",
            "result": "timeouts gone",
            "feedback": "CI green",
            "tool_usage": {"bash": 2},
            "task_id": "t1",
            "agent_id": "agent-1",
            "success": True,
            "tags": ["db"],
            "metadata": {"branch": "main"},
            "created_at": "2026-09-01T10:00:00Z",
        },
        {"content": "Second memory", "project_id": "web"},
    )
    first, second = parse_jsonl(data, "f.jsonl")
    assert first.memory_type == "error_fix" and first.success is True
    assert first.created_at == datetime(2026, 9, 1, 10, tzinfo=UTC)
    assert second.memory_type == "discovery"
    assert second.id.startswith("mem-")


def test_every_bad_line_is_named_with_field_and_reason() -> None:
    data = lines(
        {"project_id": "web", "content": "fine"},
        b"{not json",
        [1, 2],
        {"project_id": "web"},
        {"project_id": "web", "content": "   "},
        {"project_id": "web", "content": "x", "memory_type": "rumour"},
        {"project_id": "web", "content": "x", "created_at": "yesterday"},
        {"project_id": "Web/Team", "content": "x"},
        {"project_id": "web", "content": "x", "success": "yes"},
        {"project_id": "web", "content": "x", "tags": "db"},
        {"project_id": "web", "content": "x", "memorytype": "decision"},
    )
    with pytest.raises(InvalidMemoriesError) as caught:
        parse_jsonl(data, "bad.jsonl")
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {
        (2, "(line)"),
        (3, "(line)"),
        (4, "content"),
        (5, "content"),
        (6, "memory_type"),
        (7, "created_at"),
        (8, "project_id"),
        (9, "success"),
        (10, "tags"),
        (11, "memorytype"),
    }
    message = str(caught.value)
    assert "bad.jsonl" in message and "line 6: memory_type" in message
    assert "'rumour' is not one of" in message


def test_project_comes_from_option_when_lines_omit_it() -> None:
    (memory,) = parse_jsonl(lines({"content": "x"}), "f", default_project="mobile-app")
    assert memory.project_id == "mobile-app"
    with pytest.raises(InvalidMemoriesError, match="project_id"):
        parse_jsonl(lines({"content": "x"}), "f")


def test_repeated_id_with_other_content_is_refused_same_content_kept_once() -> None:
    same = lines(
        {"id": "a", "project_id": "p", "content": "x"},
        {"id": "a", "project_id": "p", "content": "x"},
    )
    assert len(parse_jsonl(same, "f")) == 1
    other = lines(
        {"id": "a", "project_id": "p", "content": "x"},
        {"id": "a", "project_id": "p", "content": "y"},
    )
    with pytest.raises(InvalidMemoriesError, match="line 2: id"):
        parse_jsonl(other, "f")


def test_invalid_utf8_and_control_characters_are_refused() -> None:
    data = b'{"project_id": "p", "content": "caf\xe9"}\n' + lines(
        {"project_id": "p", "content": "bell\u0007"}
    )
    with pytest.raises(InvalidMemoriesError) as caught:
        parse_jsonl(data, "f")
    reasons = [p.reason for p in caught.value.problems]
    assert any("UTF-8" in r for r in reasons)
    assert any("control characters" in r for r in reasons)


def test_python_api_uses_the_same_rules() -> None:
    with pytest.raises(InvalidMemoriesError, match="line 1: content"):
        validate_memories([{"project_id": "p"}])
    (memory,) = validate_memories([{"project_id": "p", "content": "ok"}])
    assert memory.content == "ok"
