from __future__ import annotations

import time

import pytest

from indexer.dates import DateError, date_bounds, normalize_published


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2016-09-08", "2016-09-08"),
        ("2016-09-08T19:05:00+05:00", "2016-09-08T14:05:00Z"),
        ("2016-09-08T14:05:00Z", "2016-09-08T14:05:00Z"),
        ("2016-09-08T14:05:00", "2016-09-08T14:05:00Z"),  # naive: taken as UTC
        (" 2016-09-08 ", "2016-09-08"),
        (None, None),
    ],
)
def test_published_dates_get_one_sortable_form(value: str | None, stored: str | None) -> None:
    assert normalize_published(value) == stored


def test_a_feed_struct_time_is_utc() -> None:
    parsed = time.strptime("2016-09-08 14:05:00", "%Y-%m-%d %H:%M:%S")
    assert normalize_published(parsed) == "2016-09-08T14:05:00Z"


@pytest.mark.parametrize("value", ["yesterday", "2016-13-01", "08/09/2016", ""])
def test_a_date_that_is_not_iso_8601_is_refused_clearly(value: str) -> None:
    with pytest.raises(DateError, match="ISO 8601|empty"):
        normalize_published(value)


def test_until_includes_its_whole_day_and_since_must_come_first() -> None:
    assert date_bounds("2017-01-01", None) == ("2017-01-01", None)
    assert date_bounds(None, "2016-12-31") == (None, "2017-01-01")
    assert date_bounds(None, "2016-12-31T23:00:00Z") == (None, "2016-12-31T23:00:01Z")
    low, high = date_bounds("2016-09-08", "2016-09-08")
    # A date-time of that day sorts inside the bounds, as stored.
    assert low <= "2016-09-08T14:05:00Z" < high
    with pytest.raises(DateError, match="after until"):
        date_bounds("2017-01-02", "2017-01-01")
