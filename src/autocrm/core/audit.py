"""Audit of every create, update and delete, whatever the path.

Model signals (connected for every model of the project in ``CoreConfig.ready``) write one
``AuditLog`` row per change with the values before and after. Who and from where come from a
context variable that each entry point sets: the web and API middleware, the command line, the
worker, imports and rules (``audit_context``). Bulk inserts, which bypass signals, are recorded
with ``record_bulk``."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal
import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

PROJECT_PREFIX = "autocrm."
# Not audited: the log tables themselves, the worker's own bookkeeping, and search indexes
# derived from audited rows (rebuilt from them, never edited).
EXEMPT = {
    "core.AuditLog",
    "core.JobRun",
    "core.WorkerHeartbeat",
    "customers.PlateKey",
    "customers.StoreMileage",
    "service.WorkOrderCounter",
    "reports.DailyStoreStat",
    "reports.DailyStaffStat",
    "reports.DailyItemStat",
    "reports.DailyReasonStat",
    "reports.MonthlyItemStat",
    "reports.MonthlyStoreStat",
    "reports.MonthlyStaffStat",
    "reports.MonthlyReasonStat",
    "reports.CustomerRFM",
    "reports.RollupPending",
    "reports.PeriodFigure",
    "automation.RuleFiring",
}
# Fields that change on their own (sign-in time, token use) are not worth an entry.
IGNORED_FIELDS = {"last_login", "last_used_at", "updated_at", "last_opened_at"}
SECRET_FIELDS = {"password", "key_hash"}
MASK = "******"


@dataclass(frozen=True)
class AuditContext:
    source: str = "shell"
    user_id: int | None = None
    user_label: str = ""
    org_id: int | None = None
    ip: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # A callable giving the user, resolved the first time the context is read (a request's user
    # costs a session and a user query; most requests write no audit row).
    pending_user: Callable[[], object] | None = None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "autocrm_audit", default=None
)
# Inside ``batched()``: the entries waiting for the block's end and the savepoint depth at
# which the block started.
_batch: contextvars.ContextVar[tuple[list, int] | None] = contextvars.ContextVar(
    "autocrm_audit_batch", default=None
)


def _user_fields(user) -> dict:
    if user is not None and getattr(user, "is_authenticated", False):
        return {"user_id": user.pk, "user_label": user.get_username(), "org_id": user.org_id}
    return {}


def current() -> AuditContext:
    ctx = _current.get()
    if ctx is None:
        return AuditContext()
    if ctx.pending_user is not None:
        ctx = replace(ctx, pending_user=None, **_user_fields(ctx.pending_user()))
        _current.set(ctx)
    return ctx


@contextlib.contextmanager
def audit_context(source: str | None = None, user=None, ip: str | None = None) -> Iterator:
    """Attribute changes made inside the block to ``user`` acting through ``source``."""
    ctx = _current.get() or AuditContext()  # a pending user stays pending
    changes = {}
    if source is not None:
        changes["source"] = source
    if user is not None and getattr(user, "is_authenticated", False):
        changes.update(_user_fields(user), pending_user=None)
    if ip is not None:
        changes["ip"] = ip
    token = _current.set(replace(ctx, **changes, request_id=uuid.uuid4().hex))
    try:
        yield
    finally:
        _current.reset(token)


def by_actor(fn):
    """For services whose first argument is the acting user: changes inside are attributed to
    that user when no one is attributed yet (scripts, tasks, tests calling services directly)."""

    @functools.wraps(fn)
    def wrapper(actor, *args, **kwargs):
        if current().user_id is None and getattr(actor, "is_authenticated", False):
            with audit_context(user=actor):
                return fn(actor, *args, **kwargs)
        return fn(actor, *args, **kwargs)

    return wrapper


def enter(source: str) -> None:
    """Start a fresh context in the current thread (a worker thread picking up a task)."""
    _current.set(AuditContext(source=source))


def set_user(user) -> None:
    """Attach the authenticated user to the current context (used once auth has run)."""
    ctx = _current.get() or AuditContext()
    if user is not None and getattr(user, "is_authenticated", False):
        _current.set(replace(ctx, pending_user=None, **_user_fields(user)))


def set_user_lazily(get_user: Callable[[], object]) -> None:
    """Attach the user ``get_user()`` returns, called only when an audit row is written."""
    _current.set(replace(_current.get() or AuditContext(), pending_user=get_user))


def model_label(model) -> str:
    return model._meta.label


def is_audited(model) -> bool:
    return model.__module__.startswith(PROJECT_PREFIX) and model_label(model) not in EXEMPT


def _plain(value):
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, FieldFile):
        return value.name or ""
    return value


def _concrete_fields(model) -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def snapshot(instance) -> dict:
    return {f.attname: _plain(getattr(instance, f.attname)) for f in _concrete_fields(instance)}


def _masked(name: str, value):
    return MASK if name in SECRET_FIELDS and value not in (None, "") else value


def _store_id(instance) -> int | None:
    from autocrm.core.models import Store

    if isinstance(instance, Store):
        return instance.pk
    store_id = getattr(instance, "store_id", None)
    if store_id is not None:
        return store_id
    path = getattr(type(instance), "scope_store", None)
    if path == "stores" and instance.pk is not None:
        return instance.stores.values_list("pk", flat=True).order_by("pk").first()
    return None


def _org_id(instance) -> int | None:
    from autocrm.core.models import Organization

    if isinstance(instance, Organization):
        return instance.pk
    org_id = getattr(instance, "org_id", None)
    if org_id is not None:
        return org_id
    path = getattr(type(instance), "scope_org", None)
    if path and "__" in path:
        obj = instance
        for part in path.split("__")[:-1]:
            obj = getattr(obj, part, None)
            if obj is None:
                break
        else:
            return getattr(obj, "org_id", None)
    return current().org_id


@contextlib.contextmanager
def batched() -> Iterator:
    """Within a transaction, the entries of the changes made inside the block are inserted
    together, in one statement, when the block ends without an error (still inside the
    transaction, so they commit or roll back with the changes). An entry written inside a
    savepoint opened in the block is inserted at once, so that it is undone with the savepoint
    if that rolls back. Outside a transaction, or nested in another ``batched()``, it does
    nothing. For services that write several rows per call (a settlement writes eight)."""
    from django.db import transaction

    from autocrm.core.models import AuditLog

    connection = transaction.get_connection()
    if _batch.get() is not None or not connection.in_atomic_block:
        yield
        return
    rows: list = []
    token = _batch.set((rows, len(connection.savepoint_ids)))
    try:
        yield
    finally:
        _batch.reset(token)
    if rows:  # not reached when the block raised: the transaction rolls back anyway
        AuditLog.objects.bulk_create(rows)


def _insert(row) -> None:
    batch = _batch.get()
    if batch is not None:
        from django.db import transaction

        rows, depth = batch
        if len(transaction.get_connection().savepoint_ids) == depth:
            rows.append(row)
            return
    row.save()


def write(action: str, instance, changes: dict, *, object_type: str | None = None) -> None:
    from autocrm.core.models import AuditLog

    ctx = current()
    row = AuditLog(
        org_id=_org_id(instance),
        store_id=_store_id(instance),
        user_id=ctx.user_id,
        user_label=ctx.user_label,
        source=ctx.source,
        ip=ctx.ip,
        request_id=ctx.request_id,
        action=action,
        object_type=object_type or model_label(type(instance)),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes,
    )
    _insert(row)


def locked(instance):
    """Mark ``instance`` as just read under a row lock (``select_for_update``) in the current
    transaction: its loaded state is then the state before its next save, so the audit diff
    needs no extra read. Returns the instance."""
    instance._audit_locked_state = snapshot(instance)
    return instance


def _pre_save(sender, instance, raw=False, **kwargs):
    if raw or not is_audited(sender):
        return
    before = None
    if instance.pk is not None and not instance._state.adding:
        before = getattr(instance, "_audit_locked_state", None)
    if before is None and instance.pk is not None and not instance._state.adding:
        names = [f.attname for f in _concrete_fields(sender)]
        before = sender._base_manager.filter(pk=instance.pk).values(*names).first()
        if before is not None:
            before = {k: _plain(v) for k, v in before.items()}
    instance._audit_before = before


def _post_save(sender, instance, created, raw=False, **kwargs):
    if raw or not is_audited(sender):
        return
    after = snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if getattr(instance, "_audit_locked_state", None) is not None:
        instance._audit_locked_state = after  # still locked: the next save starts from here
    if created or before is None:
        changes = {k: [None, _masked(k, v)] for k, v in after.items() if v not in (None, "")}
        write("create", instance, changes)
        return
    changes = {
        k: [_masked(k, before.get(k)), _masked(k, v)]
        for k, v in after.items()
        if before.get(k) != v and k not in IGNORED_FIELDS
    }
    if changes:
        write("update", instance, changes)


def _post_delete(sender, instance, **kwargs):
    if not is_audited(sender):
        return
    before = snapshot(instance)
    changes = {k: [_masked(k, v), None] for k, v in before.items() if v not in (None, "")}
    write("delete", instance, changes)


def _m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    owner = type(instance)
    if reverse or not is_audited(owner):
        return
    field_name = next(
        (f.name for f in owner._meta.many_to_many if f.remote_field.through is sender), None
    )
    if field_name is None:
        return
    manager = getattr(instance, field_name)
    if action in {"pre_add", "pre_remove", "pre_clear"}:
        instance._audit_m2m_before = sorted(manager.values_list("pk", flat=True))
    elif action in {"post_add", "post_remove", "post_clear"}:
        before = getattr(instance, "_audit_m2m_before", [])
        after = sorted(manager.values_list("pk", flat=True))
        if before != after:
            write("update", instance, {field_name: [before, after]})


def record_event(
    action: str, model, description: str, changes: dict, *, org_id=None, user=None
) -> None:
    """An entry for something that touches many rows at once (a list export, a bulk job)."""
    from autocrm.core.models import AuditLog

    ctx = current()
    AuditLog.objects.create(
        org_id=org_id or ctx.org_id,
        user_id=ctx.user_id or getattr(user, "pk", None),
        user_label=ctx.user_label or (user.get_username() if user else ""),
        source=ctx.source,
        ip=ctx.ip,
        request_id=ctx.request_id,
        action=action,
        object_type=model_label(model),
        object_id="*",
        object_repr=description[:200],
        changes=changes,
    )


def record_bulk(model, count: int, *, org_id: int | None = None, note: str = "") -> None:
    """One entry for a bulk insert (demo data, large imports) that bypassed model signals."""
    from autocrm.core.models import AuditLog

    ctx = current()
    AuditLog.objects.create(
        org_id=org_id or ctx.org_id,
        user_id=ctx.user_id,
        user_label=ctx.user_label,
        source=ctx.source,
        ip=ctx.ip,
        request_id=ctx.request_id,
        action="create",
        object_type=model_label(model),
        object_id="*",
        object_repr=f"{count} × {model._meta.verbose_name}",
        changes={"count": [None, count], "note": [None, note]}
        if note
        else {"count": [None, count]},
    )


def connect() -> None:
    pre_save.connect(_pre_save, dispatch_uid="autocrm_audit_pre_save")
    post_save.connect(_post_save, dispatch_uid="autocrm_audit_post_save")
    post_delete.connect(_post_delete, dispatch_uid="autocrm_audit_post_delete")
    m2m_changed.connect(_m2m_changed, dispatch_uid="autocrm_audit_m2m")
