"""Does consolidated search find what an agent needs? Evidence recall on LoCoMo, beside raw search.

Run with `make bench-search` (with the latency table) or `python -m benchmarks.search
--retrieval-only`. Each of the three LoCoMo dev conversations becomes one project (see
benchmarks/locomo.py), consolidated through the real phases (``services.runner.run_all``); its
store is kept in ``benchmarks/results/retrieval.db``. For every answerable question and a
reading budget of 5, 10 and 20 memories it measures evidence recall, the share of the
question's evidence ``dia_id``\\ s that what was read covers:

- ``search``: ``KnowledgeBase.search`` with ``limit`` = the budget, every level;
- ``search, level 1``: the same with ``level=1``;
- ``context``: ``KnowledgeBase.context`` at the characters the budget's raw facts would take
  in context's own format (the header, plus the budget times the mean length of a fact's line);
- ``cosine``, ``BM25`` and their reciprocal-rank fusion (k = 60, 100 deep) over the raw facts,
  with the same model and the project's BM25, in the same run.

What a result covers. A merged memory covers the ``dia_id``\\ s of every source it absorbed, and
costs one place. A pattern, principle or playbook entry costs one place (in search) or its
characters (in context) and covers only the memories whose whole text it shows: the members
it lists but does not show are not read. A memory in context covers its sources the same way.

Settings are never judged on the data that chose them: for each conversation the search
settings are chosen on the other two (by their pooled recall at budget 10, over ``GRID``) and
measured on it. Those held-out figures are reported per conversation and pooled, beside the
in-sample figures of the shipped defaults (``SearchSettings()``), which were chosen on all
three conversations.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks import locomo
from consolidation_assets.phases.search import LexicalIndex, SearchSettings
from consolidation_assets.phases.text import shorten

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (5, 10, 20)
TUNING_BUDGET = 10
RRF_K = 60
RRF_DEPTH = 100
GRID = {
    "lexical": (0.5, 1.0, 1.5, 2.0),
    "specificity": (0.0, 0.25, 0.5),
    "time": (0.0, 0.15, 0.3),
    "task": (0.0, 0.25, 0.5),
}
_SPACE = re.compile(r"\s+")


@dataclass
class Project:
    """One consolidated conversation and what the benchmark reads of it."""

    conversation: locomo.Conversation
    question_vectors: np.ndarray
    fact_vectors: np.ndarray
    lexical: LexicalIndex
    line_chars: float

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.conversation.records]


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


class Evidence:
    """What a read covers: the ``dia_id``\\ s of the memories it shows or stands for."""

    def __init__(self, conversation: locomo.Conversation) -> None:
        self.dia_of = conversation.dia_of
        self.texts = {r["id"]: _normal(r["content"]) for r in conversation.records}

    def shown(self, text: str) -> set[str]:
        """The memories whose whole text ``text`` shows."""
        seen = _normal(text)
        return {memory_id for memory_id, own in self.texts.items() if own in seen}

    def dia_ids(self, memory_ids: set[str] | list[str]) -> set[str]:
        return {dia for m in memory_ids for dia in self.dia_of.get(m, ())}


def recall(evidence: frozenset[str], covered: set[str]) -> float:
    return len(evidence & covered) / len(evidence)


def search_covered(results: Sequence, evidence: Evidence) -> set[str]:
    """A level-1 result covers its sources; a higher one the memories its text shows."""
    memories: set[str] = set()
    for r in results:
        memories |= set(r.source_memory_ids) if r.level == 1 else evidence.shown(r.text)
    return evidence.dia_ids(memories)


def context_covered(context, evidence: Evidence) -> set[str]:
    """Memories in context cover their sources; entries, principles and patterns the memories
    whose text they show."""
    memories = {m for item in context.memories for m in item["memory_ids"]}
    for item in context.entries:
        memories |= evidence.shown(item["content"])
    for item in context.principles + context.patterns:
        memories |= evidence.shown(item["text"])
    return evidence.dia_ids(memories)


def context_budget(question: str, line_chars: float, budget: int) -> int:
    """The characters ``budget`` raw facts take in context's format, header included."""
    header = f"# Before you start: {shorten(question, 100)}\n\n## Memories\n"
    return round(len(header) + budget * line_chars)


