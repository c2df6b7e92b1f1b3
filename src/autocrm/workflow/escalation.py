"""The escalation scan: stage visits past their limit get escalated, exactly once each.

Every entry into a stage with a limit stores its due time, counted in the store's business
hours at entry (``StageVisit.due_at``), so finding the overdue visits is one indexed query
over open, not yet escalated visits, whatever the number of orders; only the overdue ones are
looped over. Each is claimed with a conditional update (two scans at once cannot both claim
it), then gets an escalation task for its target (key ``escalate:<visit>``, so even a repeated
claim makes no second task), a line in the work order's history, and the flag the job board
shows. A scan that was not running (worker down) catches up on its next run: due times do not
expire."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from autocrm.core import audit, events
from autocrm.core.errors import Invalid
from autocrm.core.roles import ROLE_LABELS, STORE_MANAGER
from autocrm.service.models import WorkOrder
from autocrm.workflow import business_hours
from autocrm.workflow.models import StageVisit

log = logging.getLogger("autocrm.workflow")
BATCH = 500


def overdue(now: datetime.datetime):
    """Open visits of open orders whose due time has passed and that were not escalated."""
    return (
        StageVisit.objects.filter(
            left_at__isnull=True, escalated_at__isnull=True, due_at__isnull=False, due_at__lte=now
        )
        .exclude(work_order__status__in=WorkOrder.CLOSED_STATUSES)
        .order_by("due_at", "id")
    )


def scan(now: datetime.datetime | None = None) -> int:
    """Escalate every overdue stage visit once; returns how many were escalated now. One
    visit that fails is logged and left for the next run; the others go ahead."""
    now = now or timezone.now()
    done = 0
    after = None  # keyset: (due_at, id) of the last visit looked at
    with translation.override(settings.LANGUAGE_CODE), audit.audit_context(source="task"):
        while True:
            batch = overdue(now)
            if after is not None:
                batch = batch.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], pk__gt=after[1]))
            rows = list(batch.values_list("due_at", "pk")[:BATCH])
            for _due, pk in rows:
                try:
                    done += escalate(pk, now)
                except Exception:  # noqa: BLE001 - one bad row must not stop the others
                    log.exception("escalation of stage visit %s failed", pk)
            if len(rows) < BATCH:
                break
            after = rows[-1]
    return done


def _target(visit: StageVisit) -> tuple[str, int | None]:
    """(role, person) of the escalation; the store manager when the stage names no one."""
    if visit.escalate_to_id:
        return "", visit.escalate_to_id
    return visit.escalate_role or STORE_MANAGER, None


@transaction.atomic
def escalate(visit_id: int, now: datetime.datetime) -> bool:
    """Escalate one visit, unless someone else already did or it is no longer open."""
    from autocrm.automation.models import Task
    from autocrm.automation.services import create_task
    from autocrm.service.services import log_event

    claimed = StageVisit.objects.filter(
        pk=visit_id, escalated_at__isnull=True, left_at__isnull=True
    ).update(escalated_at=now)
    if not claimed:
        return False
    visit = StageVisit.objects.select_related("work_order", "stage").get(pk=visit_id)
    wo = visit.work_order
    hours = business_hours.hours_for(wo.store_id)
    late = business_hours.minutes_between(hours, visit.entered_at, now)
    limit = visit.limit_minutes or 0
    role, person = _target(visit)
    title = _("Overdue: %(number)s in “%(stage)s” over its limit of %(limit)s") % {
        "number": wo.number,
        "stage": visit.stage.name,
        "limit": business_hours_label(limit),
    }
    details = _(
        "In this stage for %(spent)s of business hours (limit %(limit)s) since %(since)s."
    ) % {
        "spent": business_hours_label(late),
        "limit": business_hours_label(limit),
        "since": timezone.localtime(visit.entered_at).strftime("%Y-%m-%d %H:%M"),
    }
    if visit.owner_role:
        details += " " + _("Owner: %(role)s.") % {
            "role": ROLE_LABELS.get(visit.owner_role, visit.owner_role)
        }
    common = {
        "store_id": wo.store_id,
        "title": title,
        "details": details,
        "kind": Task.Kind.ESCALATION,
        "due_at": now,
        "work_order_id": wo.pk,
        "source": "escalation",
        "key": f"escalate:{visit.pk}",
    }
    try:
        task = create_task(None, role=role, assignee_id=person, **common)
    except Invalid:  # the person named no longer works in the store: their manager takes it
        task = create_task(None, role=STORE_MANAGER, **common)
    visit.escalated_at = now
    visit.escalation_task = task
    visit.save(update_fields=["escalated_at", "escalation_task"])
    target = (
        task.assignee.display_name
        if task.assignee_id
        else str(ROLE_LABELS.get(task.role, task.role))
    )
    log_event(
        wo,
        "escalation",
        _("Over the limit of %(limit)s in “%(stage)s”: escalated to %(target)s")
        % {"limit": business_hours_label(limit), "stage": visit.stage.name, "target": target},
        label=_("System"),
    )
    events.publish(
        "work_order.escalated",
        work_order_id=wo.pk,
        store_id=wo.store_id,
        stage_visit_id=visit.pk,
        task_id=task.pk,
    )
    return True


def business_hours_label(minutes: int) -> str:
    """``1 business hour``, ``2.5 business hours``, ``45 business minutes``."""
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return (
            _("%(n)d business hour") % {"n": hours}
            if hours == 1
            else (_("%(n)d business hours") % {"n": hours})
        )
    if minutes >= 60:
        return _("%(n)s business hours") % {"n": f"{minutes / 60:.1f}".rstrip("0").rstrip(".")}
    return _("%(n)d business minutes") % {"n": minutes}
