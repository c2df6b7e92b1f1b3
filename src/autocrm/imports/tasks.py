"""Background work of imports: the dry run, the import, and clean-up of old files.

No retries: a failure is marked on the job (the dry run goes back to the mapping step) and
importing the same file again is safe, since existing customers and vehicles are matched."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from autocrm.core.jobs import autocrm_task
from autocrm.imports import services


@autocrm_task(retries=0)
def plan_import(job_id: int) -> None:
    services.plan_job(job_id)


@autocrm_task(retries=0)
def run_import(job_id: int) -> None:
    services.run_job(job_id)


@db_periodic_task(crontab(hour="4", minute="23"))
def prune_import_files() -> None:
    services.prune_files()