def raw_rankings(project: Project, index: int) -> dict[str, list[int]]:
    """Cosine, BM25 and their reciprocal-rank fusion over the raw facts, best first."""
    question = project.conversation.questions[index]
    n = len(project.ids)
    cosines = project.fact_vectors @ project.question_vectors[index]
    bm25 = project.lexical.scores(question.text)
    cosine = np.lexsort((np.arange(n), -cosines)).tolist()
    lexical = [i for i in np.lexsort((np.arange(n), -bm25)).tolist() if bm25[i] > 0]
    fused: dict[int, float] = {}
    for ranking in (cosine[:RRF_DEPTH], lexical[:RRF_DEPTH]):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank)
    rrf = [item for item, _ in sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))]
    return {"cosine": cosine, "bm25": lexical, "rrf": rrf}


def raw_recalls(project: Project) -> dict[str, dict[int, list[float]]]:
    """Per raw retriever and budget, each question's evidence recall."""
    evidence = Evidence(project.conversation)
    ids = project.ids
    found: dict[str, dict[int, list[float]]] = {}
    for index, question in enumerate(project.conversation.questions):
        for name, ranking in raw_rankings(project, index).items():
            for budget in BUDGETS:
                covered = evidence.dia_ids([ids[i] for i in ranking[:budget]])
                found.setdefault(name, {}).setdefault(budget, []).append(
                    recall(question.evidence, covered)
                )
    return found


def tool_recalls(
    knowledge, project: Project, budgets: Sequence[int] = BUDGETS, tools: Sequence[str] = ()
) -> dict[str, dict[int, list[float]]]:
    """Per tool (search, search at level 1, context) and budget, each question's recall."""
    conversation = project.conversation
    evidence = Evidence(conversation)
    tools = tools or ("search", "search, level 1", "context")
    found: dict[str, dict[int, list[float]]] = {t: {b: [] for b in budgets} for t in tools}
    for question, vector in zip(conversation.questions, project.question_vectors, strict=True):
        for budget in budgets:
            for tool in tools:
                covered = _read(knowledge, tool, project, question.text, vector, budget, evidence)
                found[tool][budget].append(recall(question.evidence, covered))
    return found


def _read(knowledge, tool, project, text, vector, budget, evidence) -> set[str]:
    project_id = project.conversation.project_id
    if tool == "context":
        chars = context_budget(text, project.line_chars, budget)
        context = knowledge.context(text, project_id, budget_chars=chars, query_vector=vector)
        return context_covered(context, evidence)
    level = 1 if tool == "search, level 1" else None
    results = knowledge.search(text, project_id, level=level, limit=budget, query_vector=vector)
    return search_covered(results, evidence)


def prepare(store, embedder) -> list[Project] | None:
    """The conversations ingested and consolidated (a re-run reuses what is unchanged)."""
    from consolidation_assets.services.embedders import CachingEmbedder
    from consolidation_assets.services.memory_input import validate_memories
    from consolidation_assets.services.runner import run_all
    from consolidation_assets.store.memories import count_memories, insert_memories

    conversations = locomo.conversations()
    if conversations is None:
        return None
    cache = CachingEmbedder(embedder, store.engine)
    projects = []
    for conversation in conversations:
        if not count_memories(store.engine, conversation.project_id):
            insert_memories(store.engine, validate_memories(conversation.records, "locomo"))
        run_all(store, embedder, conversation.project_id)
        texts = [r["content"] for r in conversation.records]
        lines = [f"- {r['content']} `{r['id']}`\n" for r in conversation.records]
        projects.append(
            Project(
                conversation=conversation,
                question_vectors=embedder.encode([q.text for q in conversation.questions]),
                fact_vectors=cache.encode(texts),
                lexical=LexicalIndex(texts),
                line_chars=float(np.mean([len(line) for line in lines])),
            )
        )
    return projects


