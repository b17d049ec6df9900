"""UTC instants: the wire format, entry timestamps, user dates, durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.timeutil import (
    floor_day,
    format_wire,
    parse_duration,
    parse_entry_time,
    parse_user_instant,
    utc_now,
)

WIRE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
utc_datetimes = st.datetimes(timezones=st.just(UTC))
zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones
)


def _ms(d: datetime) -> datetime:
    return d.replace(microsecond=d.microsecond // 1000 * 1000)


# format_wire / parse_entry_time --------------------------------------------------


def test_format_wire_example():
    assert format_wire(datetime(2026, 10, 1, tzinfo=UTC)) == "2026-10-01T00:00:00.000Z"
    assert format_wire(datetime(2026, 10, 1, 1, 2, 3, 456789, tzinfo=UTC)) == "2026-10-01T01:02:03.456Z"


def test_format_wire_converts_other_zones_to_utc():
    tz = timezone(timedelta(hours=-3))
    assert format_wire(datetime(2025, 12, 31, 22, 0, tzinfo=tz)) == "2026-01-01T01:00:00.000Z"


def test_format_wire_pads_years_before_1000():
    """strftime's %Y does not pad on glibc; the wire format always has four digits."""
    assert format_wire(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000Z"


@given(aware_datetimes | utc_datetimes)
def test_format_wire_always_has_three_fractional_digits_and_z(instant):
    assert WIRE.match(format_wire(instant))


@given(utc_datetimes)
def test_wire_round_trip_is_the_instant_truncated_to_milliseconds(instant):
    assert parse_entry_time(format_wire(instant)) == _ms(instant)


@given(aware_datetimes)
def test_wire_round_trip_from_any_zone_is_the_same_instant(instant):
    back = parse_entry_time(format_wire(instant))
    assert back == _ms(instant)
    assert back.utcoffset() == timedelta(0)


@given(utc_datetimes, utc_datetimes)
def test_wire_text_sorts_like_time(a, b):
    if _ms(a) < _ms(b):
        assert format_wire(a) < format_wire(b)


def test_parse_entry_time_requires_a_zone_and_returns_utc():
    assert parse_entry_time("2025-03-01T12:00:00+02:00") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_entry_time("2025-03-01T10:00:00.5Z").tzinfo is UTC
    with pytest.raises(ValueError, match="no time zone"):
        parse_entry_time("2025-03-01T10:00:00")


@pytest.mark.parametrize("value", [None, 17, 1.5, ["2025-03-01T00:00:00Z"], "not a date", ""])
def test_parse_entry_time_rejects_non_iso_values_with_value_error(value):
    with pytest.raises(ValueError, match="createdAt"):
        parse_entry_time(value)


@given(st.text(max_size=40))
def test_parse_entry_time_is_an_aware_utc_datetime_or_a_value_error(text):
    try:
        parsed = parse_entry_time(text)
    except ValueError:
        return
    assert parsed.utcoffset() == timedelta(0)


# parse_user_instant --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        (" 2025-03-01 ", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T12:30", datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
        ("2025-03-01 12:30:15", datetime(2025, 3, 1, 12, 30, 15, tzinfo=UTC)),
        ("2025-03-01T12:30:00Z", datetime(2025, 3, 1, 12, 30, tzinfo=UTC)),
        ("2025-03-01T12:30:00+05:30", datetime(2025, 3, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_parse_user_instant_accepts_dates_and_datetimes_naive_meaning_utc(text, expected):
    parsed = parse_user_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "", "2025-13-01", "01/03/2025", "0001-01-01T00:00+01:00"])
def test_parse_user_instant_rejects_bad_input_with_a_value_error_naming_what(text):
    with pytest.raises(ValueError, match="^since "):
        parse_user_instant(text, what="since")


@given(st.text(max_size=40))
def test_parse_user_instant_is_a_utc_datetime_or_a_value_error(text):
    try:
        parsed = parse_user_instant(text)
    except ValueError:
        return
    assert parsed.tzinfo is UTC


# parse_duration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("500ms", timedelta(milliseconds=500)),
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        (" 3 h ", timedelta(hours=3)),
    ],
)
def test_parse_duration_units(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "2", "h", "-1h", "1.5h", "2hours", "2H", "1h30m", "99999999999d"])
def test_parse_duration_rejects_anything_else_with_a_value_error(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.text(max_size=20))
def test_parse_duration_is_a_non_negative_timedelta_or_a_value_error(text):
    try:
        parsed = parse_duration(text)
    except ValueError:
        return
    assert parsed >= timedelta(0)


@given(st.integers(0, 10**6), st.sampled_from(["ms", "s", "m", "h", "d", "w"]))
def test_parse_duration_of_any_count_and_unit(count, unit):
    per = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
           "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}[unit]
    assert parse_duration(f"{count}{unit}") == count * per


# floor_day / utc_now -------------------------------------------------------------


@given(aware_datetimes)
def test_floor_day_is_midnight_utc_of_the_instant(instant):
    floored = floor_day(instant)
    assert floored.tzinfo is UTC
    assert (floored.hour, floored.minute, floored.second, floored.microsecond) == (0, 0, 0, 0)
    assert floored <= instant < floored + timedelta(days=1)


def test_utc_now_is_aware_and_millisecond_exact():
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert parse_entry_time(format_wire(now)) == now
