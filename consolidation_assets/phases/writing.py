"""Writers: the words of principles and playbook entries, from the groups the phases found.

The phases decide *what* belongs together; a writer decides *what to say* about it. A writer is
handed evidence (a pattern's members, or a principle's patterns and their members, each member
with its goal, result, feedback, type, outcome and date, most central first) and returns a
:class:`Draft`: the text and the memory ids it rests on.

:class:`ExtractiveWriter` is the default: offline and deterministic. It never invents a word,
but it chooses and frames: a principle states the most general lesson its patterns share (or,
when none speaks for several, says what they share and cites two or three lessons), and an entry
reads as an instruction (the trigger and the fix, what to avoid and why, the decision and its
reason). A memory that says nothing reusable ("the explanation is incomplete") is never the
ground of an entry. An LLM writer (``services/llm_writer.py``) implements the same protocol and
falls back to this one whenever its text fails a grounding check.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from consolidation_assets.phases.text import content_words, details, sentences, shorten
from consolidation_assets.phases.types import MemoryBatch

STATEMENT_CHARS = 300
ENTRY_CHARS = 360
EVIDENCE_MEMBERS = 5
WRITER_CHOICES = ("auto", "extractive", "llm")


@dataclass(frozen=True)
class MemoryEvidence:
    """One memory as a writer sees it."""

    id: str
    content: str
    memory_type: str
    success: bool | None
    goal: str | None
    result: str | None
    feedback: str | None
    created_at: datetime
    centrality: float


@dataclass(frozen=True)
class PatternEvidence:
    """A pattern as a writer sees it: its members, most central first."""

    pattern_id: str
    pattern_type: str
    keywords: tuple[str, ...]
    members: tuple[MemoryEvidence, ...]


@dataclass(frozen=True)
class Draft:
    """What a writer wrote: the text, the memory ids it rests on, and which writer wrote it."""

    text: str
    memory_ids: tuple[str, ...]
    writer: str
    applies_when: str = ""


class Writer(Protocol):
    """Words principles and playbook entries. ``name`` shows in each materialization."""

    name: str

    def principle(self, patterns: Sequence[PatternEvidence], said: Sequence[str] = ()) -> Draft:
        """The statement of a principle over ``patterns`` (two or more); ``said`` are the
        statements of the principles it groups, which it should not repeat."""
        ...

    def entry(self, pattern: PatternEvidence, category: str) -> Draft | None:
        """A playbook entry for ``pattern`` in ``category``; None when nothing in it is
        reusable."""
        ...

    def metrics(self) -> dict[str, int | float]:
        """What writing cost and how it went, for the materialization's metadata."""
        ...


def evidence(
    batch: MemoryBatch,
    pattern_id: str,
    pattern_type: str,
    keywords: Sequence[str],
    member_ids: Sequence[str],
    position: dict[str, int],
    limit: int = EVIDENCE_MEMBERS,
) -> PatternEvidence:
    """A pattern's evidence: its ``limit`` most central members present in the batch."""
    rows = [position[m] for m in member_ids if m in position]
    if rows:
        centroid = batch.vectors[rows].sum(axis=0)
        norm = float(np.linalg.norm(centroid))
        scores = batch.vectors[rows] @ (centroid / norm if norm else centroid)
        order = sorted(range(len(rows)), key=lambda j: (-float(scores[j]), batch.ids[rows[j]]))
        chosen = [(rows[j], float(scores[j])) for j in order[:limit]]
    else:
        chosen = []
    members = tuple(
        MemoryEvidence(
            id=batch.ids[r],
            content=batch.texts[r],
            memory_type=batch.memory_types[r],
            success=batch.success[r],
            goal=batch.goal(r),
            result=batch.result(r),
            feedback=batch.feedback(r),
            created_at=batch.created_at[r],
            centrality=round(score, 4),
        )
        for r, score in chosen
    )
    return PatternEvidence(pattern_id, pattern_type, tuple(keywords), members)


