"""Time counted in a store's open hours: a stage's limit of "2 business hours" entered at 17:00
in a shop open 08:30–18:00 runs out at 09:30 the next morning.

A store's hours come from its shop-floor settings (``opens_at``/``closes_at``, every day); the
arithmetic also skips closed weekdays (``closed_weekdays``, Monday = 0) for when settings model
them. A store whose closing time is not after its opening time is open around the clock.
Pure functions of aware datetimes; the store's local time is the project's ``TIME_ZONE``."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils import timezone

DAY = datetime.timedelta(days=1)
MAX_DAYS = 3660  # ten years of searching for open hours: a guard, never reached in practice


@dataclass(frozen=True)
class Hours:
    opens: datetime.time = datetime.time(8, 30)
    closes: datetime.time = datetime.time(18, 0)
    closed_weekdays: frozenset[int] = field(default_factory=frozenset)

    @property
    def around_the_clock(self) -> bool:
        return self.closes <= self.opens

    def window(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime] | None:
        """The open period of ``day`` as aware local datetimes; None on a closed day."""
        if day.weekday() in self.closed_weekdays:
            return None
        tz = timezone.get_default_timezone()
        if self.around_the_clock:
            return (
                datetime.datetime.combine(day, datetime.time.min, tzinfo=tz),
                datetime.datetime.combine(day + DAY, datetime.time.min, tzinfo=tz),
            )
        return (
            datetime.datetime.combine(day, self.opens, tzinfo=tz),
            datetime.datetime.combine(day, self.closes, tzinfo=tz),
        )

    def windows(
        self, day: datetime.date, step: int = 1
    ) -> Iterator[tuple[datetime.datetime, datetime.datetime]]:
        """Open periods from ``day`` on (``step=-1``: backwards, latest first)."""
        if len(set(self.closed_weekdays) & set(range(7))) == 7:
            raise ValueError("a store closed on every weekday has no business hours")
        for n in range(MAX_DAYS):
            window = self.window(day + step * n * DAY)
            if window is not None:
                yield window


def hours_for(store_id: int) -> Hours:
    """The store's hours (the defaults when its settings were never saved)."""
    from autocrm.service.models import ServiceSettings

    row = ServiceSettings.objects.filter(store_id=store_id).values("opens_at", "closes_at").first()
    if row is None:
        return Hours()
    return Hours(opens=row["opens_at"], closes=row["closes_at"])


def _local(moment: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(moment, timezone.get_default_timezone())


def add(hours: Hours, start: datetime.datetime, minutes: float) -> datetime.datetime:
    """The moment ``minutes`` of open time after ``start``. Entered while the store is
    closed, the clock starts at the next opening."""
    left = datetime.timedelta(minutes=minutes)
    start = _local(start)
    for opens, closes in hours.windows(start.date()):
        if closes <= start:
            continue
        begin = max(opens, start)
        if begin + left <= closes:
            return begin + left
        left -= closes - begin
    raise ValueError("no business hours found")


def subtract(hours: Hours, end: datetime.datetime, minutes: float) -> datetime.datetime:
    """The moment ``minutes`` of open time before ``end`` (used to backdate in tests and
    imports)."""
    left = datetime.timedelta(minutes=minutes)
    end = _local(end)
    for opens, closes in hours.windows(end.date(), step=-1):
        if opens >= end:
            continue
        finish = min(closes, end)
        if finish - left >= opens:
            return finish - left
        left -= finish - opens
    raise ValueError("no business hours found")


def minutes_between(hours: Hours, start: datetime.datetime, end: datetime.datetime) -> int:
    """Whole minutes of open time from ``start`` to ``end`` (0 when ``end`` is not later)."""
    start, end = _local(start), _local(end)
    if end <= start:
        return 0
    total = datetime.timedelta()
    for opens, closes in hours.windows(start.date()):
        if opens >= end:
            break
        begin, finish = max(opens, start), min(closes, end)
        if finish > begin:
            total += finish - begin
    return int(total.total_seconds() // 60)
