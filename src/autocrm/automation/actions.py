"""What a rule does when it fires: send a templated message, make a follow-up task, set a
whitelisted field, add or remove a tag, call a webhook.

Every action is safe to run again for the same firing: messages and tasks carry the firing's
key (``rule:<id>:<firing>:<n>``), which messaging and ``create_task`` turn into "the one made
before"; setting a field or a tag to what it already is changes nothing. The scan runs the
database actions of a batch of firings in one transaction together with the firings' status,
so a crash leaves neither; webhooks, which leave the building, run after that commit, carry
``X-AutoCRM-Delivery`` so a receiver can drop the rare repeat after a crash, and are signed
with HMAC-SHA256 like messaging's webhook channel."""

from __future__ import annotations

import datetime
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.automation.conditions import ENTITIES
from autocrm.core import audit
from autocrm.core.errors import Invalid, ServiceError
from autocrm.core.roles import ROLE_CODES

TYPES = ("message", "task", "set_field", "tag", "webhook")
EXTERNAL = {"webhook"}
MAX_ACTIONS = 10
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_TRIES = 3
WEBHOOK_BACKOFF = 0.5  # seconds before the second try, doubled after


def type_labels() -> dict[str, str]:
    return {
        "message": _("Send a message from a template"),
        "task": _("Create a follow-up task"),
        "set_field": _("Set a field"),
        "tag": _("Add or remove a tag"),
        "webhook": _("Call a webhook"),
    }


# Fields a rule may set, with their type and limit; the change is audited as source "rule".
SETTABLE = {
    "customer.level": ("text", 30),
    "vehicle.insurer": ("text", 40),
    "vehicle.insurance_expires_on": ("date", None),
    "vehicle.inspection_due_on": ("date", None),
}


def settable_fields() -> list[dict]:
    from autocrm.automation.conditions import _static_fields

    out = []
    for key, (type_, _limit) in SETTABLE.items():
        spec = _static_fields().get(key)
        if spec is not None:
            out.append({"field": key, "label": str(spec.label), "type": type_})
    return out