# Words of verdicts, status and review talk: a text made only of them (and stop words) tells
# another agent nothing it could act on.
_META_WORDS = content_words(
    "explanation explain provide provided incomplete complete enough information info detail "
    "details unclear clear answer response question task done finished success successful "
    "failed work good bad correct incorrect wrong right ok okay fine issue problem note noted "
    "looks lgtm agreed approved sure nice great thanks useful useless relevant irrelevant "
    "sufficient insufficient accurate inaccurate mistake follow-up later fixed resolved "
    "identified root cause qa ci checks green passed verified locally applied going forward "
    "opened pr ticket posted team reviewer comment"
)
# Words of a verdict or a status: with them, a text of few other words is a verdict.
_VERDICT_WORDS = content_words(
    "incomplete incorrect wrong correct lgtm good fine done fixed noted thanks agreed approved "
    "resolved passed green unclear ok okay insufficient inaccurate looks nice great useless "
    "identified complete"
)
_INSTRUCTION_START = re.compile(
    r"^(?:when|whenever|if|before|after|always|never|avoid|use|prefer|keep|make sure|ensure|"
    r"check|do|don't|do not|follow|watch out|apply|set|pin|run|add|remove|pass|wrap|call|"
    r"treat|expect|test|read|write|put|move|give|limit|retry)\b",
    re.IGNORECASE,
)
_PRESCRIPTIVE = re.compile(
    r"\b(?:always|never|avoid|must|should|prefer|instead of|make sure|ensure|don't|do not|"
    r"rather than|use|because|so that|otherwise|only if|whenever)\b",
    re.IGNORECASE,
)
_CAUSAL = re.compile(r"\b(?:because|since|so that|due to|caused by|which means|otherwise)\b", re.I)
_TRIGGER = re.compile(
    r"\b(?:error|exception|fail\w*|crash\w*|timeout|timed out|hang\w*|stuck|broke|broken|"
    r"blocked|flak\w*|died|refus\w*|denied|cannot|can't|unable|invalid|missing|leak\w*|"
    r"slow|oom\w*|out of memory|panic\w*|warn\w*|regress\w*|traceback|crashloop\w*)\b"
    r"|\w+(?:Error|Exception)\b|\b(?:HTTP )?[45]\d\d\b",
    re.IGNORECASE,
)
_FIX = re.compile(
    r"\b(?:fix\w*|added|adding|wrapped|raised|set|setting|switched|replaced|pinned|moved|"
    r"changed|pass|passing|use|using|used|reload\w*|increas\w*|lower\w*|disabled|enabled|"
    r"removed|upgraded|downgraded|retried|configured|resolved by|solved|works? now|now)\b",
    re.IGNORECASE,
)
_SUBJECT = re.compile(r"^(?:i|we|the agent|agent)\s+(?=\w)", re.IGNORECASE)
LESSON_TYPES = frozenset({"learning", "decision", "warning"})


def check_writer_choice(choice: str) -> None:
    """ValueError unless ``choice`` names a writer setting."""
    if choice not in WRITER_CHOICES:
        raise ValueError(f"writer must be one of {', '.join(WRITER_CHOICES)}, not {choice!r}")


def says_nothing_reusable(text: str | None) -> bool:
    """True for a text with nothing another agent could act on: a verdict on an answer
    ("the explanation is incomplete"), a status ("fixed", "noted for follow-up"), a thanks.

    Such a text commits to no detail (no path, number, identifier or code span) and either has
    at most two content words ("bed is empty") or is a verdict: a verdict word and fewer than
    two content words outside the vocabulary of verdicts and review talk.
    """
    if not text or not text.strip():
        return True
    if details(text):
        return False
    words = {w for w in content_words(text) if not w.isdigit()}
    if len(words) <= 2:
        return True
    return len(words - _META_WORDS) < 2 and bool(words & _VERDICT_WORDS)


def is_instruction(text: str) -> bool:
    """Whether a text reads as an instruction: it opens with a condition or an imperative."""
    return _INSTRUCTION_START.match(text.strip()) is not None


