"""Events for event rules, captured where they happen and evaluated in the worker.

Two sources feed the same queue:

- model signals on customers, vehicles, work orders, payments and surveys give *created*,
  *updated* and *deleted* with the values before and after (the audit log's pre-save read is
  reused, so this costs no extra query), hence ``previous`` and ``changed`` in conditions;
- the services' domain events (``work_order.<status>``, ``work_order.stage_changed``,
  ``survey.submitted`` / ``survey.low``) give status and stage entries and survey answers.

Nothing is captured unless an active rule waits for that kind of event (an in-process set of
event keys, refreshed every few seconds and at once when a rule changes in this process). The
changes of one transaction are merged per record and handed to the worker in one job after the
commit, so the request pays a few dictionary operations and one enqueue, and a rolled-back
request queues nothing.

Changes made by a rule's own actions carry the rule and a depth: a rule never triggers itself,
and chains stop after ``scan.MAX_CHAIN`` levels (Odoo's self-retriggering)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone

from autocrm.core import audit, events

WATCHED = {
    "customers.Customer": "customer",
    "customers.Vehicle": "vehicle",
    "service.WorkOrder": "work_order",
    "service.Payment": "payment",
    "feedback.Survey": "survey",
}
# Derived or bookkeeping columns: a change of only these is not an update worth a rule.
QUIET = {
    "updated_at",
    "version",
    "updated_by_id",
    "name_pinyin",
    "name_initials",
    "mobile_tail",
    "vin_tail",
    "vin_check_ok",
}
TTL = 10.0  # seconds the set of awaited event keys is trusted (other processes' changes)
TEXT_LIMIT = 500

_acting: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "autocrm_rule_acting", default=None
)


@contextlib.contextmanager
def acting(rule_id: int, depth: int) -> Iterator[None]:
    """Changes made inside are a rule's doing (for the chain guard)."""
    token = _acting.set((rule_id, depth))
    try:
        yield
    finally:
        _acting.reset(token)


# --- which events anyone waits for --------------------------------------------------------

_lock = threading.Lock()
_interest: dict = {"keys": frozenset(), "org_keys": frozenset(), "loaded": 0.0}


def invalidate() -> None:
    with _lock:
        _interest["loaded"] = 0.0


def _refresh() -> None:
    from autocrm.automation.models import Rule

    rows = set(
        Rule.objects.filter(state=Rule.State.ACTIVE, kind=Rule.Kind.EVENT)
        .values_list("org_id", "event_key")
        .distinct()
    )
    with _lock:
        _interest["org_keys"] = frozenset(rows)
        _interest["keys"] = frozenset(key for _org, key in rows)
        _interest["loaded"] = time.monotonic()


def forget_all() -> None:
    """Nothing awaited, as of now (tests: each starts with no rules; a rule saved later
    invalidates this at once, so no query is spent before then)."""
    with _lock:
        _interest.update(keys=frozenset(), org_keys=frozenset(), loaded=time.monotonic())


def _stale() -> bool:
    if _interest["loaded"] == 0.0:
        return True
    # Tests change rules only through this process (signals invalidate); a refresh by the
    # clock would add a query at random to tests that count them.
    return not settings.TESTING and time.monotonic() - _interest["loaded"] > TTL


def interested(key: str, org_id: int | None = None) -> bool:
    if _stale():
        _refresh()
    if org_id is None:
        return key in _interest["keys"]
    return (org_id, key) in _interest["org_keys"]


# --- the per-transaction buffer -----------------------------------------------------------


class _Buffer:
    def __init__(self, using: str):
        self.using = using
        self.events: dict[tuple, dict] = {}
        self.callback = self.flush  # the same object, to find it among the commit hooks

    def add(self, event: dict) -> None:
        ident = (event["entity"], event["record_id"])
        earlier = self.events.get(ident)
        if earlier is None or event["key"].endswith(".deleted"):
            if earlier is not None and earlier["key"].endswith(".created"):
                self.events.pop(ident)  # made and removed in one go: nothing happened
                return
            self.events[ident] = event
            return
        if earlier["key"].endswith(".created"):
            earlier["current"].update(event["current"])  # still a creation, with later values
            return
        # two updates: the first "before", the last "after"
        after = {**earlier["previous"], **earlier["current"], **event["current"]}
        earlier["changed"] = _changed(earlier["previous"], after)
        earlier["current"] = {k: after[k] for k in earlier["changed"] if k in after}
        if not earlier["changed"]:
            self.events.pop(ident)

    def flush(self) -> None:
        conn = connections[self.using]
        if getattr(conn, "_rules_buffer", None) is self:
            conn._rules_buffer = None
        if self.events:
            enqueue(list(self.events.values()))


def _buffer(using: str) -> _Buffer | None:
    conn = connections[using]
    if not conn.in_atomic_block:
        return None
    buf = getattr(conn, "_rules_buffer", None)
    if buf is None or not any(hook[1] is buf.callback for hook in conn.run_on_commit):
        buf = _Buffer(using)  # the first change of this transaction (or the last one rolled back)
        conn._rules_buffer = buf
        transaction.on_commit(buf.callback, using=using)
    return buf


def _emit(event: dict, using: str = DEFAULT_DB_ALIAS) -> None:
    buf = _buffer(using)
    if buf is None:
        enqueue([event])
    else:
        buf.add(event)


def enqueue(batch: list[dict]) -> None:
    from autocrm.automation.rule_jobs import process_rule_events

    process_rule_events(batch)


def _event(entity: str, key: str, **data) -> dict:
    acting_now = _acting.get()
    return {
        "id": uuid.uuid4().hex,
        "key": key,
        "entity": entity,
        "at": timezone.now().isoformat(),
        "depth": acting_now[1] + 1 if acting_now else 0,
        "origin_rule": acting_now[0] if acting_now else None,
        "previous": None,
        "current": {},
        "changed": [],
        **data,
    }