def grid() -> list[SearchSettings]:
    return [SearchSettings(*values) for values in itertools.product(*GRID.values())]


def choose(
    tuning: dict[SearchSettings, dict[str, list[float]]], names: Sequence[str]
) -> SearchSettings:
    """The settings with the best recall pooled over the conversations ``names`` (the first
    in grid order on a tie)."""
    return max(tuning, key=lambda s: np.mean([x for name in names for x in tuning[s][name]]))


def tune(knowledge_for: Callable, projects: list[Project]) -> dict:
    """Search recall at the tuning budget for every setting of the grid, per conversation."""
    tuning: dict[SearchSettings, dict[str, list[float]]] = {}
    for settings in grid():
        knowledge = knowledge_for(settings)
        tuning[settings] = {
            p.conversation.name: tool_recalls(knowledge, p, (TUNING_BUDGET,), ("search",))[
                "search"
            ][TUNING_BUDGET]
            for p in projects
        }
    return tuning


def measure(projects: list[Project], knowledge_for: Callable) -> dict:
    """Raw baselines, held-out tool figures (leave one conversation out) and in-sample ones."""
    names = [p.conversation.name for p in projects]
    raw = {p.conversation.name: raw_recalls(p) for p in projects}
    started = time.perf_counter()
    tuning = tune(knowledge_for, projects)
    tuning_seconds = time.perf_counter() - started
    held_out, chosen = {}, {}
    for project in projects:
        name = project.conversation.name
        settings = choose(tuning, [n for n in names if n != name])
        chosen[name] = asdict(settings)
        held_out[name] = tool_recalls(knowledge_for(settings), project)
    defaults = SearchSettings()
    in_sample = {p.conversation.name: tool_recalls(knowledge_for(defaults), p) for p in projects}
    best_pooled = choose(tuning, names)
    return {
        "conversations": {
            p.conversation.name: {
                "facts": len(p.conversation.records),
                "questions": len(p.conversation.questions),
                "ceiling": float(np.mean(_ceiling(p))),
            }
            for p in projects
        },
        "raw": raw,
        "held_out": held_out,
        "held_out_settings": chosen,
        "in_sample": in_sample,
        "defaults": asdict(defaults),
        "grid_best_pooled": asdict(best_pooled),
        "tuning_seconds": tuning_seconds,
    }


def _ceiling(project: Project) -> list[float]:
    """Each question's recall if every fact citing its evidence were read."""
    held = set().union(*project.conversation.dia_of.values())
    return [recall(q.evidence, held) for q in project.conversation.questions]


def pooled(per_conversation: dict[str, dict[str, dict[int, list[float]]]], name: str, budget: int):
    return float(np.mean([x for rows in per_conversation.values() for x in rows[name][budget]]))


def table(report: dict) -> str:
    """Evidence recall per budget: held-out and in-sample tools beside the raw retrievers."""
    raw, held, inside = report["raw"], report["held_out"], report["in_sample"]
    conversations = list(report["conversations"])
    lines = [
        "evidence recall (share of each question's evidence read), mean over questions",
        f"{'':34s}" + "".join(f"{f'budget {b}':>11s}" for b in BUDGETS),
    ]

    def row(label: str, source: dict, name: str, only: str | None = None) -> None:
        subset = {only: source[only]} if only else source
        values = "".join(f"{pooled(subset, name, b):11.3f}" for b in BUDGETS)
        lines.append(f"{label:34s}{values}")

    for only in [None, *conversations]:
        where = only or "pooled"
        lines.append(f"-- {where}")
        for name, label in (("cosine", "cosine, raw facts"), ("bm25", "BM25, raw facts")):
            row(label, raw, name, only)
        row("RRF(cosine, BM25), raw facts", raw, "rrf", only)
        for tool in ("search", "search, level 1", "context"):
            row(f"{tool} (held out)", held, tool, only)
        for tool in ("search", "search, level 1", "context"):
            row(f"{tool} (in sample)", inside, tool, only)
    best = {b: max(pooled(raw, n, b) for n in ("cosine", "bm25", "rrf")) for b in BUDGETS}
    lines.append("-- held out against the best raw retriever")
    for tool in ("search", "search, level 1", "context"):
        ratios = "".join(f"{pooled(held, tool, b) / best[b]:10.3f}x" for b in BUDGETS)
        lines.append(f"{tool:34s}{ratios}")
    lines.append(f"settings chosen per held-out conversation: {report['held_out_settings']}")
    lines.append(f"shipped defaults (in sample): {report['defaults']}")
    topics = report.get("sample_topics")
    if topics:
        lines.append(
            f"sample projects, {topics['topics']} topics, recall within 10 (not tuned on): "
            f"search, level 1 {topics['search, level 1']:.3f}, raw cosine "
            f"{topics['cosine']:.3f}, raw BM25 {topics['bm25']:.3f}"
        )
    return "\n".join(lines)


