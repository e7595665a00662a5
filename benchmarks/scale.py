"""Consolidation at 1,000, 10,000 and 100,000 memories in one project, on this machine.

Run with `make bench-scale` (or `python -m benchmarks.scale --sizes 1000 10000`). Each size runs
in its own process, so its peak resident memory is its own, against a fresh SQLite memory store
and a fresh Dagster instance. It measures:

- ingest: memories a second through the same validation and bulk insert as `consolidation ingest`;
- pure embedding: the distinct texts through the same model, batch size and chunks, with no
  cache or database, under PyTorch (in a process of its own, so its memory is not counted
  against the run's) and under the default runtime (ONNX Runtime where it applies);
- cold run: `ConsolidationEngine.execute` with an empty embedding cache, on the default runtime;
- warm re-run: the same again with nothing new;
- incremental run: after ingesting 1% more memories;
- each phase's seconds in the cold and incremental runs, and the peak resident memory.

The memories are built by benchmarks/corpus.py from the coding-agent rules and the Generative
Agents streams in ../shared/data; the benchmark stops with a message if they are absent.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from consolidation_assets.phases.registry import PHASE_NAMES

RESULTS = Path(__file__).resolve().parent / "results"


def distinct_texts(size: int) -> list[str]:
    """The distinct texts of a project of ``size`` memories, as the run will see them."""
    from benchmarks.corpus import base_texts, project_memories

    records = project_memories("bench", size, bases=base_texts())
    return list(dict.fromkeys(r["content"] for r in records))


def pure_embedding(runtime: str, texts: list[str]) -> float:
    """Seconds to embed ``texts`` on ``runtime``, chunk by chunk as a run does, model loaded."""
    from consolidation_assets.services.embedders import EMBED_CHUNK, make_embedder

    embedder = make_embedder(runtime=runtime)
    embedder.encode(["load the model before timing"])
    started = time.perf_counter()
    for start in range(0, len(texts), EMBED_CHUNK):
        embedder.encode(texts[start : start + EMBED_CHUNK])
    return time.perf_counter() - started


def torch_embedding(size: int, workdir: Path) -> float:
    """PyTorch's pure embedding time in a process of its own; it also makes the ONNX export
    (untimed), so the measured process never loads PyTorch."""
    out = workdir / "torch.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--torch-only", str(size), "--out", str(out)],
        check=True,
    )
    return float(json.loads(out.read_text())["torch_embedding_seconds"])


def measure(size: int, workdir: Path) -> dict:
    """Everything for one size, in this process."""
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster_home")
    os.environ["CONSOLIDATION_DATABASE_URL"] = f"sqlite:///{workdir / 'memories.db'}"
    os.environ.setdefault("CONSOLIDATION_MODEL_CACHE", str(RESULTS / "models"))

    from benchmarks.corpus import base_texts, project_memories
    from consolidation_assets.engine import ConsolidationEngine
    from consolidation_assets.services import settings
    from consolidation_assets.services.embedders import make_embedder
    from consolidation_assets.services.memory_input import content_hash, parse_jsonl
    from consolidation_assets.store.memories import insert_memories
    from consolidation_assets.store.schema import upgrade

    torch_seconds = torch_embedding(size, workdir)
    bases = base_texts()
    store = settings.memory_store()
    embedder = make_embedder()
    path = workdir / "memories.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in project_memories("bench", size, bases=bases)) + "\n"
    )
    upgrade(store.engine)  # the schema exists before the clock starts: ingest is what is timed

    def ingest() -> tuple[float, list[str]]:
        started = time.perf_counter()
        memories = parse_jsonl(path.read_bytes(), str(path))
        insert_memories(store.engine, memories)
        seconds = time.perf_counter() - started
        return seconds, list({content_hash(m.content): m.content for m in memories}.values())

    ingest_seconds, distinct = ingest()
    embedding_seconds = pure_embedding("", distinct)
    distinct_count = len(distinct)
    del distinct
    gc.collect()

    engine = ConsolidationEngine(store, embedder, "bench")
    cold = engine.execute()
    warm = engine.execute()
    more = project_memories("bench", max(1, size // 100), seed=1, start_index=size, bases=bases)
    insert_memories(
        store.engine,
        parse_jsonl(("\n".join(json.dumps(r) for r in more) + "\n").encode(), "increment"),
    )
    incremental = engine.execute()
    for result in (cold, warm, incremental):
        if result.status.value != "completed":
            raise RuntimeError(f"run failed: {result.error_message}")

    def phases(result) -> dict:
        return {p: result.metrics.get(f"{p}_seconds") for p in PHASE_NAMES}

    return {
        "memories": size,
        "distinct_texts": distinct_count,
        "ingest_seconds": ingest_seconds,
        "ingest_per_second": size / ingest_seconds,
        "runtime": getattr(embedder, "runtime", "torch"),
        "embedding_seconds": embedding_seconds,
        "torch_embedding_seconds": torch_seconds,
        "cold_seconds": cold.duration_seconds,
        "warm_seconds": warm.duration_seconds,
        "incremental_seconds": incremental.duration_seconds,
        "cold_phases": phases(cold),
        "incremental_phases": phases(incremental),
        "cold_embedding_seconds": cold.metrics.get("embedding_seconds"),
        "patterns": cold.metrics.get("patterns_extracted"),
        "merge_groups": cold.metrics.get("merge_groups"),
        "principles": cold.metrics.get("principles_created"),
        "playbook_entries": cold.metrics.get("playbook_entries_created"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def print_table(rows: list[dict]) -> None:
    print(f"\nruntime: {rows[0]['runtime'] if rows else '-'}")
    print(
        f"\n{'memories':>9s} {'ingest/s':>9s} {'torch s':>8s} {'embed s':>8s} {'cold s':>8s} "
        f"{'cold/torch':>10s} {'warm s':>7s} {'warm %':>7s} {'+1% s':>7s} {'+1% %':>7s} "
        f"{'peak MB':>8s}"
    )
    for r in rows:
        print(
            f"{r['memories']:9d} {r['ingest_per_second']:9.0f} "
            f"{r['torch_embedding_seconds']:8.1f} {r['embedding_seconds']:8.1f} "
            f"{r['cold_seconds']:8.1f} {r['cold_seconds'] / r['torch_embedding_seconds']:10.2f} "
            f"{r['warm_seconds']:7.1f} {100 * r['warm_seconds'] / r['cold_seconds']:7.1f} "
            f"{r['incremental_seconds']:7.1f} "
            f"{100 * r['incremental_seconds'] / r['cold_seconds']:7.1f} {r['peak_rss_mb']:8.0f}"
        )
    print("\nseconds per phase, cold (incremental):")
    for r in rows:
        parts = ", ".join(
            f"{p} {r['cold_phases'][p]:.1f} ({r['incremental_phases'][p]:.1f})" for p in PHASE_NAMES
        )
        print(f"  {r['memories']:>7d}: {parts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--torch-only", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_only:
        from consolidation_assets.services.embedders import make_embedder

        make_embedder().encode(["export the model before the measured process needs it"])
        seconds = pure_embedding("torch", distinct_texts(args.torch_only))
        Path(args.out).write_text(json.dumps({"torch_embedding_seconds": seconds}))
        return 0
    if args.one:
        with tempfile.TemporaryDirectory() as workdir:
            row = measure(args.one, Path(workdir))
        Path(args.out).write_text(json.dumps(row))
        return 0
    from benchmarks.corpus import base_texts

    if not base_texts():
        print("scale: the coding-agent rules and agent streams are absent from ../shared/data")
        return 1
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for size in args.sizes:
        out = RESULTS / f"scale-{size}.json"
        print(f"measuring {size} memories ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", "--one", str(size), "--out", str(out)],
            check=True,
        )
        rows.append(json.loads(out.read_text()))
    print_table(rows)
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
