"""Rules (规则): the services that write them and the selectors that read them.

Only HQ administrators (capability ``rules.manage``) create, change, switch and delete rules;
every definition is checked against the whitelist (``conditions``, ``triggers``, ``actions``)
and refused with a Chinese message naming what is wrong. A rule the system can no longer run
(a field it uses was deleted) is switched off with the reason shown, never left to fail.

``catalog(entity)`` is what a rule builder offers: fields with their labels and ops, trigger
and action types."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_time
from django.utils.translation import gettext as _

from autocrm.automation import actions as act
from autocrm.automation import conditions, scan, triggers
from autocrm.automation.models import Rule, RuleFiring
from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import Region, Store, User
from autocrm.core.selectors import get_or_404
from autocrm.core.services import check_errors, require
from autocrm.core.validators import normalize_text, tidy_prose

FIELDS = (
    "name",
    "description",
    "entity",
    "trigger",
    "condition",
    "actions",
    "scope",
    "region_id",
    "store_ids",
    "owner_id",
    "at",
    "catch_up_days",
)


# --- selectors ----------------------------------------------------------------------------


def rules(user: User) -> QuerySet[Rule]:
    return scoping.scoped(Rule.objects.all(), user).select_related("owner", "region")


def get_rule(user: User, pk) -> Rule:
    return get_or_404(rules(user), pk)


def firings(user: User, rule: Rule) -> QuerySet[RuleFiring]:
    """A rule's log, newest first: each firing with its record, actions and results."""
    qs = RuleFiring.objects.filter(rule_id=rule.pk, org_id=user.org_id)
    if not scoping.is_org_wide(user):
        qs = qs.filter(store_id__in=scoping.store_ids(user))
    return qs.order_by("-pk")


def catalog(entity: str, org_id: int | None = None) -> dict:
    """Fields (labels in Chinese), ops, trigger and action types for ``entity``'s rules."""
    out = conditions.catalog(entity, org_id)
    labels = triggers.type_labels()
    out["triggers"] = [
        {"type": t, "label": labels[t], "kind": triggers.kind_of({"type": t})}
        for t in (*triggers.EVENT_TYPES, *triggers.TIME_TYPES)
        if triggers.ENTITY_OF.get(t, entity) == entity
    ]
    out["actions"] = [{"type": t, "label": label} for t, label in act.type_labels().items()]
    out["settable_fields"] = [
        f
        for f in act.settable_fields()
        if f["field"].split(".")[0] in conditions.ENTITIES[entity].paths
    ]
    out["entities"] = [
        {"entity": name, "label": str(e.label)} for name, e in conditions.ENTITIES.items()
    ]
    return out


# --- checking a definition ----------------------------------------------------------------


def _store_ids(actor_org: int, values) -> list[int]:
    if not isinstance(values, list | tuple) or not values:
        raise Invalid(fields={"stores": _("Choose at least one store.")})
    try:
        ids = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise Invalid(fields={"stores": _("Choose stores from the list.")}) from None
    found = set(Store.objects.filter(org_id=actor_org, pk__in=ids).values_list("pk", flat=True))
    if found != set(ids):
        raise Invalid(fields={"stores": _("Choose stores of your organization.")})
    return ids


def check(org_id: int, data: dict) -> dict:
    """The whole definition, checked and normalized. Raises ``Invalid``."""
    name = normalize_text(data.get("name") or "")[:100]
    entity = data.get("entity")
    check_errors(
        {
            "name": "" if name else _("Give the rule a name."),
            "entity": ""
            if entity in conditions.ENTITIES
            else _("Choose one of the listed record types."),
        }
    )
    trigger = triggers.validate(data.get("trigger"), entity, org_id)
    kind = triggers.kind_of(trigger)
    deleted = trigger["type"] == "deleted"
    condition = data.get("condition") or {}
    if not isinstance(condition, dict):
        raise Invalid(
            _("The condition must be a JSON object."),
            fields={"condition": _("The condition must be a JSON object.")},
        )
    ctx = conditions.Context(entity, org_id, event=kind == "event", snapshot_only=deleted)
    conditions.validate(condition, ctx)
    actions = act.validate(data.get("actions"), entity, org_id, deleted=deleted)
    scope = data.get("scope") or Rule.Scope.ORG
    clean: dict[str, Any] = {
        "name": name,
        "description": tidy_prose(data.get("description") or "")[:2000],
        "entity": entity,
        "trigger": trigger,
        "condition": condition,
        "actions": actions,
        "kind": kind,
        "event_key": triggers.event_key(trigger, entity),
        "scope": scope,
        "region": None,
        "store_ids": [],
    }
    if scope not in Rule.Scope.values:
        raise Invalid(fields={"scope": _("Choose the whole organization, a region or stores.")})
    if scope == Rule.Scope.REGION:
        region = Region.objects.filter(org_id=org_id, pk=data.get("region_id") or 0).first()
        if region is None:
            raise Invalid(fields={"region": _("Choose a region of your organization.")})
        clean["region"] = region
    elif scope == Rule.Scope.STORES:
        clean["store_ids"] = _store_ids(org_id, data.get("store_ids"))
    at = data.get("at", datetime.time(9, 0))
    if isinstance(at, str):
        at = parse_time(at)
    if not isinstance(at, datetime.time):
        raise Invalid(fields={"at": _("Give the time of day as HH:MM.")})
    clean["at"] = at.replace(second=0, microsecond=0)
    days = data.get("catch_up_days", 3)
    if (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not 1 <= days <= scan.MAX_CATCH_UP_DAYS
    ):
        raise Invalid(
            fields={
                "catch_up_days": _("Catch up between 1 and %(n)d days.")
                % {"n": scan.MAX_CATCH_UP_DAYS}
            }
        )
    clean["catch_up_days"] = days
    return clean


