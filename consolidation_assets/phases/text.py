"""Text helpers shared by the phases: normalisation, details, negation, keywords, sentences."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = ".,;:!?()[]{}\"'"
_NUMBER = re.compile(r"(?<![\w.:/-])\d[\d,]*(?:[.:]\d+)*%?(?![\w])")
_IDENTIFIER = re.compile(
    r"`[^`]{1,80}`"  # code spans
    r"|(?<![\w-])--?[a-zA-Z][\w-]+"  # command-line flags
    r"|\b[\w.-]*\d[\w.-]*\b"  # tokens with digits: v2, ORA-01555, e4xx, utf8
    r"|[\w.~-]*[/\\][\w./\\~-]+"  # paths and URLs
    r"|\b\w+\.(?:py|js|ts|tsx|jsx|json|ya?ml|toml|sql|cfg|ini|md|sh|kt|swift|java|go|rs)\b"
    r"|\b[a-zA-Z][a-z0-9]*_[a-z0-9_]+\b"  # snake_case, also capitalised
    r"|\b[a-z]+[A-Z]\w*\b"  # camelCase identifiers
    r"|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"  # CONSTANT_NAMES
    r"|\b\w+(?:\.\w+){1,}\(?\)?"  # dotted names: settings.DATABASE_URL, os.path.join()
)
_CAPITALS = re.compile(r"\b[A-Z][A-Z0-9]{2,}\b")
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|cannot|avoid|disable|disabled|disables|disabling|"
    r"none|nothing|neither|nor|stop|stopped)\b|n't\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9`\"'(])")
_TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9_]+(?:[.-][a-zA-Z0-9_]+)*\b"
_CONTRACTION_STEMS = (
    "didn",
    "doesn",
    "don",
    "isn",
    "wasn",
    "weren",
    "shouldn",
    "couldn",
    "wouldn",
    "won",
    "aren",
    "hasn",
    "haven",
    "hadn",
    "ll",
    "ve",
    "re",
)
_STOP_WORDS = sorted(ENGLISH_STOP_WORDS.union(_CONTRACTION_STEMS))
_STOP_WORDS_SET = frozenset(_STOP_WORDS)
STOP_WORDS = _STOP_WORDS_SET


def normalize(text: str) -> str:
    """Lower case, single spaces, no edge punctuation: what exact duplicates share."""
    return _SPACE.sub(" ", text).strip(_EDGE_PUNCT + " ").lower()


@functools.lru_cache(maxsize=100_000)
def details(text: str) -> frozenset[str]:
    """Numbers, versions, paths, identifiers and error codes a text commits to.

    Two texts that commit to different details (port 5432 and port 5433, v2.1 and v2.2) are
    not duplicates however similar their embeddings are. Cached: the writer asks again of every
    memory and sentence each principle and entry cites.
    """
    found = {m.group(0).replace(",", "").rstrip("%") for m in _NUMBER.finditer(text)}
    for match in _IDENTIFIER.finditer(text):
        raw = match.group(0)
        token = raw.strip("`").strip(_EDGE_PUNCT).lower()
        if not any(c.isalpha() for c in token):
            continue
        marked = raw.startswith(("`", "-")) or any(c.isupper() for c in raw[1:])
        if marked or not token.isalpha():
            found.add(token)
    return frozenset(found)


def capitalised_names(text: str) -> frozenset[str]:
    """Words written in capitals, three characters or more (REPORTER, SDK, GDPR), lower-cased.

    In agents' notes these name roles, constants, services and standards: two texts that name
    different ones describe different things, though as words they say little on their own.
    """
    return frozenset(m.group(0).lower() for m in _CAPITALS.finditer(text))


def is_negated(text: str) -> bool:
    """Whether the text negates or disables something ("do not", "never", "disable")."""
    return _NEGATION.search(text) is not None


def details_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when each side holds a detail the other lacks: they describe different facts.

    One side adding details to the other (a fix "raise pool_size to 20" next to "raise the pool
    size") is not a conflict; the merge keeps the richer text's details.
    """
    return bool(a - b) and bool(b - a)


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> frozenset[str]:
    """The text's words without stop words, crudely stemmed: what it talks about."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS_SET)


def word_coverage(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the wordier side's content words the other side also uses.

    Two memories that say the same thing use mostly the same words; a memory that adds a clause
    of its own (a different fact) leaves part of its words uncovered.
    """
    if not a and not b:
        return 1.0
    return len(a & b) / max(len(a), len(b))