class ActionFailed(Exception):
    """An action could not be done; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


# --- validation ---------------------------------------------------------------------------


def _refuse(index: int, message: str) -> None:
    text = _("Action %(n)d: %(reason)s") % {"n": index + 1, "reason": message}
    raise Invalid(text, fields={"actions": text})


ALLOWED_KEYS = {
    "message": {"type", "template", "values"},
    "task": {"type", "title", "details", "kind", "role", "assignee_id", "assign_to", "due_hours"},
    "set_field": {"type", "field", "value"},
    "tag": {"type", "tag", "remove"},
    "webhook": {"type", "url", "secret"},
}


def validate(actions, entity: str, org_id: int | None, *, deleted: bool = False) -> list:
    """The list of actions, checked; ``Invalid`` with a Chinese message naming the action."""
    if not isinstance(actions, list) or not actions:
        raise Invalid(
            _("Give at least one action."), fields={"actions": _("Give at least one action.")}
        )
    if len(actions) > MAX_ACTIONS:
        raise Invalid(
            _("A rule may have at most %(n)d actions.") % {"n": MAX_ACTIONS},
            fields={"actions": _("Too many actions.")},
        )
    for i, action in enumerate(actions):
        if not isinstance(action, dict) or action.get("type") not in TYPES:
            _refuse(i, _("choose one of: message, task, set_field, tag, webhook."))
        kind = action["type"]
        extra = set(action) - ALLOWED_KEYS[kind]
        if extra:
            _refuse(i, _("unknown key “%(key)s”.") % {"key": sorted(extra)[0]})
        if deleted and kind not in ("task", "webhook"):
            _refuse(i, _("a deleted record can only make a task or call a webhook."))
        globals()[f"_check_{kind}"](i, action, entity, org_id)
    return actions


def _has_customer(entity: str) -> bool:
    return "customer" in ENTITIES[entity].paths


def _check_message(i, action, entity, org_id):
    from autocrm.messaging.models import MessageTemplate

    if not _has_customer(entity):
        _refuse(i, _("messages go to a customer; this record has none."))
    ref = action.get("template")
    if isinstance(ref, bool) or not isinstance(ref, int):
        _refuse(i, _("choose the message template."))
    if not MessageTemplate.objects.filter(org_id=org_id, pk=ref).exists():
        _refuse(i, _("the message template does not exist."))
    values = action.get("values", {})
    if not isinstance(values, dict) or any(
        not isinstance(k, str) or not isinstance(v, str | int) or len(str(v)) > 100
        for k, v in values.items()
    ):
        _refuse(i, _("“values” maps placeholder names to short texts."))


def _check_task(i, action, entity, org_id):
    from autocrm.automation.models import Task

    title = action.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        _refuse(i, _("give the task a title (at most 200 characters)."))
    if not isinstance(action.get("details", ""), str) or len(action.get("details", "")) > 2000:
        _refuse(i, _("the details are at most 2000 characters."))
    if action.get("kind", Task.Kind.FOLLOW_UP) not in Task.Kind.values:
        _refuse(i, _("choose one of the task kinds."))
    who = [k for k in ("role", "assignee_id", "assign_to") if action.get(k) not in (None, "")]
    if len(who) != 1:
        _refuse(i, _("give exactly one of a role, a person or “the advisor”."))
    if who == ["role"] and action["role"] not in ROLE_CODES:
        _refuse(i, _("choose one of the listed roles."))
    if who == ["assign_to"] and action["assign_to"] != "advisor":
        _refuse(i, _("“assign_to” can only be “advisor” (the work order's advisor)."))
    if who == ["assignee_id"]:
        from autocrm.core.models import User

        if not User.objects.filter(
            pk=action["assignee_id"], org_id=org_id, is_active=True
        ).exists():
            _refuse(i, _("choose an active colleague."))
    due = action.get("due_hours", 24)
    if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= 24 * 366:
        _refuse(i, _("“due_hours” is a whole number of hours (0 to a year)."))


def _check_set_field(i, action, entity, org_id):
    key = action.get("field")
    if key not in SETTABLE:
        _refuse(
            i,
            _("only these fields can be set: %(fields)s.") % {"fields": ", ".join(SETTABLE)},
        )
    ns = key.split(".", 1)[0]
    if ns not in ENTITIES[entity].paths:
        _refuse(i, _("this record has no %(ns)s.") % {"ns": ns})
    type_, limit = SETTABLE[key]
    value = action.get("value")
    if type_ == "text":
        if not isinstance(value, str) or len(value) > limit:
            _refuse(i, _("the value is a text of at most %(n)d characters.") % {"n": limit})
    elif type_ == "date":
        from django.utils.dateparse import parse_date

        if value is not None and (not isinstance(value, str) or parse_date(value) is None):
            _refuse(i, _("the value is a date (YYYY-MM-DD) or null."))


def _check_tag(i, action, entity, org_id):
    if not _has_customer(entity):
        _refuse(i, _("tags belong to customers; this record has none."))
    tag = action.get("tag")
    if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > 30:
        _refuse(i, _("give the tag (at most 30 characters)."))
    if not isinstance(action.get("remove", False), bool):
        _refuse(i, _("“remove” is true or false."))


def _check_webhook(i, action, entity, org_id):
    url = action.get("url")
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        _refuse(i, _("give the webhook's http(s) address."))
    secret = action.get("secret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        _refuse(i, _("give a signing secret of 16 to 200 characters."))


def masked(actions: list) -> list:
    """The actions as the API shows them: webhook secrets hidden."""
    out = []
    for action in actions or []:
        action = dict(action)
        if action.get("type") == "webhook" and action.get("secret"):
            action["secret"] = "******"
        out.append(action)
    return out


# --- the records an action works on -------------------------------------------------------


@dataclass
class Target:
    """The firing's record and what hangs off it, loaded once per batch."""

    entity: str
    record: Any = None
    customer: Any = None
    vehicle: Any = None
    work_order: Any = None
    store_id: int | None = None
    snapshot: dict | None = None  # a deleted record

    @property
    def label(self) -> str:
        if self.record is not None:
            return str(self.record)[:100]
        return ""


SELECT = {
    "customer": ["home_store"],
    "vehicle": ["owner", "home_store"],
    "work_order": ["customer", "vehicle", "store"],
    "payment": ["work_order__customer", "work_order__vehicle", "store"],
    "survey": ["work_order__customer", "work_order__vehicle", "store"],
}


def load_targets(entity: str, ids) -> dict[int, Target]:
    model = ENTITIES[entity].model
    found = {}
    for obj in model.objects.select_related(*SELECT[entity]).filter(pk__in=list(ids)):
        found[obj.pk] = target_for(entity, obj)
    return found


