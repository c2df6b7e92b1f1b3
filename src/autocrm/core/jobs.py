"""Background work on huey: job bookkeeping, the worker heartbeat and housekeeping tasks.

Each task execution is recorded as a ``JobRun`` through huey's signals, so the jobs page and
``/healthz`` can show what the worker did without reading huey's storage."""

from __future__ import annotations

import datetime
import os
import socket

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from huey import crontab, signals
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from autocrm.core import audit
from autocrm.core.models import JobRun, WorkerHeartbeat

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
JOB_HISTORY_DAYS = 14


def autocrm_task(retries: int = 3, retry_delay: int = 10, backoff: float = 2.0, **kwargs):
    """A database task that retries with exponential back-off (10 s, 20 s, 40 s, …) and runs
    with changes attributed to the worker in the audit log."""

    def decorator(fn):
        def run(*args, **kw):
            with audit.audit_context(source="task"):
                return fn(*args, **kw)

        run.__name__ = fn.__name__
        run.__qualname__ = fn.__qualname__
        run.__module__ = fn.__module__
        return db_task(retries=retries, retry_delay=retry_delay, retry_backoff=backoff, **kwargs)(
            run
        )

    return decorator


def _fresh_connection() -> None:
    # In immediate mode (tests) the task runs inside the caller's transaction: keep it.
    if not HUEY.immediate:
        close_old_connections()


# The heartbeat runs every minute; its freshness is the worker status, not a job worth listing.
UNRECORDED = {"autocrm.core.jobs.heartbeat"}


def _record(signal, task, exc=None):
    if task.name in UNRECORDED:
        return
    now = timezone.now()
    if signal == signals.SIGNAL_EXECUTING:
        _fresh_connection()  # (huey's own check after the task serves the UPDATE below)
        JobRun.objects.create(
            task_id=task.id,
            name=task.name,
            status=JobRun.Status.RUNNING,
            started_at=now,
            retries_left=task.retries,
        )
        return
    if signal == signals.SIGNAL_COMPLETE:
        status = JobRun.Status.COMPLETE
    else:  # error or timeout; a retry follows while retries remain
        status = JobRun.Status.RETRYING if task.retries else JobRun.Status.ERROR
    error = f"{type(exc).__name__}: {exc}"[:2000] if exc else ""
    # One attempt runs at a time, so at most one row of the task is running: its UPDATE is
    # the whole bookkeeping of a finished task; a row is added only when none was recorded.
    ended = JobRun.objects.filter(task_id=task.id, status=JobRun.Status.RUNNING).update(
        status=status, finished_at=now, error=error
    )
    if not ended:
        JobRun.objects.create(
            task_id=task.id,
            name=task.name,
            status=status,
            started_at=now,
            finished_at=now,
            retries_left=task.retries,
            error=error,
        )


@HUEY.pre_execute()
def _attribute_to_task(task):
    """Worker threads do not inherit the command's context: mark every task's changes."""
    if not HUEY.immediate:
        audit.enter(source="task")


@HUEY.signal(signals.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args, **kwargs):
    _record(signal, task)


@HUEY.signal(signals.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args, **kwargs):
    _record(signal, task)


@HUEY.signal(signals.SIGNAL_ERROR, signals.SIGNAL_TIMEOUT)
def _on_error(signal, task, exc=None, *args, **kwargs):
    # huey also sends SIGNAL_RETRYING for the same attempt; this handler already recorded it.
    _record(signal, task, exc or TimeoutError("task timed out"))


def beat(worker: str = WORKER_NAME) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker=worker).update(seen_at=now)
    if not updated:
        WorkerHeartbeat.objects.create(worker=worker, started_at=now, seen_at=now)


@HUEY.on_startup()
def _on_startup():
    _fresh_connection()
    beat()


@db_periodic_task(crontab(minute="*"))
def heartbeat():
    """Proves the worker is alive; /healthz reads the newest beat."""
    beat()


@db_periodic_task(crontab(hour="3", minute="17"))
def prune_job_history():
    cutoff = timezone.now() - datetime.timedelta(days=JOB_HISTORY_DAYS)
    JobRun.objects.filter(started_at__lt=cutoff).delete()
    WorkerHeartbeat.objects.filter(seen_at__lt=cutoff).delete()


def worker_status() -> dict:
    """Newest heartbeat and whether it is fresh enough to call the worker alive."""
    last = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if last is None:
        return {"ok": False, "last_seen": None, "worker": None}
    age = (timezone.now() - last.seen_at).total_seconds()
    return {
        "ok": age <= settings.WORKER_STALE_SECONDS,
        "last_seen": last.seen_at.isoformat(),
        "age_seconds": round(age, 1),
        "worker": last.worker,
    }


SELFCHECK_RETRIES = 3


@autocrm_task(retries=SELFCHECK_RETRIES, retry_delay=5, context=True)
def selfcheck(fail_times: int = 0, task=None) -> str:
    """A job an admin can enqueue from the jobs page to see the worker answer (and, with
    ``fail_times``, to watch retries with back-off)."""
    attempts_before = SELFCHECK_RETRIES - task.retries if task is not None else 0
    if attempts_before < fail_times:
        raise RuntimeError(f"selfcheck: planned failure {attempts_before + 1} of {fail_times}")
    return "ok"
