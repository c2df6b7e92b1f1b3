"""Background work of customers and vehicles."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from autocrm.core import audit
from autocrm.customers import maintenance


# huey's schedule is in UTC: 18:37 UTC is 02:37 in Shanghai, before the rules' morning scan.
@db_periodic_task(crontab(hour="18", minute="37"))
def refresh_maintenance_predictions() -> None:
    """Nightly: new store medians, then every vehicle's prediction. A reading or a settlement
    refreshes its own vehicle at once; this run catches what moves without one: the medians
    (and the cars that use them), the two-year window of readings sliding on, imports and
    bulk loads that write vehicles directly."""
    with audit.audit_context(source="task"):
        maintenance.refresh()
