"""Background work of the process engine: the escalation scan every five minutes."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from autocrm.workflow import escalation


@db_periodic_task(crontab(minute="*/5"))
def escalation_scan() -> int:
    """Escalate the stage visits that went past their limit since the last run."""
    return escalation.scan()
