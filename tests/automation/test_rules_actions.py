"""Rule actions: a task for a role, a person or the advisor; a field set; a tag added and
removed; a templated message (once, through messaging); a signed webhook to a local receiver,
retried; and every result in the firing's log."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autocrm.automation import actions, scan
from autocrm.automation.models import RuleFiring, Task
from autocrm.core.errors import Invalid
from autocrm.core.models import AuditLog
from autocrm.customers.models import Customer
from autocrm.messaging.models import MessageTemplate, OutboxMessage
from autocrm.service.models import WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.automation.rule_helpers import at, make_rule, task_action

pytestmark = pytest.mark.django_db
SECRET = "rules-webhook-secret-0123"


def birthday_rule(world, actions_, **kw):
    return make_rule(
        world,
        activated="2026-11-30",
        entity="customer",
        trigger={"type": "anniversary", "field": "customer.birthday"},
        actions=actions_,
        **kw,
    )


@pytest.fixture
def born(world):
    return cf.customer(world.a1, "寿星", birthday=datetime.date(1990, 12, 1), consent_sms=True)


def run_dec1(hour=9):
    return scan.run_time_rules(at("2026-12-01", hour))


def test_task_for_a_role_a_person_and_the_advisor(world, born):
    rule = birthday_rule(
        world,
        [
            task_action("生日回访 {customer_name}", role="front_desk", due_hours=3),
            task_action(
                "亲自致电 {customer_name}", assignee_id=world.manager_a1.pk, kind="reminder"
            ),
        ],
    )
    stats = run_dec1()
    assert stats.tasks == 2
    role_task = Task.objects.get(title="生日回访 寿星")
    assert (role_task.role, role_task.assignee_id) == ("front_desk", None)
    assert role_task.due_at == at("2026-12-01", 12)
    assert role_task.customer_id == born.pk and role_task.source == f"rule:{rule.pk}"
    personal = Task.objects.get(title="亲自致电 寿星")
    assert personal.assignee_id == world.manager_a1.pk and personal.kind == "reminder"
    firing = RuleFiring.objects.get(rule=rule)
    assert [r["ok"] for r in firing.results] == [True, True]
    assert firing.results[0]["detail"].endswith(str(role_task.pk))


def test_task_for_the_work_orders_advisor(world):
    wo = sf.work_order(
        world.a1,
        advisor=world.advisor_a1,
        status=WorkOrder.Status.SETTLED,
        settled_at=at("2026-11-30", 10),
    )
    make_rule(
        world,
        activated="2026-11-30",
        entity="work_order",
        trigger={"type": "date", "field": "work_order.settled_at", "offset_hours": 24},
        actions=[task_action("回访 {work_order_number}", assign_to="advisor")],
    )
    scan.run_time_rules(at("2026-12-01", 11))
    task = Task.objects.get(work_order=wo)
    assert task.assignee_id == world.advisor_a1.pk and task.title == f"回访 {wo.number}"


def test_set_field_is_audited_as_the_rule(world, born):
    rule = birthday_rule(world, [{"type": "set_field", "field": "customer.level", "value": "VIP"}])
    run_dec1()
    born.refresh_from_db()
    assert born.level == "VIP"
    entry = AuditLog.objects.filter(
        object_type="customers.Customer", object_id=str(born.pk), action="update"
    ).latest("id")
    assert entry.source == "rule" and entry.changes["level"] == ["", "VIP"]
    assert RuleFiring.objects.get(rule=rule).results[0]["detail"] == "customer.level → VIP"


def test_add_and_remove_tags(world, born):
    cf.tag(world.org, "沉睡客户")
    born.tags.add(*world.org.tags.filter(name="沉睡客户"))
    birthday_rule(
        world,
        [{"type": "tag", "tag": "生日月"}, {"type": "tag", "tag": "沉睡客户", "remove": True}],
    )
    run_dec1()
    assert list(born.tags.values_list("name", flat=True)) == ["生日月"]


class TestMessages:
    @pytest.fixture
    def template(self, world):
        return MessageTemplate.objects.create(
            org=world.org,
            name="生日祝福",
            purpose="rule.birthday",
            kind="reminder",
            body="{customer_name}您好，{store_name}祝您生日快乐！{due_date}",
        )

    def test_message_through_messaging_once(self, world, born, template):
        rule = birthday_rule(world, [{"type": "message", "template": template.pk}])
        stats = run_dec1()
        assert stats.messages == 1
        message = OutboxMessage.objects.get(customer=born)
        assert "寿星您好，北京朝阳店祝您生日快乐！2026-12-01" in message.body
        firing = RuleFiring.objects.get(rule=rule)
        assert message.key == f"rule:{rule.pk}:{firing.pk}:0"
        assert message.related == f"rule:{rule.pk}"
        # Re-running the firing (after a crash) finds messaging's message by its key.
        firing.status, firing.results = "pending", []
        firing.claimed_at = at("2026-11-01")
        firing.save()
        run_dec1(10)
        assert OutboxMessage.objects.filter(customer=born).count() == 1

    def test_suppressed_message_is_logged(self, world, template):
        template.kind = "marketing"
        template.save()
        quiet = cf.customer(world.a1, "不打扰", birthday=datetime.date(1990, 12, 1))
        rule = birthday_rule(world, [{"type": "message", "template": template.pk}])
        stats = run_dec1()
        assert stats.messages == 0
        message = OutboxMessage.objects.get(customer=quiet)
        assert message.status == "suppressed"
        result = RuleFiring.objects.get(rule=rule).results[0]
        assert result["ok"] and str(message.pk) in result["detail"]

    def test_template_gone_fails_without_retry(self, world, born, template):
        rule = birthday_rule(world, [{"type": "message", "template": template.pk}])
        template.delete()
        run_dec1()
        firing = RuleFiring.objects.get(rule=rule)
        assert firing.status == "failed" and firing.results[0]["permanent"]
        assert firing.error


class Receiver:
    """A local HTTP endpoint in a thread that checks the signature like a partner would."""

    def __init__(self, fail_first: int = 0):
        self.calls: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-AutoCRM-Timestamp"]
                expected = hmac.new(
                    SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                valid = hmac.compare_digest(
                    self.headers["X-AutoCRM-Signature"], f"sha256={expected}"
                )
                receiver.calls.append(
                    {
                        "valid": valid,
                        "delivery": self.headers["X-AutoCRM-Delivery"],
                        "json": json.loads(body),
                    }
                )
                status = (
                    500 if len(receiver.calls) <= receiver.fail_first else (200 if valid else 401)
                )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class TestWebhook:
    def test_signed_json_with_retries(self, world, born, monkeypatch):
        monkeypatch.setattr(actions, "WEBHOOK_BACKOFF", 0.01)
        with Receiver(fail_first=2) as receiver:
            rule = birthday_rule(
                world,
                [
                    {"type": "webhook", "url": receiver.url, "secret": SECRET},
                    task_action("生日 {customer_name}"),
                ],
            )
            stats = run_dec1()
        assert len(receiver.calls) == 3 and all(c["valid"] for c in receiver.calls)
        firing = RuleFiring.objects.get(rule=rule)
        assert {c["delivery"] for c in receiver.calls} == {f"{firing.pk}.0"}
        body = receiver.calls[-1]["json"]
        assert body["rule"]["id"] == rule.pk and body["record_id"] == born.pk
        assert body["firing"]["occurrence"] == "2026-12-01"
        assert body["values"]["customer_name"] == "寿星"
        assert firing.status == "done" and stats.tasks == 1
        assert [r["type"] for r in sorted(firing.results, key=lambda r: r["i"])] == [
            "webhook",
            "task",
        ]

    def test_a_failing_receiver_leaves_the_database_actions_done(self, world, born, monkeypatch):
        monkeypatch.setattr(actions, "WEBHOOK_BACKOFF", 0.01)
        with Receiver(fail_first=99) as receiver:
            rule = birthday_rule(
                world,
                [
                    {"type": "webhook", "url": receiver.url, "secret": SECRET},
                    task_action("生日 {customer_name}"),
                ],
            )
            run_dec1()
            firing = RuleFiring.objects.get(rule=rule)
            assert firing.status == "pending" and "HTTP 500" in firing.error
            assert Task.objects.count() == 1
            # Retried after the lease: the task is not made again, only the webhook resent
            # with the same delivery id.
            receiver.fail_first = 0
            RuleFiring.objects.filter(pk=firing.pk).update(claimed_at=at("2026-11-01"))
            run_dec1(10)
        firing.refresh_from_db()
        assert firing.status == "done" and Task.objects.count() == 1
        assert receiver.calls[-1]["delivery"] == f"{firing.pk}.0"

    def test_refused_by_the_receiver_is_permanent(self, world, born):
        with Receiver() as receiver:
            rule = birthday_rule(
                world, [{"type": "webhook", "url": receiver.url, "secret": "x" * 20}]
            )
            run_dec1()
        firing = RuleFiring.objects.get(rule=rule)
        assert firing.status == "failed" and "401" in firing.error


class TestValidation:
    @pytest.mark.parametrize(
        "action",
        [
            {"type": "sms"},
            {"type": "task", "title": ""},
            {"type": "task", "title": "x", "role": "pilot"},
            {"type": "task", "title": "x", "role": "sales", "assignee_id": 1},
            {"type": "task", "title": "x", "assign_to": "owner"},
            {"type": "task", "title": "x", "role": "sales", "due_hours": -1},
            {"type": "set_field", "field": "customer.lifetime_spend", "value": "0"},
            {"type": "set_field", "field": "customer.level", "value": "x" * 31},
            {"type": "tag", "tag": ""},
            {"type": "webhook", "url": "ftp://example.com", "secret": "x" * 20},
            {"type": "webhook", "url": "https://example.com", "secret": "short"},
            {"type": "message", "template": 999999},
            {"type": "task", "title": "x", "role": "sales", "colour": "red"},
        ],
    )
    def test_refused(self, world, action):
        with pytest.raises(Invalid) as caught:
            actions.validate([action], "customer", world.org.pk)
        assert caught.value.fields["actions"]

    def test_deleted_records_only_task_and_webhook(self, world):
        with pytest.raises(Invalid):
            actions.validate([{"type": "tag", "tag": "x"}], "customer", world.org.pk, deleted=True)

    def test_secrets_are_masked(self):
        shown = actions.masked([{"type": "webhook", "url": "https://x", "secret": "s" * 20}])
        assert shown[0]["secret"] == "******"


def test_customer_model_untouched_by_tag_of_other_org(world, born):
    other = cf.customer(world.b1, "别家", birthday=datetime.date(1990, 12, 1))
    birthday_rule(world, [{"type": "tag", "tag": "生日月"}])
    run_dec1()
    assert not Customer.objects.get(pk=other.pk).tags.exists()
