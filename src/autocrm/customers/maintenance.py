"""Mileage-aware maintenance prediction: when each vehicle is next due for a service.

The rule: a vehicle is due at its last service's mileage + the store's interval (default
5 000 km) or at its date + the interval in months (default 6), whichever comes first. Odometers
are only read at visits, so the day the km interval is reached is projected from the vehicle's
daily mileage, taken from the first of:

- ``own``: (highest − lowest reading) / days between them, over the readings of the last two
  years spanning at least 14 days. A correction restarts the series (the readings before it
  were wrong). Clamped to 0–500 km a day (a typo must not bring the service forward by years);
- ``store``: the median over the store's vehicles with an own figure (at least
  ``MIN_STORE_SAMPLE`` of them), recomputed nightly into ``StoreMileage``. A stored median is
  only replaced once it has moved by ``MEDIAN_STEP`` (1 km a day): it drifts by a few tenths
  most nights, and each drift would move — and rewrite — every vehicle that falls back on it
  (measured: a quarter of 1.3 million vehicles after 1 % of them got a new reading);
- ``default``: 35 km a day (roughly 12 000 km a year, a typical private car in China).

``service_due_km`` is the odometer reading expected on ``service_due_on``: the km limit when
it comes first, else the projection to the date limit. A vehicle without a last service has
no due date (nothing to count from) but still gets its daily mileage.

Daily mileage is computed in tenths of a km with integer arithmetic only, so the Python rule
(``predict``, for one vehicle) and the SQL (``refresh``, for millions) give identical results
on SQLite and PostgreSQL; the tests hold them to that.

Predictions are derived data, written with queryset / SQL updates: they are not audited (the
readings and the settlement they come from are) and do not touch ``updated_at``."""

from __future__ import annotations

import calendar
import contextlib
import datetime
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import DatabaseError, connection, transaction
from django.db.models import OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from autocrm.customers.models import DailyKmSource, MileageReading, StoreMileage, Vehicle

WINDOW_DAYS = 730  # readings of the last two years describe how the car is driven now
MIN_SPAN_DAYS = 14  # two readings of the same week say nothing about a daily rate
MAX_TENTHS = 5_000  # 500 km a day: above that a reading is wrong, not a taxi
DEFAULT_TENTHS = 350  # 35 km a day
MIN_STORE_SAMPLE = 5  # a median of one or two cars is that car, not the store
MEDIAN_STEP = 10  # tenths: a stored median follows a move of 1 km a day, not every drift
DEFAULT_INTERVAL_KM = 5_000
DEFAULT_INTERVAL_MONTHS = 6
DEFAULT_REMIND_DAYS = 14
MAX_PROJECTION_DAYS = 36_500  # a car that hardly moves is due by date; keeps dates in range
CHUNK = 50_000  # vehicles per UPDATE: each holds SQLite's write lock for a moment only

CORRECTION = MileageReading.Source.CORRECTION


@dataclass(frozen=True)
class Prediction:
    daily_tenths: int
    source: str
    due_on: datetime.date | None
    due_km: int | None

    @property
    def daily_km(self) -> Decimal:
        return Decimal(self.daily_tenths).scaleb(-1)


@dataclass(frozen=True)
class StoreParams:
    daily_tenths: int | None  # the store median, None below MIN_STORE_SAMPLE
    interval_km: int = DEFAULT_INTERVAL_KM
    interval_months: int = DEFAULT_INTERVAL_MONTHS
    remind_days: int = DEFAULT_REMIND_DAYS


# --- the rule (pure) -------------------------------------------------------------------------


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def _trunc_div(n: int, d: int) -> int:
    """Division rounding towards zero, as SQL's integer division does."""
    q = abs(n) // d
    return q if n >= 0 else -q


