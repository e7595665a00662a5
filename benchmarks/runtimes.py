"""What each embedding runtime costs and gives: PyTorch, ONNX Runtime fp32 and int8.

Run with `make bench-runtimes` (part of `make bench-quality`). On the same texts, for each
runtime: throughput on short texts (Banking77 queries) and on long ones (paragraphs of 300 to
600 characters from the coding-agent rule files), agreement with PyTorch's vectors (mean and
least cosine), STS-B dev Spearman correlation of cosine with the human scores, and the merge
phase's precision and recall over MRPC val pairs with its default settings. Results also go to
benchmarks/results/runtimes.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks import datasets
from benchmarks.quality import batch_of
from consolidation_assets.phases.merging import merge_memories
from consolidation_assets.services.embedders import Embedder, make_embedder

RESULTS = Path(__file__).resolve().parent / "results"
RUNTIMES = ("torch", "onnx", "onnx-int8")
SHORT_TEXTS = 2_000
LONG_TEXTS = 800
LONG_CHARS = 300


def short_texts() -> list[str]:
    loaded = datasets.banking77()
    if loaded is None:
        raise SystemExit("runtimes: Banking77 is absent from ../shared/data")
    return list(dict.fromkeys(loaded[0]))[:SHORT_TEXTS]


def long_texts() -> list[str]:
    path = datasets.SHARED_DATA / "cursorrules_coding_agent_rules" / "rule_files.jsonl"
    if not path.exists():
        raise SystemExit("runtimes: the coding-agent rule files are absent from ../shared/data")
    paragraphs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for block in json.loads(line)["text"].split("\n\n"):
            text = " ".join(block.split())
            if LONG_CHARS <= len(text) <= 2 * LONG_CHARS:
                paragraphs.append(text)
    return list(dict.fromkeys(paragraphs))[:LONG_TEXTS]


def stsb_dev() -> tuple[list[str], list[str], list[float]]:
    path = datasets.SHARED_DATA / "stsb" / "sts-dev.csv"
    if not path.exists():
        raise SystemExit("runtimes: STS-B dev is absent from ../shared/data")
    left, right, scores = [], [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 7:
                scores.append(float(fields[4]))
                left.append(fields[5])
                right.append(fields[6])
    return left, right, scores


def mrpc_val() -> tuple[list[str], list[tuple[int, int, bool]]]:
    path = datasets.SHARED_DATA / "mrpc" / "msr-para-val.tsv"
    if not path.exists():
        raise SystemExit("runtimes: MRPC val is absent from ../shared/data")
    texts: list[str] = []
    index: dict[str, int] = {}
    pairs = []
    with path.open(encoding="utf-8-sig") as f:
        for quality, id1, id2, text1, text2 in list(
            csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        )[1:]:
            ids = []
            for key, text in ((id1, text1), (id2, text2)):
                if key not in index:
                    index[key] = len(texts)
                    texts.append(text)
                ids.append(index[key])
            pairs.append((ids[0], ids[1], quality == "1"))
    return texts, pairs


def throughput(embedder: Embedder, texts: Sequence[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = embedder.encode(list(texts))
    return len(texts) / (time.perf_counter() - started), vectors


def merge_quality(texts: list[str], vectors: np.ndarray, pairs: list) -> tuple[float, float]:
    """Precision and recall of the merge phase over labelled pairs, every text one memory."""
    batch = batch_of(texts, vectors)
    group = {m: g.id for g in merge_memories("bench", batch).groups for m in g.source_ids}
    merged = [
        group.get(f"m{a}") is not None and group.get(f"m{a}") == group.get(f"m{b}")
        for a, b, _ in pairs
    ]
    truth = [same for _, _, same in pairs]
    hits = sum(m and t for m, t in zip(merged, truth, strict=True))
    return hits / max(sum(merged), 1), hits / max(sum(truth), 1)


def measure(runtime: str, data: dict, reference: dict | None) -> dict:
    embedder = make_embedder(runtime=runtime)
    embedder.encode(["load the model before timing"])
    short_rate, short_vectors = throughput(embedder, data["short"])
    long_rate, long_vectors = throughput(embedder, data["long"])
    left = embedder.encode(data["stsb"][0])
    right = embedder.encode(data["stsb"][1])
    spearman = float(spearmanr(np.sum(left * right, axis=1), data["stsb"][2]).statistic)
    mrpc_vectors = embedder.encode(data["mrpc"][0])
    precision, recall = merge_quality(data["mrpc"][0], mrpc_vectors, data["mrpc"][1])
    row = {
        "runtime": getattr(embedder, "runtime", "torch"),
        "model_id": embedder.model_id,
        "short_per_second": round(short_rate, 1),
        "long_per_second": round(long_rate, 1),
        "stsb_spearman": round(spearman, 4),
        "merge_precision": round(precision, 4),
        "merge_recall": round(recall, 4),
    }
    if reference is not None:
        agreement = np.concatenate(
            [
                np.sum(short_vectors * reference["short"], axis=1),
                np.sum(long_vectors * reference["long"], axis=1),
            ]
        )
        row["mean_cosine_to_torch"] = round(float(agreement.mean()), 6)
        row["least_cosine_to_torch"] = round(float(agreement.min()), 6)
    return {"row": row, "short": short_vectors, "long": long_vectors}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    args = parser.parse_args(argv)
    data = {"short": short_texts(), "long": long_texts(), "stsb": stsb_dev(), "mrpc": mrpc_val()}
    print(f"{len(data['short'])} short texts, {len(data['long'])} long ones", flush=True)
    reference = None
    rows = []
    for runtime in args.runtimes:
        result = measure(runtime, data, reference)
        if runtime == "torch":
            reference = result
        rows.append(result["row"])
        print(json.dumps(result["row"]), flush=True)
    base = next((r for r in rows if r["runtime"] == "torch"), None)
    print(
        "\n| runtime | short texts/s | long texts/s | mean (least) cosine to PyTorch | "
        "STS-B dev Spearman | MRPC val merge P / R |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        speed = (
            f" ({r['short_per_second'] / base['short_per_second']:.2f}x)"
            if base and r is not base
            else ""
        )
        long_speed = (
            f" ({r['long_per_second'] / base['long_per_second']:.2f}x)"
            if base and r is not base
            else ""
        )
        agreement = (
            f"{r['mean_cosine_to_torch']:.4f} ({r['least_cosine_to_torch']:.4f})"
            if "mean_cosine_to_torch" in r
            else "—"
        )
        print(
            f"| {r['runtime']} | {r['short_per_second']:.0f}{speed} | "
            f"{r['long_per_second']:.0f}{long_speed} | {agreement} | {r['stsb_spearman']:.4f} | "
            f"{r['merge_precision']:.3f} / {r['merge_recall']:.3f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runtimes.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
