"""The writers: what the extractive writer says, that it invents nothing, and the LLM writer's
grounding checks (the checks alone; the client and server are in the integration test)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.text import content_words, details
from consolidation_assets.phases.writing import (
    ENTRY_CHARS,
    STATEMENT_CHARS,
    ExtractiveWriter,
    MemoryEvidence,
    PatternEvidence,
    is_instruction,
    says_nothing_reusable,
)
from consolidation_assets.services.llm_writer import grounded

WHEN = datetime(2026, 9, 1, tzinfo=UTC)


def memory(
    memory_id: str,
    content: str,
    memory_type: str = "discovery",
    success: bool | None = None,
    goal: str | None = None,
    result: str | None = None,
    feedback: str | None = None,
) -> MemoryEvidence:
    return MemoryEvidence(
        memory_id, content, memory_type, success, goal, result, feedback, WHEN, 0.9
    )


def pattern(pattern_id: str, *members: MemoryEvidence, kind: str = "workflow") -> PatternEvidence:
    return PatternEvidence(pattern_id, kind, (), members)


NOTHING_REUSABLE = [
    "The provided explanation is incomplete and does not provide enough information.",
    "The explanation is incomplete.",
    "fixed",
    "reviewer: LGTM",
    "noted for follow-up",
    "root cause identified",
    "CI: all checks passed",
    "Looks good, thanks!",
    "",
]
REUSABLE = [
    "Run migrations with lock_timeout set so a blocked ALTER fails fast.",
    "Never share a Redis instance between the cache and the Celery broker.",
    "The implementation only considers even numbers at even positions; check odd ones too.",
    "Gradle daemons run out of heap on CI runners",
    "Test behavior, not implementation",
    "Name test variables clearly",
]


def test_nothing_reusable_is_told_from_a_lesson() -> None:
    assert all(says_nothing_reusable(t) for t in NOTHING_REUSABLE)
    assert not any(says_nothing_reusable(t) for t in REUSABLE)


def test_a_pattern_of_verdicts_gives_no_entry_and_a_mixed_one_rests_on_the_lesson() -> None:
    writer = ExtractiveWriter()
    verdicts = pattern("p1", *(memory(f"v{i}", t) for i, t in enumerate(NOTHING_REUSABLE[:4])))
    assert writer.entry(verdicts, "patterns") is None
    mixed = pattern(
        "p2",
        memory("v1", NOTHING_REUSABLE[0]),
        memory("ok", "Always pin the JDK to 17 in CI; the Android Gradle plugin needs it."),
    )
    draft = writer.entry(mixed, "patterns")
    assert draft is not None and draft.memory_ids == ("ok",)
    assert "explanation" not in draft.text
    assert writer.metrics()["writer_entries_nothing_reusable"] == 1


def test_a_known_fix_states_the_trigger_and_the_fix() -> None:
    fix = memory(
        "m1",
        "`kombu.exceptions.EncodeError: Object of type Order is not JSON serializable` from "
        "generate_invoice.delay(order). Celery uses the json serializer here; pass order.id and "
        "reload the order inside the task.",
        "error_fix",
        success=True,
    )
    draft = ExtractiveWriter().entry(pattern("p", fix, kind="failure"), "troubleshooting")
    assert draft is not None
    trigger, _, remedy = draft.text.partition(": ")
    assert trigger.startswith("When you see `kombu.exceptions.EncodeError")
    assert "Pass order.id" in draft.text and "reload the order inside the task" in draft.text
    assert remedy and draft.memory_ids == ("m1",)


def test_a_known_fix_without_an_error_sentence_takes_the_task_as_its_trigger() -> None:
    fix = memory(
        "m1",
        "Wrapped the app in asgi_lifespan.LifespanManager inside the client fixture.",
        "error_fix",
        success=True,
        goal="Migrate tests from TestClient to httpx.AsyncClient",
    )
    draft = ExtractiveWriter().entry(pattern("p", fix), "troubleshooting")
    assert draft is not None
    assert draft.text.startswith("When you migrate tests from TestClient to httpx.AsyncClient: ")


def test_a_warning_says_what_to_avoid_and_why_and_a_decision_its_reason() -> None:
    writer = ExtractiveWriter()
    warning = memory(
        "w",
        "Evicting keys on a broker instance means losing tasks. Do not share the cache Redis "
        "with the Celery broker.",
        "warning",
    )
    text = writer.entry(pattern("p", warning), "gotchas").text
    assert text.startswith("Watch out: Do not share the cache Redis with the Celery broker.")
    assert "Why: Evicting keys on a broker instance means losing tasks." in text
    decision = memory(
        "d",
        "Split Redis in two: the cache gets allkeys-lru, the broker noeviction. Evicting keys "
        "on a broker instance loses tasks, which means duplicate work.",
        "decision",
    )
    text = writer.entry(pattern("p", decision), "architecture").text
    assert text.startswith("Follow the decision: Split Redis in two")
    assert "Reason: Evicting keys on a broker instance loses tasks" in text


def test_a_principle_states_the_lesson_its_patterns_share() -> None:
    shared = [
        pattern(
            "a",
            memory("a1", "Always close the database session in a finally block."),
            memory("a2", "Pool exhausted on staging at 14:02 after the export endpoint ran."),
        ),
        pattern(
            "b",
            memory("b1", "The session was never closed when the handler raised."),
            memory("b2", "QueuePool limit of size 10 overflow 5 reached in app/api/deps.py."),
        ),
        pattern("c", memory("c1", "Close every database session the request opens.")),
    ]
    draft = ExtractiveWriter().principle(shared)
    assert draft.text.startswith("Always close the database session in a finally block.")
    assert "14:02" not in draft.text and "app/api/deps.py" not in draft.text
    assert len({m[0] for m in draft.memory_ids}) >= 2
    assert len(draft.text) <= STATEMENT_CHARS


def test_patterns_with_no_shared_lesson_are_summarized_not_passed_off_as_a_rule() -> None:
    unrelated = [
        pattern("a", memory("a1", "Use the keyboard controller for every form screen.")),
        pattern("b", memory("b1", "Nightly exports compress better with zstd level three.")),
        pattern("c", memory("c1", "Billing webhooks arrive twice during provider failovers.")),
    ]
    draft = ExtractiveWriter().principle(unrelated)
    assert draft.text.startswith("3 related workflow patterns recur here; lessons from them: (1)")
    assert {"a1", "b1", "c1"} == set(draft.memory_ids)


def test_instruction_form() -> None:
    assert is_instruction("When you see X: do Y.")
    assert is_instruction("Watch out: foo.")
    assert not is_instruction("Gradle, android and jdk: the build died.")


VOCABULARY = (
    "the pool session cache broker redis lock timeout migration deploy worker task retry always "
    "never because when use instead error failed fixed added raised set close open api_key "
    "app/db/session.py v2.1 5432 ORA-01555 --no-daemon"
)
WORDS = st.sampled_from([*VOCABULARY.split(" "), "`make test`"])
SENTENCE = st.lists(WORDS, min_size=3, max_size=14).map(lambda w: " ".join(w).capitalize() + ".")
TEXT = st.lists(SENTENCE, min_size=1, max_size=3).map(" ".join)
MEMORY_TYPES = st.sampled_from(["error_fix", "warning", "decision", "learning", "discovery"])
FRAMING = content_words(
    "when you see watch out why follow the decision reason follow this practice check "
    "dependencies apply this known fix it by seen across of patterns as in related workflow "
    "failure pitfall practice recur here lessons from them none their memories states a lesson "
    "yet recurring"
)


# The framing counts patterns and numbers lessons.
COUNTS = frozenset(str(n) for n in range(1, 10))


@st.composite
def groups(draw: st.DrawFn) -> list[PatternEvidence]:
    made = []
    for p in range(draw(st.integers(2, 4))):
        members = [
            memory(
                f"p{p}m{m}",
                draw(TEXT),
                draw(MEMORY_TYPES),
                draw(st.sampled_from([True, False, None])),
                goal=draw(st.none() | SENTENCE),
            )
            for m in range(draw(st.integers(1, 4)))
        ]
        made.append(pattern(f"p{p}", *members))
    return made


@settings(max_examples=150, deadline=None)
@given(groups(), st.sampled_from(["troubleshooting", "gotchas", "architecture", "patterns"]))
def test_the_extractive_writer_invents_nothing(
    patterns: list[PatternEvidence], category: str
) -> None:
    """Every word and detail of a draft comes from its evidence (or the writer's framing), its
    citations are among the inputs, it keeps to its limit, and it is deterministic."""
    writer = ExtractiveWriter()
    evidence_text = " ".join(
        t for p in patterns for m in p.members for t in (m.content, m.goal or "")
    )
    known_words = content_words(evidence_text) | FRAMING
    known_details = details(evidence_text)
    input_ids = {m.id for p in patterns for m in p.members}
    drafts = [writer.principle(patterns), writer.entry(patterns[0], category)]
    assert drafts[0] == ExtractiveWriter().principle(patterns)
    for draft, limit in zip(drafts, (STATEMENT_CHARS, ENTRY_CHARS), strict=True):
        if draft is None:
            assert all(says_nothing_reusable(m.content) for m in patterns[0].members)
            continue
        assert len(draft.text) <= limit
        assert set(draft.memory_ids) <= input_ids
        words = content_words(re.sub(r"\(\d\)|\d+ related|\d+ of \d+", " ", draft.text))
        assert words - known_words <= {"…"}, words - known_words
        assert {d for d in details(draft.text) if "…" not in d} <= known_details | COUNTS


def answer(statement: str, ids: list[str], applies_when: str = "") -> str:
    return json.dumps({"statement": statement, "applies_when": applies_when, "memory_ids": ids})


GROUNDING_INPUT = [
    memory("m1", "Set lock_timeout to 5s in alembic/env.py so a blocked ALTER fails fast."),
    memory("m2", "Migrations hung behind an analytics query holding a lock.", goal="Deploy v2.3"),
]


def test_grounding_accepts_what_the_cited_memories_say() -> None:
    draft, reason = grounded(
        answer("When migrations hang, set lock_timeout in alembic/env.py.", ["m1", "m2"]),
        GROUNDING_INPUT,
        200,
        "llm:test",
    )
    assert reason == "" and draft is not None
    assert draft.memory_ids == ("m1", "m2") and draft.writer == "llm:test"


def test_grounding_rejects_each_failure_with_its_reason() -> None:
    cases = {
        "malformed": "not json {",
        "no_citation": answer("Set lock_timeout before migrating.", []),
        "unknown_citation": answer("Set lock_timeout before migrating.", ["m9"]),
        "ungrounded_detail": answer("Set lock_timeout to 30s in alembic/env.py.", ["m1"]),
        "length": answer("Set lock_timeout before migrating. " * 20, ["m1"]),
    }
    for reason, response in cases.items():
        assert grounded(response, GROUNDING_INPUT, 200, "llm:test") == (None, reason), reason
    version = answer("Deploy v2.3 only after setting lock_timeout.", ["m1"])
    assert grounded(version, GROUNDING_INPUT, 200, "llm:test") == (None, "ungrounded_detail")
    assert grounded(version, GROUNDING_INPUT, 200, "llm:test")[0] is None
    assert grounded(
        answer("Deploy v2.3 only after setting lock_timeout.", ["m1", "m2"]),
        GROUNDING_INPUT,
        200,
        "llm:test",
    )[0]