def _owner(org_id: int, owner_id, default: User | None) -> User | None:
    if owner_id in (None, ""):
        return default
    owner = User.objects.filter(pk=owner_id, org_id=org_id, is_active=True).first()
    if owner is None:
        raise Invalid(fields={"owner": _("Choose an active colleague as the owner.")})
    return owner


def _definition(rule: Rule) -> dict:
    return {
        "name": rule.name,
        "description": rule.description,
        "entity": rule.entity,
        "trigger": rule.trigger,
        "condition": rule.condition,
        "actions": rule.actions,
        "scope": rule.scope,
        "region_id": rule.region_id,
        "store_ids": list(rule.stores.values_list("pk", flat=True)) if rule.pk else [],
        "at": rule.at,
        "catch_up_days": rule.catch_up_days,
    }


def _apply(rule: Rule, clean: dict) -> list[int] | None:
    store_ids = clean.pop("store_ids", None)
    for key, value in clean.items():
        setattr(rule, key, value)
    return store_ids


def _after_commit() -> None:
    from autocrm.automation import capture

    capture.invalidate()
    transaction.on_commit(capture.invalidate)


def _mine(actor: User, rule: Rule) -> Rule:
    require(actor, "rules.manage")
    if rule.org_id != actor.org_id:
        raise NotFound()
    return audit.locked(Rule.objects.select_for_update().get(pk=rule.pk))


# --- services -----------------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def create_rule(actor: User, *, enabled: bool = False, owner_id=None, **data) -> Rule:
    """A new rule, off unless ``enabled`` (a rule switched on at once is checked the same)."""
    require(actor, "rules.manage")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise Invalid(fields={k: _("Unknown field.") for k in sorted(unknown)})
    clean = check(actor.org_id, data)
    rule = Rule(org_id=actor.org_id, owner=_owner(actor.org_id, owner_id, actor))
    store_ids = _apply(rule, clean)
    if enabled:
        rule.state, rule.activated_at = Rule.State.ACTIVE, timezone.now()
    rule.save()
    if store_ids:
        rule.stores.set(store_ids)
    _after_commit()
    return rule


@audit.by_actor
@transaction.atomic
def update_rule(actor: User, rule: Rule, *, version=None, **data) -> Rule:
    """Change any part of the definition; the whole rule is checked again."""
    rule = _mine(actor, rule)
    if version is not None and int(version) != rule.version:
        raise Conflict(
            _("Someone else changed this rule meanwhile: reload it and try again."),
            code="stale",
        )
    enabled = data.pop("enabled", None)
    owner_id = data.pop("owner_id", None)
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise Invalid(fields={k: _("Unknown field.") for k in sorted(unknown)})
    merged = {**_definition(rule), **data}
    clean = check(rule.org_id, merged)
    store_ids = _apply(rule, clean)
    if owner_id is not None:
        rule.owner = _owner(rule.org_id, owner_id, rule.owner)
    if enabled is True and not rule.is_active:
        _switch_on(rule)
    elif enabled is False:
        rule.state = Rule.State.OFF
    elif rule.state == Rule.State.DISABLED:
        rule.state, rule.disabled_reason = Rule.State.OFF, ""  # fixed: the switch is theirs
    rule.version += 1
    rule.save()
    rule.stores.set(store_ids or [])
    _after_commit()
    return rule


def _switch_on(rule: Rule) -> None:
    rule.state, rule.disabled_reason = Rule.State.ACTIVE, ""
    # From now on (a day back for today's moments), not the time it was off.
    rule.activated_at, rule.last_run_at = timezone.now(), None


@audit.by_actor
@transaction.atomic
def enable_rule(actor: User, rule: Rule) -> Rule:
    rule = _mine(actor, rule)
    check(rule.org_id, _definition(rule))  # still runnable (a field may have gone)
    if not rule.is_active:
        _switch_on(rule)
        rule.version += 1
        rule.save()
    _after_commit()
    return rule


@audit.by_actor
@transaction.atomic
def disable_rule(actor: User, rule: Rule) -> Rule:
    rule = _mine(actor, rule)
    if rule.state != Rule.State.OFF:
        rule.state = Rule.State.OFF
        rule.version += 1
        rule.save()
    _after_commit()
    return rule


@audit.by_actor
@transaction.atomic
def delete_rule(actor: User, rule: Rule) -> None:
    rule = _mine(actor, rule)
    rule.delete()
    _after_commit()


@transaction.atomic
def disable_with_reason(rule: Rule, reason: str) -> Rule:
    """The system switches a rule off that it cannot run, saying why (shown in the UI)."""
    with audit.audit_context(source="rule"):
        rule = audit.locked(Rule.objects.select_for_update().get(pk=rule.pk))
        rule.state = Rule.State.DISABLED
        rule.disabled_reason = str(reason)[:300]
        rule.version += 1
        rule.save()
    _after_commit()
    return rule


def preview(actor: User, rule: Rule, now: datetime.datetime | None = None) -> dict:
    """Dry run: who would fire now and a sample message; writes nothing."""
    require(actor, "rules.manage")
    if rule.org_id != actor.org_id:
        raise NotFound()
    try:
        return scan.preview(rule, now)
    except conditions.FieldGone as exc:
        raise Invalid(exc.message, fields=exc.fields, code="field_gone") from exc
