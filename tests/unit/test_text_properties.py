"""Properties of the text helpers.

References: ``class_keywords`` against a c-TF-IDF written here from its docstring (share of
the class's documents holding a term times ``log(1 + A / f)``, a term needing two documents of
its class unless the class has one, best first with ties by vocabulary order, no word reused
across chosen terms, at most ``top`` terms); ``word_coverage`` against its definition;
``details_conflict`` and ``word_coverage`` for symmetry and identity; ``shorten`` and
``lead_sentences`` for their length limit; ``sentences`` for losing nothing but spaces;
``capitalised_names`` against a scan of the text's word runs.

Cases run: 100 (keywords), 200 each for the small algebraic and string properties.
"""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.text import (
    capitalised_names,
    class_keywords,
    content_words,
    details,
    details_conflict,
    key_sentence,
    lead_sentences,
    normalize,
    sentences,
    shorten,
    term_matrix,
    word_coverage,
)
from tests.unit.strategies import PROPERTY_SETTINGS, TOPIC_WORDS, base_texts, memory_texts

free_text = st.text(
    alphabet=st.sampled_from([*"abcXYZ019 .,;:!?()'\"`-_/\t\n", "\u00a0", "\u2028", "é"]),
    max_size=80,
)
any_text = st.one_of(free_text, base_texts())
word_sets = st.frozensets(st.sampled_from(TOPIC_WORDS[:8]), max_size=6)


def brute_keywords(
    documents: list[str], classes: list[int], n_classes: int, top: int
) -> list[tuple[str, ...]]:
    terms = term_matrix(documents)
    dense = terms.counts.toarray() > 0
    vocabulary = [str(v) for v in terms.vocabulary]
    result: list[tuple[str, ...]] = []
    average = max(len(documents) / max(n_classes, 1), 1.0)
    for c in range(n_classes):
        members = [i for i, label in enumerate(classes) if label == c]
        needed = 2 if len(members) >= 2 else 1
        scored = []
        for t in range(len(vocabulary)):
            found = sum(bool(dense[i, t]) for i in members)
            if found >= needed and members:
                frequency = int(dense[:, t].sum())
                scored.append((-(found / len(members) * math.log1p(average / frequency)), t))
        chosen: list[str] = []
        words: set[str] = set()
        for _, t in sorted(scored):
            if len(chosen) >= top:
                break
            if set(vocabulary[t].split()) & words:
                continue
            chosen.append(vocabulary[t])
            words |= set(vocabulary[t].split())
        result.append(tuple(chosen))
    return result


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(memory_texts(max_n=30), st.integers(0, 5), st.integers(0, 6), st.data())
def test_class_keywords_match_brute_force_ctfidf(
    documents: list[str], n_classes: int, top: int, data: st.DataObject
) -> None:
    n = len(documents)
    classes = data.draw(st.lists(st.integers(-1, n_classes - 1), min_size=n, max_size=n))
    terms = term_matrix(documents)
    got = class_keywords(terms, np.array(classes, dtype=np.int64), n_classes, top)
    assert got == brute_keywords(documents, classes, n_classes, top)


def test_regression_a_snake_case_name_opening_a_sentence_is_a_detail() -> None:
    """Only lower-case snake_case names counted, so "Api_key the pool." committed to nothing
    while the writer, lower-casing the sentence into its frame, wrote a detail of its own."""
    assert details("Api_key the pool.") == details("api_key the pool.") == {"api_key"}


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(word_sets, word_sets)
def test_word_coverage_is_symmetric_and_matches_its_definition(
    a: frozenset[str], b: frozenset[str]
) -> None:
    coverage = word_coverage(a, b)
    assert coverage == word_coverage(b, a)
    assert word_coverage(a, a) == 1.0
    expected = 1.0 if not a and not b else len(a & b) / max(len(a), len(b))
    assert coverage == expected and 0.0 <= coverage <= 1.0


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(word_sets, word_sets)
def test_details_conflict_is_symmetric_and_irreflexive(
    a: frozenset[str], b: frozenset[str]
) -> None:
    assert details_conflict(a, b) == details_conflict(b, a)
    assert not details_conflict(a, a)
    assert not details_conflict(a, a | b), "adding details is not a conflict"
    assert details_conflict(a, b) == (bool(a - b) and bool(b - a))


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(any_text)
def test_normalised_copies_share_words_and_normalise_once(text: str) -> None:
    assert normalize(normalize(text)) == normalize(text)
    assert content_words(normalize(text)) == content_words(text)
    assert isinstance(details(text), frozenset)


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(any_text, st.integers(1, 60))
def test_shorten_never_exceeds_the_limit(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    collapsed = " ".join(text.split())
    if len(collapsed) <= limit:
        assert short == collapsed
    else:
        assert short.endswith("…") and collapsed.startswith(short[:-1])


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(any_text, st.integers(1, 60))
def test_lead_sentences_never_exceed_the_limit(text: str, limit: int) -> None:
    assert len(lead_sentences(text, limit)) <= limit


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(st.lists(any_text, max_size=5).map(" ".join), st.lists(st.sampled_from(TOPIC_WORDS)))
def test_sentences_lose_nothing_but_spaces(text: str, keywords: list[str]) -> None:
    parts = sentences(text)
    assert all(p and p == p.strip() for p in parts)

    def visible(s: str) -> str:
        return "".join(c for c in s if not c.isspace())

    assert visible("".join(parts)) == visible(text)
    assert key_sentence(text, keywords) in (parts or [text.strip()])


def test_regression_top_zero_keywords_means_none() -> None:
    """The length check ran after the first append, so ``top=0`` returned every term."""
    terms = term_matrix(["database"])
    assert class_keywords(terms, np.array([0]), 1, 0) == [()]


def test_regression_normalize_strips_punctuation_behind_spaces() -> None:
    """Spaces were stripped before edge punctuation and not after, so ``"0: :"`` kept a
    colon (and normalising again changed it): the same text spelled with a trailing ``" :"``
    did not count as an exact duplicate."""
    assert normalize("0: :") == "0"
    assert normalize("fix the pool . :") == normalize("Fix the pool")


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(st.lists(st.text(alphabet="ABCDXYZabc019_ .,:-", max_size=8), max_size=8))
def test_capitalised_names_are_the_words_in_capitals(words: list[str]) -> None:
    """Against a scan of the text's word-character runs: a run of three or more capitals and
    digits, starting with a capital, is a name."""
    text = " ".join(words)
    runs = re.findall(r"\w+", text)
    expected = {
        r.lower()
        for r in runs
        if len(r) >= 3 and r[0].isupper() and all(c.isupper() or c.isdigit() for c in r)
    }
    assert capitalised_names(text) == expected
