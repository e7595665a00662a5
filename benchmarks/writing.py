"""The text quality of principles and playbook entries, on real and sample memories.

Run with `make bench-writing` (or `python -m benchmarks.writing --quick` for the sample projects
only). Each corpus is one project in a fresh SQLite store, ingested with the project's own ingest
code and consolidated with `run_all`; the stored principles and entries are then read back and
scored. One table is printed and written to benchmarks/results/writing.json:

- principles_verbatim: the share of principles whose statement (less a short leading label and
  a trailing ellipsis) is one memory, or one of its sentences, copied verbatim: a quotation,
  not a principle;
- principles_specific, entries_specific: the share that carries a detail (path, number,
  identifier) only one of its patterns (for an entry from one pattern: only one of its memories)
  uses: a specific passed off as general;
- principles_on_topic: the share of a principle's own patterns that are closer to its statement
  than the patterns of its sibling principles are on average, averaged over principles;
- entries_instruction: the share of active entries that read as an instruction;
- entries_from_nothing_reusable: the share of active entries that repeat a memory saying nothing
  reusable ("the explanation is incomplete").

The corpora: the three bundled sample projects, each Generative Agents memory stream (one
project per agent) and a fixed sample of the coding-agent rule bullets, from ../shared/data
(CONSOLIDATION_SHARED_DATA). An absent corpus is skipped, except under CI=true, where it fails.
`--label` names the code measured (before, after) and `--compare FILE` adds a table of a
previous result beside this one. The script also runs by path, against whatever
`consolidation_assets` PYTHONPATH selects:
`PYTHONPATH=../other python benchmarks/writing.py --label other --out /tmp/other.json`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from consolidation_assets.phases.playbook import EntryState
    from consolidation_assets.phases.types import Pattern, Principle
    from consolidation_assets.services.embedders import Embedder
    from consolidation_assets.store import MemoryStore

if __package__ in (None, ""):
    # Run by path: make `benchmarks` importable without putting this repository's package ahead
    # of the one PYTHONPATH selects, and keep benchmarks/datasets.py from shadowing the
    # Hugging Face `datasets` package the model loader may look for.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _here]
    sys.path.append(str(_here.parent))

RESULTS = Path(__file__).resolve().parent / "results"
RULES_SAMPLE = 1_500
RULES_SEED = 0
AGENT_TYPES = {"thought": "learning", "event": "discovery", "chat": "discovery"}
MAX_LABEL_WORDS = 6
MIN_PREFIX_CHARS = 30
MIN_LEAD_WORDS = 3
OLD_WRITER = "extractive-v1"
EXAMPLES = 5


@dataclass(frozen=True)
class Corpus:
    """One project's memories, as records in the ingest contract's shape."""

    name: str
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Consolidated:
    """What a project's run left in the store, as the metrics read it."""

    memories: dict[str, str]
    patterns: dict[str, Pattern]
    principles: list[Principle]
    entries: list[EntryState]


# Corpora