def sample_topics(store, embedder) -> dict[str, dict[str, float]]:
    """Topic search on the bundled sample projects, a corpus nothing was tuned on: the query
    is a topic's name from the answer key (``db connection pool exhaustion``), the evidence its
    memories; recall within 10 results, search at level 1 and raw cosine and BM25."""
    from consolidation_assets.services.agent_tools import KnowledgeBase
    from consolidation_assets.services.embedders import CachingEmbedder
    from consolidation_assets.services.memory_input import parse_jsonl
    from consolidation_assets.services.runner import run_all
    from consolidation_assets.store.memories import count_memories, insert_memories

    root = Path(__file__).resolve().parent.parent
    key = json.loads((root / "tests" / "data" / "sample_answer_key.json").read_text())
    knowledge = KnowledgeBase(store, embedder)
    cache = CachingEmbedder(embedder, store.engine)
    found: dict[str, list[float]] = {"search, level 1": [], "cosine": [], "bm25": []}
    for project, truth in key["projects"].items():
        path = root / "consolidation_assets" / "sample_data" / f"{project}.jsonl"
        if not count_memories(store.engine, project):
            insert_memories(store.engine, parse_jsonl(path.read_bytes(), str(path)))
        run_all(store, embedder, project)
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        ids = np.array([r["id"] for r in records])
        vectors = cache.encode([r["content"] for r in records])
        lexical = LexicalIndex([r["content"] for r in records])
        for topic, facts in truth["topics"].items():
            query, wanted = topic.replace("-", " "), set(facts["memory_ids"])
            vector = embedder.encode([query])[0]
            results = knowledge.search(query, project, level=1, limit=10, query_vector=vector)
            bm25 = lexical.scores(query)
            read = {
                "search, level 1": {m for r in results for m in r.source_memory_ids},
                "cosine": set(ids[np.argsort(-(vectors @ vector), kind="stable")[:10]]),
                "bm25": set(ids[[i for i in np.argsort(-bm25, kind="stable")[:10] if bm25[i]]]),
            }
            for name, memories in read.items():
                found[name].append(len(memories & wanted) / len(wanted))
    return {name: float(np.mean(values)) for name, values in found.items()} | {
        "topics": len(found["cosine"])
    }


def run(database: Path) -> dict | None:
    """Prepare the projects in ``database`` and measure; None when the data is absent."""
    from consolidation_assets.services.agent_tools import KnowledgeBase
    from consolidation_assets.services.embedders import make_embedder
    from consolidation_assets.store import MemoryStore

    store = MemoryStore(f"sqlite:///{database}")
    embedder = make_embedder()
    projects = prepare(store, embedder)
    if projects is None:
        return None

    def knowledge_for(settings: SearchSettings) -> KnowledgeBase:
        return KnowledgeBase(store, embedder, search_settings=settings)

    return measure(projects, knowledge_for) | {"sample_topics": sample_topics(store, embedder)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "retrieval.json")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    report = run(RESULTS / "retrieval.db")
    if report is None:
        print(f"retrieval: skipped, {locomo.path()} is absent")
        return 0
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"{report['seconds']} s (grid: {report['tuning_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
