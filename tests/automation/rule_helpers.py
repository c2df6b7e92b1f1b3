"""Helpers for the rules engine's tests: rules made through the service, fixed clocks."""

from __future__ import annotations

import datetime

from django.utils import timezone

from autocrm.automation import rules
from autocrm.automation.models import Rule


def at(day: str, hour: int = 9, minute: int = 0) -> datetime.datetime:
    """A Beijing time."""
    return timezone.make_aware(
        datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour, minute))
    )


def task_action(title: str = "跟进：{plate}", **kw) -> dict:
    action = {"type": "task", "title": title, "kind": "follow_up", "due_hours": 24}
    if not {"role", "assignee_id", "assign_to"} & set(kw):
        kw["role"] = "service_advisor"
    return {**action, **kw}


def make_rule(world, *, activated: str | None = None, **kw) -> Rule:
    """An enabled rule of the world's org, made by its HQ admin; ``activated`` backdates the
    moment it was switched on (time rules look back one day from it on their first run)."""
    kw.setdefault("name", "测试规则")
    kw.setdefault("condition", {})
    kw.setdefault("actions", [task_action()])
    enabled = kw.pop("enabled", True)
    rule = rules.create_rule(world.hq, enabled=enabled, **kw)
    if activated:
        Rule.objects.filter(pk=rule.pk).update(activated_at=at(activated, 0))
        rule.refresh_from_db()
    return rule


def insurance_rule(world, offset: int = -30, **kw) -> Rule:
    return make_rule(
        world,
        entity="vehicle",
        trigger={"type": "date", "field": "vehicle.insurance_expires_on", "offset_days": offset},
        **kw,
    )
