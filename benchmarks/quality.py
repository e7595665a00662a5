"""Consolidation quality on real public data, judged on data the settings were not chosen on.

Run with `make bench-quality`. Every merge and pattern setting is chosen on all dev sets but
one and judged on the one left out, in turn (leave one dataset out); each set's figures in the
tables are those of its held-out fold. The defaults shipped are the ones chosen on all sets
together, and their in-sample figures are printed apart, marked as such.

- merging: the pair model of ``phases.merging`` is fitted and its threshold chosen on the
  paraphrase sets left in (MRPC, STS-B, the Generative Agents near-paraphrases, the
  coding-agent rules' cross-file duplicates; see ``benchmarks.pair_model``), then the real phase
  runs on the held-out set's projects. Precision and recall count labelled pairs whose two
  memories end up in one merged memory, beside the best single cosine threshold and the best
  single word-coverage threshold at the same precision, and ACE's cosine >= 0.90. Banking77 and
  HWU64 same-intent pairs are coarse proxies, judged with the model fitted on all four.
- patterns: the stray margin, the near-duplicate similarity, the similarity threshold and the
  split overlap are chosen on the other intent set (Banking77 or HWU64), with the bundled
  sample projects as a constraint on every choice (their answer key, at least half of their
  topics found as patterns, and five paraphrased verdicts added to each that must come out as
  one pattern), and judged on the one left out:
  V-measure, ARI, patterns per intent, beside k-means given the true k; and how many simulated
  strays (one or two utterances of intents dropped from the set) patterns absorb, read over
  more draws for the fold's own figure than for the choice. The folds are
  also read on the intents cohesive enough to be one pattern at all.
  The stray test is also swept alone on each set, read on the set itself: whether the stray
  target and the V-measure and ARI targets can hold together at any of its settings.
- duplicates in the Generative Agents streams: the share of exact and near-exact groups merged.

The whole report is written to benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, v_measure_score

from benchmarks import datasets, pair_model
from benchmarks.pair_model import PairSignals
from consolidation_assets.phases import merging
from consolidation_assets.phases.graph import TextGraph, collapse_exact, text_graph
from consolidation_assets.phases.merging import MergeSettings, PairModel, merge_memories
from consolidation_assets.phases.patterns import (
    PatternSettings,
    absolute_settings,
    background_similarity,
    cluster_memories,
    mean_similarities,
)
from consolidation_assets.phases.types import MemoryBatch
from consolidation_assets.services.embedders import CachingEmbedder, Embedder, make_embedder
from consolidation_assets.store import MemoryStore

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES = Path(__file__).resolve().parent.parent / "consolidation_assets" / "sample_data"
TEST_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ANSWER_KEY = TEST_DATA / "sample_answer_key.json"
VERDICTS = TEST_DATA / "paraphrased_verdicts.json"
PARAPHRASE_SETS = ("MRPC", "STS-B", "Generative Agents", "coding-agent rules")
INTENT_SETS = ("Banking77", "HWU64")
PATTERN_RESOLUTIONS = (1.0,)
PATTERN_MARGINS = (0.05, 0.10, 0.15, 0.20)
PATTERN_THRESHOLDS = (0.2, 0.3)
PATTERN_NEAR_DUPLICATES = (0.75, 0.80, 0.85)
PATTERN_OVERLAPS = (0.3, 0.5, 0.7, 1.0)
STRAY_SHARE = 0.3
STRAY_SEEDS = (0, 1, 2)
# A fold's own stray figure, for its chosen setting alone: one draw holds 25 to 40 strays, so
# three draws move the share by several points from one set of seeds to the next.
HELD_OUT_STRAY_SEEDS = tuple(range(10))
# The stray test swept at the shipped threshold and overlap, from strict to off (a margin of 1.0
# keeps every memory its community lists back), to show what leaving strays out costs; not a
# choice of settings.
TRADE_OFF_MARGINS = (0.0, 0.05, 0.10, 0.20, 1.0)
TRADE_OFF_NEAR_DUPLICATES = (0.80, 0.85, 0.90, 1.0)
STRAY_TARGET = 0.10
SLACK_TOLERANCE = 0.10
ACE_THRESHOLD = 0.90


def embed(texts: Sequence[str], store: MemoryStore, embedder: Embedder) -> np.ndarray:
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


@dataclass
class Project:
    """One project of a set: its memories, their graph, and the labelled pairs inside it."""

    texts: list[str]
    batch: MemoryBatch
    graph: TextGraph
    pairs: list[tuple[int, int, bool]]


@dataclass
class MergeSet:
    name: str
    kind: str  # "paraphrase" or "intent"
    projects: list[Project]
    signals: PairSignals


def project_of(
    texts: list[str], vectors: np.ndarray, pairs: list[tuple[int, int, bool]]
) -> Project:
    batch = batch_of(texts, vectors)
    return Project(texts, batch, text_graph(batch, MergeSettings().neighbors), pairs)


def merge_set(name: str, kind: str, projects: list[Project]) -> MergeSet:
    parts = [pair_model.measure(name, p.texts, p.batch.vectors, p.graph, p.pairs) for p in projects]
    return MergeSet(name, kind, projects, pair_model.join(name, parts))


def neighbour_pairs(graph: TextGraph, labels: Sequence[str]) -> list[tuple[int, int, bool]]:
    """Every edge of the neighbour graph between distinct texts, labelled same intent or not:
    the pairs the merge phase itself weighs, and the only ones it could merge directly."""
    rows = graph.unique_rows
    found: set[tuple[int, int]] = set()
    for u, others in enumerate(graph.neighbors.indices.tolist()):
        for v in others:
            if v >= 0 and v != u:
                a, b = int(rows[u]), int(rows[v])
                found.add((min(a, b), max(a, b)))
    return [(a, b, labels[a] == labels[b]) for a, b in sorted(found)]


def merge_sets(store: MemoryStore, embedder: Embedder, with_intents: bool = True) -> list[MergeSet]:
    """Every dev set with labelled pairs, each as the projects the phase would see (the
    paraphrase sets alone without ``with_intents``)."""
    found = []
    for loader in (datasets.mrpc_pairs, datasets.stsb_pairs):
        data = loader()
        if data is not None:
            project = project_of(data.texts, embed(data.texts, store, embedder), data.pairs)
            found.append(merge_set(data.name, "paraphrase", [project]))
    for loader in (datasets.agent_pairs, datasets.rule_pairs):
        labelled = loader()
        if labelled is not None:
            projects = [
                project_of(texts, embed(texts, store, embedder), labelled.pairs[key])
                for key, texts in labelled.projects.items()
            ]
            found.append(merge_set(labelled.name, "paraphrase", projects))
    for loader in (datasets.banking77_intents, datasets.hwu64_intents) if with_intents else ():
        data = loader()
        if data is not None:
            project = project_of(data.texts, embed(data.texts, store, embedder), [])
            project.pairs = neighbour_pairs(project.graph, data.intents)
            found.append(merge_set(data.name, "intent", [project]))
    return found


def merged_pairs(s: MergeSet, settings: MergeSettings, model: PairModel) -> np.ndarray:
    """Per labelled pair, whether the real phase put both memories in one merged memory."""
    merged = []
    for project in s.projects:
        outcome = merge_memories("bench", project.batch, None, settings, project.graph, model)
        group = {m: g.id for g in outcome.groups for m in g.source_ids}
        for a, b, _ in project.pairs:
            left = group.get(f"m{a}")
            merged.append(left is not None and left == group.get(f"m{b}"))
    return np.array(merged, dtype=bool)


def judged(s: MergeSet, merged: np.ndarray) -> dict:
    """Precision and recall of merged pairs, and the single-threshold baselines beside them."""
    precision, recall = pair_model.precision_recall(merged, s.signals.same)
    cosine = pair_model.best_recall(s.signals.cosine, s.signals.same, precision)
    coverage = pair_model.best_recall(s.signals.coverage, s.signals.same, precision)
    ace = pair_model.precision_recall(s.signals.cosine >= ACE_THRESHOLD, s.signals.same)
    return {
        "pairs": len(s.signals),
        "same": int(s.signals.same.sum()),
        "precision": precision,
        "recall": recall,
        "cosine_recall": cosine,
        "cosine_threshold": pair_model.best_threshold(s.signals.cosine, s.signals.same, precision),
        "coverage_recall": coverage,
        "coverage_threshold": pair_model.best_threshold(
            s.signals.coverage, s.signals.same, precision
        ),
        "ratio_cosine": recall / cosine if cosine else None,
        "ratio_coverage": recall / coverage if coverage else None,
        "ace": {"precision": ace[0], "recall": ace[1]},
    }


def fitted(training: Sequence[MergeSet], settings: MergeSettings) -> tuple[PairModel, dict]:
    """The pair model fitted on ``training``, its threshold folded into the bias."""
    weights = pair_model.fit([s.signals for s in training])
    threshold = pair_model.choose_threshold(
        weights, [s.signals for s in training], settings.min_cosine
    )
    model = pair_model.pair_model(weights, threshold)
    return model, {"trained_on": [s.name for s in training], "model": asdict(model)}


def merging_section(sets: list[MergeSet]) -> dict | None:
    paraphrases = [s for s in sets if s.kind == "paraphrase"]
    if len(paraphrases) < 2:
        print("merging: skipped, fewer than two paraphrase sets in", datasets.SHARED_DATA)
        return None
    settings = MergeSettings()
    folds = {}
    for held in sets:
        training = [s for s in paraphrases if s is not held]
        model, about = fitted(training, settings)
        folds[held.name] = {
            "kind": held.kind,
            **about,
            **judged(held, merged_pairs(held, settings, model)),
        }
        print(f"  merging, held out {held.name}: done", flush=True)
    model, about = fitted(paraphrases, settings)
    shipped = merging.PAIR_MODEL
    in_sample = {s.name: judged(s, merged_pairs(s, settings, shipped)) for s in sets}
    return {
        "folds": folds,
        "all_sets": about,
        "shipped": asdict(shipped),
        "shipped_matches_fit": same_model(shipped, model),
        "in_sample": in_sample,
        "settings": asdict(settings),
    }


def same_model(a: PairModel, b: PairModel) -> bool:
    """Equal weights to the four decimals ``PAIR_MODEL`` is written with."""
    left, right = asdict(a), asdict(b)
    return all(abs(left[k] - right[k]) < 5e-4 for k in left)


# Patterns -----------------------------------------------------------------------------------


@dataclass
class IntentSet:
    name: str
    texts: list[str]
    intents: list[str]
    vectors: np.ndarray


def _with_noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    noise = out < 0
    out[noise] = out.max(initial=0) + 1 + np.arange(noise.sum())
    return out


def cluster_row(truth: Sequence[str], labels: np.ndarray) -> dict:
    """V-measure and ARI (memories left out scored as singletons), and how intents split."""
    full = _with_noise_as_singletons(labels)
    intents = sorted(set(truth))
    kept = labels[labels >= 0]
    holding = Counter(
        (t, int(label)) for t, label in zip(truth, labels.tolist(), strict=True) if label >= 0
    )
    spread = Counter(t for (t, _), n in holding.items() if n >= 3)
    return {
        "v_measure": float(v_measure_score(truth, full)),
        "ari": float(adjusted_rand_score(truth, full)),
        "left_out": float(np.mean(labels < 0)),
        "patterns": len(set(kept.tolist())),
        "patterns_per_intent": len(set(kept.tolist())) / len(intents),
        "intent_spread": float(np.mean([spread.get(t, 0) for t in intents])),
    }


def cohesive_intents(
    texts: Sequence[str], vectors: np.ndarray, intents: Sequence[str]
) -> np.ndarray:
    """Per memory, whether its intent's memories are on average as similar as the phase asks
    of a pattern's (the shipped similarity threshold, measured from the set's background).

    An intent that misses it (HWU64's ``general_quirky`` chit-chat) cannot come out as one
    pattern at any setting; the figures on the other intents say how much of the gap to
    k-means is that.
    """
    _, unique_rows = collapse_exact(list(texts))
    background = background_similarity(vectors[unique_rows])
    threshold = absolute_settings(PatternSettings(), background).similarity_threshold
    names, labels = np.unique(np.asarray(intents), return_inverse=True)
    cohesion = mean_similarities(
        np.asarray(vectors, dtype=np.float64), np.ones(labels.size), labels, names.size
    )
    return cohesion[labels] >= threshold


def stray_project(intents: Sequence[str], seed: int) -> tuple[list[int], list[int]]:
    """Rows of a project with ``STRAY_SHARE`` of the intents dropped, and one or two rows of
    each dropped intent kept as strays: one-off memories that recur nowhere in the project."""
    rng = random.Random(seed)
    labels = sorted(set(intents))
    dropped = set(rng.sample(labels, round(STRAY_SHARE * len(labels))))
    kept = [i for i, t in enumerate(intents) if t not in dropped]
    strays: list[int] = []
    for intent in sorted(dropped):
        rows = [i for i, t in enumerate(intents) if t == intent]
        strays += rng.sample(rows, rng.choice([1, 2]))
    return kept, strays


def grid() -> list[PatternSettings]:
    """Every pattern setting the benchmark weighs."""
    return [
        replace(
            PatternSettings(),
            resolution=r,
            stray_margin=m,
            near_duplicate=d,
            similarity_threshold=t,
            split_overlap=o,
        )
        for r in PATTERN_RESOLUTIONS
        for m in PATTERN_MARGINS
        for d in PATTERN_NEAR_DUPLICATES
        for t in PATTERN_THRESHOLDS
        for o in PATTERN_OVERLAPS
    ]


def grid_key(settings: PatternSettings) -> str:
    return (
        f"resolution {settings.resolution:.1f}, margin {settings.stray_margin:.2f}, "
        f"near duplicate {settings.near_duplicate:.2f}, threshold "
        f"{settings.similarity_threshold:.2f}, overlap {settings.split_overlap:.1f}"
    )


def trade_off_settings() -> list[PatternSettings]:
    """The stray test's sweep at the shipped threshold and overlap."""
    return [
        replace(PatternSettings(), stray_margin=m, near_duplicate=d)
        for m in TRADE_OFF_MARGINS
        for d in TRADE_OFF_NEAR_DUPLICATES
    ]


def memberships(
    batch: MemoryBatch, settings: Sequence[PatternSettings] | None = None
) -> dict[str, np.ndarray]:
    """The phase's pattern label per memory (-1: in none) under every setting of ``settings``
    (the grid unless given).

    ``cluster_memories`` is what decides membership in ``extract_patterns``; calling it alone
    skips the labels and keywords, which change nothing here.
    """
    graph = text_graph(batch, PatternSettings().neighbors)
    return {grid_key(s): cluster_memories(batch, graph, s) for s in settings or grid()}


def intent_runs(data: IntentSet) -> dict:
    """Our patterns under every setting of the grid and of the stray test's sweep (one graph
    per project for both), k-means given the true k, and strays."""
    grid_keys = [grid_key(s) for s in grid()]
    sweep_keys = [grid_key(s) for s in trade_off_settings()]
    settings = list({grid_key(s): s for s in grid() + trade_off_settings()}.values())
    started = time.perf_counter()
    labels = memberships(batch_of(data.texts, data.vectors), settings)
    seconds = (time.perf_counter() - started) / len(labels)
    rows = {key: cluster_row(data.intents, found) for key, found in labels.items()}
    started = time.perf_counter()
    k = len(set(data.intents))
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(data.vectors)
    reference = {**cluster_row(data.intents, kmeans), "seconds": time.perf_counter() - started}
    strays = stray_runs(data, settings)
    cohesive = cohesive_intents(data.texts, data.vectors, data.intents)
    truth = [t for t, c in zip(data.intents, cohesive, strict=True) if c]
    return {
        "rows": {key: {**rows[key], "seconds": seconds} for key in grid_keys},
        "kmeans": reference,
        "cohesive": {
            "intents": len(set(truth)),
            "memories": float(cohesive.mean()),
            "rows": {key: cluster_row(truth, labels[key][cohesive]) for key in grid_keys},
            "kmeans": cluster_row(truth, kmeans[cohesive]),
        },
        "strays": strays,
        "trade_off": {"rows": {key: rows[key] for key in sweep_keys}, "strays": strays},
        "memories": len(data.texts),
    }


def stray_runs(
    data: IntentSet, settings: Sequence[PatternSettings], seeds: Sequence[int] = STRAY_SEEDS
) -> dict:
    """The share of simulated strays each setting's patterns absorb over the draws of ``seeds``,
    and the share in each draw."""
    absorbed: dict[str, list[bool]] = {grid_key(s): [] for s in settings}
    per_draw: dict[str, list[float]] = {grid_key(s): [] for s in settings}
    count = 0
    for seed in seeds:
        kept, strays = stray_project(data.intents, seed)
        rows = kept + strays
        labels = memberships(batch_of([data.texts[i] for i in rows], data.vectors[rows]), settings)
        count += len(strays)
        for key, found in labels.items():
            absorbed[key] += (found[len(kept) :] >= 0).tolist()
            per_draw[key].append(float(np.mean(found[len(kept) :] >= 0)))
    return {
        "strays": count,
        "draws": len(seeds),
        "absorbed": {key: float(np.mean(v)) for key, v in absorbed.items()},
        "per_draw": per_draw,
    }


def sample_runs(store: MemoryStore, embedder: Embedder) -> dict:
    """The bundled sample projects under every setting: V-measure against their topics, how
    many of their noise memories patterns absorb (the answer key allows one), and whether five
    paraphrased verdicts added to the project come out as one pattern."""
    from consolidation_assets.services.memory_input import parse_jsonl

    key = json.loads(ANSWER_KEY.read_text())["projects"]
    verdicts = json.loads(VERDICTS.read_text())["texts"]
    verdict_vectors = embed(verdicts, store, embedder)
    found = {}
    for name, answer in key.items():
        path = SAMPLES / f"{name}.jsonl"
        memories = parse_jsonl(path.read_bytes(), str(path))
        texts = [m.content for m in memories]
        batch = replace(
            batch_of(texts, embed(texts, store, embedder)), ids=[m.id for m in memories]
        )
        topic = {m: t for t, v in answer["topics"].items() for m in v["memory_ids"]}
        noise = set(answer["noise"])
        truth = [topic.get(m, f"noise-{m}") for m in batch.ids]
        with_verdicts = batch_of(texts + verdicts, np.vstack([batch.vectors, verdict_vectors]))
        grouped = {
            setting: labels[len(texts) :] for setting, labels in memberships(with_verdicts).items()
        }
        found[name] = {}
        for setting, labels in memberships(batch).items():
            predicted = [
                str(label) if label >= 0 else f"alone-{m}"
                for m, label in zip(batch.ids, labels.tolist(), strict=True)
            ]
            found[name][setting] = {
                "v_measure": float(v_measure_score(truth, predicted)),
                "topics_found": topics_found(answer["topics"], batch.ids, labels),
                "topics": len(answer["topics"]),
                "noise_absorbed": sum(
                    1
                    for m, label in zip(batch.ids, labels, strict=True)
                    if m in noise and label >= 0
                ),
                "verdicts_one_pattern": bool(
                    grouped[setting].min() >= 0 and len(set(grouped[setting].tolist())) == 1
                ),
            }
    return found


def topics_found(topics: dict, ids: Sequence[str], labels: np.ndarray) -> int:
    """How many of the answer key's topics come out as a pattern: one pattern holds at least
    half of the topic's memories."""
    label_of = dict(zip(ids, labels.tolist(), strict=True))
    found = 0
    for topic in topics.values():
        members = topic["memory_ids"]
        held = Counter(label_of[m] for m in members if label_of[m] >= 0)
        found += bool(held) and 2 * held.most_common(1)[0][1] >= len(members)
    return found


def allowed(samples: dict, setting: str) -> bool:
    """The sample projects' answer key holds (V-measure >= 0.75, at most one noise absorbed,
    at least half of the topics found as patterns) and the paraphrased verdicts form one
    pattern in each."""
    return all(
        runs[setting]["v_measure"] >= 0.75
        and runs[setting]["noise_absorbed"] <= 1
        and 2 * runs[setting]["topics_found"] >= runs[setting]["topics"]
        and runs[setting]["verdicts_one_pattern"]
        for runs in samples.values()
    )


def slack(run: dict, setting: str) -> float:
    """How far a setting is above the targets on one intent set (below 1: under them)."""
    ours, reference = run["rows"][setting], run["kmeans"]
    return min(
        ours["v_measure"] / reference["v_measure"],
        ours["ari"] / (0.9 * reference["ari"]),
    )


def choose_pattern_setting(runs: Sequence[dict], samples: dict) -> str:
    """Among the settings the sample projects allow, those within ``SLACK_TOLERANCE`` of the
    best worst-set slack above the V-measure and ARI targets; of those, the one that absorbs
    the fewest strays on its worst set (then the best slack), since strays are a target too."""
    keys = [grid_key(s) for s in grid()]
    candidates = [k for k in keys if allowed(samples, k)] or keys
    worst = {k: min(slack(r, k) for r in runs) for k in candidates}
    best = max(worst.values())
    near = [k for k in candidates if worst[k] >= (1 - SLACK_TOLERANCE) * best]
    return min(near, key=lambda k: (max(r["strays"]["absorbed"][k] for r in runs), -worst[k]))


def trade_off(run: dict) -> dict:
    """Whether the stray target and the V-measure and ARI targets can hold together on one set:
    the best slack (then fewest strays) among the swept settings that absorb at most
    ``STRAY_TARGET`` of the strays, and the fewest strays (then best slack) among those that
    meet the V-measure and ARI targets (``None`` where no setting qualifies). Both read the set
    they are measured on, so they are bounds on what the stray test can do, not held-out
    figures."""
    rows, absorbed = run["trade_off"]["rows"], run["trade_off"]["strays"]["absorbed"]
    sweep = {"rows": rows, "kmeans": run["kmeans"]}
    within = [k for k in rows if absorbed[k] <= STRAY_TARGET]
    meeting = [k for k in rows if slack(sweep, k) >= 1.0]
    return {
        "within_stray_target": max(
            within, key=lambda k: (slack(sweep, k), -absorbed[k]), default=None
        ),
        "meeting_targets": min(
            meeting, key=lambda k: (absorbed[k], -slack(sweep, k)), default=None
        ),
    }


def settings_of(key: str) -> PatternSettings:
    """The grid's setting of ``key``."""
    return next(s for s in grid() if grid_key(s) == key)


def shipped_key() -> str:
    return grid_key(PatternSettings())


def patterns_section(store: MemoryStore, embedder: Embedder) -> dict | None:
    sets = []
    for loader in (datasets.banking77_intents, datasets.hwu64_intents):
        data = loader()
        if data is not None:
            vectors = embed(data.texts, store, embedder)
            sets.append(IntentSet(data.name, data.texts, data.intents, vectors))
    if len(sets) < 2:
        print("patterns: skipped, Banking77 or HWU64 absent from", datasets.SHARED_DATA)
        return None
    samples = sample_runs(store, embedder)
    runs = {}
    for data in sets:
        runs[data.name] = intent_runs(data)
        print(f"  patterns, {data.name}: done", flush=True)
    folds = {}
    for held in sets:
        training = [runs[s.name] for s in sets if s is not held]
        setting = choose_pattern_setting(training, samples)
        run = runs[held.name]
        strays = stray_runs(held, [settings_of(setting)], HELD_OUT_STRAY_SEEDS)
        folds[held.name] = {
            "trained_on": [s.name for s in sets if s is not held] + ["sample projects"],
            "setting": setting,
            "ours": run["rows"][setting],
            "kmeans": run["kmeans"],
            "strays": strays["strays"],
            "stray_draws": strays["draws"],
            "strays_absorbed": strays["absorbed"][setting],
            "strays_per_draw": strays["per_draw"][setting],
            "strays_absorbed_in_choice_draws": run["strays"]["absorbed"][setting],
            "memories": run["memories"],
            "intents": len(set(held.intents)),
            "cohesive": {
                "intents": run["cohesive"]["intents"],
                "memories": run["cohesive"]["memories"],
                "ours": run["cohesive"]["rows"][setting],
                "kmeans": run["cohesive"]["kmeans"],
            },
        }
    return {
        "folds": folds,
        "all_sets_setting": choose_pattern_setting(list(runs.values()), samples),
        "shipped_setting": shipped_key(),
        "grid": {name: _grid(run) for name, run in runs.items()},
        "trade_off": {
            name: {**trade_off(run), "rows": _grid(run["trade_off"]), "kmeans": run["kmeans"]}
            for name, run in runs.items()
        },
        "samples": samples,
    }


def _grid(run: dict) -> dict:
    """Each setting's row of ``run`` with the share of strays it absorbed beside it."""
    return {
        key: {**row, "strays_absorbed": run["strays"]["absorbed"][key]}
        for key, row in run["rows"].items()
    }


# Duplicates in agent streams -----------------------------------------------------------------

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


# Report ------------------------------------------------------------------------------------


def _x(value: float | None) -> str:
    return "inf" if value is None else f"{value:.2f}"


def print_merging(merging_report: dict) -> None:
    print("\nMerging, leave one dataset out (each row: the set held out, the model fitted on the")
    print("paraphrase sets left in):")
    header = (
        f"{'held out':20s} {'P':>6s} {'R':>6s} {'cos R':>6s} {'x cos':>6s} {'cov R':>6s} "
        f"{'x cov':>6s} {'ACE P':>6s} {'ACE R':>6s} {'pairs':>6s}"
    )
    print(header)
    for name, f in merging_report["folds"].items():
        print(
            f"{name:20s} {f['precision']:6.3f} {f['recall']:6.3f} {f['cosine_recall']:6.3f} "
            f"{_x(f['ratio_cosine']):>6s} {f['coverage_recall']:6.3f} "
            f"{_x(f['ratio_coverage']):>6s} {f['ace']['precision']:6.3f} "
            f"{f['ace']['recall']:6.3f} {f['pairs']:6d}"
        )
    model = merging_report["all_sets"]["model"]
    print(
        "fitted on all paraphrase sets: "
        + ", ".join(f"{k} {v:.4f}" for k, v in model.items())
        + ("  (shipped)" if merging_report["shipped_matches_fit"] else "  (NOT the shipped model)")
    )
    print("in-sample, the shipped model on every set (not held out):")
    for name, f in merging_report["in_sample"].items():
        print(
            f"  {name:20s} P {f['precision']:.3f} R {f['recall']:.3f} x cos "
            f"{_x(f['ratio_cosine'])} x cov {_x(f['ratio_coverage'])}"
        )


def print_patterns(patterns_report: dict) -> None:
    print("\nPatterns, leave one dataset out (settings chosen on the other intent set and the")
    print("sample projects):")
    print(
        f"{'held out':10s} {'V':>6s} {'ARI':>6s} {'km V':>6s} {'km ARI':>7s} "
        f"{'pat/int':>8s} {'spread':>7s} {'left':>6s} {'strays in':>10s}  setting"
    )
    for name, f in patterns_report["folds"].items():
        ours, km = f["ours"], f["kmeans"]
        print(
            f"{name:10s} {ours['v_measure']:6.3f} {ours['ari']:6.3f} "
            f"{km['v_measure']:6.3f} {km['ari']:7.3f} {ours['patterns_per_intent']:8.2f} "
            f"{ours['intent_spread']:7.2f} {ours['left_out']:6.3f} "
            f"{f['strays_absorbed']:6.3f}/{f['strays']}  {f['setting']}"
        )
    print(
        f"strays absorbed at each fold's setting, over {len(HELD_OUT_STRAY_SEEDS)} draws (the"
        f" settings are chosen on the first {len(STRAY_SEEDS)}):"
    )
    for name, f in patterns_report["folds"].items():
        draws = f["strays_per_draw"]
        print(
            f"  {name:10s} {f['strays_absorbed']:.3f} of {f['strays']}, {min(draws):.3f} to "
            f"{max(draws):.3f} per draw ({f['strays_absorbed_in_choice_draws']:.3f} in the first "
            f"{len(STRAY_SEEDS)})"
        )
    print("on the intents cohesive enough for a pattern (average similarity at the threshold):")
    for name, f in patterns_report["folds"].items():
        c = f["cohesive"]
        ours, km = c["ours"], c["kmeans"]
        print(
            f"  {name:10s} {c['intents']} of {f['intents']} intents, {c['memories']:.3f} of the "
            f"memories: V {ours['v_measure']:.3f} ARI {ours['ari']:.3f} left {ours['left_out']:.3f}"
            f" (k-means V {km['v_measure']:.3f} ARI {km['ari']:.3f})"
        )
    print_trade_off(patterns_report["trade_off"])
    print(
        f"chosen on all sets: {patterns_report['all_sets_setting']} "
        f"(shipped: {patterns_report['shipped_setting']}); the whole grid:"
    )
    for name, found in patterns_report["grid"].items():
        for key, row in found.items():
            print(
                f"  {name:10s} {key}: V {row['v_measure']:.3f} ARI {row['ari']:.3f} "
                f"patterns {row['patterns']} left {row['left_out']:.3f} "
                f"strays in {row['strays_absorbed']:.3f} ({row['seconds']:.1f} s)"
            )
    for name, runs in patterns_report["samples"].items():
        for key, r in runs.items():
            print(
                f"  sample {name} {key}: V {r['v_measure']:.3f} noise {r['noise_absorbed']}"
                f" topics {r['topics_found']}/{r['topics']}"
                f" verdicts {'one pattern' if r['verdicts_one_pattern'] else 'split'}"
            )


def print_trade_off(trade_offs: dict) -> None:
    print(
        f"\nStrays against V and ARI: the stray test swept at the shipped threshold and overlap,"
        f"\nread on each set itself (bounds on the stray test, not held-out figures; target: at"
        f"\nmost {STRAY_TARGET:.0%} of strays absorbed, V >= k-means, ARI >= 0.9 x k-means;"
        f"\nstrays on the first {len(STRAY_SEEDS)} draws, several points off at each setting):"
    )
    for name, t in trade_offs.items():
        km = t["kmeans"]
        print(f"  {name} (k-means V {km['v_measure']:.3f} ARI {km['ari']:.3f}):")
        for key, row in t["rows"].items():
            print(
                f"    {key}: V {row['v_measure']:.3f} ARI {row['ari']:.3f} "
                f"left {row['left_out']:.3f} strays in {row['strays_absorbed']:.3f}"
            )
        within, meeting = t["within_stray_target"], t["meeting_targets"]
        print(
            f"    strays within the target, best: {within}"
            if within
            else "    no setting keeps strays within the target"
        )
        print(
            f"    V and ARI targets met, fewest strays: {meeting}"
            if meeting
            else "    no setting meets the V and ARI targets"
        )


def print_duplicates(duplicates: dict) -> None:
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
    parser.parse_args(argv)
    strict = os.environ.get("CI", "").lower() == "true"
    RESULTS.mkdir(exist_ok=True)
    store = MemoryStore(f"sqlite:///{RESULTS / 'embeddings.db'}")
    embedder = make_embedder()
    started = time.perf_counter()
    sets = merge_sets(store, embedder)
    missing = {*PARAPHRASE_SETS, *INTENT_SETS} - {s.name for s in sets}
    if missing and strict:
        raise SystemExit(f"CI=true needs every dev set; absent: {sorted(missing)}")
    report = {
        "machine": machine(),
        "merging": merging_section(sets),
        "patterns": patterns_section(store, embedder),
        "duplicates": duplicates_section(store, embedder, MergeSettings()),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"machine: {report['machine']}; {report['seconds']} s")
    if report["merging"]:
        print_merging(report["merging"])
    if report["patterns"]:
        print_patterns(report["patterns"])
    if report["duplicates"]:
        print_duplicates(report["duplicates"])
    (RESULTS / "quality.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
