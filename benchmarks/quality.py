"""Consolidation quality on real public data, beside the rules peers use.

Run with `make bench-quality`. It drives the real phases on the shared data sets and prints one
table, also written to benchmarks/results/quality.json:

- merging: precision and recall over the labelled pairs of MRPC (train + val) and STS-B dev,
  with every text one memory of one project, beside ACE's single cosine thresholds (0.90, 0.85)
  and the whole single-threshold curve;
- patterns: V-measure, ARI and the share left out on Banking77 train, then with unrelated
  memories mixed in, beside k-means given the true number of intents and HDBSCAN's defaults;
- duplicates in the Generative Agents streams: the share of exact and near-exact groups merged.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, v_measure_score

from benchmarks import datasets
from consolidation_assets.phases.merging import MergeSettings, merge_memories
from consolidation_assets.phases.patterns import PatternSettings, extract_patterns
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.services.embedders import CachingEmbedder, SentenceTransformerEmbedder
from consolidation_assets.store import MemoryStore

RESULTS = Path(__file__).resolve().parent / "results"


def embed(
    texts: Sequence[str], store: MemoryStore, embedder: SentenceTransformerEmbedder
) -> np.ndarray:
    """Vectors through the project's own embedding cache, so a re-run embeds nothing."""
    return CachingEmbedder(embedder, store.engine).encode(list(texts))


def batch_of(texts: Sequence[str], vectors: np.ndarray) -> MemoryBatch:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n = len(texts)
    return MemoryBatch(
        ids=[f"m{i}" for i in range(n)],
        texts=list(texts),
        vectors=vectors,
        memory_types=["discovery"] * n,
        success=[None] * n,
        task_ids=[f"t{i}" for i in range(n)],
        created_at=[start + timedelta(seconds=i) for i in range(n)],
    )


