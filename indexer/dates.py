"""Publish dates: one sortable ISO 8601 form for what pages, feeds and JSONL files give.

A stored ``published`` is either a date (``2016-09-08``) or a UTC date-time
(``2016-09-08T14:05:00Z``). Both sort as strings in time order, so SQLite compares them
directly; a date sorts before every time of that day.

>>> normalize_published("2016-09-08T19:05:00+05:00")
'2016-09-08T14:05:00Z'
>>> normalize_published("2016-09-08")
'2016-09-08'
>>> date_bounds("2017-01-01", "2017-01-31")
('2017-01-01', '2017-02-01')
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

__all__ = ["DateError", "date_bounds", "normalize_published", "parse_bound"]


class DateError(ValueError):
    """A value that is not an ISO 8601 date or date-time."""


def _parse(value: str) -> date | datetime:
    text = value.strip()
    if not text:
        raise DateError("the date is empty")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise DateError(
            f"{value!r} is not an ISO 8601 date (e.g. 2016-09-08 or 2016-09-08T14:05:00Z)"
        ) from None


def _utc(moment: datetime) -> str:
    """A date-time as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (a naive one is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_published(value: str | date | datetime | time.struct_time | None) -> str | None:
    """The stored form of a publish date (see the module docstring); None stays None.

    Raises:
        DateError: a string that is not ISO 8601.
    """
    if value is None:
        return None
    if isinstance(value, time.struct_time):  # feedparser's *_parsed fields are UTC
        return _utc(datetime(*value[:6], tzinfo=UTC))
    parsed = _parse(value) if isinstance(value, str) else value
    if isinstance(parsed, datetime):
        return _utc(parsed)
    return parsed.isoformat()


def parse_bound(value: str | None) -> date | datetime | None:
    """A ``since`` / ``until`` bound as given (a date, or a date-time); None when absent.

    Raises:
        DateError: not ISO 8601.
    """
    if value is None:
        return None
    return _parse(value)


def date_bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``(low, high)`` for ``low <= published < high`` in the stored form.

    ``until`` is inclusive: a date keeps that whole day, a date-time that moment.

    Raises:
        DateError: a bound that is not ISO 8601, or ``since`` after ``until``.
    """
    low_value, high_value = parse_bound(since), parse_bound(until)
    low = normalize_published(low_value) if low_value is not None else None
    high = None
    if high_value is not None:
        if isinstance(high_value, datetime):
            high = _utc(high_value + timedelta(seconds=1))
        else:
            high = (high_value + timedelta(days=1)).isoformat()
    if low is not None and high is not None and low >= high:
        raise DateError(f"since ({since}) is after until ({until})")
    return low, high
