"""The optional LLM writer: principles and entries worded by a chat model, never trusted blindly.

Any OpenAI-compatible chat API will do (OpenAI, Ollama, vLLM, llama.cpp's server); the client
comes from Dagster's ``dagster-openai`` resource. Beyond a plain call the writer

- bounds its input: the most central members of each pattern, within a character budget;
- asks, with a versioned prompt, for JSON: the statement, when it applies, the cited memory ids;
- checks the answer is grounded: the cited ids are among the inputs, every identifier-like
  token (path, number, version, error code, backticked name) occurs in a cited memory, and the
  text keeps to the length limit. A text that fails is replaced by the extractive writer's and
  the reason counted;
- keeps every answer in the store under a digest of prompt version, model and input, so a
  re-run or an unchanged group costs no call;
- retries timeouts, rate limits and server errors with exponential backoff, then falls back to
  the extractive text (or, when ``strict``, fails the run).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai

from consolidation_assets.phases.text import details, shorten
from consolidation_assets.phases.writing import (
    ENTRY_CHARS,
    STATEMENT_CHARS,
    Draft,
    ExtractiveWriter,
    MemoryEvidence,
    PatternEvidence,
    says_nothing_reusable,
)

PROMPT_VERSION = "writer-1"
FIELD_CHARS = 600
MIN_TEXT_CHARS = 12

SYSTEM_PROMPT = """You turn the memories that software agents wrote while working into \
knowledge other agents read before they work. You answer with one JSON object and nothing else:
{"statement": "...", "applies_when": "...", "memory_ids": ["...", "..."]}
Rules:
- Use only facts stated in the memories given. Never add a path, number, version, error code \
or name that no cited memory contains.
- memory_ids lists the ids of the memories the statement rests on, copied exactly.
- statement is at most %(limit)d characters, in plain English, no lists of keywords.
- applies_when says in a few words when an agent should follow it."""

PRINCIPLE_TASK = """These groups of memories are recurring patterns in one project. State the \
most general lesson they share, as a rule an agent can follow ("Always ...", "Never ...", \
"When ..., ...", "Use ... instead of ... because ..."). If they share no single lesson, say \
what they have in common and cite the most representative lessons."""

ENTRY_TASKS = {
    "troubleshooting": "Write a known fix: 'When <the error or symptom>: <the fix>'.",
    "gotchas": "Write a warning: 'Avoid <what> because <why>' or 'Watch out: ...'.",
    "architecture": "Write the decision to follow: 'Follow the decision: <what>, because <why>'.",
    "dependencies": "Write a dependency rule an agent can follow, starting with a verb.",
    "patterns": "Write the practice as an instruction, starting with a verb.",
}

_CODE_SPAN = re.compile(r"`([^`]{1,80})`")


class WriterFailedError(RuntimeError):
    """The model could not be reached within the retries and the writer is strict."""


class TextCache(Protocol):
    """Where answers are kept between runs (``store.written_texts.WrittenTextCache``)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, prompt_version: str, model: str, response: str) -> None: ...


@dataclass(frozen=True)
class LLMSettings:
    """How the LLM writer calls the model."""

    model: str
    strict: bool = False
    timeout_seconds: float = 60.0
    retries: int = 3
    backoff_seconds: float = 1.0
    input_chars: int = 6000
    temperature: float = 0.0


@dataclass
class LLMWriter:
    """A :class:`~consolidation_assets.phases.writing.Writer` backed by a chat model.

    ``client`` is an ``openai.OpenAI`` client (from the ``dagster-openai`` resource);
    ``sleep`` is injectable so tests need not wait out the backoff.
    """

    client: Any
    settings: LLMSettings
    cache: TextCache
    sleep: Callable[[float], None] = time.sleep
    fallback: ExtractiveWriter = field(default_factory=ExtractiveWriter)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def name(self) -> str:
        return f"llm:{self.settings.model}"

    def metrics(self) -> dict[str, int | float]:
        fallback = {k: v for k, v in self.fallback.metrics().items()}
        mine = {f"writer_{k}": v for k, v in sorted(self.counts.items())}
        return {"writer_prompt_version": PROMPT_VERSION, **fallback, **mine}

    def principle(self, patterns: Sequence[PatternEvidence], said: Sequence[str] = ()) -> Draft:
        extractive = self.fallback.principle(patterns, said)
        members = _bounded(patterns, self.settings.input_chars)
        request: dict[str, Any] = {
            "task": PRINCIPLE_TASK,
            "patterns": _rendered_groups(patterns, members),
        }
        if said:
            request["already_stated_below"] = list(said)
        return self._written("principle", request, members, STATEMENT_CHARS, extractive)

    def entry(self, pattern: PatternEvidence, category: str) -> Draft | None:
        extractive = self.fallback.entry(pattern, category)
        if extractive is None:
            return None
        usable = PatternEvidence(
            pattern.pattern_id,
            pattern.pattern_type,
            pattern.keywords,
            tuple(m for m in pattern.members if not says_nothing_reusable(m.content)),
        )
        members = _bounded([usable], self.settings.input_chars)
        request = {
            "task": ENTRY_TASKS.get(category, ENTRY_TASKS["patterns"]),
            "patterns": _rendered_groups([usable], members),
        }
        return self._written(f"entry:{category}", request, members, ENTRY_CHARS, extractive)

    def _written(
        self,
        kind: str,
        request: dict[str, Any],
        members: Sequence[MemoryEvidence],
        limit: int,
        extractive: Draft,
    ) -> Draft:
        """The model's text when it passes every check, else the extractive one."""
        system = SYSTEM_PROMPT % {"limit": limit}
        user = json.dumps(request, ensure_ascii=False, sort_keys=True)
        key = _cache_key(self.settings.model, kind, system, user)
        response = self.cache.get(key)
        if response is not None:
            self.counts["cache_hits"] += 1
        else:
            response = self._call(system, user)
            if response is None:
                self.counts["fallbacks"] += 1
                self.counts["fallback_unavailable"] += 1
                return extractive
            self.cache.put(key, PROMPT_VERSION, self.settings.model, response)
        draft, reason = grounded(response, members, limit, self.name)
        if draft is None:
            self.counts["fallbacks"] += 1
            self.counts[f"rejected_{reason}"] += 1
            return extractive
        self.counts["accepted"] += 1
        return draft

    def _call(self, system: str, user: str) -> str | None:
        """The model's answer, retried on timeouts, rate limits and server errors; None (or
        :class:`WriterFailedError` when strict) once the retries are spent."""
        client = self.client.with_options(timeout=self.settings.timeout_seconds, max_retries=0)
        last: Exception | None = None
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.counts["retries"] += 1
                self.sleep(self.settings.backoff_seconds * 2 ** (attempt - 1))
            try:
                self.counts["calls"] += 1
                completion = client.chat.completions.create(
                    model=self.settings.model,
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    temperature=self.settings.temperature,
                    response_format={"type": "json_object"},
                )
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                self.counts["errors_timeout"] += 1
                last = exc
            except openai.RateLimitError as exc:
                self.counts["errors_rate_limited"] += 1
                last = exc
            except openai.InternalServerError as exc:
                self.counts["errors_server"] += 1
                last = exc
            else:
                usage = getattr(completion, "usage", None)
                if usage is not None:
                    self.counts["prompt_tokens"] += int(usage.prompt_tokens or 0)
                    self.counts["completion_tokens"] += int(usage.completion_tokens or 0)
                choices = completion.choices or []
                return (choices[0].message.content or "") if choices else ""
        if self.settings.strict:
            raise WriterFailedError(
                f"the LLM writer's model {self.settings.model!r} failed "
                f"{self.settings.retries + 1} times (last: {last!r}); strict is set, so the run "
                "fails instead of falling back to the extractive writer"
            ) from last
        return None


