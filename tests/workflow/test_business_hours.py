"""Business-hours arithmetic: only the store's open hours count, across closing time, nights
and closed days; adding and measuring agree."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from autocrm.service.models import ServiceSettings
from autocrm.workflow import business_hours as bh

TZ = timezone.get_default_timezone()
SHOP = bh.Hours(opens=datetime.time(9, 0), closes=datetime.time(18, 0))
NO_SUNDAYS = bh.Hours(
    opens=datetime.time(9, 0), closes=datetime.time(18, 0), closed_weekdays=frozenset({6})
)


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """2026-03-02 is a Monday; ``day`` counts from it."""
    return datetime.datetime(2026, 3, 2, hour, minute, tzinfo=TZ) + datetime.timedelta(days=day)


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (at(0, 10), 60, at(0, 11)),  # inside the day
        (at(0, 17), 120, at(1, 10)),  # one hour today, one tomorrow morning
        (at(0, 20), 60, at(1, 10)),  # entered after closing: the clock starts at opening
        (at(0, 6), 30, at(0, 9, 30)),  # entered before opening
        (at(0, 9), 9 * 60, at(0, 18)),  # exactly one working day
        (at(0, 9), 9 * 60 + 1, at(1, 9, 1)),
        (at(0, 17, 30), 3 * 9 * 60, at(3, 17, 30)),  # three working days later
    ],
)
def test_add_counts_only_open_hours(start, minutes, due):
    assert bh.add(SHOP, start, minutes) == due


def test_add_skips_closed_days():
    saturday_evening = at(5, 17)
    assert saturday_evening.weekday() == 5
    assert bh.add(NO_SUNDAYS, saturday_evening, 120) == at(7, 10)  # Monday 10:00
    assert bh.add(NO_SUNDAYS, at(6, 12), 60) == at(7, 10)  # entered on the closed Sunday


def test_minutes_between_across_closed_hours_and_days():
    assert bh.minutes_between(SHOP, at(0, 17), at(1, 10)) == 120
    assert bh.minutes_between(SHOP, at(0, 20), at(0, 23)) == 0  # all after closing
    assert bh.minutes_between(SHOP, at(0, 10), at(0, 9)) == 0  # end before start
    assert bh.minutes_between(NO_SUNDAYS, at(5, 17), at(7, 10)) == 120  # Sunday not counted
    assert bh.minutes_between(SHOP, at(5, 17), at(7, 10)) == 120 + 9 * 60  # open on Sunday


def test_subtract_is_the_inverse_of_add():
    monday_ten = at(7, 10)
    assert bh.subtract(NO_SUNDAYS, monday_ten, 180) == at(5, 16)  # back over the Sunday
    assert bh.subtract(SHOP, at(1, 9, 30), 60) == at(0, 17, 30)
    assert bh.subtract(SHOP, at(1, 7), 60) == at(0, 17)  # from before opening


def test_around_the_clock_and_no_open_day():
    always = bh.Hours(opens=datetime.time(0, 0), closes=datetime.time(0, 0))
    assert always.around_the_clock
    assert bh.add(always, at(0, 23), 120) == at(1, 1)
    assert bh.minutes_between(always, at(0, 22), at(1, 2)) == 240
    never = bh.Hours(closed_weekdays=frozenset(range(7)))
    with pytest.raises(ValueError):
        bh.add(never, at(0, 10), 60)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime.datetime(2026, 1, 1), max_value=datetime.datetime(2027, 1, 1)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 20),
    closed=st.frozensets(st.integers(min_value=0, max_value=6), max_size=3),
)
def test_adding_then_measuring_gives_the_minutes_back(start, minutes, closed):
    hours = bh.Hours(
        opens=datetime.time(8, 30), closes=datetime.time(18, 0), closed_weekdays=closed
    )
    start = start.replace(second=0, microsecond=0, tzinfo=TZ)
    due = bh.add(hours, start, minutes)
    assert due >= start
    assert bh.minutes_between(hours, start, due) == minutes
    assert bh.minutes_between(hours, bh.subtract(hours, due, minutes), due) == minutes


@pytest.mark.django_db
def test_a_store_hours_come_from_its_settings(world):
    assert bh.hours_for(world.a1.pk) == bh.Hours()  # never saved: the defaults
    ServiceSettings.objects.create(
        store=world.a1, opens_at=datetime.time(9, 0), closes_at=datetime.time(21, 0)
    )
    assert bh.hours_for(world.a1.pk) == bh.Hours(datetime.time(9, 0), datetime.time(21, 0))