def sample_corpora() -> list[Corpus]:
    """The bundled sample projects of the package under test."""
    import consolidation_assets

    folder = Path(consolidation_assets.__file__).resolve().parent / "sample_data"
    corpora = []
    for path in sorted(folder.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        corpora.append(Corpus(path.stem, [json.loads(line) for line in lines if line.strip()]))
    return corpora


def agent_corpora() -> list[Corpus] | None:
    """One project per Generative Agents stream: thoughts as learnings, events and chats as
    discoveries (each stream is under 1,000 memories)."""
    from benchmarks import datasets

    streams = datasets.agent_streams()
    if not streams:
        return None
    corpora = []
    for agent, nodes in streams.items():
        project = "ga-" + agent.lower().replace("_", "-")
        records = [
            {
                "id": f"{project}-{node['node_id']}",
                "project_id": project,
                "memory_type": AGENT_TYPES.get(node["type"], "discovery"),
                "content": node["description"].strip(),
                "created_at": node["created"].replace(" ", "T") + "Z",
            }
            for node in nodes
            if node.get("description", "").strip()
        ]
        corpora.append(Corpus(project, records))
    return corpora


def rules_corpus(count: int = RULES_SAMPLE, seed: int = RULES_SEED) -> list[Corpus] | None:
    """A fixed random sample of the coding-agent rule bullets, as learnings."""
    from benchmarks import datasets

    path = datasets.SHARED_DATA / "cursorrules_coding_agent_rules" / "rule_bullets.jsonl"
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        bullets = [json.loads(line) for line in f if line.strip()]
    chosen = random.Random(seed).sample(bullets, min(count, len(bullets)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        {
            "id": f"rules-{i:05d}",
            "project_id": "cursorrules",
            "memory_type": "learning",
            "content": bullet["text"].strip(),
            "created_at": (start + timedelta(minutes=i)).isoformat(),
        }
        for i, bullet in enumerate(chosen)
    ]
    return [Corpus("cursorrules", records)]


def corpora(quick: bool, strict: bool) -> list[Corpus]:
    """The corpora to measure; a shared one that is absent is skipped, or fails when strict."""
    from benchmarks import datasets

    chosen = sample_corpora()
    if quick:
        return chosen
    shared: list[tuple[str, Callable[[], list[Corpus] | None]]] = [
        ("generative_agents_memory", agent_corpora),
        ("cursorrules_coding_agent_rules", rules_corpus),
    ]
    for name, load in shared:
        found = load()
        if found is None:
            message = f"writing: {name} is absent from {datasets.SHARED_DATA}"
            if strict:
                raise SystemExit(message)
            print(message + "; skipped")
            continue
        chosen += found
    return chosen


# Running


def consolidate(store: MemoryStore, embedder: Embedder, corpus: Corpus) -> Consolidated:
    """Ingest the corpus as the CLI does, run every phase, and read the outputs back."""
    from consolidation_assets.services.ingest import store_memories
    from consolidation_assets.services.memory_input import parse_jsonl
    from consolidation_assets.services.runner import run_all
    from consolidation_assets.store.outputs import load_output

    data = ("\n".join(json.dumps(r) for r in corpus.records) + "\n").encode()
    store_memories(store.engine, parse_jsonl(data, corpus.name), corpus.name)
    run_all(store, embedder, corpus.name)
    engine = store.engine
    return Consolidated(
        memories={r["id"]: r["content"] for r in corpus.records},
        patterns={p.id: p for p in load_output(engine, "patterns", corpus.name)},
        principles=load_output(engine, "principles", corpus.name),
        entries=[
            e for e in load_output(engine, "playbook_entries", corpus.name) if e.status == "active"
        ],
    )


# Metrics


def without_label(text: str) -> str:
    """The statement without a leading label ("Connection pool: ...") of at most six words and
    without a trailing ellipsis, the frame a writer may put around a copied sentence."""
    head, colon, rest = text.partition(": ")
    if colon and len(head.split()) <= MAX_LABEL_WORDS:
        text = rest
    return text.strip().removesuffix("…").removesuffix("...").strip()


class VerbatimIndex:
    """Every memory's whole normalized text and normalized sentences, for exact and prefix
    look-ups (a sentence shortened with an ellipsis is still a copy)."""

    def __init__(self, texts: Iterable[str]) -> None:
        from consolidation_assets.phases.text import normalize, sentences

        found: set[str] = set()
        for text in texts:
            found.add(normalize(text))
            found.update(normalize(s) for s in sentences(text))
        found.discard("")
        self.exact = found
        self.ordered = sorted(found)

    def holds(self, text: str) -> bool:
        """Whether ``text`` (normalized) is a memory, a sentence of one, or a long prefix."""
        if text in self.exact:
            return True
        if len(text) < MIN_PREFIX_CHARS:
            return False
        at = bisect.bisect_left(self.ordered, text)
        return at < len(self.ordered) and self.ordered[at].startswith(text)


def is_verbatim(statement: str, index: VerbatimIndex) -> bool:
    """Whether the statement is a memory's sentence copied, under at most a short label."""
    from consolidation_assets.phases.text import normalize

    return index.holds(normalize(without_label(statement)))


def has_one_group_detail(text: str, groups: Sequence[frozenset[str]]) -> bool:
    """Whether ``text`` commits to a detail that exactly one of ``groups`` (the details of each
    pattern, or of each memory) uses: a specific, not something the groups share."""
    from consolidation_assets.phases.text import details

    return any(sum(d in g for g in groups) == 1 for d in details(text))


def pattern_details(pattern: Pattern, memories: dict[str, str]) -> frozenset[str]:
    """Every detail the pattern's member memories use."""
    from consolidation_assets.phases.text import details

    found: set[str] = set()
    for memory_id in pattern.member_ids:
        found |= details(memories.get(memory_id, ""))
    return frozenset(found)


def principle_specific(principle: Principle, owned: dict[str, frozenset[str]]) -> bool:
    """Whether the statement carries a detail of only one of the principle's patterns;
    ``owned`` holds every pattern's details."""
    groups = [owned[pid] for pid in principle.pattern_ids if pid in owned]
    return has_one_group_detail(principle.statement, groups)


def entry_specific(entry: EntryState, run: Consolidated, owned: dict[str, frozenset[str]]) -> bool:
    """Whether the entry carries a specific: of one of its principles' patterns, or, for an
    entry from one pattern, of one of that pattern's memories."""
    from consolidation_assets.phases.text import details

    principles = {p.id: p for p in run.principles}
    sources = [principles[p] for p in entry.source_principle_ids if p in principles]
    pattern_ids = {pid for p in sources for pid in p.pattern_ids} if sources else set()
    if not entry.source_principle_ids:
        pattern_ids = set(entry.source_pattern_ids)
    pattern_ids &= owned.keys()
    if len(pattern_ids) == 1 and not entry.source_principle_ids:
        members = run.patterns[next(iter(pattern_ids))].member_ids
        groups = [details(run.memories.get(m, "")) for m in members]
    else:
        groups = [owned[pid] for pid in sorted(pattern_ids)]
    return has_one_group_detail(entry.content, groups)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def on_topic_shares(run: Consolidated, statement_vectors: np.ndarray) -> list[float]:
    """Per principle, the share of its own patterns closer to its statement than the mean
    cosine to its same-level siblings' patterns; principles without siblings are left out."""
    vectors = _unit(statement_vectors)
    shares = []
    for principle, vector in zip(run.principles, vectors, strict=True):
        own = [p for p in principle.pattern_ids if p in run.patterns]
        others = {
            pid
            for sibling in run.principles
            if sibling.level == principle.level and sibling.id != principle.id
            for pid in sibling.pattern_ids
            if pid in run.patterns
        } - set(own)
        if not own or not others:
            continue
        centroid = {pid: _unit(run.patterns[pid].centroid) for pid in (*own, *others)}
        baseline = float(np.mean([centroid[pid] @ vector for pid in others]))
        shares.append(float(np.mean([centroid[pid] @ vector > baseline for pid in own])))
    return shares


def nothing_reusable_leads(memories: Iterable[str]) -> set[str]:
    """The normalized first sentences (three words or more) of memories saying nothing
    reusable."""
    from consolidation_assets.phases.text import normalize, sentences
    from consolidation_assets.phases.writing import says_nothing_reusable

    leads = set()
    for text in memories:
        if not says_nothing_reusable(text):
            continue
        first = normalize((sentences(text) or [text])[0])
        if len(first.split()) >= MIN_LEAD_WORDS:
            leads.add(first)
    return leads


def share(hits: float, total: int) -> float | None:
    """``hits / total``, or None when there was nothing to count (no principles, no entries)."""
    return hits / total if total else None


def score(run: Consolidated, embedder: Embedder) -> dict[str, Any]:
    """Every metric of one consolidated project, with the counts behind each share."""
    from consolidation_assets.phases.text import normalize
    from consolidation_assets.phases.writing import is_instruction

    index = VerbatimIndex(run.memories.values())
    owned = {pid: pattern_details(p, run.memories) for pid, p in run.patterns.items()}
    statements = [p.statement for p in run.principles]
    vectors = embedder.encode(statements) if statements else np.zeros((0, 1))
    on_topic = on_topic_shares(run, vectors)
    leads = nothing_reusable_leads(run.memories.values())
    counts = {
        "principles_verbatim": sum(is_verbatim(s, index) for s in statements),
        "principles_specific": sum(principle_specific(p, owned) for p in run.principles),
        "principles_on_topic": sum(on_topic),
        "entries_specific": sum(entry_specific(e, run, owned) for e in run.entries),
        "entries_instruction": sum(is_instruction(e.content) for e in run.entries),
        "entries_from_nothing_reusable": sum(
            any(lead in normalize(e.content) for lead in leads) for e in run.entries
        ),
    }
    return {
        "memories": len(run.memories),
        "patterns": len(run.patterns),
        "principles": len(run.principles),
        "principles_on_topic_n": len(on_topic),
        "entries": len(run.entries),
        "nothing_reusable_leads": len(leads),
        "counts": counts,
        **shares_of(counts, len(run.principles), len(on_topic), len(run.entries)),
        "writers": {
            "principles": dict(Counter(getattr(p, "writer", OLD_WRITER) for p in run.principles)),
            "entries": dict(Counter(getattr(e, "writer", OLD_WRITER) for e in run.entries)),
        },
        "examples": {
            "principles": statements[:EXAMPLES],
            "entries": [e.content for e in run.entries[:EXAMPLES]],
        },
    }


def shares_of(counts: dict[str, float], principles: int, on_topic: int, entries: int) -> dict:
    """Each metric's share from its count and the number of items it was counted over."""
    totals = {
        "principles_verbatim": principles,
        "principles_specific": principles,
        "principles_on_topic": on_topic,
        "entries_specific": entries,
        "entries_instruction": entries,
        "entries_from_nothing_reusable": entries,
    }
    return {name: share(counts[name], total) for name, total in totals.items()}


def pooled(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """All corpora together: every share over all principles or entries at once."""
    total = {
        key: sum(r[key] for r in rows.values())
        for key in ("memories", "patterns", "principles", "principles_on_topic_n", "entries")
    }
    counts = {
        name: sum(r["counts"][name] for r in rows.values())
        for name in next(iter(rows.values()))["counts"]
    }
    writers: dict[str, Counter[str]] = {"principles": Counter(), "entries": Counter()}
    for row in rows.values():
        for kind, found in row["writers"].items():
            writers[kind].update(found)
    return {
        **total,
        "counts": counts,
        **shares_of(counts, total["principles"], total["principles_on_topic_n"], total["entries"]),
        "writers": {kind: dict(found) for kind, found in writers.items()},
    }


# Report

COLUMNS = (
    ("principles_verbatim", "verbatim"),
    ("principles_specific", "specific"),
    ("principles_on_topic", "on topic"),
    ("entries_specific", "entries specific"),
    ("entries_instruction", "instruction"),
    ("entries_from_nothing_reusable", "from nothing reusable"),
)


def _share_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _writers_text(writers: dict[str, int]) -> str:
    return ", ".join(f"{name} ({count})" for name, count in sorted(writers.items())) or "none"


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The results as one Markdown table, a row per corpus and one for all together."""
    from consolidation_assets.phases.text import markdown_table

    header = ["corpus", "memories", "principles", *(c for _, c in COLUMNS[:3]), "active entries"]
    header += [c for _, c in COLUMNS[3:]] + ["principle writers"]
    body = []
    for name, row in rows.items():
        shares = [_share_text(row[key]) for key, _ in COLUMNS]
        shares[2] += f" ({row['principles_on_topic_n']})"
        body.append(
            [
                f"**{name}**" if name == "all" else name,
                f"{row['memories']:,}",
                f"{row['principles']:,}",
                *shares[:3],
                f"{row['entries']:,}",
                *shares[3:],
                _writers_text(row["writers"]["principles"]),
            ]
        )
    return markdown_table(header, body)


def comparison(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """A previous result beside this one: each share as previous → current, per corpus."""
    from consolidation_assets.phases.text import markdown_table

    header = ["corpus", *(c for _, c in COLUMNS)]
    body = []
    for name, row in current["corpora"].items():
        old = previous["corpora"].get(name)
        if old is None:
            continue
        cells = [f"{_share_text(old[key])} → {_share_text(row[key])}" for key, _ in COLUMNS]
        body.append([name, *cells])
    title = f"{previous.get('label', 'previous')} → {current.get('label', 'current')}"
    return title + "\n\n" + markdown_table(header, body)


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def embedding_cache() -> Path:
    """The benchmark's embedding cache for the schema of the code under test: one file per
    migration head, since a store migrated by newer code cannot be opened by older code."""
    from alembic.script import ScriptDirectory

    import consolidation_assets.store

    migrations = Path(consolidation_assets.store.__file__).resolve().parent / "migrations"
    head = ScriptDirectory(str(migrations)).get_current_head()
    return RESULTS / f"writing-embeddings-{head}.db"


def measure(chosen: Sequence[Corpus]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Every corpus consolidated in one fresh store. Embeddings also go through a persistent
    cache, so a second run of the same corpora embeds only the texts the code under test
    writes differently."""
    from consolidation_assets.services.embedders import (
        CachingEmbedder,
        SentenceTransformerEmbedder,
    )
    from consolidation_assets.store import MemoryStore

    RESULTS.mkdir(exist_ok=True)
    cache = MemoryStore(f"sqlite:///{embedding_cache()}")
    embedder = CachingEmbedder(SentenceTransformerEmbedder(), cache.engine)
    rows, seconds = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-writing-") as folder:
        store = MemoryStore(f"sqlite:///{Path(folder) / 'writing.db'}")
        for corpus in chosen:
            started = time.perf_counter()
            print(f"{corpus.name}: {len(corpus.records)} memories ...", flush=True)
            rows[corpus.name] = score(consolidate(store, embedder, corpus), embedder)
            seconds[corpus.name] = round(time.perf_counter() - started, 1)
    return rows, seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the sample projects only")
    parser.add_argument("--label", default="current", help="names the code measured")
    parser.add_argument("--out", type=Path, default=RESULTS / "writing.json")
    parser.add_argument("--compare", type=Path, help="a previous result to print beside this")
    args = parser.parse_args(argv)
    import consolidation_assets

    package = Path(consolidation_assets.__file__).resolve().parent
    print(f"measuring consolidation_assets at {package}", flush=True)
    chosen = corpora(args.quick, strict=os.environ.get("CI", "").lower() == "true")
    started = time.perf_counter()
    rows, seconds = measure(chosen)
    rows["all"] = pooled(rows)
    report = {
        "label": args.label,
        "package": str(package),
        "machine": machine(),
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
        "corpus_seconds": seconds,
        "corpora": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\n{args.label}: {report['machine']}, {report['seconds']} s\n")
    print(table(rows))
    if args.compare:
        print("\n" + comparison(json.loads(args.compare.read_text()), report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