def target_for(entity: str, obj) -> Target:
    t = Target(entity=entity, record=obj)
    if entity == "customer":
        t.customer, t.store_id = obj, obj.home_store_id
    elif entity == "vehicle":
        t.vehicle, t.customer, t.store_id = obj, obj.owner, obj.home_store_id
    elif entity == "work_order":
        t.work_order, t.customer, t.vehicle, t.store_id = (
            obj,
            obj.customer,
            obj.vehicle,
            obj.store_id,
        )
    else:
        wo = obj.work_order
        t.work_order, t.customer, t.vehicle, t.store_id = wo, wo.customer, wo.vehicle, obj.store_id
    return t


def deleted_target(entity: str, snapshot: dict) -> Target:
    store_attname = f"{ENTITIES[entity].store_path}_id"
    return Target(entity=entity, store_id=snapshot.get(store_attname), snapshot=snapshot)


def values_for(target: Target, firing) -> dict[str, str]:
    """Placeholder values for message texts and task titles."""
    values: dict[str, str] = {}
    if target.customer is not None:
        values["customer_name"] = target.customer.name
    if target.vehicle is not None:
        values["plate"] = target.vehicle.plate
    if target.work_order is not None:
        values["work_order_number"] = target.work_order.number
    if target.entity == "survey" and target.record is not None:
        values["nps"] = str(target.record.nps)
    if target.snapshot is not None:
        values["record"] = str(target.snapshot.get("name") or target.snapshot.get("plate") or "")
    due = (firing.event or {}).get("date") or ""
    if due:
        values["due_date"] = due
    return {k: v for k, v in values.items() if v not in (None, "")}


# --- running ------------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    detail: str = ""
    counts: str = ""  # "message" / "task" when one was made (for the run's summary)


def run(action: dict, index: int, rule, firing, target: Target) -> Outcome:
    kind = action["type"]
    try:
        return globals()[f"_run_{kind}"](action, index, rule, firing, target)
    except ActionFailed:
        raise
    except ServiceError as exc:
        raise ActionFailed(exc.display_text, permanent=True) from exc


def _key(rule, firing, index: int) -> str:
    return f"rule:{rule.pk}:{firing.pk}:{index}"


def _run_message(action, index, rule, firing, target: Target) -> Outcome:
    from autocrm.messaging import services as messaging
    from autocrm.messaging.models import MessageTemplate

    if target.customer is None:
        return Outcome(True, _("no customer: nothing sent"))
    cache = rule.__dict__.setdefault("_templates", {})  # one read per run, not per firing
    if action["template"] not in cache:
        cache[action["template"]] = MessageTemplate.objects.filter(
            org_id=rule.org_id, pk=action["template"]
        ).first()
    template = cache[action["template"]]
    if template is None:
        raise ActionFailed(_("The message template no longer exists."), permanent=True)
    context = {
        **values_for(target, firing),
        **{k: str(v) for k, v in action.get("values", {}).items()},
    }
    message = messaging.send_templated(
        template,
        customer=target.customer,
        store_id=target.store_id,
        context=context,
        related=f"rule:{rule.pk}",
        key=_key(rule, firing, index),
    )
    if message is None:
        return Outcome(True, _("no customer: nothing sent"))
    status = message.status
    detail = _("message %(id)s: %(status)s") % {
        "id": message.pk,
        "status": message.get_status_display(),
    }
    reason = getattr(message, "suppressed_reason", "")
    if reason:
        detail = f"{detail} ({reason})"
    return Outcome(True, detail, "message" if status != "suppressed" else "")


def _run_task(action, index, rule, firing, target: Target) -> Outcome:
    from autocrm.automation.models import Task
    from autocrm.automation.services import create_task
    from autocrm.messaging.templating import fill

    if target.store_id is None:
        raise ActionFailed(_("The record has no store to give the task to."), permanent=True)
    values = values_for(target, firing)
    title = fill(action["title"], values)[0].strip() or rule.name
    details = fill(action.get("details", ""), values)[0]
    role, assignee_id = action.get("role", ""), action.get("assignee_id")
    if action.get("assign_to") == "advisor":
        advisor = getattr(target.work_order, "advisor_id", None)
        assignee_id, role = (advisor, "") if advisor else (None, "service_advisor")
    due = (firing.due_at or timezone.now()) + datetime.timedelta(hours=action.get("due_hours", 24))
    task = create_task(
        None,
        store_id=target.store_id,
        title=title,
        kind=action.get("kind", Task.Kind.FOLLOW_UP),
        details=details,
        role=role,
        assignee_id=assignee_id,
        due_at=due,
        customer_id=getattr(target.customer, "pk", None),
        vehicle_id=getattr(target.vehicle, "pk", None),
        work_order_id=getattr(target.work_order, "pk", None),
        source=f"rule:{rule.pk}",
        key=_key(rule, firing, index),
    )
    return Outcome(True, _("task %(id)s") % {"id": task.pk}, "task")


