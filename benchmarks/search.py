"""Search and task context: whether they find the evidence, and how fast, on this machine.

Run with `make bench-search`. First the retrieval benchmark (benchmarks/retrieval.py): evidence
recall on the LoCoMo dev conversations, beside cosine, BM25 and their fusion over the raw facts,
in a few minutes; `--retrieval-only` stops there. Then latency (`--latency-only` for that
alone, `--size 10000` for a smaller project). The latency project is
built by benchmarks/corpus.py, as in the scale benchmark, and consolidated once; its store is
kept in `benchmarks/results/search-<size>.db`, so a second run only measures. It reports:

- load: building the project's search index in a fresh process (catalogue read, vector and
  BM25 indexes), with the model already loaded;
- query embedding: one query at a time through the model, as an agent's call pays it;
- search: `KnowledgeBase.search` with the query already embedded, over at least 1,000 queries;
- context: `KnowledgeBase.context` the same way;
- p50, p95 and p99 of each, and the peak resident memory.

The queries mix three kinds agents send: the first words of a memory, a few of its keywords,
and an exact identifier (a file path or a code) taken from it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT = "bench"
_IDENTIFIER = re.compile(r"[\w.-]+/[\w./-]+|\b[A-Z][A-Z0-9]*[-_][A-Z0-9_]+\b|\b\w+\.\w{2,4}\b")


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.array(samples) * 1000
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
    }


def queries_from(texts: list[str], count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    chosen: list[str] = []
    while len(chosen) < count:
        text = rng.choice(texts)
        words = text.split()
        kind = len(chosen) % 3
        if kind == 0:
            chosen.append(" ".join(words[: rng.randint(6, 12)]))
        elif kind == 1:
            content = [w.strip(".,;:`'\"()") for w in words if len(w) > 4]
            if len(content) >= 3:
                chosen.append(" ".join(rng.sample(content, 3)))
        else:
            found = _IDENTIFIER.findall(text)
            if found:
                chosen.append(rng.choice(found))
    return chosen


def prepare(size: int, database: Path) -> None:
    """The project stored and consolidated (skipped when the database already holds it)."""
    from benchmarks.corpus import base_texts, project_memories
    from consolidation_assets.engine import ConsolidationEngine
    from consolidation_assets.services import settings
    from consolidation_assets.services.embedders import make_embedder
    from consolidation_assets.services.memory_input import parse_jsonl
    from consolidation_assets.store.knowledge import project_figures
    from consolidation_assets.store.memories import count_memories, insert_memories

    store = settings.memory_store()
    if count_memories(store.engine, PROJECT) == size:
        figures = project_figures(store.engine, PROJECT)
        if figures["last_run"] and figures["last_run"]["status"] == "completed":
            return
    elif count_memories(store.engine, PROJECT):
        raise SystemExit(f"{database} holds another project size; delete it first")
    else:
        rows = project_memories(PROJECT, size, bases=base_texts())
        data = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
        insert_memories(store.engine, parse_jsonl(data, "bench"))
    print(f"consolidating {size} memories once (cold: several minutes at 100,000) ...", flush=True)
    result = ConsolidationEngine(store, make_embedder(), PROJECT).execute()
    if result.status.value != "completed":
        raise SystemExit(f"consolidation failed: {result.error_message}")


def measure(size: int, count: int) -> dict:
    from consolidation_assets.services import settings
    from consolidation_assets.services.agent_tools import KnowledgeBase
    from consolidation_assets.services.embedders import make_embedder
    from consolidation_assets.store.memories import load_memories

    store = settings.memory_store()
    embedder = make_embedder()
    embedder.encode(["load the model before timing"])
    knowledge = KnowledgeBase(store, embedder)

    started = time.perf_counter()
    index = knowledge.index(PROJECT)
    load_seconds = time.perf_counter() - started

    texts = load_memories(store.engine, PROJECT).texts
    queries = queries_from(texts, count)
    embed_times = []
    for query in queries[:200]:
        started = time.perf_counter()
        embedder.encode([query])
        embed_times.append(time.perf_counter() - started)
    vectors = embedder.encode(queries)

    for query, vector in zip(queries[:20], vectors[:20], strict=True):
        knowledge.search(query, PROJECT, query_vector=vector)
    search_times, context_times, hits = [], [], 0
    for query, vector in zip(queries, vectors, strict=True):
        started = time.perf_counter()
        results = knowledge.search(query, PROJECT, limit=10, query_vector=vector)
        search_times.append(time.perf_counter() - started)
        hits += bool(results)
    for query, vector in zip(queries, vectors, strict=True):
        started = time.perf_counter()
        knowledge.context(query, PROJECT, query_vector=vector)
        context_times.append(time.perf_counter() - started)
    levels = np.bincount(index.catalogue.levels, minlength=4)[1:].tolist()
    return {
        "memories": size,
        "queries": len(queries),
        "queries_with_results": hits,
        "items": {"memories": levels[0], "patterns": levels[1], "principles": levels[2]},
        "playbook_entries": len(index.playbook.ids),
        "load_seconds": load_seconds,
        "query_embedding": percentiles(embed_times),
        "search": percentiles(search_times),
        "context": percentiles(context_times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--retrieval-only", action="store_true", help="evidence recall alone")
    only.add_argument("--latency-only", action="store_true", help="latency at --size alone")
    args = parser.parse_args(argv)
    if not args.latency_only:
        # In a process of its own, so that the latency part below starts fresh (its index
        # load and peak memory are those of a process that did nothing else).
        done = subprocess.run([sys.executable, "-m", "benchmarks.retrieval"], check=False)
        if args.retrieval_only or done.returncode:
            return done.returncode
    from benchmarks.corpus import base_texts

    if not base_texts():
        print("search: the coding-agent rules and agent streams are absent from ../shared/data")
        return 1
    RESULTS.mkdir(exist_ok=True)
    database = RESULTS / f"search-{args.size}.db"
    os.environ["CONSOLIDATION_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["DAGSTER_HOME"] = str(RESULTS / f"search-{args.size}-dagster")
    prepare(args.size, database)
    row = measure(args.size, args.queries)
    (RESULTS / f"search-{args.size}.json").write_text(json.dumps(row, indent=2))
    print(
        f"\n{row['memories']} memories: {row['items']['memories']} level-1 items, "
        f"{row['items']['patterns']} patterns, {row['items']['principles']} principles, "
        f"{row['playbook_entries']} active entries; {row['queries']} queries, "
        f"{row['queries_with_results']} with results"
    )
    print(f"index load: {row['load_seconds']:.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB")
    print(f"{'':18s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}")
    for name in ("query_embedding", "search", "context"):
        p = row[name]
        print(
            f"{name:18s} {p['p50_ms']:8.2f} {p['p95_ms']:8.2f} {p['p99_ms']:8.2f} "
            f"{p['mean_ms']:8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
