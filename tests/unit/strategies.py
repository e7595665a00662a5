"""Shared hypothesis strategies and settings for the phase property tests.

The generators are built to hit what breaks vectorised numpy code: empty and single-row inputs,
exact duplicate rows, all-identical rows, exact ties between different pairs (vectors on a small
integer grid), isolated rows, and neighbour lists with ``-1`` holes, self references and
repeats. Small cases are drawn element by element so that a failure shrinks to a literal that
can be pasted into a regression test; large ones (up to about 200 rows) come from a seeded numpy
generator so they stay cheap to draw.

Vectors are synthetic: the properties are about the algorithms, not about the embedding model,
which is tested elsewhere.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from consolidation_assets.phases.text import content_words, normalize
from consolidation_assets.phases.types import MemoryBatch

# Derandomised so a run is reproducible (CI and a developer see the same cases), no deadline
# (numpy's first call in a process is slow and would look like flakiness), no example database
# (nothing written into the repository). Tests override ``max_examples`` to fit the time budget.
PROPERTY_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def normalized_rows(raw: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32 (an all-zero row becomes the first axis)."""
    raw = np.array(raw, dtype=np.float64)
    if raw.size:
        zero = ~raw.any(axis=1)
        raw[zero, 0] = 1.0
    norms = np.linalg.norm(raw, axis=1, keepdims=True) if raw.size else np.ones((0, 1))
    return (raw / np.maximum(norms, 1e-300)).astype(np.float32)


@st.composite
def _literal_vectors(draw: st.DrawFn, min_n: int, max_n: int) -> np.ndarray:
    """A few vectors on the integer grid [-3, 3]^d: ties and duplicates are common."""
    dim = draw(st.integers(2, 4))
    n = draw(st.integers(min_n, max_n))
    rows = draw(
        st.lists(st.lists(st.integers(-3, 3), min_size=dim, max_size=dim), min_size=n, max_size=n)
    )
    return normalized_rows(np.array(rows, dtype=np.float64).reshape(n, dim))


