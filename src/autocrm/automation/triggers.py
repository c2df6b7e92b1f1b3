"""What makes a rule fire: an event on a record, or a moment derived from a date field.

Event triggers (``created``, ``updated``, ``deleted``, ``field_changed``, ``status_entered``,
``stage_entered``, ``payment_made``, ``survey_answered``) map to an *event key*; the capture
layer (``automation.capture``) queues every committed event whose key some active rule waits
for, and the worker evaluates those rules.

Time triggers fire when a record's date comes round:

- ``date``: ``field`` plus ``offset_days`` (negative: before) — the insurance expiry minus 30
  days, the last visit plus 180 days. With ``offset_hours`` on a datetime field the moment is
  exact (24 hours after settlement); otherwise it is the rule's time of day (``at``, 09:00 by
  default) on the due day.
- ``anniversary``: every year on the field's month and day (birthdays, registration dates),
  optionally only the ``years`` listed (1, 2 and 3 years after an installation). A 29 February
  date comes round on 28 February in other years.

A scan looks at the moments in a window ``(start, now]`` (see ``scan.window_for``); each
moment's *occurrence* (the date it belongs to) makes the firing's exactly-once key."""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.automation.conditions import ENTITIES, Context, Field
from autocrm.core.errors import Invalid

EVENT_TYPES = (
    "created",
    "updated",
    "deleted",
    "field_changed",
    "status_entered",
    "stage_entered",
    "payment_made",
    "survey_answered",
)
TIME_TYPES = ("date", "anniversary")
ENTITY_OF = {
    "status_entered": "work_order",
    "stage_entered": "work_order",
    "payment_made": "payment",
    "survey_answered": "survey",
}
MAX_OFFSET_DAYS = 3660
DEFAULT_AT = datetime.time(9, 0)


def type_labels() -> dict[str, str]:
    return {
        "created": _("Record created"),
        "updated": _("Record updated"),
        "deleted": _("Record deleted"),
        "field_changed": _("A field changed"),
        "status_entered": _("Work order entered a status"),
        "stage_entered": _("Work order entered a board stage"),
        "payment_made": _("Payment made"),
        "survey_answered": _("Survey answered"),
        "date": _("A date comes round (with an offset)"),
        "anniversary": _("Anniversary of a date (every year)"),
    }


def kind_of(trigger: dict) -> str:
    return "time" if trigger.get("type") in TIME_TYPES else "event"


def event_key(trigger: dict, entity: str) -> str:
    """The key an event must carry to reach rules with this trigger ("" for time rules)."""
    t = trigger.get("type")
    if t in ("created", "deleted"):
        return f"{entity}.{t}"
    if t in ("updated", "field_changed"):
        return f"{entity}.updated"
    if t == "status_entered":
        return f"work_order.status.{trigger.get('status')}"
    if t == "stage_entered":
        return "work_order.stage"
    if t == "payment_made":
        return "payment.created"
    if t == "survey_answered":
        return "survey.answered"
    return ""


def _refuse(message: str) -> None:
    raise Invalid(message, fields={"trigger": message})


def _int(trigger: dict, key: str, low: int, high: int) -> int:
    value = trigger.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _refuse(
            _("“%(key)s” must be a whole number from %(low)d to %(high)d.")
            % {"key": key, "low": low, "high": high}
        )
    return value


ALLOWED_KEYS = {
    "created": {"type"},
    "updated": {"type"},
    "deleted": {"type"},
    "field_changed": {"type", "field"},
    "status_entered": {"type", "status"},
    "stage_entered": {"type", "stage"},
    "payment_made": {"type"},
    "survey_answered": {"type"},
    "date": {"type", "field", "offset_days", "offset_hours"},
    "anniversary": {"type", "field", "offset_days", "years"},
}


def validate(trigger, entity: str, org_id: int | None) -> dict:
    """The trigger, checked against the entity and its whitelist; ``Invalid`` (or
    ``FieldGone``) with a Chinese message otherwise."""
    if entity not in ENTITIES:
        raise Invalid(fields={"entity": _("Choose one of the listed record types.")})
    if not isinstance(trigger, dict):
        _refuse(_("The trigger must be a JSON object with a “type”."))
    t = trigger.get("type")
    if t not in ALLOWED_KEYS:
        _refuse(_("Unknown trigger type “%(type)s”.") % {"type": t})
    extra = set(trigger) - ALLOWED_KEYS[t]
    if extra:
        _refuse(_("Unknown key “%(key)s” in the trigger.") % {"key": sorted(extra)[0]})
    needed = ENTITY_OF.get(t)
    if needed and needed != entity:
        _refuse(
            _("This trigger works on %(needed)s records only.") % {"needed": ENTITIES[needed].label}
        )
    ctx = Context(entity, org_id)
    if t == "field_changed":
        spec = ctx.field(trigger.get("field"))
        if not (spec.in_snapshot and spec.namespace == entity):
            _refuse(_("Choose a field of the record itself."))
    elif t == "status_entered":
        from autocrm.service.models import WorkOrder

        if trigger.get("status") not in WorkOrder.Status.values:
            _refuse(_("Choose one of the work order statuses."))
    elif t == "stage_entered":
        stage = trigger.get("stage")
        if not isinstance(stage, str) or not stage.strip() or len(stage) > 30:
            _refuse(_("Give the name of the board stage."))
    elif t in TIME_TYPES:
        spec = date_field(trigger, ctx)
        _int(trigger, "offset_days", -MAX_OFFSET_DAYS, MAX_OFFSET_DAYS)
        if t == "date" and trigger.get("offset_hours"):
            _int(trigger, "offset_hours", -24 * 365, 24 * 365)
            if spec.type != "datetime":
                _refuse(_("An offset in hours needs a date-and-time field."))
        if t == "anniversary" and "years" in trigger:
            years = trigger["years"]
            if (
                not isinstance(years, list)
                or not years
                or len(years) > 50
                or any(
                    isinstance(y, bool) or not isinstance(y, int) or not 1 <= y <= 100
                    for y in years
                )
            ):
                _refuse(_("“years” is a list of whole numbers from 1 to 100."))
    return trigger


