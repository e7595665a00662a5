"""The dates a query names, as time windows that search can match against when memories were made.

An agent asking "what failed on 7 July, 2023" or "what did we change in March 2024" names the
time it means; the memories written then are the likeliest answers, whatever their words. This
module finds explicit dates in a query and turns each into a half-open window of UTC epoch
seconds:

- a day (``7 July, 2023``, ``July 7, 2023``, ``2023-07-07``): that day;
- a month (``March 2024``): that month;
- ``before``/``until``/``prior to`` a date: that date and the ``NEAR_DAYS`` days before it, since
  "the week before August 3" means shortly before (and is often told on August 3), not any
  time before;
- ``after``/``since`` a date: that date and the ``NEAR_DAYS`` days after it.

A bare year is ignored: it covers too much to point at any memory. Relative words ("last week",
"yesterday") are ignored too: the query does not say when it was asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

NEAR_DAYS = 31
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_MONTH_NUMBER.update({name[:3]: number for name, number in list(_MONTH_NUMBER.items())})
_MONTH_NUMBER["sept"] = 9
_MONTH = "(" + "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True)) + r")\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}}){_ORDINAL},?\s+(\d{{4}})\b")
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+(\d{{4}})\b")
_BEFORE = re.compile(r"\b(?:before|until|till|prior\s+to|by)\s+(?:the\s+)?$")
_AFTER = re.compile(r"\b(?:after|since|from)\s+(?:the\s+)?$")


@dataclass(frozen=True)
class Window:
    """A half-open span of time, ``start <= t < end``, in UTC epoch seconds."""

    start: float
    end: float

    def holds(self, first: float, last: float) -> bool:
        """Whether an item made between ``first`` and ``last`` (inclusive) lies within it."""
        return first >= self.start and last < self.end


def query_windows(text: str) -> list[Window]:
    """The windows of the explicit dates in ``text``, in order of appearance."""
    lowered = text.lower()
    found: list[tuple[int, Window]] = []
    taken: list[tuple[int, int]] = []
    for span, start, end in _days(lowered):
        taken.append(span)
        found.append((span[0], _widened(lowered, span[0], start, end)))
    for match in _MONTH_YEAR.finditer(lowered):
        span = match.span()
        if any(a < span[1] and span[0] < b for a, b in taken):
            continue
        start = _date(int(match.group(2)), _MONTH_NUMBER[match.group(1)], 1)
        if start is None:
            continue
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        found.append((span[0], _widened(lowered, span[0], start, end)))
    return [window for _, window in sorted(found, key=lambda pair: pair[0])]


def _days(text: str) -> list[tuple[tuple[int, int], datetime, datetime]]:
    """(span, start, end) of every valid day the text names, in any of the three spellings."""
    days = []
    for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy"), (_ISO_DAY, "ymd")):
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups(), strict=True))
            month = parts["m"]
            number = _MONTH_NUMBER.get(month) if not month.isdigit() else int(month)
            start = _date(int(parts["y"]), number, int(parts["d"]))
            if start is not None:
                days.append((match.span(), start, start + timedelta(days=1)))
    return days


def _date(year: int, month: int | None, day: int) -> datetime | None:
    if month is None:
        return None
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _widened(text: str, at: int, start: datetime, end: datetime) -> Window:
    """The window of a date, stretched back or forward when a word before it says so."""
    before = text[max(0, at - 20) : at]
    if _BEFORE.search(before):
        start -= timedelta(days=NEAR_DAYS)
    elif _AFTER.search(before):
        end += timedelta(days=NEAR_DAYS)
    return Window(start.timestamp(), end.timestamp())