def precision_recall(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    return (tp / (tp + fp) if tp + fp else 1.0), tp / int(labels.sum())


def threshold_curve(cosines: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) of the single-cosine rule, every 0.01 from 0.70."""
    return [
        (round(t, 2), *precision_recall(cosines >= t, labels))
        for t in np.arange(0.70, 1.0001, 0.01)
    ]


def best_single_recall(cosines: np.ndarray, labels: np.ndarray, precision: float) -> float:
    """The best recall any one cosine threshold reaches at ``precision`` or above."""
    best = 0.0
    for t in np.unique(np.round(cosines, 4)):
        p, r = precision_recall(cosines >= t, labels)
        if p >= precision:
            best = max(best, r)
    return best


def _merged_pairs(batch, pairs, labels, settings: MergeSettings) -> tuple[float, float]:
    group = {
        m: g.id for g in merge_memories("bench", batch, None, settings).groups for m in g.source_ids
    }
    merged = np.array(
        [
            group.get(f"m{a}") is not None and group.get(f"m{a}") == group.get(f"m{b}")
            for a, b, _ in pairs
        ]
    )
    return precision_recall(merged, labels)


def merging_section(store, embedder, settings: MergeSettings) -> dict | None:
    data = datasets.paraphrase_pairs()
    if data is None:
        print("merging: skipped, MRPC or STS-B absent from", datasets.SHARED_DATA)
        return None
    vectors = embed(data.texts, store, embedder)
    batch = batch_of(data.texts, vectors)
    started = time.perf_counter()
    outcome = merge_memories("bench", batch, None, settings)
    seconds = time.perf_counter() - started
    group = {m: g.id for g in outcome.groups for m in g.source_ids}
    labels = np.array([same for _, _, same in data.pairs])
    merged = np.array(
        [
            group.get(f"m{a}") is not None and group.get(f"m{a}") == group.get(f"m{b}")
            for a, b, _ in data.pairs
        ]
    )
    cosines = np.array([float(vectors[a] @ vectors[b]) for a, b, _ in data.pairs])
    precision, recall = precision_recall(merged, labels)
    single = best_single_recall(cosines, labels, precision)
    ours_curve = []
    for threshold in (0.75, 0.80, 0.85, 0.90):
        other = replace(settings, duplicate_threshold=threshold)
        p, r = _merged_pairs(batch, data.pairs, labels, other)
        ours_curve.append((threshold, p, r, best_single_recall(cosines, labels, p)))
    ace = {t: precision_recall(cosines >= t, labels) for t in (0.90, 0.85)}
    return {
        "pairs": len(data.pairs),
        "same": int(labels.sum()),
        "texts": len(data.texts),
        "precision": precision,
        "recall": recall,
        "best_single_threshold_recall_at_our_precision": single,
        "recall_ratio": recall / single if single else float("inf"),
        "ace_0.90": ace[0.90],
        "ace_0.85": ace[0.85],
        "curve": threshold_curve(cosines, labels),
        "ours_curve": ours_curve,
        "seconds": seconds,
        "settings": settings.__dict__,
    }


def _with_noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    noise = out < 0
    out[noise] = out.max(initial=0) + 1 + np.arange(noise.sum())
    return out


def pattern_labels(batch: MemoryBatch, settings: PatternSettings) -> np.ndarray:
    result = extract_patterns("bench", batch, settings)
    owner = {m: k for k, p in enumerate(result.patterns) for m in p.member_ids}
    return np.array([owner.get(m, -1) for m in batch.ids])


def patterns_section(store, embedder, settings: PatternSettings, unrelated: int) -> dict | None:
    data = datasets.banking77()
    if data is None:
        print("patterns: skipped, Banking77 absent from", datasets.SHARED_DATA)
        return None
    texts, intents = data
    vectors = embed(texts, store, embedder)
    truth = np.array(intents)
    k = len(set(intents))
    rows = {}

    started = time.perf_counter()
    ours = pattern_labels(batch_of(texts, vectors), settings)
    rows["ours"] = _cluster_row(truth, ours, time.perf_counter() - started)
    started = time.perf_counter()
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors)
    rows[f"k-means (true k={k})"] = _cluster_row(truth, kmeans, time.perf_counter() - started)
    started = time.perf_counter()
    hdbscan = HDBSCAN(copy=True).fit_predict(vectors)
    rows["HDBSCAN (defaults)"] = _cluster_row(truth, hdbscan, time.perf_counter() - started)

    extra = datasets.unrelated_texts(unrelated)
    mixed = None
    if extra:
        extra_vectors = embed(extra, store, embedder)
        all_texts = texts + extra
        all_vectors = np.vstack([vectors, extra_vectors])
        labels = pattern_labels(batch_of(all_texts, all_vectors), settings)
        banking = labels[: len(texts)]
        unrelated_labels = labels[len(texts) :]
        kmeans_mixed = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(all_vectors)
        banking_patterns = set(banking[banking >= 0].tolist())
        mixed = {
            "unrelated": len(extra),
            "ours": {
                **_cluster_row(truth, banking, 0.0),
                "unrelated_left_out": float(np.mean(unrelated_labels < 0)),
                "unrelated_in_banking_patterns": int(
                    sum(label in banking_patterns for label in unrelated_labels.tolist())
                ),
            },
            "k-means (true k)": {
                **_cluster_row(truth, kmeans_mixed[: len(texts)], 0.0),
                "unrelated_left_out": 0.0,
                "unrelated_in_banking_patterns": len(extra),
            },
        }
    return {
        "memories": len(texts),
        "intents": k,
        "rows": rows,
        "mixed": mixed,
        "settings": settings.__dict__,
    }


def _cluster_row(truth: np.ndarray, labels: np.ndarray, seconds: float) -> dict:
    full = _with_noise_as_singletons(labels)
    return {
        "v_measure": float(v_measure_score(truth, full)),
        "ari": float(adjusted_rand_score(truth, full)),
        "left_out": float(np.mean(labels < 0)),
        "clusters": len(set(labels[labels >= 0].tolist())),
        "seconds": seconds,
    }


_NEAR = re.compile(r"[^a-z0-9 ]+")


def near_exact_key(text: str) -> str:
    """Case, punctuation and spacing removed: texts equal on this differ only trivially."""
    return " ".join(_NEAR.sub(" ", text.lower()).split())


def duplicates_section(store, embedder, settings: MergeSettings) -> dict | None:
    streams = datasets.agent_streams()
    if streams is None:
        print("duplicates: skipped, Generative Agents streams absent from", datasets.SHARED_DATA)
        return None
    totals = {"exact_groups": 0, "exact_merged": 0, "near_groups": 0, "near_merged": 0}
    for nodes in streams.values():
        texts = [n["description"] for n in nodes]
        batch = batch_of(texts, embed(texts, store, embedder))
        group = {
            m: g.id
            for g in merge_memories("bench", batch, None, settings).groups
            for m in g.source_ids
        }
        for kind, key in (("exact", lambda t: t), ("near", near_exact_key)):
            buckets: dict[str, list[str]] = {}
            for memory_id, text in zip(batch.ids, texts, strict=True):
                buckets.setdefault(key(text), []).append(memory_id)
            for ids in buckets.values():
                if len(ids) < 2:
                    continue
                if kind == "near" and len({texts[int(i[1:])] for i in ids}) < 2:
                    continue
                totals[f"{kind}_groups"] += 1
                together = ids[0] in group and len({group.get(i) for i in ids}) == 1
                totals[f"{kind}_merged"] += together
    return {
        **totals,
        "exact_share": totals["exact_merged"] / max(totals["exact_groups"], 1),
        "near_share": totals["near_merged"] / max(totals["near_groups"], 1),
    }


def print_report(report: dict) -> None:
    merging = report.get("merging")
    if merging:
        print(
            f"\nMerging: {merging['pairs']} labelled pairs ({merging['same']} same) over "
            f"{merging['texts']} memories in one project"
        )
        print(f"{'rule':38s} {'precision':>9s} {'recall':>7s}")
        print(
            f"{'ours (duplicate score + detail guard)':38s} {merging['precision']:9.3f} "
            f"{merging['recall']:7.3f}"
        )
        for name in ("ace_0.90", "ace_0.85"):
            p, r = merging[name]
            print(f"{'ACE rule, cosine >= ' + name[-4:]:38s} {p:9.3f} {r:7.3f}")
        print(
            f"best single cosine threshold at our precision: recall "
            f"{merging['best_single_threshold_recall_at_our_precision']:.3f}; "
            f"ours is {merging['recall_ratio']:.2f}x"
        )
        print(
            "ours at other duplicate thresholds (threshold precision recall, best single-"
            "threshold recall at that precision):"
        )
        for t, p, r, single in merging["ours_curve"]:
            print(f"  {t:.2f} {p:.3f} {r:.3f}  single {single:.3f}  ({r / max(single, 1e-9):.2f}x)")
        print("single-threshold curve (threshold precision recall):")
        for t, p, r in merging["curve"]:
            print(f"  {t:.2f} {p:.3f} {r:.3f}")
    patterns = report.get("patterns")
    if patterns:
        print(
            f"\nPatterns: Banking77 train, {patterns['memories']} memories, "
            f"{patterns['intents']} intents"
        )
        print(f"{'method':28s} {'V':>6s} {'ARI':>6s} {'left out':>9s} {'clusters':>9s} {'s':>6s}")
        for name, row in patterns["rows"].items():
            print(
                f"{name:28s} {row['v_measure']:6.3f} {row['ari']:6.3f} {row['left_out']:9.3f} "
                f"{row['clusters']:9d} {row['seconds']:6.1f}"
            )
        mixed = patterns.get("mixed")
        if mixed:
            print(f"with {mixed['unrelated']} unrelated memories mixed in (scored on Banking77):")
            for name in ("ours", "k-means (true k)"):
                row = mixed[name]
                print(
                    f"  {name:26s} {row['v_measure']:6.3f} {row['ari']:6.3f} "
                    f"unrelated left out {row['unrelated_left_out']:.3f}, "
                    f"in a Banking77 cluster {row['unrelated_in_banking_patterns']}"
                )
    duplicates = report.get("duplicates")
    if duplicates:
        print("\nGenerative Agents streams:")
        print(
            f"  exact duplicate groups merged: {duplicates['exact_merged']}/"
            f"{duplicates['exact_groups']} ({duplicates['exact_share']:.3f})"
        )
        print(
            f"  near-exact groups merged: {duplicates['near_merged']}/"
            f"{duplicates['near_groups']} ({duplicates['near_share']:.3f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--unrelated", type=int, default=1000, help="unrelated memories mixed in")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    store = MemoryStore(f"sqlite:///{RESULTS / 'embeddings.db'}")
    embedder = SentenceTransformerEmbedder()
    merge = MergeSettings()
    report = {
        "machine": machine(),
        "merging": merging_section(store, embedder, merge),
        "patterns": patterns_section(store, embedder, PatternSettings(), args.unrelated),
        "duplicates": duplicates_section(store, embedder, merge),
    }
    print(f"machine: {report['machine']}")
    print_report(report)
    (RESULTS / "quality.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


def machine() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