def sentences(text: str) -> list[str]:
    """The sentences of a text, split on terminal punctuation followed by a capital."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def key_sentence(text: str, keywords: Sequence[str]) -> str:
    """The sentence of ``text`` that uses most of the keywords' words (the first on a tie)."""
    parts = sentences(text) or [text.strip()]
    words = {w for k in keywords for w in k.lower().split()}

    def hits(sentence: str) -> int:
        return len(words & set(_WORD.findall(sentence.lower())))

    return max(parts, key=lambda s: (hits(s), -parts.index(s)))


def lead_sentences(text: str, limit: int) -> str:
    """Whole sentences from the start of ``text`` up to ``limit`` characters (at least one,
    shortened if it alone is longer)."""
    parts = sentences(text) or [text.strip()]
    kept = [parts[0]]
    for sentence in parts[1:]:
        if len(" ".join([*kept, sentence])) > limit:
            break
        kept.append(sentence)
    return shorten(" ".join(kept), limit)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, marked with an ellipsis."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(_EDGE_PUNCT + " ")
    return cut + "…"


@dataclass(frozen=True)
class TermMatrix:
    """Which terms (words and word pairs, no stop words) each document contains."""

    counts: sparse.csr_matrix
    vocabulary: np.ndarray


def term_matrix(documents: Sequence[str]) -> TermMatrix:
    """The binary document-term matrix keywords are drawn from, built once per batch."""
    vectorizer = CountVectorizer(
        token_pattern=_TOKEN_PATTERN,
        ngram_range=(1, 2),
        stop_words=_STOP_WORDS,
        binary=True,
        lowercase=True,
        dtype=np.int32,
    )
    try:
        counts = vectorizer.fit_transform(list(documents)).tocsr()
    except ValueError:
        return TermMatrix(sparse.csr_matrix((len(documents), 0), dtype=np.int32), np.array([]))
    return TermMatrix(counts, vectorizer.get_feature_names_out())


def class_keywords(
    terms: TermMatrix,
    classes: np.ndarray,
    n_classes: int,
    top: int,
) -> list[tuple[str, ...]]:
    """Distinctive keywords per class by class-based TF-IDF.

    ``classes[i]`` is the class of document ``i`` of ``terms`` (``-1`` for documents that only
    serve as background). A term scores by the share of the class's documents that contain it,
    times ``log(1 + A / f)`` with ``f`` the number of documents anywhere that contain it and
    ``A`` the average number of documents per class, so words common to the whole project score
    low. A term must occur in at least two documents of its class (one for a one-document class).
    """
    result: list[tuple[str, ...]] = [() for _ in range(n_classes)]
    n_documents = terms.counts.shape[0]
    if n_classes == 0 or n_documents == 0 or terms.vocabulary.size == 0:
        return result
    classes = np.asarray(classes)
    member = classes >= 0
    membership = sparse.csr_matrix(
        (np.ones(int(member.sum())), (classes[member], np.flatnonzero(member))),
        shape=(n_classes, n_documents),
    )
    class_counts = (membership @ terms.counts).tocsr()
    class_sizes = np.asarray(membership.sum(axis=1)).ravel()
    document_frequency = np.asarray(terms.counts.sum(axis=0)).ravel()
    average = max(n_documents / max(n_classes, 1), 1.0)
    idf = np.log1p(average / np.maximum(document_frequency, 1))
    for c in range(n_classes):
        start, end = class_counts.indptr[c], class_counts.indptr[c + 1]
        found = class_counts.indices[start:end]
        freq = class_counts.data[start:end]
        needed = 2 if class_sizes[c] >= 2 else 1
        keep = freq >= needed
        found, freq = found[keep], freq[keep]
        if found.size == 0:
            continue
        scores = freq / class_sizes[c] * idf[found]
        order = np.lexsort((found, -scores))
        chosen: list[str] = []
        chosen_words: set[str] = set()
        for t in order:
            if len(chosen) >= top:
                break
            term = str(terms.vocabulary[found[t]])
            words = set(term.split())
            if words & chosen_words:
                continue
            chosen.append(term)
            chosen_words |= words
        result[c] = tuple(chosen)
    return result


def title_case_keywords(keywords: Sequence[str], limit: int = 3) -> str:
    """The first keywords joined for a heading: "connection pool, alembic and migrations"."""
    words = [k for k in keywords[:limit] if k]
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def saturating(count: float, scale: float) -> float:
    """``1 - exp(-count / scale)``: how much more evidence still adds."""
    return 1.0 - math.exp(-max(count, 0.0) / scale)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; pipes and line breaks inside cells are escaped."""

    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
