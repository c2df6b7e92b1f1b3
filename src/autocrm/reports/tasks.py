"""Background work of the reports: keeping the daily rollups fresh."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from autocrm.core.jobs import autocrm_task


@autocrm_task()
def refresh_rollups() -> None:
    """Recompute the store-days of the work orders noted since the last run (idempotent)."""
    from autocrm.reports.rollups import flush_all

    flush_all()


@db_periodic_task(crontab(minute="*/5"))
def sweep_rollups() -> None:
    """Every 5 minutes: recompute anything noted but not yet picked up (cheap when empty)."""
    from autocrm.reports.rollups import flush_all

    flush_all()


@db_periodic_task(crontab(minute="*/10"))
def refresh_period_figures() -> None:
    """Every 10 minutes: the dashboard's return rate and booking conversion of the usual
    periods (not additive per store-day, so not in the daily rollups)."""
    from autocrm.reports.figures import refresh

    refresh()


# huey schedules in UTC: 18:41 UTC is 02:41 in Shanghai.
@db_periodic_task(crontab(hour="18", minute="41"))
def refresh_rfm() -> None:
    """Nightly: recompute every org's RFM scores (one set-based statement)."""
    from autocrm.reports.rfm import compute

    compute()


from autocrm.reports.builder_tasks import send_scheduled_reports  # noqa: E402,F401
