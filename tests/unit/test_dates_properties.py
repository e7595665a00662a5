"""Properties of the dates a query names: the windows against ``datetime`` arithmetic.

Reference: a day written in any of the spellings (``7 July, 2023``, ``July 7th 2023``,
``2023-07-07``, abbreviated months) is the window from its midnight UTC to the next; a month
(``July 2023``) from its first day to the next month's; ``before``/``until``/``prior to``
stretch the start back by ``NEAR_DAYS`` days, ``after``/``since`` the end forward. Dates are
drawn over 1990-2039 with every month and valid day; the words around them are drawn from
question-like fillers.

Cases run: 300 (days), 200 (months), 200 (no date), plus examples of real questions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consolidation_assets.phases.dates import NEAR_DAYS, Window, query_windows
from tests.unit.strategies import PROPERTY_SETTINGS

FILLERS = ["what", "did", "the", "deploy", "break", "we", "see", "errors", "in", "on", "at"]
MONTH_NAMES = [date(2000, m, 1).strftime("%B") for m in range(1, 13)]
words = st.lists(st.sampled_from(FILLERS), max_size=5).map(" ".join)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2039, 12, 31))
modifiers = st.sampled_from(["", "on", "before", "until", "prior to", "after", "since"])


def spell_day(day: date, style: int) -> str:
    month = MONTH_NAMES[day.month - 1]
    return [
        f"{day.day} {month}, {day.year}",
        f"{month} {day.day}, {day.year}",
        f"{month[:3]} {day.day}th {day.year}",
        day.isoformat(),
        f"the {day.day} of {month} {day.year}",
    ][style]


def expected(start: datetime, end: datetime, modifier: str) -> Window:
    if modifier in ("before", "until", "prior to"):
        start -= timedelta(days=NEAR_DAYS)
    elif modifier in ("after", "since"):
        end += timedelta(days=NEAR_DAYS)
    return Window(start.timestamp(), end.timestamp())


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(words, modifiers, days, st.integers(0, 4), words)
def test_a_day_in_any_spelling_is_that_day(
    before: str, modifier: str, day: date, style: int, after: str
) -> None:
    text = " ".join(p for p in (before, modifier, spell_day(day, style), after) if p) + "?"
    start = midnight(day)
    assert query_windows(text) == [expected(start, start + timedelta(days=1), modifier)]


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(words, modifiers, days, st.booleans())
def test_a_month_is_that_month(before: str, modifier: str, day: date, short: bool) -> None:
    month = MONTH_NAMES[day.month - 1]
    spelled = f"{month[:3] if short else month} {day.year}"
    text = " ".join(p for p in (before, modifier or "in", spelled) if p)
    start = midnight(day.replace(day=1))
    end = midnight((day.replace(day=28) + timedelta(days=4)).replace(day=1))
    assert query_windows(text) == [expected(start, end, modifier)]


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(st.lists(st.sampled_from([*FILLERS, "2023", "May", "last", "week", "12"]), max_size=8))
def test_no_full_date_no_window(parts: list[str]) -> None:
    """A bare year, a month without a year or a number alone names no window."""
    text = " ".join(parts)
    if not any(m in text for m in ("May 2023", "May 12 2023", "12 May 2023")):
        assert query_windows(text) == []


def window(first: str, last: str) -> Window:
    return Window(
        datetime.fromisoformat(first).replace(tzinfo=UTC).timestamp(),
        datetime.fromisoformat(last).replace(tzinfo=UTC).timestamp(),
    )


def test_windows_of_real_questions() -> None:
    assert query_windows("What did Maria participate in last weekend before April 10, 2023?") == [
        window("2023-03-10", "2023-04-11")
    ]
    assert query_windows("What happened to John's job in August 2023?") == [
        window("2023-08-01", "2023-09-01")
    ]
    assert query_windows("What new activity did Maria start, as mentioned on 3 June, 2023?") == [
        window("2023-06-03", "2023-06-04")
    ]
    assert query_windows("deploys since 2026-01-05 and on Feb 2nd, 2026") == [
        window("2026-01-05", "2026-02-06"),
        window("2026-02-02", "2026-02-03"),
    ]
    assert query_windows("How many times has Melanie gone to the beach in 2023?") == []
    assert query_windows("the 31 February 2023 release") == [window("2023-02-01", "2023-03-01")]


def test_a_window_holds_what_lies_within_it() -> None:
    day = window("2023-06-03", "2023-06-04")
    noon = datetime(2023, 6, 3, 12, tzinfo=UTC).timestamp()
    assert day.holds(noon, noon)
    assert not day.holds(noon, noon + 86400), "an item made over two days is not within one"
    assert not day.holds(day.end, day.end)
