"""Delivery: claims (no message sent twice when runs race), retries with back-off on 500s and
timeouts, failure with the reason after the last attempt, the periodic task and the CLI."""

from __future__ import annotations

import datetime
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from autocrm.messaging import delivery, services, tasks
from autocrm.messaging.models import MessageAttempt, OutboxMessage
from tests.messaging.conftest import WEBHOOK_SECRET
from tests.messaging.standins import webhook_valid

S = OutboxMessage.Status


def hook(world, n=1, **kw):
    return [
        services.queue(
            org_id=world.org.pk,
            store_id=world.a1.pk,
            to=f"1391234{i:04d}",
            channel="webhook",
            purpose="work_order.ready",
            body=f"第{i}条",
            **kw,
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_without_a_provider_messages_stay_queued(world):
    message = hook(world)[0]
    report = delivery.deliver_due()
    message.refresh_from_db()
    assert report.handled == 0 and message.status == S.QUEUED and message.attempts == 0
    assert delivery.waiting_by_hand() == {"webhook": 1}


@pytest.mark.django_db
def test_not_due_yet_is_left_alone(world, webhook):
    later = hook(world, send_after=timezone.now() + datetime.timedelta(hours=1))[0]
    assert delivery.deliver_due().handled == 0
    later.refresh_from_db()
    assert later.status == S.QUEUED and not webhook.requests


@pytest.mark.django_db
def test_500_is_retried_with_backoff_then_sent(world, webhook, settings):
    message = hook(world)[0]
    webhook.fail[message.pk] = 2
    before = timezone.now()
    report = delivery.deliver_due()
    message.refresh_from_db()
    assert report.retried == 1 and message.status == S.QUEUED and message.attempts == 1
    assert message.last_error.startswith("HTTP 500")
    first_wait = (message.send_after - before).total_seconds()
    assert 59 <= first_wait <= 62  # 60 s first back-off
    OutboxMessage.objects.filter(pk=message.pk).update(send_after=timezone.now())
    before = timezone.now()
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.attempts == 2 and 119 <= (message.send_after - before).total_seconds() <= 122
    OutboxMessage.objects.filter(pk=message.pk).update(send_after=timezone.now())
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.SENT and message.attempts == 3 and message.last_error == ""
    tries = list(MessageAttempt.objects.filter(message=message).order_by("id"))
    assert [(t.ok, t.retry) for t in tries] == [(False, True), (False, True), (True, False)]


@pytest.mark.django_db
def test_gives_up_after_max_attempts_with_the_reason(world, webhook, settings):
    settings.AUTOCRM_MESSAGE_RETRY_SECONDS = 0
    settings.AUTOCRM_MESSAGE_MAX_ATTEMPTS = 3
    message = hook(world)[0]
    webhook.fail[message.pk] = 10
    report = delivery.deliver_due()  # retries are due at once: the run keeps going
    message.refresh_from_db()
    assert message.status == S.FAILED and message.attempts == 3
    assert message.last_error.startswith("HTTP 500")
    assert report.retried == 2 and report.failed == 1
    assert MessageAttempt.objects.filter(message=message, ok=False).count() == 3


@pytest.mark.django_db
def test_timeout_is_transient(world, settings, receivers):
    calls = []

    def slow_then_fast(request):
        calls.append(request)
        if len(calls) == 1:
            time.sleep(1.5)
        if not webhook_valid(request, WEBHOOK_SECRET):
            return 401, {}, {}
        return 200, {"id": "ok"}, {}

    receiver = receivers(slow_then_fast)
    settings.AUTOCRM_WEBHOOK = {"url": f"{receiver.url}/hook", "secret": WEBHOOK_SECRET}
    settings.AUTOCRM_MESSAGE_TIMEOUT = 0.5
    message = hook(world)[0]
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.QUEUED and message.last_error.startswith("timeout")
    OutboxMessage.objects.filter(pk=message.pk).update(send_after=timezone.now())
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.SENT and message.attempts == 2


@pytest.mark.django_db
def test_4xx_is_not_retried(world, settings, receivers):
    receiver = receivers(lambda request: (422, {"error": "bad number"}, {}))
    settings.AUTOCRM_WEBHOOK = {"url": f"{receiver.url}/hook", "secret": WEBHOOK_SECRET}
    message = hook(world)[0]
    delivery.deliver_due()
    message.refresh_from_db()
    assert message.status == S.FAILED and message.attempts == 1 and "422" in message.last_error


@pytest.mark.django_db
def test_a_message_claimed_by_another_run_is_not_taken(world, webhook):
    first, second = hook(world, 2)
    OutboxMessage.objects.filter(pk=first.pk).update(
        claim_token="other-run", claimed_until=timezone.now() + datetime.timedelta(minutes=5)
    )
    delivery.deliver_due()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == S.QUEUED and second.status == S.SENT
    assert webhook.seen == [second.pk]
    # the other run died: once its lease is over, the message is taken up again
    OutboxMessage.objects.filter(pk=first.pk).update(
        claimed_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    delivery.deliver_due()
    first.refresh_from_db()
    assert first.status == S.SENT and webhook.seen == [second.pk, first.pk]


@pytest.mark.django_db(transaction=True)
def test_two_racing_runs_never_send_a_message_twice(world, webhook, settings):
    settings.AUTOCRM_MESSAGE_BATCH = 7
    settings.AUTOCRM_MESSAGE_RETRY_SECONDS = 0
    messages = hook(world, 120)
    for m in messages[::10]:
        webhook.fail[m.pk] = 1  # some need a second try, which either run may make
    reports, errors = [], []
    start = threading.Barrier(3)

    def run():
        try:
            start.wait()
            reports.append(delivery.deliver_due())
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(webhook.seen) == sorted(m.pk for m in messages)  # each exactly once
    assert len(set(webhook.seen)) == len(webhook.seen) == 120
    assert OutboxMessage.objects.filter(status=S.SENT).count() == 120
    assert sum(r.sent for r in reports) == 120
    # every planned 500 was retried; a slow answer on a loaded machine may add a timeout retry
    others = MessageAttempt.objects.exclude(ok=True).exclude(error__startswith="HTTP 500")
    assert sum(r.retried for r in reports) == 12 + others.count()
    transient = ("timeout", "connection failed")
    assert all(e.startswith(transient) for e in others.values_list("error", flat=True))


@pytest.mark.django_db
def test_periodic_task_delivers(world, webhook):
    message = hook(world)[0]
    result = tasks.deliver_messages.call_local()
    message.refresh_from_db()
    assert message.status == S.SENT and result["sent"] == 1


@pytest.mark.django_db
def test_periodic_task_is_scheduled_every_minute():
    from huey.contrib.djhuey import HUEY

    task = tasks.deliver_messages.task_class()
    for minute in (0, 7, 59):
        assert task.validate_datetime(datetime.datetime(2026, 11, 24, 10, minute))
    periodic = {t.name for t in HUEY._registry.periodic_tasks}
    assert "deliver_messages" in periodic


@pytest.mark.django_db
def test_cli_sends_the_due_queue_once(world, webhook, capsys):
    from autocrm import cli

    hook(world, 3)
    services.queue(
        org_id=world.org.pk, store_id=world.a1.pk, to="13912340000", purpose="x", body="手工"
    )
    assert cli.main(["messages", "send"]) == 0
    out = capsys.readouterr().out
    assert "已发送 sent 3" in out and "sms: 1 条待手工发送" in out
    assert OutboxMessage.objects.filter(channel="webhook", status=S.SENT).count() == 3