def date_field(trigger: dict, ctx: Context) -> Field:
    spec = ctx.field(trigger.get("field"))
    if (
        spec.namespace != ctx.entity
        or spec.kind != "plain"
        or spec.type
        not in (
            "date",
            "datetime",
        )
    ):
        _refuse(_("Choose a date field of the record itself."))
    return spec


# --- time windows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """Which field values are due in a window, as a Q, and how to name each occurrence."""

    q: Q
    exact: bool  # due at the field's own time + offset (else: on a day at the rule's time)


def _at(day: datetime.date, at: datetime.time) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, at))


def due_days(start: datetime.datetime, now: datetime.datetime, at: datetime.time):
    """The local days whose ``at`` moment lies in ``(start, now]``."""
    first = timezone.localdate(start)
    if _at(first, at) <= start:
        first += datetime.timedelta(days=1)
    last = timezone.localdate(now)
    if _at(last, at) > now:
        last -= datetime.timedelta(days=1)
    day = first
    while day <= last:
        yield day
        day += datetime.timedelta(days=1)


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def window_q(
    trigger: dict,
    spec: Field,
    start: datetime.datetime,
    now: datetime.datetime,
    at: datetime.time,
) -> Q | None:
    """The records whose moment falls in ``(start, now]``; None when none can (no due day)."""
    path = spec.path
    offset = datetime.timedelta(days=trigger.get("offset_days", 0))
    if trigger["type"] == "date" and trigger.get("offset_hours"):
        offset += datetime.timedelta(hours=trigger["offset_hours"])
        return Q(**{f"{path}__gt": start - offset, f"{path}__lte": now - offset})
    days = list(due_days(start, now, at))
    if not days:
        return None
    if trigger["type"] == "date":
        lo, hi = days[0] - offset, days[-1] - offset
        if spec.type == "datetime":
            return Q(**{f"{path}__gte": _start_of(lo), f"{path}__lt": _start_of(hi) + _DAY})
        return Q(**{f"{path}__gte": lo, f"{path}__lte": hi})
    q = Q(pk__isnull=True)
    years = trigger.get("years")
    for day in days:
        source = day - offset  # the anniversary date itself
        month_days = [(source.month, source.day)]
        if (source.month, source.day) == (2, 28) and not calendar.isleap(source.year):
            month_days.append((2, 29))
        for month, dom in month_days:
            if years:
                for n in years:
                    q |= _on_day(spec, path, source.year - n, month, dom)
            else:
                q |= Q(**{f"{path}__month": month, f"{path}__day": dom}) & Q(
                    **{f"{path}__year__lt": source.year}
                )
    return q


_DAY = datetime.timedelta(days=1)


def _on_day(spec: Field, path: str, year: int, month: int, dom: int) -> Q:
    try:
        day = datetime.date(year, month, dom)
    except ValueError:  # 29 February of a year that had none
        return Q(pk__isnull=True)
    if spec.type == "datetime":
        return Q(**{f"{path}__gte": _start_of(day), f"{path}__lt": _start_of(day) + _DAY})
    return Q(**{path: day})


def occurrence(trigger: dict, spec: Field, value, now: datetime.datetime, at: datetime.time):
    """(occurrence, due moment) of a record whose field holds ``value``.

    The occurrence names the date the firing belongs to: the field's own date for ``date``
    triggers (the insurance expiry "2026-12-01"; the exact time with an hour offset), the
    anniversary date in its year for ``anniversary`` ("2027-03-15")."""
    offset = datetime.timedelta(days=trigger.get("offset_days", 0))
    if trigger["type"] == "date" and trigger.get("offset_hours"):
        offset += datetime.timedelta(hours=trigger["offset_hours"])
        return value.astimezone(datetime.UTC).isoformat(timespec="seconds"), value + offset
    day = timezone.localdate(value) if isinstance(value, datetime.datetime) else value
    if trigger["type"] == "date":
        return day.isoformat(), _at(day + offset, at)
    # anniversary: the one in the year whose due moment is closest before now
    due_year = timezone.localdate(now).year
    for year in (due_year + 1, due_year, due_year - 1):
        anniversary = _in_year(day, year)
        due = _at(anniversary + offset, at)
        if due <= now:
            return anniversary.isoformat(), due
    anniversary = _in_year(day, due_year - 1)
    return anniversary.isoformat(), _at(anniversary + offset, at)


def _in_year(day: datetime.date, year: int) -> datetime.date:
    if (day.month, day.day) == (2, 29) and not calendar.isleap(year):
        return datetime.date(year, 2, 28)
    return day.replace(year=year)
