"""Background work of the reports: keeping the daily rollups fresh."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from autocrm.core.jobs import autocrm_task


@autocrm_task()
def refresh_rollups(work_order_id: int, previous_days: list[str] | None = None) -> None:
    """Recompute the store-days an event on this work order touched (idempotent)."""
    from autocrm.reports.rollups import refresh_work_order

    refresh_work_order(work_order_id, previous_days or ())


# huey schedules in UTC: 18:41 UTC is 02:41 in Shanghai.
@db_periodic_task(crontab(hour="18", minute="41"))
def refresh_rfm() -> None:
    """Nightly: recompute every org's RFM scores (one set-based statement)."""
    from autocrm.reports.rfm import compute

    compute()


from autocrm.reports.builder_tasks import send_scheduled_reports  # noqa: E402,F401