def add_months(day: datetime.date, months: int) -> datetime.date:
    """Same day ``months`` later, or the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def own_tenths(
    readings: Iterable[tuple[datetime.date, int, str]], today: datetime.date
) -> int | None:
    """The vehicle's own daily mileage in tenths of a km from (read_on, km, source) rows, or
    None when they do not span ``MIN_SPAN_DAYS``. Highest − lowest km rather than latest −
    earliest: readings only go up (``record_mileage`` refuses lower ones except corrections),
    and MIN/MAX is what a GROUP BY computes cheaply."""
    readings = list(readings)
    corrections = [d for d, _km, source in readings if source == CORRECTION]
    since = max(corrections) if corrections else None
    start = today - datetime.timedelta(days=WINDOW_DAYS)
    series = [
        (d, km)
        for d, km, source in readings
        if d >= start and (since is None or d > since or (d == since and source == CORRECTION))
    ]
    if not series:
        return None
    days = (max(d for d, _ in series) - min(d for d, _ in series)).days
    if days < MIN_SPAN_DAYS:
        return None
    km = max(k for _, k in series) - min(k for _, k in series)
    return min(MAX_TENTHS, (20 * km + days) // (2 * days))  # km*10/days, rounded half up


def predict(
    *,
    own: int | None,
    store: int | None,
    last_service_on: datetime.date | None,
    last_service_km: int | None,
    current_km: int | None,
    read_on: datetime.date | None,
    interval_km: int = DEFAULT_INTERVAL_KM,
    interval_months: int = DEFAULT_INTERVAL_MONTHS,
) -> Prediction:
    """The next service of one vehicle (see the module docstring for the rule)."""
    if own is not None:
        tenths, source = own, DailyKmSource.OWN
    elif store is not None:
        tenths, source = store, DailyKmSource.STORE
    else:
        tenths, source = DEFAULT_TENTHS, DailyKmSource.DEFAULT
    if last_service_on is None:
        return Prediction(tenths, source, None, None)
    # The latest known odometer reading: the last reading, or the service if it is newer.
    if (
        current_km is not None
        and read_on is not None
        and (last_service_km is None or read_on >= last_service_on)
    ):
        anchor_on, anchor_km = read_on, current_km
    elif last_service_km is not None:
        anchor_on, anchor_km = last_service_on, last_service_km
    else:
        anchor_on = anchor_km = None
    by_date = add_months(last_service_on, interval_months)
    if last_service_km is not None and tenths > 0:
        limit = last_service_km + interval_km
        days = max(_ceil_div(10 * (limit - anchor_km), tenths), (last_service_on - anchor_on).days)
        if days <= MAX_PROJECTION_DAYS:
            by_km = anchor_on + datetime.timedelta(days=days)
            if by_km <= by_date:
                return Prediction(tenths, source, by_km, limit)
    due_km = None
    if anchor_on is not None:
        # never below the last service's reading (a projection backwards from a late reading)
        due_km = max(
            last_service_km or 0, anchor_km + _trunc_div(tenths * (by_date - anchor_on).days, 10)
        )
    return Prediction(tenths, source, by_date, due_km)


def due_state(
    due_on: datetime.date | None, remind_days: int, today: datetime.date | None = None
) -> str:
    """ "overdue", "soon" (within the store's reminder window), "ok", or "" without a date."""
    if due_on is None:
        return ""
    today = today or timezone.localdate()
    if due_on < today:
        return "overdue"
    if due_on <= today + datetime.timedelta(days=remind_days):
        return "soon"
    return "ok"


def remind_days():
    """The vehicle's store's reminder window, as an annotation for a vehicle queryset
    (``.annotate(service_remind_days=remind_days())``): pages get it with their vehicles."""
    from autocrm.service.models import ServiceSettings  # the service app builds on this one

    window = ServiceSettings.objects.filter(store_id=OuterRef("home_store_id"))
    return Coalesce(Subquery(window.values("service_remind_days")[:1]), Value(DEFAULT_REMIND_DAYS))


def with_due_state(vehicles: Sequence[Vehicle], today: datetime.date | None = None):
    """Give each vehicle ``service_due_state`` (see ``due_state``) for the pages: from the
    ``remind_days()`` annotation when the vehicles carry it, else with one query."""
    from autocrm.service.models import ServiceSettings

    missing = {v.home_store_id for v in vehicles if not hasattr(v, "service_remind_days")}
    windows = dict(
        ServiceSettings.objects.filter(store_id__in=missing).values_list(
            "store_id", "service_remind_days"
        )
        if missing
        else ()
    )
    today = today or timezone.localdate()
    for vehicle in vehicles:
        remind = getattr(vehicle, "service_remind_days", None)
        if remind is None:
            remind = windows.get(vehicle.home_store_id, DEFAULT_REMIND_DAYS)
        vehicle.service_due_state = due_state(vehicle.service_due_on, remind, today)
    return vehicles


# --- store figures ---------------------------------------------------------------------------


def store_params(store_ids: Iterable[int] | None = None) -> dict[int, StoreParams]:
    """Median and interval settings per store (two queries). The intervals are shop-floor
    settings of the service app (``ServiceSettings``); stores without a row use the
    defaults."""
    from autocrm.service.models import ServiceSettings  # the service app builds on this one

    medians = StoreMileage.objects.all()
    settings_rows = ServiceSettings.objects.all()
    if store_ids is not None:
        store_ids = list(store_ids)
        medians = medians.filter(store_id__in=store_ids)
        settings_rows = settings_rows.filter(store_id__in=store_ids)
    result: dict[int, StoreParams] = defaultdict(lambda: StoreParams(None))
    tenths = {sid: int(km * 10) for sid, km in medians.values_list("store_id", "daily_km")}
    for sid, km, months, remind in settings_rows.values_list(
        "store_id", "service_interval_km", "service_interval_months", "service_remind_days"
    ):
        result[sid] = StoreParams(tenths.pop(sid, None), km, months, remind)
    for sid, value in tenths.items():
        result[sid] = StoreParams(value)
    return result


def _median_tenths(counts: Sequence[tuple[int, int]]) -> int:
    """Median of a histogram [(value, count)] sorted by value; the mean of the two middle
    values is rounded half up."""
    total = sum(n for _v, n in counts)
    wanted = [(total - 1) // 2, total // 2]
    found: list[int] = []
    seen = 0
    for value, n in counts:
        while wanted and wanted[0] < seen + n:
            found.append(value)
            wanted.pop(0)
        seen += n
    return (found[0] + found[1] + 1) // 2


# --- one vehicle -----------------------------------------------------------------------------


def refresh_vehicle(
    vehicle: Vehicle | int, *, today: datetime.date | None = None, **new_values
) -> Prediction:
    """Recompute one vehicle right after a new reading or a settlement, inside the caller's
    transaction: the page, the API answer and the rules engine (which may react to the same
    event) see the new prediction at once. A handful of indexed queries; the store median is
    read from ``StoreMileage`` rather than recomputed.

    ``new_values``: inputs of the rule the caller is changing (e.g. ``last_service_on`` and
    ``last_service_km`` at a settlement), written in the same UPDATE as the prediction instead
    of being written first and read back."""
    vid = vehicle.pk if isinstance(vehicle, Vehicle) else int(vehicle)
    today = today or timezone.localdate()
    inputs = ("last_service_on", "last_service_km", "current_mileage", "mileage_read_on")
    unknown = new_values.keys() - set(inputs)
    if unknown:
        raise TypeError(f"refresh_vehicle() got unexpected values: {sorted(unknown)}")
    row = Vehicle.objects.values(
        "home_store_id", *(name for name in inputs if name not in new_values)
    ).get(pk=vid)
    row.update(new_values)
    start = today - datetime.timedelta(days=WINDOW_DAYS)
    readings = MileageReading.objects.filter(vehicle_id=vid).filter(
        Q(read_on__gte=start) | Q(source=CORRECTION)
    )
    params = store_params([row["home_store_id"]])[row["home_store_id"]]
    p = predict(
        own=own_tenths(readings.values_list("read_on", "km", "source"), today),
        store=params.daily_tenths,
        last_service_on=row["last_service_on"],
        last_service_km=row["last_service_km"],
        current_km=row["current_mileage"],
        read_on=row["mileage_read_on"],
        interval_km=params.interval_km,
        interval_months=params.interval_months,
    )
    values = {
        **new_values,
        "daily_km": p.daily_km,
        "daily_km_source": p.source,
        "service_due_on": p.due_on,
        "service_due_km": p.due_km,
    }
    Vehicle.objects.filter(pk=vid).update(**values)
    if isinstance(vehicle, Vehicle):
        for name, value in values.items():
            setattr(vehicle, name, value)
    return p


# --- many vehicles, set-based ----------------------------------------------------------------


class _Dialect:
    """The few date and arithmetic expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"

    def param(self, day: datetime.date):
        return day if self.pg else day.isoformat()

    def days(self, a: str, b: str) -> str:
        """Whole days from ``b`` to ``a``."""
        if self.pg:
            return f"({a} - {b})"
        return f"CAST(julianday({a}) - julianday({b}) AS INTEGER)"

    def add_days(self, day: str, n: str) -> str:
        return f"({day} + ({n}))" if self.pg else f"date(julianday({day}) + ({n}))"

    def add_months(self, day: str, n: str) -> str:
        if self.pg:  # PostgreSQL clamps to the month's last day, like add_months()
            return f"CAST({day} + make_interval(months => CAST({n} AS integer)) AS date)"
        # SQLite rolls 31 Aug + 6 months over into March; the target month's last day caps it.
        return (
            f"MIN(date({day}, '+' || ({n}) || ' months'), "
            f"date({day}, 'start of month', '+' || (({n}) + 1) || ' months', '-1 day'))"
        )

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"MIN({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"MAX({a}, {b})"

    def differs(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}" if self.pg else f"{a} IS NOT {b}"

    def same(self, a: str, b: str) -> str:
        return f"{a} IS NOT DISTINCT FROM {b}" if self.pg else f"{a} IS {b}"


def _ceil_div_sql(n: str, d: str) -> str:
    """Integer ceil(n / d) for d > 0; SQL integer division truncates towards zero."""
    return f"(CASE WHEN {n} >= 0 THEN ({n} + {d} - 1) / {d} ELSE -((-({n})) / {d}) END)"


TEMP_TABLES = ("maint_ids", "maint_own", "maint_store", "maint_new")


def refresh(
    vehicle_ids: Iterable[int] | None = None,
    *,
    today: datetime.date | None = None,
    timings: dict[str, float] | None = None,
) -> int:
    """Recompute the predictions of ``vehicle_ids`` (all vehicles when None) in SQL; returns
    how many vehicles changed. The full run (nightly, and after the demo) also recomputes
    the store medians first.

    Set-based because it must cover 1.3 million vehicles in seconds: one GROUP BY over the
    readings gives every vehicle's own estimate, the medians come from a histogram per store
    (a few thousand rows, not a sort of every vehicle), and one INSERT … SELECT computes the
    predictions into a temporary table. Only the final UPDATE touches the vehicles, in
    chunks of ``CHUNK`` ids and only where a value changed: each chunk is a short
    transaction (SQLite has one writer at a time, and the shop must keep working), and a
    nightly run rewrites the few vehicles whose prediction moved, not all of them.
    ``timings`` (for the benchmark) receives the seconds of each step."""
    today = today or timezone.localdate()
    clock = [time.perf_counter()]

    def lap(step: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[step] = timings.get(step, 0.0) + now - clock[0]
        clock[0] = now

    d = _Dialect(connection.vendor)
    ids = None if vehicle_ids is None else sorted({int(v) for v in vehicle_ids})
    if ids == []:
        return 0
    v = connection.ops.quote_name(Vehicle._meta.db_table)
    r = connection.ops.quote_name(MileageReading._meta.db_table)
    with connection.cursor() as cursor:
        _drop_temp(cursor)
        try:
            cursor.execute("CREATE TEMP TABLE maint_ids (id bigint PRIMARY KEY)")
            cursor.execute(
                "CREATE TEMP TABLE maint_own (vehicle_id bigint PRIMARY KEY, tenths integer)"
            )
            cursor.execute(
                "CREATE TEMP TABLE maint_store (store_id bigint PRIMARY KEY, tenths integer, "
                "interval_km integer, months integer)"
            )
            cursor.execute(
                "CREATE TEMP TABLE maint_new (id bigint PRIMARY KEY, tenths integer, "
                "src varchar(8), due_on date, due_km bigint, "
                "ls_on date, ls_km bigint, cur_on date, cur_km bigint)"
            )
            if ids is not None and d.pg:
                cursor.execute("INSERT INTO maint_ids (id) SELECT unnest(%s::bigint[])", [ids])
            elif ids is not None:
                cursor.executemany("INSERT INTO maint_ids (id) VALUES (%s)", [(x,) for x in ids])
            lap("setup")
            _own_estimates(cursor, d, r, today, only_ids=ids is not None)
            lap("own_estimates")
            if ids is None:
                _store_medians(cursor, v, today)
                lap("store_medians")
            params = store_params()
            cursor.executemany(
                "INSERT INTO maint_store (store_id, tenths, interval_km, months) "
                "VALUES (%s, %s, %s, %s)",
                [
                    (sid, p.daily_tenths, p.interval_km, p.interval_months)
                    for sid, p in params.items()
                ],
            )
            if d.pg:
                cursor.execute("ANALYZE maint_own")
                cursor.execute("ANALYZE maint_store")
            lap("store_params")
            _predictions(cursor, d, v, only_ids=ids is not None)
            if d.pg:
                cursor.execute("ANALYZE maint_new")
            lap("predictions")
            changed = _apply(cursor, d, v)
            lap("update")
            return changed
        finally:
            # In an aborted transaction the DROPs fail too; its rollback removes the tables.
            with contextlib.suppress(DatabaseError):
                _drop_temp(cursor)


def _drop_temp(cursor) -> None:
    for name in TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _own_estimates(cursor, d: _Dialect, r: str, today: datetime.date, *, only_ids: bool) -> None:
    """Every vehicle's own daily mileage in tenths: one pass over the readings, grouped."""
    only = " AND r.vehicle_id IN (SELECT id FROM maint_ids)" if only_ids else ""
    only_c = " AND vehicle_id IN (SELECT id FROM maint_ids)" if only_ids else ""
    span = d.days("MAX(r.read_on)", "MIN(r.read_on)")
    tenths = d.least("(20 * g.km + g.days) / (2 * g.days)", str(MAX_TENTHS))
    cursor.execute(
        f"INSERT INTO maint_own (vehicle_id, tenths) "  # noqa: S608 - names, not input
        f"SELECT g.vehicle_id, {tenths} FROM ("
        f" SELECT r.vehicle_id, {span} AS days, MAX(r.km) - MIN(r.km) AS km"
        f" FROM {r} r LEFT JOIN ("
        # a literal, not a parameter: SQLite then uses the partial index of corrections
        f"  SELECT vehicle_id, MAX(read_on) AS since FROM {r}"
        f"  WHERE source = '{CORRECTION.value}'{only_c} GROUP BY vehicle_id"
        f" ) c ON c.vehicle_id = r.vehicle_id"
        f" WHERE r.read_on >= %s{only} AND (c.since IS NULL OR r.read_on > c.since"
        f"  OR (r.read_on = c.since AND r.source = %s))"
        f" GROUP BY r.vehicle_id"
        f") g WHERE g.days >= %s",
        [
            d.param(today - datetime.timedelta(days=WINDOW_DAYS)),
            CORRECTION,
            MIN_SPAN_DAYS,
        ],
    )


def _store_medians(cursor, v: str, today: datetime.date) -> None:
    """Median own estimate per store, from a histogram (values are tenths, so at most 5 001
    per store) instead of sorting a million estimates; stored in ``StoreMileage``."""
    cursor.execute(
        f"SELECT v.home_store_id, o.tenths, COUNT(*) FROM maint_own o "  # noqa: S608
        f"JOIN {v} v ON v.id = o.vehicle_id GROUP BY v.home_store_id, o.tenths "
        f"ORDER BY v.home_store_id, o.tenths"
    )
    histograms: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for store_id, tenths, n in cursor.fetchall():
        histograms[store_id].append((tenths, n))
    stored = {row.store_id: row for row in StoreMileage.objects.all()}
    rows = []
    for store_id, counts in histograms.items():
        total = sum(n for _t, n in counts)
        if total < MIN_STORE_SAMPLE:
            continue
        median = _median_tenths(counts)
        old = stored.get(store_id)
        if old is not None and abs(median - int(old.daily_km * 10)) < MEDIAN_STEP:
            median, computed_on = int(old.daily_km * 10), old.computed_on
        else:
            computed_on = today
        rows.append(
            StoreMileage(
                store_id=store_id,
                daily_km=Decimal(median).scaleb(-1),
                vehicles=total,
                computed_on=computed_on,
            )
        )
    table = connection.ops.quote_name(StoreMileage._meta.db_table)
    with transaction.atomic():
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - derived rows, rebuilt whole
        StoreMileage.objects.bulk_create(rows, batch_size=500)


def _predictions(cursor, d: _Dialect, v: str, *, only_ids: bool) -> None:
    """``predict`` in SQL, for every vehicle at once, into ``maint_new``."""
    where = "WHERE v.id IN (SELECT id FROM maint_ids)" if only_ids else ""
    reading_anchor = (
        "v.current_mileage IS NOT NULL AND v.mileage_read_on IS NOT NULL AND "
        "(v.last_service_km IS NULL OR v.mileage_read_on >= v.last_service_on)"
    )
    km_days = d.greatest(
        _ceil_div_sql("10 * (b.ls_km + b.ikm - b.a_km)", "b.t"), d.days("b.ls_on", "b.a_on")
    )
    projected = f"k.a_km + (k.t * {d.days('k.by_date', 'k.a_on')}) / 10"
    by_km_ok = (
        "k.km_days IS NOT NULL AND k.km_days <= %s AND "
        f"{d.add_days('k.a_on', 'k.km_days')} <= k.by_date"
    )
    cursor.execute(
        f"INSERT INTO maint_new (id, tenths, src, due_on, due_km,"  # noqa: S608
        f" ls_on, ls_km, cur_on, cur_km) "
        f"SELECT k.id, k.t, k.src,"
        f" CASE WHEN k.ls_on IS NULL THEN NULL"
        f"  WHEN {by_km_ok} THEN {d.add_days('k.a_on', 'k.km_days')}"
        f"  ELSE k.by_date END,"
        f" CASE WHEN k.ls_on IS NULL THEN NULL"
        f"  WHEN {by_km_ok} THEN k.ls_km + k.ikm"
        f"  WHEN k.a_on IS NULL THEN NULL"
        f"  ELSE {d.greatest('COALESCE(k.ls_km, 0)', projected)} END,"
        f" k.ls_on, k.ls_km, k.cur_on, k.cur_km "
        f"FROM ("
        f" SELECT b.*, {d.add_months('b.ls_on', 'b.months')} AS by_date,"
        f"  CASE WHEN b.ls_on IS NOT NULL AND b.ls_km IS NOT NULL AND b.t > 0"
        f"   THEN {km_days} END AS km_days"
        f" FROM ("
        f"  SELECT v.id, v.last_service_on AS ls_on, v.last_service_km AS ls_km,"
        f"   v.mileage_read_on AS cur_on, v.current_mileage AS cur_km,"
        f"   COALESCE(o.tenths, s.tenths, %s) AS t,"
        f"   CASE WHEN o.tenths IS NOT NULL THEN %s WHEN s.tenths IS NOT NULL THEN %s"
        f"    ELSE %s END AS src,"
        f"   COALESCE(s.interval_km, %s) AS ikm, COALESCE(s.months, %s) AS months,"
        f"   CASE WHEN {reading_anchor} THEN v.mileage_read_on"
        f"    WHEN v.last_service_km IS NOT NULL THEN v.last_service_on END AS a_on,"
        f"   CASE WHEN {reading_anchor} THEN v.current_mileage"
        f"    WHEN v.last_service_km IS NOT NULL THEN v.last_service_km END AS a_km"
        f"  FROM {v} v LEFT JOIN maint_own o ON o.vehicle_id = v.id"
        f"  LEFT JOIN maint_store s ON s.store_id = v.home_store_id {where}"
        f" ) b"
        f") k",
        [
            MAX_PROJECTION_DAYS,
            MAX_PROJECTION_DAYS,
            DEFAULT_TENTHS,
            DailyKmSource.OWN.value,
            DailyKmSource.STORE.value,
            DailyKmSource.DEFAULT.value,
            DEFAULT_INTERVAL_KM,
            DEFAULT_INTERVAL_MONTHS,
        ],
    )


def _apply(cursor, d: _Dialect, v: str) -> int:
    """Write ``maint_new`` into the vehicles, chunk by chunk, where something changed — and
    where the inputs are still those the prediction was made from: a reading or settlement
    during the run has already refreshed its vehicle, which must not go back to the older
    figure."""
    cursor.execute("SELECT MIN(id), MAX(id) FROM maint_new")
    low, high = cursor.fetchone()
    if low is None:
        return 0
    changed = " OR ".join(
        d.differs(f"{v}.{col}", new)
        for col, new in (
            ("daily_km", "n.tenths / 10.0"),
            ("daily_km_source", "n.src"),
            ("service_due_on", "n.due_on"),
            ("service_due_km", "n.due_km"),
        )
    )
    unchanged = " AND ".join(
        d.same(f"{v}.{col}", f"n.{new}")
        for col, new in (
            ("last_service_on", "ls_on"),
            ("last_service_km", "ls_km"),
            ("mileage_read_on", "cur_on"),
            ("current_mileage", "cur_km"),
        )
    )
    sql = (
        f"UPDATE {v} SET daily_km = n.tenths / 10.0, daily_km_source = n.src,"  # noqa: S608
        f" service_due_on = n.due_on, service_due_km = n.due_km"
        f" FROM maint_new n WHERE {v}.id = n.id AND n.id >= %s AND n.id < %s"
        f" AND {v}.id >= %s AND {v}.id < %s"  # both ranges: two index scans
        f" AND ({changed}) AND {unchanged}"
    )
    total = 0
    for start in range(low, high + 1, CHUNK):
        with transaction.atomic():
            cursor.execute(sql, [start, start + CHUNK, start, start + CHUNK])
            total += max(cursor.rowcount, 0)
    return total