@dataclass
class ExtractiveWriter:
    """The default writer: chooses and frames sentences of the memories, invents nothing."""

    name: str = "extractive"
    counts: Counter[str] = field(default_factory=Counter)

    def metrics(self) -> dict[str, int | float]:
        return {f"writer_{k}": v for k, v in sorted(self.counts.items())}

    def principle(self, patterns: Sequence[PatternEvidence], said: Sequence[str] = ()) -> Draft:
        candidates = [
            c
            for c in _lesson_candidates(patterns)
            if not _ANAPHORA.match(c.text) and not any(c.text in s for s in said)
        ]
        best = candidates[0] if candidates else None
        if best is not None and best.reach >= max(2, (len(patterns) + 1) // 2):
            examples = _supporting_examples(candidates, best)
            text = _capitalized(best.text).rstrip(" .;") + "."
            if examples:
                quoted = "; ".join(f"“{shorten(_clean(c.text), 90)}”" for c in examples)
                text += f" Seen across {best.reach} of {len(patterns)} patterns, as in {quoted}."
            self.counts["principles_generalized"] += 1
            cited = [best.memory_id, *(c.memory_id for c in examples)]
            return Draft(shorten(text, STATEMENT_CHARS), tuple(dict.fromkeys(cited)), self.name)
        self.counts["principles_summarized"] += 1
        return self._summary(patterns, candidates)

    def _summary(self, patterns: Sequence[PatternEvidence], candidates: list[_Candidate]) -> Draft:
        """No sentence speaks for most patterns: say what they share and cite one lesson of
        each of the (up to three) largest patterns, or the opening of its most central memory
        where none of its sentences stands alone as a lesson."""
        best_per_pattern: dict[int, tuple[str, str]] = {}
        for candidate in candidates:
            best_per_pattern.setdefault(candidate.pattern, (candidate.text, candidate.memory_id))
        lessons = []
        for index, pattern in enumerate(patterns):
            usable = [m for m in pattern.members if not says_nothing_reusable(m.content)]
            if index in best_per_pattern:
                lessons.append(best_per_pattern[index])
            elif usable:
                opening = (sentences(usable[0].content) or [usable[0].content])[0]
                lessons.append((opening, usable[0].id))
        lessons = lessons[:3]
        kind = Counter(p.pattern_type for p in patterns).most_common(1)[0][0]
        head = f"{len(patterns)} related {_KIND_WORDS.get(kind, 'recurring')} patterns recur here"
        if not lessons:
            return Draft(head + "; none of their memories states a lesson yet.", (), self.name)
        cited = "; ".join(
            f"({n}) {shorten(_capitalized(_clean(text)), 110)}"
            for n, (text, _) in enumerate(lessons, 1)
        )
        return Draft(
            shorten(f"{head}; lessons from them: {cited}.", STATEMENT_CHARS),
            tuple(dict.fromkeys(memory_id for _, memory_id in lessons)),
            self.name,
        )

    def entry(self, pattern: PatternEvidence, category: str) -> Draft | None:
        usable = [m for m in pattern.members if not says_nothing_reusable(m.content)]
        if not usable:
            self.counts["entries_nothing_reusable"] += 1
            return None
        member = _advice_member(usable)
        if category == "troubleshooting":
            text = _known_fix(member)
        elif category == "gotchas":
            text = _warning(member)
        elif category == "architecture":
            text = _decision(member)
        elif category == "dependencies":
            text = _practice(member, "Check dependencies")
        else:
            text = _practice(member, "Follow this practice")
        self.counts[f"entries_{category}"] += 1
        return Draft(shorten(text, ENTRY_CHARS), (member.id,), self.name)


_KIND_WORDS = {
    "failure": "failure",
    "gotcha": "pitfall",
    "decision": "decision",
    "workflow": "workflow",
    "success": "practice",
}


def _vocabulary(pattern: PatternEvidence) -> frozenset[str]:
    words: set[str] = set()
    for member in pattern.members:
        words |= content_words(member.content)
    return frozenset(words)


def _detail_owners(patterns: Sequence[PatternEvidence]) -> dict[str, set[int]]:
    """For every detail (path, number, identifier) the patterns use, which patterns use it."""
    owners: dict[str, set[int]] = {}
    for index, pattern in enumerate(patterns):
        for member in pattern.members:
            for detail in details(member.content):
                owners.setdefault(detail, set()).add(index)
    return owners


def _lesson_sentences(member: MemoryEvidence) -> list[str]:
    parts = sentences(member.content) or [member.content.strip()]
    return [p for p in parts if 4 <= len(p.split()) <= 60]


_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")
_CLAUSE = re.compile("[;:]\\s+|\\s+[-\u2013\u2014]\\s+")


def _generalized(sentence: str, owners: dict[str, set[int]]) -> str | None:
    """The sentence without the parts that hold one pattern's specifics, or None when the
    specifics are its substance (nothing general would be left)."""

    def specific(text: str) -> bool:
        return any(len(owners.get(d, ())) <= 1 for d in details(text))

    kept = _PARENTHETICAL.sub(lambda m: "" if specific(m.group(0)) else m.group(0), sentence)
    clauses = [c for c in _CLAUSE.split(kept) if c.strip()]
    if len(clauses) > 1 and len(clauses[0].split()) <= 3:
        clauses = clauses[1:]
    general = [c for c in clauses if not specific(c)]
    if not general:
        return None
    text = "; ".join(c.strip() for c in general)
    if len(text.split()) < 4:
        return None
    return _SUBJECT.sub("", text).strip()


def _reach(sentence: str, vocabularies: Sequence[frozenset[str]], own: int) -> int:
    """How many patterns the sentence speaks for: its own, and every other whose members use
    at least two of its content words (or a third of them)."""
    words = content_words(sentence)
    if not words:
        return 1
    needed = min(2, len(words)) if len(words) < 6 else max(2, len(words) // 3)
    return sum(
        1 for i, vocab in enumerate(vocabularies) if i == own or len(words & vocab) >= needed
    )


@dataclass(frozen=True)
class _Candidate:
    """A sentence that might state a principle: its generalized text and where it is from."""

    score: float
    reach: int
    text: str
    original: str
    memory_id: str
    pattern: int


def _lesson_candidates(patterns: Sequence[PatternEvidence]) -> list[_Candidate]:
    """Every usable sentence of the patterns' members, generalized and scored, best first."""
    vocabularies = [_vocabulary(p) for p in patterns]
    owners = _detail_owners(patterns)
    found = []
    for index, pattern in enumerate(patterns):
        for member in pattern.members:
            if says_nothing_reusable(member.content):
                continue
            for sentence in _lesson_sentences(member):
                general = _generalized(sentence, owners)
                if general is None:
                    continue
                reach = _reach(general, vocabularies, index)
                score = _principle_score(general, member, reach, len(patterns))
                found.append(_Candidate(score, reach, general, sentence, member.id, index))
    found.sort(key=lambda c: (-c.score, c.memory_id, c.text))
    return found


def _principle_score(sentence: str, member: MemoryEvidence, reach: int, total: int) -> float:
    """Reach first; then the phrasing of a rule, the kinds of memory that state lessons, and
    a sentence that does not narrate one task ("Added ...", "Fixed ...")."""
    score = reach / total
    if _PRESCRIPTIVE.search(sentence):
        score += 0.3
    if _CAUSAL.search(sentence):
        score += 0.1
    if member.memory_type in LESSON_TYPES:
        score += 0.15
    if member.success is False:
        score -= 0.2
    if _NARRATION.match(sentence):
        score -= 0.2
    if _ANAPHORA.match(sentence):
        score -= 0.4
    if len(sentence.split()) > 35:
        score -= 0.1
    score -= 0.1 * min(len(details(sentence)), 3)
    return score + 0.05 * member.centrality


def _supporting_examples(candidates: list[_Candidate], best: _Candidate) -> list[_Candidate]:
    """Up to two lessons from other patterns than the chosen sentence's, best first."""
    seen = {best.pattern}
    chosen = []
    plain_first = sorted(candidates, key=lambda c: (len(details(c.text)), -c.score, c.memory_id))
    for candidate in plain_first:
        if candidate.pattern in seen or candidate.memory_id == best.memory_id:
            continue
        seen.add(candidate.pattern)
        chosen.append(candidate)
        if len(chosen) == 2:
            break
    return chosen


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _decapitalized(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


_PIECE_END = re.compile(r"(?<=[.;!?])\s+(?=\S)")
_FIXED_BY = re.compile(r"\s+(?:was |were |is |got )?(?:fixed|solved|resolved) by\s+", re.I)
# A sentence that leans on the one before it ("It still ran out of heap") says nothing alone.
_ANAPHORA = re.compile(
    r"^(?:it|its|this|that|these|those|they|there|then|so|but|and|also|now|still|same|here)\b",
    re.IGNORECASE,
)
_RESOLVED = re.compile(r"\b(?:no more|no longer|anymore|gone|now|fixed|works)\b", re.I)
_NARRATION = re.compile(
    r"^(?:added|wrapped|raised|replaced|moved|switched|changed|set|fixed|removed|retried|"
    r"turned|found|noticed|saw|tried|ran|bumped|pinned|upgraded|created|updated)\b",
    re.IGNORECASE,
)


def _pieces(text: str) -> list[str]:
    """Sentences and semicolon clauses, whatever case follows the stop; never inside a code
    span."""
    text = text.strip()
    pieces, start = [], 0
    for stop in _PIECE_END.finditer(text):
        if text.count("`", 0, stop.start()) % 2 == 0:
            pieces.append(text[start : stop.start()])
            start = stop.end()
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def _clean(text: str) -> str:
    return text.strip().rstrip(" .;:,")


def _substantive(text: str | None) -> bool:
    """A result or feedback that says more than a status ("fixed", "reviewer: LGTM")."""
    return bool(text) and not says_nothing_reusable(text) and len((text or "").split()) >= 8


def _situation(goal: str | None) -> str | None:
    """The task as a condition: "Migrate tests to httpx" gives "you migrate tests to httpx"."""
    if not goal or not goal.strip():
        return None
    return "you " + _decapitalized(_clean(goal))


def _known_fix(member: MemoryEvidence) -> str:
    """ "When <trigger>: <fix>". The trigger is the piece that names the error (or the
    feedback that does, or the task); the fix is the pieces that change something, or a
    result that says what was done."""
    parts = _pieces(member.content) or [member.content.strip()]
    trigger_at = next((i for i, p in enumerate(parts) if _is_trigger(p)), None)
    trigger: str | None = None
    fix_parts = list(parts)
    if trigger_at is not None:
        sentence = parts[trigger_at]
        split = _FIXED_BY.split(sentence, maxsplit=1)
        if len(split) == 2:
            trigger, fix_parts[trigger_at] = split[0], "Fix it by " + split[1]
        elif len(parts) > 1:
            trigger = sentence
            del fix_parts[trigger_at]
        if trigger is not None:
            trigger = "you see " + _decapitalized(_clean(trigger))
    if trigger is None and _substantive(member.feedback) and _is_trigger(member.feedback or ""):
        trigger = "you see " + _decapitalized(_clean(member.feedback or ""))
    if trigger is None:
        trigger = _situation(member.goal)
    fixes = [p for p in fix_parts if _FIX.search(p)] or fix_parts
    if _substantive(member.result) and not any(_FIX.search(p) for p in fix_parts):
        fixes = [*fixes, member.result or ""]
    fix = _joined(fixes)
    if trigger is None:
        return "Apply this known fix: " + fix
    return f"When {shorten(_clean(trigger), ENTRY_CHARS // 2)}: {fix}"


def _is_trigger(piece: str) -> bool:
    """A piece that names a symptom, not one that narrates a change or its good outcome."""
    return bool(_TRIGGER.search(piece)) and not (_NARRATION.match(piece) or _RESOLVED.search(piece))


def _joined(pieces: Sequence[str]) -> str:
    return " ".join(_capitalized(_clean(p)) + "." for p in pieces if _clean(p))


def _warning(member: MemoryEvidence) -> str:
    """ "Watch out: <what to avoid>. Why: <reason>", the reason from a causal piece or the
    piece after."""
    parts = _pieces(member.content) or [member.content.strip()]
    what = next(
        (p for p in parts if _PRESCRIPTIVE.search(p)),
        next((p for p in parts if _TRIGGER.search(p)), parts[0]),
    )
    rest = [p for p in parts if p != what]
    why = "" if _CAUSAL.search(what) else next((p for p in rest if _CAUSAL.search(p)), "")
    if not why and rest:
        why = rest[0]
    text = f"Watch out: {_clean(what)}."
    return f"{text} Why: {_joined([why])}" if why else text


def _decision(member: MemoryEvidence) -> str:
    """ "Follow the decision: <what>. Reason: <reason>", the reason from a causal piece, the
    rest of the memory or its feedback."""
    parts = _pieces(member.content) or [member.content.strip()]
    what = parts[0]
    rest = parts[1:]
    reason = next((p for p in rest if _CAUSAL.search(p)), rest[0] if rest else "")
    if not reason and _substantive(member.feedback):
        reason = member.feedback or ""
    text = f"Follow the decision: {_clean(what)}."
    if reason and not _CAUSAL.search(what):
        return f"{text} Reason: {_joined([reason])}"
    return text


def _practice(member: MemoryEvidence, lead: str) -> str:
    """The practice as an instruction: its prescriptive pieces first, narration last."""
    parts = _pieces(member.content) or [member.content.strip()]
    ordered = sorted(parts, key=lambda p: (not _PRESCRIPTIVE.search(p), bool(_NARRATION.match(p))))
    return f"{lead}: " + " ".join(_clean(p) + "." for p in ordered)


def _advice_member(members: Sequence[MemoryEvidence]) -> MemoryEvidence:
    """The member that best says what to do: one that worked, then one that states a rule,
    then the most central."""
    return min(
        members,
        key=lambda m: (
            m.success is not True,
            m.success is False,
            _PRESCRIPTIVE.search(m.content) is None,
            -m.centrality,
            m.id,
        ),
    )
