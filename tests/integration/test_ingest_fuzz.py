"""Generated input thrown at ingest: no crash, nothing half-written, every refusal explained.

Each example is a JSONL document of up to 60 lines mixing valid memories, memories with one
field broken in a known way, arbitrary JSON values and arbitrary bytes. The oracle knows which
lines it broke on purpose; the arbitrary ones may be valid or not, and either answer is fine as
long as it is explained and the store moves all at once or not at all. The settings below make
the run throw more than 10,000 lines in total on each backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from consolidation_assets.services.ingest import ingest_jsonl, ingest_memories
from consolidation_assets.services.memory_input import (
    MAX_CONTENT_CHARS,
    MEMORY_TYPES,
    InvalidMemoriesError,
)
from consolidation_assets.store.engine import get_engine
from consolidation_assets.store.models import Memory

pytestmark = pytest.mark.slow

EXAMPLES = 500
MIN_LINES = 15
MAX_LINES = 60

words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=40
).filter(lambda t: t.strip() != "")
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
projects = st.sampled_from(["alpha", "beta", "web-backend", "data_pipeline"])
timestamps = st.datetimes().map(lambda d: d.isoformat())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def valid_records(draw: st.DrawFn) -> dict:
    record = {"project_id": draw(projects), "content": draw(words)}
    if draw(st.booleans()):
        record["id"] = draw(ids)
    if draw(st.booleans()):
        record["memory_type"] = draw(st.sampled_from(MEMORY_TYPES))
    if draw(st.booleans()):
        record["created_at"] = draw(timestamps)
    if draw(st.booleans()):
        record["tags"] = draw(st.lists(words.map(lambda t: t[:30]), max_size=3))
    if draw(st.booleans()):
        record["success"] = draw(st.none() | st.booleans())
    if draw(st.booleans()):
        record["metadata"] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    return record


# One certain way each to break a record: (field named in the refusal, how to break it).
BREAKS: list[tuple[str, object]] = [
    ("content", lambda r, v: r.pop("content")),
    ("content", lambda r, v: r.update(content="   ")),
    ("content", lambda r, v: r.update(content="x" * (MAX_CONTENT_CHARS + 1))),
    ("content", lambda r, v: r.update(content="bell\x07 inside")),
    ("content", lambda r, v: r.update(content=v)),
    ("project_id", lambda r, v: r.update(project_id="a,b")),
    ("project_id", lambda r, v: r.update(project_id="team/web")),
    ("project_id", lambda r, v: r.update(project_id='"quoted"')),
    ("project_id", lambda r, v: r.update(project_id='{"json": 1}')),
    ("project_id", lambda r, v: r.update(project_id="")),
    ("project_id", lambda r, v: r.update(project_id=7)),
    ("memory_type", lambda r, v: r.update(memory_type="rumour")),
    ("memory_type", lambda r, v: r.update(memory_type=["decision"])),
    ("created_at", lambda r, v: r.update(created_at="yesterday")),
    ("created_at", lambda r, v: r.update(created_at="0001-01-01T00:00:00+05:00")),
    ("created_at", lambda r, v: r.update(created_at=1700000000)),
    ("success", lambda r, v: r.update(success="yes")),
    ("tags", lambda r, v: r.update(tags="db")),
    ("metadata", lambda r, v: r.update(metadata=[1, 2])),
    ("metadata", lambda r, v: r.update(metadata={"k": float("nan")})),
    ("id", lambda r, v: r.update(id=12)),
    ("id", lambda r, v: r.update(id=" padded ")),
    ("content", lambda r, v: r.update(content="half \ud800 surrogate")),
    ("unknown", lambda r, v: r.update(unknown=v)),
]


@dataclass
class Line:
    data: bytes
    broken_field: str | None = None  # set when the line is certainly bad
    arbitrary: bool = False  # may be valid or not


@st.composite
def lines(draw: st.DrawFn) -> Line:
    kind = draw(st.sampled_from(["valid", "valid", "broken", "broken", "json", "bytes"]))
    if kind == "valid":
        return Line(json.dumps(draw(valid_records())).encode())
    if kind == "broken":
        record = draw(valid_records())
        field, breaker = draw(st.sampled_from(BREAKS))
        breaker(record, draw(json_values.filter(lambda v: not isinstance(v, str))))
        return Line(json.dumps(record).encode(), broken_field=field)
    if kind == "json":
        return Line(json.dumps(draw(json_values)).encode(), arbitrary=True)
    raw = draw(st.binary(min_size=1, max_size=80)).replace(b"\n", b" ")
    return Line(raw, arbitrary=True)


def memory_count(url: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.scalar(select(func.count()).select_from(Memory))


def check_document(url: str, document: list[Line]) -> None:
    data = b"\n".join(line.data for line in document) + b"\n"
    before = memory_count(url)
    try:
        report = ingest_jsonl(data, database_url=url, source="fuzz.jsonl")
    except InvalidMemoriesError as exc:
        assert memory_count(url) == before, "a refused document wrote memories"
        assert exc.problems, "a refusal without a reason"
        named = {p.line for p in exc.problems}
        for problem in exc.problems:
            assert 0 <= problem.line <= len(document)
            assert problem.field and problem.reason
        for number, line in enumerate(document, start=1):
            if line.broken_field is not None and line.data.strip():
                assert number in named, f"line {number} broken in {line.broken_field} not named"
        return
    assert not any(line.broken_field for line in document), "a broken line was accepted"
    assert memory_count(url) == before + report.inserted


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(document=st.lists(lines(), min_size=MIN_LINES, max_size=MAX_LINES))
def test_generated_documents_are_taken_whole_or_refused_with_reasons(
    database_url: str, document: list[Line]
) -> None:
    check_document(database_url, document)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(records=st.lists(json_values | valid_records(), min_size=1, max_size=20))
def test_python_api_applies_the_same_gate(database_url: str, records: list) -> None:
    before = memory_count(database_url)
    try:
        report = ingest_memories(records, database_url=database_url)
    except InvalidMemoriesError as exc:
        assert memory_count(database_url) == before
        assert all(1 <= p.line <= len(records) and p.reason for p in exc.problems)
        return
    assert memory_count(database_url) == before + report.inserted


def test_deep_nesting_and_an_id_reused_with_other_content_are_refused(database_url: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    first = json.dumps({"id": "m1", "project_id": "alpha", "content": "first"}).encode()
    ingest_jsonl(first + b"\n", database_url=database_url)
    other = json.dumps({"id": "m1", "project_id": "alpha", "content": "other"}).encode()
    good = json.dumps({"id": "m2", "project_id": "alpha", "content": "fine"}).encode()
    with pytest.raises(InvalidMemoriesError) as caught:
        ingest_jsonl(deep + b"\n" + good + b"\n", database_url=database_url)
    assert [(p.line, p.field) for p in caught.value.problems] == [(1, "(line)")]
    with pytest.raises(InvalidMemoriesError) as caught:
        ingest_jsonl(good + b"\n" + other + b"\n", database_url=database_url)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "id")]
    assert memory_count(database_url) == 1