def _short(values: dict | None) -> dict:
    out = {}
    for k, v in (values or {}).items():
        out[k] = v[:TEXT_LIMIT] if isinstance(v, str) else v
    return out


def _store_of(entity: str, values: dict):
    from autocrm.automation.conditions import ENTITIES

    return values.get(f"{ENTITIES[entity].store_path}_id")


def _same(a, b) -> bool:
    """Equal, counting 0 and "0.00" (a default in memory, a decimal read back) as equal."""
    if a == b:
        return True
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return False
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


def _changed(before: dict, after: dict) -> list[str]:
    names = [k for k, v in after.items() if k not in QUIET and not _same(before.get(k), v)]
    if "custom" in names:
        old, new = before.get("custom") or {}, after.get("custom") or {}
        names += [f"custom.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return names


# --- model signals ------------------------------------------------------------------------

_ENTITY_BY_MODEL: dict = {}


def _entity(sender) -> str | None:
    return _ENTITY_BY_MODEL.get(sender)


def _pre_save(sender, instance, raw=False, **kwargs):
    entity = _entity(sender)
    if entity is None or raw or instance._state.adding or instance.pk is None:
        return
    if not interested(f"{entity}.updated", instance.org_id):
        return
    before = getattr(instance, "_audit_before", None)  # audit's pre-save ran just before
    if before is None:
        names = [f.attname for f in sender._meta.concrete_fields if not f.primary_key]
        row = sender._base_manager.filter(pk=instance.pk).values(*names).first()
        before = {k: audit._plain(v) for k, v in row.items()} if row else None
    instance._rules_before = before


def _post_save(sender, instance, created, raw=False, using=DEFAULT_DB_ALIAS, **kwargs):
    entity = _entity(sender)
    if entity is None or raw:
        return
    if created:
        key = f"{entity}.created"
        if interested(key, instance.org_id):
            current = _short(audit.snapshot(instance))
            _emit(
                _event(
                    entity,
                    key,
                    org_id=instance.org_id,
                    store_id=_store_of(entity, current),
                    record_id=instance.pk,
                    current=current,
                    changed=sorted(k for k, v in current.items() if v not in (None, "")),
                ),
                using,
            )
        return
    before = instance.__dict__.pop("_rules_before", None)
    if before is None:
        return
    after = audit.snapshot(instance)
    changed = _changed(before, after)
    if not changed:
        return
    previous = _short(before)
    _emit(
        _event(
            entity,
            f"{entity}.updated",
            org_id=instance.org_id,
            store_id=_store_of(entity, after),
            record_id=instance.pk,
            previous=previous,
            current=_short({k: after[k] for k in changed if k in after}),
            changed=changed,
        ),
        using,
    )


def _post_delete(sender, instance, using=DEFAULT_DB_ALIAS, **kwargs):
    entity = _entity(sender)
    if entity is None:
        return
    key = f"{entity}.deleted"
    if not interested(key, instance.org_id):
        return
    previous = _short(audit.snapshot(instance))
    _emit(
        _event(
            entity,
            key,
            org_id=instance.org_id,
            store_id=_store_of(entity, previous),
            record_id=instance.pk,
            previous=previous,
        ),
        using,
    )


def _rule_changed(sender, **kwargs):
    invalidate()


# --- domain events ------------------------------------------------------------------------


def _on_status(payload: dict) -> None:
    status = payload["event"].split(".", 1)[1]
    key = f"work_order.status.{status}"
    if not interested(key):
        return
    _emit(
        _event(
            "work_order",
            key,
            org_id=None,
            store_id=payload.get("store_id"),
            record_id=payload["work_order_id"],
            previous={"status": payload.get("previous")},
            current={"status": status},
            changed=["status"],
        )
    )


def _on_stage(payload: dict) -> None:
    if not interested("work_order.stage"):
        return
    _emit(
        _event(
            "work_order",
            "work_order.stage",
            org_id=None,
            store_id=payload.get("store_id"),
            record_id=payload["work_order_id"],
            previous={"stage_id": payload.get("previous_stage_id")},
            current={"stage_id": payload.get("stage_id")},
            changed=["stage_id"],
        )
    )


def _on_survey(payload: dict) -> None:
    if not interested("survey.answered"):
        return
    _emit(
        _event(
            "survey",
            "survey.answered",
            org_id=None,
            store_id=payload.get("store_id"),
            record_id=payload["survey_id"],
            current={"nps": payload.get("nps"), "is_low": payload["event"] == "survey.low"},
        )
    )


def connect() -> None:
    """Called once from ``AutomationConfig.ready`` (after the audit log's receivers, whose
    pre-save read of the old values this reuses)."""
    from django.apps import apps

    from autocrm.automation.models import Rule
    from autocrm.service.models import WorkOrder

    for label, entity in WATCHED.items():
        _ENTITY_BY_MODEL[apps.get_model(label)] = entity
    pre_save.connect(_pre_save, dispatch_uid="autocrm_rules_pre_save")
    post_save.connect(_post_save, dispatch_uid="autocrm_rules_post_save")
    post_delete.connect(_post_delete, dispatch_uid="autocrm_rules_post_delete")
    post_save.connect(_rule_changed, sender=Rule, dispatch_uid="autocrm_rules_changed")
    post_delete.connect(_rule_changed, sender=Rule, dispatch_uid="autocrm_rules_deleted")
    for status in WorkOrder.Status.values:
        events.subscribe(f"work_order.{status}", _on_status)
    events.subscribe("work_order.stage_changed", _on_stage)
    events.subscribe("survey.submitted", _on_survey)
    events.subscribe("survey.low", _on_survey)