@st.composite
def _seeded_vectors(draw: st.DrawFn, min_n: int, max_n: int) -> np.ndarray:
    """Up to ``max_n`` vectors of one of several shapes, some rows copied from others."""
    n = draw(st.integers(max(min_n, min(9, max_n)), max_n))
    dim = draw(st.integers(2, 12))
    kind = draw(st.sampled_from(["gaussian", "clustered", "grid", "identical"]))
    duplicate_share = draw(st.sampled_from([0.0, 0.0, 0.1, 0.4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "gaussian":
        raw = rng.standard_normal((n, dim))
    elif kind == "clustered":
        centres = rng.standard_normal((max(1, n // 15), dim))
        raw = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.standard_normal((n, dim))
        isolated = rng.random(n) < 0.1
        raw[isolated] = rng.standard_normal((int(isolated.sum()), dim))
    elif kind == "grid":
        raw = rng.integers(-2, 3, (n, dim)).astype(np.float64)
    else:
        raw = np.tile(rng.standard_normal(dim), (n, 1))
    if n > 1 and duplicate_share:
        copies = np.flatnonzero(rng.random(n) < duplicate_share)
        copies = copies[copies > 0]
        raw[copies] = raw[rng.integers(0, copies, copies.size)]
    return normalized_rows(raw)


def unit_vectors(min_n: int = 0, max_n: int = 200) -> st.SearchStrategy[np.ndarray]:
    """(n, d) float32 unit rows with duplicates, ties, isolated rows and single rows.

    A third of the cases are up to 8 literal grid vectors (where failures shrink to), the rest
    are larger seeded sets.
    """
    small = _literal_vectors(min_n, min(max_n, 8)) if min_n <= 8 else st.nothing()
    large = _seeded_vectors(min_n, max_n)
    return st.one_of(small, large, large)


def brute_top_k(vectors: np.ndarray, k: int, base: np.ndarray | None = None) -> np.ndarray:
    """The exact top-``k`` of each row by float64 cosine, ties by lower index, ``-1`` padded.

    Without ``base`` the rows are searched among themselves, each excluding itself.
    """
    exclude_self = base is None
    base = vectors if base is None else base
    sims = vectors.astype(np.float64) @ base.astype(np.float64).T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")
    available = base.shape[0] - (1 if exclude_self else 0)
    out = np.full((vectors.shape[0], k), -1, dtype=np.int64)
    take = max(0, min(k, available))
    out[:, :take] = order[:, :take]
    return out


@st.composite
def neighbor_lists(draw: st.DrawFn, vectors: np.ndarray, max_k: int = 12) -> np.ndarray:
    """Neighbour lists over ``vectors``: true nearest ones, with holes and some noise.

    Each entry may become ``-1`` (a hole), a random row (possibly the row itself or a repeat),
    so the consumer must cope with anything a stored or approximate graph could hold.
    """
    n = vectors.shape[0]
    k = draw(st.integers(0, max_k))
    lists = brute_top_k(vectors, k)
    if n == 0 or k == 0:
        return lists
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hole_share = draw(st.sampled_from([0.0, 0.2, 0.6]))
    noise_share = draw(st.sampled_from([0.0, 0.1]))
    lists[rng.random(lists.shape) < hole_share] = -1
    noisy = rng.random(lists.shape) < noise_share
    lists[noisy] = rng.integers(0, n, int(noisy.sum()))
    return lists


# Words to build memory texts from: a topic vocabulary, details the guard reads (numbers,
# versions, paths, identifiers, error codes, flags, camelCase names), and negations.
TOPIC_WORDS = [
    *("database", "connection", "pool", "timeout", "retry", "cache", "deploy", "migration"),
    *("index", "query", "worker", "queue", "token", "auth", "config", "build", "docker"),
    *("image", "memory", "staging", "server", "client", "schema", "table"),
]
FILLER_WORDS = ["the", "a", "for", "when", "on", "with", "after", "before", "in", "to", "of", "and"]
DETAILS = (
    "5432",
    "5433",
    "20",
    "30%",
    "v2.1",
    "v2.2",
    "1.4.0",
    "src/app/settings.py",
    "/etc/nginx.conf",
    "config.yaml",
    "pool_size",
    "max_overflow",
    "ORA-01555",
    "--force",
    "`make test`",
    "fooBar",
    "MAX_RETRIES",
)
NEGATIONS = ("not", "never", "don't", "disable", "without", "no")
MEMORY_TYPES = ("error_fix", "warning", "decision", "discovery", "codebase_knowledge", "learning")


@st.composite
def base_texts(draw: st.DrawFn) -> str:
    """A memory text: topic words and fillers, maybe a detail or two, maybe a negation."""
    words = draw(st.lists(st.sampled_from(TOPIC_WORDS + FILLER_WORDS), min_size=1, max_size=10))
    for _ in range(draw(st.integers(0, 2))):
        words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(DETAILS)))
    if draw(st.booleans()):
        words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(NEGATIONS)))
    return " ".join(words)


@st.composite
def variant_of(draw: st.DrawFn, text: str) -> str:
    """A text close to ``text``: a copy, a case or spacing variant (lower case turns an
    identifier like ``fooBar`` into a plain word), one more or other detail, a negated one,
    one word more or less."""
    kind = draw(
        st.sampled_from(
            [
                "copy",
                "upper",
                "lower",
                "title",
                "spaces",
                "punct",
                "add",
                "swap",
                "negate",
                "drop",
                "word",
            ]
        )
    )
    words = text.split(" ")
    if kind == "copy":
        return text
    if kind == "upper":
        return text.upper()
    if kind == "lower":
        return text.lower()
    if kind == "title":
        return text.title()
    if kind == "spaces":
        return "  " + "\t ".join(words) + " \n"
    if kind == "punct":
        return text + draw(st.sampled_from([".", "!", ";", "..."]))
    if kind == "add":
        return text + " " + draw(st.sampled_from(DETAILS))
    if kind == "swap":
        changed = [draw(st.sampled_from(DETAILS)) if w in DETAILS else w for w in words]
        return " ".join(changed)
    if kind == "negate":
        return draw(st.sampled_from(NEGATIONS)) + " " + text
    if kind == "drop" and len(words) > 1:
        del words[draw(st.integers(0, len(words) - 1))]
        return " ".join(words)
    return text + " " + draw(st.sampled_from(TOPIC_WORDS))


@st.composite
def memory_texts(draw: st.DrawFn, min_n: int = 0, max_n: int = 40) -> list[str]:
    """Texts in families: a few base texts, each followed by variants of itself."""
    n = draw(st.integers(min_n, max_n))
    texts: list[str] = []
    while len(texts) < n:
        base = draw(base_texts())
        texts.append(base)
        for _ in range(min(draw(st.integers(0, 5)), n - len(texts))):
            texts.append(draw(variant_of(base)))
    permutation = draw(st.permutations(range(n)))
    return [texts[i] for i in permutation]


def word_vector(word: str, dim: int) -> np.ndarray:
    """A fixed random unit direction per word (seeded by the word's checksum)."""
    rng = np.random.default_rng(zlib.crc32(word.encode("utf-8")))
    vector = rng.standard_normal(dim)
    return vector / np.linalg.norm(vector)


def text_vectors(texts: list[str], noise: float, seed: int, dim: int = 16) -> np.ndarray:
    """Synthetic embeddings: the sum of the content words' directions plus per-text noise.

    Texts that use the same words point the same way (as a sentence model would have them),
    and normalised-equal texts get identical vectors, like a model that ignores case.
    """
    rows = []
    for text in texts:
        key = normalize(text)
        rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
        raw = sum((word_vector(w, dim) for w in sorted(content_words(key))), np.zeros(dim))
        rows.append(raw + noise * rng.standard_normal(dim))
    return normalized_rows(np.array(rows).reshape(len(texts), dim))


def batch_of(
    texts: list[str],
    vectors: np.ndarray,
    types: list[str] | None = None,
    success: list[bool | None] | None = None,
    tasks: list[str | None] | None = None,
    minutes: list[int] | None = None,
    prefix: str = "m",
) -> MemoryBatch:
    """A MemoryBatch over ``texts`` and ``vectors`` with default metadata where none is given."""
    n = len(texts)
    return MemoryBatch(
        ids=[f"{prefix}{i:04d}" for i in range(n)],
        texts=list(texts),
        vectors=vectors,
        memory_types=list(types or ["discovery"] * n),
        success=list(success or [None] * n),
        task_ids=list(tasks or [f"task-{i}" for i in range(n)]),
        created_at=[START + timedelta(minutes=m) for m in (minutes or list(range(n)))],
    )


@st.composite
def text_batches(draw: st.DrawFn, min_n: int = 0, max_n: int = 40) -> MemoryBatch:
    """A MemoryBatch of generated text families with text-derived synthetic vectors and
    shuffled metadata (creation times may tie, tasks may repeat)."""
    texts = draw(memory_texts(min_n, max_n))
    n = len(texts)
    noise = draw(st.sampled_from([0.0, 0.05, 0.3]))
    vectors = text_vectors(texts, noise, draw(st.integers(0, 2**16)))
    types = draw(st.lists(st.sampled_from(MEMORY_TYPES), min_size=n, max_size=n))
    success = draw(st.lists(st.sampled_from([None, True, False]), min_size=n, max_size=n))
    tasks = draw(st.lists(st.sampled_from([None, "t1", "t2", "t3", "t4"]), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    return batch_of(texts, vectors, types, success, tasks, minutes)


@st.composite
def clustered_batches(draw: st.DrawFn, min_n: int = 0, max_n: int = 200) -> MemoryBatch:
    """A MemoryBatch whose vectors form themes of topics of memories (so patterns form and
    group into principles), with duplicated texts and isolated memories among them.

    A topic's direction shares ``a`` of its theme's (topics of one theme are about ``a**2``
    similar), and a memory sits at relative noise ``s`` around its topic (about
    ``1 / (1 + s**2)`` similar to its topic's other memories): the draws put memories of one
    topic well above the pattern threshold and topics of one theme around the hierarchy's.
    Themes may share some (``c``, drawn per theme) of a common direction (topics of themes
    ``c1`` and ``c2`` about ``a**2 * c1 * c2`` similar), so that principles group further.
    """
    n = draw(st.integers(min_n, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dim = 24
    domain = normalized_rows(rng.standard_normal((1, dim)))
    own_theme = normalized_rows(rng.standard_normal((draw(st.integers(1, 6)), dim)))
    related = rng.uniform(0.0, draw(st.sampled_from([0.0, 0.9])), (len(own_theme), 1))
    themes = related * domain + np.sqrt(1 - related**2) * own_theme
    topics_per_theme = draw(st.integers(1, 5))
    share = draw(st.sampled_from([0.65, 0.7, 0.75]))
    theme_of = np.repeat(np.arange(len(themes)), topics_per_theme)
    own = normalized_rows(rng.standard_normal((theme_of.size, dim)))
    topics = share * themes[theme_of] + np.sqrt(1 - share**2) * own
    topic = rng.integers(0, len(topics), n)
    spread = draw(st.sampled_from([0.2, 0.35, 0.5]))
    raw = topics[topic] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim)
    isolated = rng.random(n) < 0.1
    raw[isolated] = rng.standard_normal((int(isolated.sum()), dim))
    texts = [
        f"topic {t} note {i}: " + " ".join(rng.choice(TOPIC_WORDS, size=6))
        for i, t in enumerate(topic.tolist())
    ]
    duplicated = np.flatnonzero(rng.random(n) < draw(st.sampled_from([0.0, 0.2])))
    for i in duplicated[duplicated > 0].tolist():
        j = int(rng.integers(0, i))
        texts[i], raw[i] = texts[j].upper(), raw[j]
    types = [MEMORY_TYPES[t] for t in rng.integers(0, len(MEMORY_TYPES), n).tolist()]
    success = [(None, True, False)[s] for s in rng.integers(0, 3, n).tolist()]
    tasks = [f"t{t}" for t in rng.integers(0, 6, n).tolist()]
    minutes = rng.integers(0, 100, n).tolist()
    return batch_of(texts, normalized_rows(raw), types, success, tasks, minutes)