def grounded(
    response: str, members: Sequence[MemoryEvidence], limit: int, writer: str
) -> tuple[Draft | None, str]:
    """The answer as a draft when it passes every grounding check, else None and the reason:
    ``malformed``, ``no_citation``, ``unknown_citation``, ``ungrounded_detail`` or ``length``."""
    try:
        answer = json.loads(response)
    except (json.JSONDecodeError, TypeError):
        return None, "malformed"
    if not isinstance(answer, dict) or not isinstance(answer.get("statement"), str):
        return None, "malformed"
    cited = answer.get("memory_ids")
    if not isinstance(cited, list) or not all(isinstance(c, str) for c in cited):
        return None, "malformed"
    text = " ".join(answer["statement"].split())
    applies_when = answer.get("applies_when")
    applies_when = " ".join(applies_when.split()) if isinstance(applies_when, str) else ""
    by_id = {m.id: m for m in members}
    if not cited:
        return None, "no_citation"
    if any(c not in by_id for c in cited):
        return None, "unknown_citation"
    if not MIN_TEXT_CHARS <= len(text) <= limit:
        return None, "length"
    source = " ".join(_memory_text(by_id[c]) for c in cited)
    known = {d.lower() for d in details(source)}
    lowered = source.lower()
    claimed = set(details(text)) | {m.group(1).lower() for m in _CODE_SPAN.finditer(text)}
    claimed |= set(details(applies_when))
    if any(t.lower() not in known and t.lower() not in lowered for t in claimed):
        return None, "ungrounded_detail"
    return Draft(text, tuple(dict.fromkeys(cited)), writer, applies_when), ""


def _memory_text(member: MemoryEvidence) -> str:
    return " ".join(t for t in (member.content, member.goal, member.result, member.feedback) if t)


def _bounded(patterns: Sequence[PatternEvidence], budget: int) -> list[MemoryEvidence]:
    """The most central members, taken round-robin across the patterns (so every pattern is
    heard), until the character budget is spent; at least one member of the first pattern."""
    chosen: list[MemoryEvidence] = []
    used = 0
    depth = max((len(p.members) for p in patterns), default=0)
    for rank in range(depth):
        for pattern in patterns:
            if rank >= len(pattern.members):
                continue
            member = pattern.members[rank]
            size = len(_memory_text(member))
            if chosen and used + size > budget:
                return chosen
            chosen.append(member)
            used += size
    return chosen


def _rendered_groups(
    patterns: Sequence[PatternEvidence], members: Sequence[MemoryEvidence]
) -> list[dict[str, Any]]:
    kept = {m.id for m in members}
    return [
        {
            "pattern": n,
            "kind": p.pattern_type,
            "memories": [_rendered(m) for m in p.members if m.id in kept],
        }
        for n, p in enumerate(patterns, 1)
        if any(m.id in kept for m in p.members)
    ]


def _rendered(member: MemoryEvidence) -> dict[str, Any]:
    outcome = {True: "worked", False: "did not work", None: "unknown"}[member.success]
    rendered: dict[str, Any] = {
        "id": member.id,
        "type": member.memory_type,
        "outcome": outcome,
        "date": member.created_at.date().isoformat(),
        "content": shorten(member.content, FIELD_CHARS),
    }
    for name in ("goal", "result", "feedback"):
        value = getattr(member, name)
        if value:
            rendered[name] = shorten(value, FIELD_CHARS // 2)
    return rendered


def _cache_key(model: str, kind: str, system: str, user: str) -> str:
    material = "\x1f".join([PROMPT_VERSION, model, kind, system, user])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
