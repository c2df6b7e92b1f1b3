"""The rules engine's background jobs: events handed over by requests, the time scan every
15 minutes (its catch-up window covers any downtime) and pruning of old firings."""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task
from huey.exceptions import TaskLockedException

from autocrm.core.jobs import autocrm_task

log = logging.getLogger("autocrm.rules")
# Firings are the exactly-once keys; a key older than any catch-up window can never come up
# again, so old ones may go (the log keeps a good year).
FIRING_RETENTION_DAYS = 400


@autocrm_task(retries=3, retry_delay=30)
def process_rule_events(events: list[dict]) -> dict:
    """Evaluate the event rules for events committed by a request (retried safely: each
    event's firing key is its id)."""
    from autocrm.automation import scan

    return scan.process_events(events).as_dict()


@db_periodic_task(crontab(minute="*/15"))
def scan_time_rules() -> dict | None:
    from autocrm.automation import scan

    try:
        with HUEY.lock_task("rules-time-scan"):
            stats = scan.run_time_rules()
    except TaskLockedException:
        log.info("rules scan still running; this one skipped")
        return None
    log.info("rules scan: %s", stats.line())
    return stats.as_dict()


@db_periodic_task(crontab(hour="4", minute="41"))
def prune_rule_firings() -> int:
    from autocrm.automation.models import RuleFiring

    cutoff = timezone.now() - datetime.timedelta(days=FIRING_RETENTION_DAYS)
    deleted, _ = (
        RuleFiring.objects.filter(created_at__lt=cutoff)
        .exclude(status=RuleFiring.Status.PENDING)
        .delete()
    )
    return deleted
