"""The worker's task of the report builder: sending scheduled reports."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


# huey schedules in UTC: 23:10 UTC is 07:10 in Shanghai, before the shops open.
@db_periodic_task(crontab(hour="23", minute="10"))
def send_scheduled_reports() -> None:
    """Daily: email every saved report whose daily, weekly or monthly turn has come."""
    from autocrm.core import audit
    from autocrm.reports.builder_schedule import send_due

    with audit.audit_context(source="task"):
        send_due()
