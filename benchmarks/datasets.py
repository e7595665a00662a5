"""Loaders for the public data in ../shared/data, used by the benchmarks only.

Some sets (MRPC, the STS-B texts) may not be redistributed, so they are read from the shared
data directory (CONSOLIDATION_SHARED_DATA, default ../shared/data next to the repository) and
never copied into the project. A loader returns None when its files are absent, and the
benchmark says which section it skipped.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CONSOLIDATION_SHARED_DATA", REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class LabelledPairs:
    """Texts and pairs of indices into them, each pair labelled same (True) or not."""

    name: str
    texts: list[str]
    pairs: list[tuple[int, int, bool]]


def _path(*parts: str) -> Path | None:
    path = SHARED_DATA.joinpath(*parts)
    return path if path.exists() else None


def paraphrase_pairs() -> LabelledPairs | None:
    """MRPC train + val, and STS-B dev with score >= 4 as same and <= 2 as different."""
    mrpc = [_path("mrpc", f"msr-para-{split}.tsv") for split in ("train", "val")]
    stsb = _path("stsb", "sts-dev.csv")
    if not all(mrpc) or stsb is None:
        return None
    texts: list[str] = []
    index: dict[str, int] = {}
    pairs: list[tuple[int, int, bool]] = []

    def add(key: str, text: str) -> int:
        if key not in index:
            index[key] = len(texts)
            texts.append(text)
        return index[key]

    for path in mrpc:
        with path.open(encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        for quality, id1, id2, text1, text2 in rows:
            pairs.append((add(f"mrpc:{id1}", text1), add(f"mrpc:{id2}", text2), quality == "1"))
    with stsb.open(encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 7:
                continue
            score, text1, text2 = float(fields[4]), fields[5], fields[6]
            if score >= 4 or score <= 2:
                pairs.append((add(f"stsb:{text1}", text1), add(f"stsb:{text2}", text2), score >= 4))
    return LabelledPairs("MRPC train+val, STS-B dev", texts, pairs)


def banking77() -> tuple[list[str], list[str]] | None:
    """Banking77 train: 10,003 customer queries and their intents."""
    path = _path("banking77", "train.csv")
    if path is None:
        return None
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def unrelated_texts(count: int, seed: int = 7) -> list[str] | None:
    """Texts unrelated to each other and to banking: one sentence of distinct MRPC pairs."""
    pairs = paraphrase_pairs()
    if pairs is None:
        return None
    firsts = sorted({pairs.texts[a] for a, _, _ in pairs.pairs if a < len(pairs.texts)})
    random.Random(seed).shuffle(firsts)
    return firsts[:count]


def agent_streams() -> dict[str, list[dict]] | None:
    """The Generative Agents memory streams, per agent: node dicts in id order."""
    root = _path("generative_agents_memory")
    if root is None:
        return None
    streams = {}
    for nodes in sorted(root.glob("*/nodes.json")):
        data = json.loads(nodes.read_text())
        ordered = sorted(data.items(), key=lambda kv: int(kv[0].split("_")[1]))
        streams[nodes.parent.name] = [{"node_id": k, **v} for k, v in ordered]
    return streams