def _run_set_field(action, index, rule, firing, target: Target) -> Outcome:
    ns, name = action["field"].split(".", 1)
    obj = {"customer": target.customer, "vehicle": target.vehicle}.get(ns)
    if obj is None:
        return Outcome(True, _("no %(ns)s: nothing set") % {"ns": ns})
    model = type(obj)
    obj = audit.locked(model.objects.select_for_update().get(pk=obj.pk))
    value = action["value"]
    if getattr(obj, name) == value or str(getattr(obj, name) or "") == str(value or ""):
        return Outcome(True, _("already %(value)s") % {"value": value})
    setattr(obj, name, value)
    obj.save(update_fields=[name, "updated_at"])
    return Outcome(True, _("%(field)s → %(value)s") % {"field": action["field"], "value": value})


def _run_tag(action, index, rule, firing, target: Target) -> Outcome:
    from autocrm.customers.models import Tag

    customer = target.customer
    if customer is None:
        return Outcome(True, _("no customer: no tag"))
    name = action["tag"].strip()
    if action.get("remove"):
        tag = Tag.objects.filter(org_id=customer.org_id, name=name).first()
        if tag is None or not customer.tags.filter(pk=tag.pk).exists():
            return Outcome(True, _("tag %(tag)s was not there") % {"tag": name})
        customer.tags.remove(tag)
        return Outcome(True, _("tag %(tag)s removed") % {"tag": name})
    tag = Tag.objects.get_or_create(org_id=customer.org_id, name=name)[0]
    if customer.tags.filter(pk=tag.pk).exists():
        return Outcome(True, _("tag %(tag)s already there") % {"tag": name})
    customer.tags.add(tag)
    return Outcome(True, _("tag %(tag)s added") % {"tag": name})


def webhook_body(rule, firing, target: Target) -> bytes:
    data = {
        "rule": {"id": rule.pk, "name": rule.name},
        "firing": {
            "id": firing.pk,
            "occurrence": firing.occurrence,
            "due_at": firing.due_at.isoformat() if firing.due_at else None,
        },
        "entity": rule.entity,
        "record_id": firing.record_id,
        "store_id": target.store_id,
        "customer_id": getattr(target.customer, "pk", None),
        "vehicle_id": getattr(target.vehicle, "pk", None),
        "work_order_id": getattr(target.work_order, "pk", None),
        "values": values_for(target, firing),
        "event": {k: v for k, v in (firing.event or {}).items() if k in ("changed", "previous")},
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _run_webhook(action, index, rule, firing, target: Target) -> Outcome:
    """POST the firing as signed JSON, up to three tries with back-off on transient errors."""
    from autocrm.messaging.providers import HttpProvider, SendError, webhook_signature

    body = webhook_body(rule, firing, target)
    delivery = f"{firing.pk}.{index}"
    provider = HttpProvider({"url": action["url"]}, timeout=WEBHOOK_TIMEOUT)
    try:
        for attempt in range(WEBHOOK_TRIES):
            stamp = str(int(time.time()))
            try:
                response = provider.request(
                    "POST",
                    action["url"],
                    content=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "X-AutoCRM-Delivery": delivery,
                        "X-AutoCRM-Timestamp": stamp,
                        "X-AutoCRM-Signature": webhook_signature(action["secret"], stamp, body),
                    },
                )
            except SendError as exc:
                if attempt + 1 == WEBHOOK_TRIES:
                    raise ActionFailed(str(exc)) from exc
                time.sleep(WEBHOOK_BACKOFF * 2**attempt)
                continue
            if 200 <= response.status_code < 300:
                return Outcome(True, f"HTTP {response.status_code}")
            raise ActionFailed(f"HTTP {response.status_code}", permanent=True)
    finally:
        provider.close()
    raise ActionFailed("unreachable")  # pragma: no cover


def run_in_savepoint(action, index, rule, firing, target) -> Outcome:
    """One database action in its own savepoint: a failure undoes only that action."""
    with transaction.atomic():
        return run(action, index, rule, firing, target)
