"""Delivery of the due queue: claim, check, send, record.

A run claims a batch of due ``queued`` messages (``send_after`` ≤ now) on channels that have a
provider, by stamping them with its own token and a lease, in one conditional UPDATE: a row
another run holds (unexpired lease) or that left ``queued`` is not taken, so two workers never
send the same message (PostgreSQL additionally skips rows locked by a concurrent claim). The
rules are checked again (an opt-out since queueing wins), the sends go out in parallel threads
(providers never touch the database), and the outcomes are written in one transaction per
batch: sent; a transient failure (timeout, 5xx, throttling) queued again after an exponential
back-off (``retry_seconds`` × 2^(attempt−1)) until ``max_attempts``; then failed with the
reason. A run that dies leaves its rows to be claimed again when the lease ends."""

from __future__ import annotations

import datetime
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from autocrm.core import audit
from autocrm.messaging import conf, policy, providers
from autocrm.messaging.models import Channel, Kind, MessageAttempt, OutboxMessage
from autocrm.messaging.services import sms_sign

S = OutboxMessage.Status


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    retried: int = 0  # transient failures queued again
    suppressed: int = 0
    deferred: int = 0  # moved past the quiet hours
    batches: int = 0
    seconds: float = 0.0
    by_org: dict = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried + self.suppressed + self.deferred

    def add(self, org_id: int, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        counts = self.by_org.setdefault(org_id, {})
        counts[outcome] = counts.get(outcome, 0) + 1


@dataclass
class Outcome:
    message_id: int
    provider: str
    ok: bool
    provider_message_id: str = ""
    error: str = ""
    transient: bool = False
    duration_ms: int = 0
    at: datetime.datetime | None = None


def backoff(attempt: int) -> datetime.timedelta:
    """Wait after the ``attempt``-th failed try: base, 2×base, 4×base, …"""
    return datetime.timedelta(seconds=conf.retry_seconds() * 2 ** max(0, attempt - 1))


def _unclaimed(now: datetime.datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim(token: str, channels: set[str], limit: int) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for this run (see the module docstring)."""
    now = timezone.now()
    lease = now + datetime.timedelta(seconds=conf.lease_seconds())
    with transaction.atomic():
        due = (
            OutboxMessage.objects.filter(
                status=S.QUEUED, send_after__lte=now, channel__in=sorted(channels)
            )
            .filter(_unclaimed(now))
            .order_by("send_after", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        OutboxMessage.objects.filter(id__in=ids, status=S.QUEUED).filter(_unclaimed(now)).update(
            claim_token=token, claimed_until=lease
        )
    return list(
        OutboxMessage.objects.filter(claim_token=token, status=S.QUEUED, id__in=ids)
        .select_related("customer", "store")
        .order_by("send_after", "id")
    )


def _release(token: str, message_id: int, **changes) -> int:
    return OutboxMessage.objects.filter(pk=message_id, claim_token=token).update(
        claim_token="", claimed_until=None, **changes
    )


def outgoing(message: OutboxMessage) -> providers.Outgoing:
    return providers.Outgoing(
        id=message.pk,
        channel=message.channel,
        kind=message.kind,
        purpose=message.purpose,
        to=message.to,
        body=message.body,
        subject=message.subject,
        sign=sms_sign(message.store) if message.channel == Channel.SMS else "",
        provider_template=message.provider_template,
        params=[list(p) for p in (message.params or [])],
        store_id=message.store_id,
        customer_id=message.customer_id,
        org_id=message.org_id,
    )


def _send(provider: providers.Provider, out: providers.Outgoing) -> Outcome:
    started = time.perf_counter()
    try:
        provider_id = provider.send(out)
    except providers.SendError as exc:
        return Outcome(
            out.id,
            provider.name,
            False,
            error=str(exc)[:500],
            transient=exc.transient,
            duration_ms=int((time.perf_counter() - started) * 1000),
            at=timezone.now(),
        )
    except Exception as exc:  # a provider bug must not lose the batch: record it, try later
        return Outcome(
            out.id,
            provider.name,
            False,
            error=f"{type(exc).__name__}: {exc}"[:500],
            transient=True,
            duration_ms=int((time.perf_counter() - started) * 1000),
            at=timezone.now(),
        )
    return Outcome(
        out.id,
        provider.name,
        True,
        provider_message_id=str(provider_id or "")[:100],
        duration_ms=int((time.perf_counter() - started) * 1000),
        at=timezone.now(),
    )


class Run:
    """One delivery run: its claim token, its providers (built once, closed at the end)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.channels = providers.configured_channels()
        self.providers: dict[str, providers.Provider] = {}
        self.report = Report()

    def provider(self, channel: str) -> providers.Provider:
        if channel not in self.providers:
            self.providers[channel] = providers.build(channel)
        return self.providers[channel]

    def close(self) -> None:
        for provider in self.providers.values():
            if provider is not None:
                provider.close()

    def check(self, batch: list[OutboxMessage]) -> list[OutboxMessage]:
        """Apply the rules once more; suppress or defer what may not go now."""
        now = timezone.now()
        planned: dict[int, int] = {}
        sent = policy.marketing_sent_by_customer(
            [m.customer_id for m in batch if m.kind == Kind.MARKETING and m.customer_id], now
        )
        ready = []
        with transaction.atomic():
            for message in batch:
                cid = message.customer_id or 0
                decision = policy.decide(
                    message, now, planned=planned.get(cid, 0), sent=sent.get(cid, 0)
                )
                if decision.action == "suppress":
                    _release(
                        self.token,
                        message.pk,
                        status=S.SUPPRESSED,
                        suppressed_reason=decision.reason[:200],
                    )
                    self.report.add(message.org_id, "suppressed")
                elif decision.action == "defer":
                    _release(self.token, message.pk, send_after=decision.until)
                    self.report.add(message.org_id, "deferred")
                else:
                    if message.kind == Kind.MARKETING and message.customer_id:
                        planned[message.customer_id] = planned.get(message.customer_id, 0) + 1
                    ready.append(message)
        return ready

    def send(self, batch: list[OutboxMessage]) -> list[Outcome]:
        jobs = [(self.provider(m.channel), outgoing(m)) for m in batch]
        workers = min(conf.concurrency(), len(jobs))
        if workers <= 1:
            return [_send(p, out) for p, out in jobs]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbox") as pool:
            return list(pool.map(lambda job: _send(*job), jobs))

    def record(self, batch: list[OutboxMessage], outcomes: list[Outcome]) -> None:
        by_id = {m.pk: m for m in batch}
        limit = conf.max_attempts()
        attempts = []
        with transaction.atomic():
            for outcome in outcomes:
                message = by_id[outcome.message_id]
                attempt = message.attempts + 1
                if outcome.ok:
                    changes = dict(
                        status=S.SENT,
                        sent_at=outcome.at,
                        provider=outcome.provider,
                        provider_message_id=outcome.provider_message_id,
                        last_error="",
                    )
                    result = "sent"
                elif outcome.transient and attempt < limit:
                    changes = dict(
                        send_after=outcome.at + backoff(attempt),
                        provider=outcome.provider,
                        last_error=outcome.error,
                    )
                    result = "retried"
                else:
                    changes = dict(
                        status=S.FAILED, provider=outcome.provider, last_error=outcome.error
                    )
                    result = "failed"
                if _release(self.token, message.pk, attempts=F("attempts") + 1, **changes):
                    self.report.add(message.org_id, result)
                attempts.append(
                    MessageAttempt(
                        message_id=message.pk,
                        at=outcome.at,
                        provider=outcome.provider,
                        ok=outcome.ok,
                        retry=result == "retried",
                        error=outcome.error,
                        provider_message_id=outcome.provider_message_id,
                        duration_ms=outcome.duration_ms,
                    )
                )
            MessageAttempt.objects.bulk_create(attempts)

    def audit(self) -> None:
        """One audit entry per organisation for the run (rows are updated in bulk)."""
        for org_id, counts in self.report.by_org.items():
            audit.record_event(
                "update",
                OutboxMessage,
                "delivery: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                {k: [None, v] for k, v in counts.items()},
                org_id=org_id,
            )


def deliver_due(*, max_batches: int | None = None, max_seconds: float | None = None) -> Report:
    """Deliver the due queue (until empty, ``max_batches`` or ``max_seconds``)."""
    run = Run()
    started = time.perf_counter()
    if not run.channels:
        return run.report
    try:
        while max_batches is None or run.report.batches < max_batches:
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
            batch = claim(run.token, run.channels, conf.batch_size())
            if not batch:
                break
            run.report.batches += 1
            ready = run.check(batch)
            if ready:
                run.record(ready, run.send(ready))
    finally:
        run.close()
        run.report.seconds = time.perf_counter() - started
        if run.report.handled:
            run.audit()
    return run.report


def waiting_by_hand(queryset=None) -> dict[str, int]:
    """Queued messages per channel that has no provider (staff send them by hand), among
    ``queryset`` (a user's scoped outbox) or all."""
    configured = providers.configured_channels()
    base = OutboxMessage.objects.all() if queryset is None else queryset
    rows = (
        base.filter(status=S.QUEUED)
        .exclude(channel__in=configured)
        .values("channel")
        .annotate(n=Count("id"))
    )
    return {row["channel"]: row["n"] for row in rows}
