"""The worker's share of messaging: deliver the due outbox every minute."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from autocrm.core import audit
from autocrm.messaging import delivery


@db_periodic_task(crontab(minute="*"))
@lock_task("messaging-deliver")
def deliver_messages() -> dict:
    """Send what is due. Runs of other workers may overlap safely (rows are claimed); the lock
    only keeps one worker's minute ticks from piling up behind a slow provider."""
    with audit.audit_context(source="task"):
        report = delivery.deliver_due(max_seconds=50)
    return {
        "sent": report.sent,
        "failed": report.failed,
        "retried": report.retried,
        "suppressed": report.suppressed,
        "deferred": report.deferred,
    }
