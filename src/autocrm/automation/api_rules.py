"""Rules API: list, create and change rules, preview (dry run) and each rule's firing log,
and the catalog a rule builder offers. HQ administrators only (``rules.manage``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from autocrm.automation import actions as act
from autocrm.automation import rules
from autocrm.automation.api import aware
from autocrm.automation.models import Rule
from autocrm.core.api import page_of
from autocrm.core.errors import Invalid
from autocrm.core.pagination import paginate
from autocrm.core.services import require

router = Router(tags=["rules"])


class RuleOut(Schema):
    id: int
    name: str
    description: str
    entity: str
    kind: str
    trigger: dict
    condition: dict
    actions: list
    scope: str
    region_id: int | None
    store_ids: list[int]
    owner_id: int | None
    state: str
    enabled: bool
    disabled_reason: str
    builtin: str
    at: datetime.time
    catch_up_days: int
    activated_at: datetime.datetime | None
    last_run_at: datetime.datetime | None
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


def _out(rule: Rule) -> dict:
    return {
        **{f: getattr(rule, f) for f in RuleOut.model_fields if hasattr(rule, f)},
        "actions": act.masked(rule.actions),
        # from the prefetched stores when listing (values_list would query once per rule)
        "store_ids": sorted(s.pk for s in rule.stores.all()),
        "enabled": rule.is_active,
    }


class RuleIn(Schema):
    name: str = Field(..., max_length=100)
    description: str = Field("", max_length=2000)
    entity: str
    trigger: dict
    condition: dict = Field(default_factory=dict)
    actions: list[dict]
    scope: str = "org"
    region_id: int | None = None
    store_ids: list[int] = Field(default_factory=list)
    owner_id: int | None = None
    at: str = "09:00"
    catch_up_days: int = 3
    enabled: bool = False


class RulePatch(Schema):
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    entity: str | None = None
    trigger: dict | None = None
    condition: dict | None = None
    actions: list[dict] | None = None
    scope: str | None = None
    region_id: int | None = None
    store_ids: list[int] | None = None
    owner_id: int | None = None
    at: str | None = None
    catch_up_days: int | None = None
    enabled: bool | None = None
    version: int | None = None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = 50
    state: str | None = None
    entity: str | None = None


class PreviewIn(Schema):
    now: str | None = None


class PreviewRecord(Schema):
    id: int
    label: str
    store_id: int | None
    occurrence: str
    due_at: datetime.datetime | None


class PreviewOut(Schema):
    count: int
    records: list[PreviewRecord]
    sample_message: str | None
    sample_error: str | None
    window: dict | None = None
    note: str | None = None


class FiringOut(Schema):
    id: int
    record_id: int
    label: str
    store_id: int | None
    occurrence: str
    due_at: datetime.datetime | None
    status: str
    attempts: int
    results: list
    error: str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


RulePage, FiringPage = page_of(RuleOut), page_of(FiringOut)


def _rule(request, rule_id: int) -> Rule:
    require(request.user, "rules.manage")
    return rules.get_rule(request.user, rule_id)


@router.get("/rules", response=RulePage)
def list_rules(request, query: Query[PageQuery]):
    require(request.user, "rules.manage")
    qs = rules.rules(request.user).prefetch_related("stores")
    if query.state:
        qs = qs.filter(state=query.state)
    if query.entity:
        qs = qs.filter(entity=query.entity)
    page = paginate(qs, query.cursor, query.limit)
    return {"items": [_out(r) for r in page["items"]], "next_cursor": page["next_cursor"]}


@router.post("/rules", response={201: RuleOut})
def create_rule(request, payload: RuleIn):
    data = payload.dict()
    rule = rules.create_rule(
        request.user, enabled=data.pop("enabled"), owner_id=data.pop("owner_id"), **data
    )
    return Status(201, _out(rule))


@router.get("/rules/catalog/{entity}", response=dict[str, Any])
def rule_catalog(request, entity: str):
    require(request.user, "rules.manage")
    return rules.catalog(entity, request.user.org_id)


@router.get("/rules/{rule_id}", response=RuleOut)
def get_rule(request, rule_id: int):
    return _out(_rule(request, rule_id))


@router.patch("/rules/{rule_id}", response=RuleOut)
def update_rule(request, rule_id: int, payload: RulePatch):
    rule = _rule(request, rule_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _out(rules.update_rule(request.user, rule, **data))


@router.delete("/rules/{rule_id}", response={204: None})
def delete_rule(request, rule_id: int):
    rules.delete_rule(request.user, _rule(request, rule_id))
    return Status(204, None)


@router.post("/rules/{rule_id}/preview", response=PreviewOut)
def preview_rule(request, rule_id: int, payload: PreviewIn | None = None):
    rule = _rule(request, rule_id)
    now = None
    if payload is not None and payload.now:
        now = parse_datetime(payload.now)
        if now is None:
            raise Invalid(fields={"now": _("Give a date and time such as 2026-12-01T09:00.")})
        now = aware(now)
    return rules.preview(request.user, rule, now)


@router.get("/rules/{rule_id}/firings", response=FiringPage)
def rule_firings(request, rule_id: int, cursor: str | None = None, limit: int = 50):
    rule = _rule(request, rule_id)
    return paginate(rules.firings(request.user, rule), cursor, limit, descending=True)
