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
LABELS = Path(__file__).resolve().parent / "labels"


@dataclass(frozen=True)
class LabelledPairs:
    """Texts and pairs of indices into them, each pair labelled same (True) or not."""

    name: str
    texts: list[str]
    pairs: list[tuple[int, int, bool]]


def _path(*parts: str) -> Path | None:
    path = SHARED_DATA.joinpath(*parts)
    return path if path.exists() else None


def _pair_builder() -> tuple[list[str], list[tuple[int, int, bool]], object]:
    texts: list[str] = []
    index: dict[str, int] = {}
    pairs: list[tuple[int, int, bool]] = []

    def add(key: str, text: str) -> int:
        if key not in index:
            index[key] = len(texts)
            texts.append(text)
        return index[key]

    return texts, pairs, add


def mrpc_pairs() -> LabelledPairs | None:
    """MRPC train + val: news sentence pairs, Quality 1 is a paraphrase."""
    paths = [_path("mrpc", f"msr-para-{split}.tsv") for split in ("train", "val")]
    if not all(paths):
        return None
    texts, pairs, add = _pair_builder()
    for path in paths:
        with path.open(encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        for quality, id1, id2, text1, text2 in rows:
            pairs.append((add(f"mrpc:{id1}", text1), add(f"mrpc:{id2}", text2), quality == "1"))
    return LabelledPairs("MRPC", texts, pairs)


def stsb_pairs(splits: tuple[str, ...] = ("train", "dev")) -> LabelledPairs | None:
    """STS-B: a score of 4 or more is the same meaning, 2 or less different; 2 to 4 unused.

    The sentences come from captions, news headlines and forums, so this is the shorter,
    plainer kind of paraphrase beside MRPC's news.
    """
    paths = [_path("stsb", f"sts-{split}.csv") for split in splits]
    if not all(paths):
        return None
    texts, pairs, add = _pair_builder()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 7:
                    continue
                score, text1, text2 = float(fields[4]), fields[5], fields[6]
                if score >= 4 or score <= 2:
                    pairs.append((add(text1, text1), add(text2, text2), score >= 4))
    return LabelledPairs("STS-B", texts, pairs)


def paraphrase_pairs() -> LabelledPairs | None:
    """MRPC train + val, and STS-B dev with score >= 4 as same and <= 2 as different."""
    mrpc, stsb = mrpc_pairs(), stsb_pairs(("dev",))
    if mrpc is None or stsb is None:
        return None
    offset = len(mrpc.texts)
    pairs = mrpc.pairs + [(a + offset, b + offset, same) for a, b, same in stsb.pairs]
    return LabelledPairs("MRPC train+val, STS-B dev", mrpc.texts + stsb.texts, pairs)


@dataclass(frozen=True)
class Intents:
    """Short utterances labelled with their intent (and, where the set has one, a scenario)."""

    name: str
    texts: list[str]
    intents: list[str]
    scenarios: list[str]


def banking77() -> tuple[list[str], list[str]] | None:
    """Banking77 train: 10,003 customer queries and their intents."""
    data = banking77_intents()
    return None if data is None else (data.texts, data.intents)


def banking77_intents() -> Intents | None:
    """Banking77 train: 10,003 customer queries, 77 intents, no scenarios."""
    path = _path("banking77", "train.csv")
    if path is None:
        return None
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    intents = [r["category"] for r in rows]
    return Intents("Banking77", [r["text"] for r in rows], intents, intents)


def hwu64_intents() -> Intents | None:
    """HWU64: 11,036 short home-assistant utterances, 64 intents in 18 scenarios."""
    path = _path("hwu64", "hwu64.jsonl")
    if path is None:
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return Intents(
        "HWU64",
        [r["text"] for r in rows],
        [r["intent"] for r in rows],
        [r["scenario"] for r in rows],
    )


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


@dataclass(frozen=True)
class LabelledProjects:
    """Labelled pairs inside projects: each project's texts, and pairs of indices into them."""

    name: str
    projects: dict[str, list[str]]
    pairs: dict[str, list[tuple[int, int, bool]]]


def _labels(name: str) -> list[dict]:
    path = LABELS / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def agent_pairs() -> LabelledProjects | None:
    """Near-paraphrases in the Generative Agents streams, one project per agent.

    The labels (``labels/generative_agents_pairs.jsonl``) name nodes as ``agent/node_id``; the
    texts are read from the streams. How the pairs were drawn and labelled is in
    ``labels/README.md``.
    """
    streams = agent_streams()
    if streams is None:
        return None
    projects = {agent: [n["description"] for n in nodes] for agent, nodes in streams.items()}
    row = {
        agent: {n["node_id"]: i for i, n in enumerate(nodes)} for agent, nodes in streams.items()
    }
    pairs: dict[str, list[tuple[int, int, bool]]] = {agent: [] for agent in streams}
    for label in _labels("generative_agents_pairs.jsonl"):
        agent, node_a = label["a"].split("/", 1)
        _, node_b = label["b"].split("/", 1)
        pairs[agent].append((row[agent][node_a], row[agent][node_b], bool(label["same"])))
    return LabelledProjects("Generative Agents", projects, pairs)


def rule_bullets() -> list[dict] | None:
    """The coding-agent rule bullets (``source``, ``section``, ``idx``, ``text``) in file order."""
    path = _path("cursorrules_coding_agent_rules", "rule_bullets.jsonl")
    if path is None:
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def rule_pairs() -> LabelledProjects | None:
    """Cross-file duplicates among the coding-agent rules, all bullets one project.

    The labels (``labels/rules_pairs.jsonl``) name bullets as ``source#idx``.
    """
    bullets = rule_bullets()
    if bullets is None:
        return None
    row = {f"{b['source']}#{b['idx']}": i for i, b in enumerate(bullets)}
    pairs = [
        (row[label["a"]], row[label["b"]], bool(label["same"]))
        for label in _labels("rules_pairs.jsonl")
    ]
    texts = [b["text"] for b in bullets]
    return LabelledProjects("coding-agent rules", {"rules": texts}, {"rules": pairs})
