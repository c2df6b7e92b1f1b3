"""The time scan: date and anniversary triggers on different days, exactly once (reruns, two
runs at once, a crash before or during the actions), catch-up after downtime, retries, and
rules switched off with a reason when a field they use is gone."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connections

from autocrm.automation import conditions, scan
from autocrm.automation.models import Rule, RuleFiring, Task
from autocrm.core.models import CustomField
from autocrm.customers.models import Customer, Vehicle
from autocrm.service.models import WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf
from tests.automation.rule_helpers import at, insurance_rule, make_rule, task_action

pytestmark = pytest.mark.django_db


def run(now: str, hour: int = 9, minute: int = 0, **kw) -> scan.Stats:
    return scan.run_time_rules(at(now, hour, minute), **kw)


def fired(rule: Rule) -> list[tuple[int, str]]:
    return sorted(RuleFiring.objects.filter(rule=rule).values_list("record_id", "occurrence"))


@pytest.fixture
def cars(world):
    owner = cf.customer(world.a1, "张三")
    dec31 = cf.vehicle(owner, "京A10001", insurance_expires_on=datetime.date(2026, 12, 31))
    jan1 = cf.vehicle(owner, "京A10002", insurance_expires_on=datetime.date(2027, 1, 1))
    south = cf.vehicle(
        cf.customer(world.a3, "李四"), "粤A10003", insurance_expires_on=datetime.date(2026, 12, 31)
    )
    cf.vehicle(owner, "京A10004")  # no expiry date: never due
    return dec31, jan1, south


class TestDateTriggers:
    def test_due_at_the_rules_time_of_day_once(self, world, cars):
        dec31, jan1, south = cars
        rule = insurance_rule(
            world, activated="2026-11-30", actions=[task_action("续保：{plate} {due_date}")]
        )
        assert run("2026-12-01", 8, 59).fired == 0  # 09:00 not reached yet
        stats = run("2026-12-01", 9, 0)
        assert (stats.rules, stats.fired, stats.tasks) == (1, 2, 2)
        assert fired(rule) == sorted([(dec31.pk, "2026-12-31"), (south.pk, "2026-12-31")])
        titles = set(Task.objects.filter(source=f"rule:{rule.pk}").values_list("title", flat=True))
        assert titles == {"续保：京A10001 2026-12-31", "续保：粤A10003 2026-12-31"}
        task = Task.objects.get(vehicle=dec31)
        assert task.due_at == at("2026-12-02", 9)  # due moment + 24 hours
        assert task.store_id == world.a1.pk and task.customer_id == dec31.owner_id
        # The same day again, and a rerun of the same moment: nothing new.
        assert run("2026-12-01", 15).fired == 0
        assert run("2026-12-01", 9).fired == 0
        # Next day: the car whose insurance ends on 1 January.
        stats = run("2026-12-02", 9, 30)
        assert stats.fired == 1 and (jan1.pk, "2027-01-01") in fired(rule)
        assert Task.objects.filter(source=f"rule:{rule.pk}").count() == 3

    def test_scope_to_stores_and_regions(self, world, cars):
        dec31, _jan1, south = cars
        only_a1 = insurance_rule(
            world, activated="2026-11-30", scope="stores", store_ids=[world.a1.pk]
        )
        south_rule = insurance_rule(
            world, activated="2026-11-30", scope="region", region_id=world.south.pk
        )
        run("2026-12-01", 10)
        assert fired(only_a1) == [(dec31.pk, "2026-12-31")]
        assert fired(south_rule) == [(south.pk, "2026-12-31")]

    def test_condition_narrows_the_base(self, world, cars):
        dec31, _jan1, south = cars
        Customer.objects.filter(pk=south.owner_id).update(level="VIP")
        rule = insurance_rule(
            world,
            activated="2026-11-30",
            condition={"field": "customer.level", "op": "eq", "value": "VIP"},
        )
        run("2026-12-01", 10)
        assert fired(rule) == [(south.pk, "2026-12-31")]

    def test_days_after_a_datetime(self, world):
        c1 = cf.customer(world.a1, "老客户")
        c2 = cf.customer(world.a1, "新客户")
        Customer.objects.filter(pk=c1.pk).update(last_visit_at=at("2026-06-04", 16))
        Customer.objects.filter(pk=c2.pk).update(last_visit_at=at("2026-06-05", 1))
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="customer",
            trigger={"type": "date", "field": "customer.last_visit_at", "offset_days": 180},
            actions=[task_action("回访 {customer_name}")],
        )
        run("2026-12-01", 9)
        assert fired(rule) == [(c1.pk, "2026-06-04")]
        run("2026-12-02", 9)
        assert fired(rule) == [(c1.pk, "2026-06-04"), (c2.pk, "2026-06-05")]

    def test_exact_hours_after_settlement(self, world):
        wo = sf.work_order(
            world.a1, status=WorkOrder.Status.SETTLED, settled_at=at("2026-11-30", 15, 20)
        )
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="work_order",
            trigger={"type": "date", "field": "work_order.settled_at", "offset_hours": 24},
            actions=[task_action("首次回访", assign_to="advisor")],
        )
        assert run("2026-12-01", 15, 19).fired == 0
        assert run("2026-12-01", 15, 21).fired == 1
        firing = RuleFiring.objects.get(rule=rule)
        settled = at("2026-11-30", 15, 20).astimezone(datetime.UTC)  # UTC: stable keys
        assert firing.occurrence == settled.isoformat(timespec="seconds")
        assert firing.due_at == at("2026-12-01", 15, 20)
        assert Task.objects.get(work_order=wo).role == "service_advisor"  # no advisor: the role


class TestAnniversaries:
    def test_birthdays_every_year(self, world):
        born = cf.customer(world.a1, "寿星", birthday=datetime.date(1990, 12, 1))
        leap = cf.customer(world.a1, "闰年", birthday=datetime.date(1992, 2, 29))
        cf.customer(world.a1, "明天", birthday=datetime.date(1990, 12, 2))
        cf.customer(world.a1, "今天出生", birthday=datetime.date(2026, 12, 1))  # not a birthday yet
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="customer",
            trigger={"type": "anniversary", "field": "customer.birthday"},
            actions=[{"type": "tag", "tag": "生日"}],
        )
        run("2026-12-01", 9)
        assert fired(rule) == [(born.pk, "2026-12-01")]
        run("2027-02-28", 9)  # not a leap year: 29 February birthdays on the 28th
        assert (leap.pk, "2027-02-28") in fired(rule)
        run("2027-12-01", 9, 5)
        assert (born.pk, "2027-12-01") in fired(rule)
        assert born.tags.filter(name="生日").exists()

    def test_registration_anniversary_a_week_before(self, world):
        owner = cf.customer(world.a1, "张三")
        car = cf.vehicle(owner, registered_on=datetime.date(2019, 12, 8))
        cf.vehicle(owner, registered_on=datetime.date(2026, 12, 8))  # registered this year
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="vehicle",
            trigger={"type": "anniversary", "field": "vehicle.registered_on", "offset_days": -7},
            actions=[task_action("{plate} 上牌周年 {due_date}")],
        )
        run("2026-12-01", 9)
        assert fired(rule) == [(car.pk, "2026-12-08")]
        assert Task.objects.get(vehicle=car).title == f"{car.plate} 上牌周年 2026-12-08"

    def test_chosen_years_after_an_installation(self, world):
        def install(day):
            wo = sf.work_order(world.a1, status=WorkOrder.Status.SETTLED, settled_at=at(day, 16))
            sf.line(wo, "功放安装")
            return wo

        one = install("2025-12-01")
        three = install("2023-12-01")
        install("2022-12-01")  # four years: not asked for
        install("2026-12-01")  # installed today
        other = sf.work_order(
            world.a1, status=WorkOrder.Status.SETTLED, settled_at=at("2025-12-01", 10)
        )
        sf.line(other, "更换机油")
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="work_order",
            trigger={
                "type": "anniversary",
                "field": "work_order.settled_at",
                "years": [1, 2, 3],
            },
            condition={"field": "work_order.labour_names", "op": "contains", "value": "安装"},
            actions=[task_action("周年检查 {work_order_number}")],
        )
        run("2026-12-01", 9)
        assert fired(rule) == sorted([(one.pk, "2026-12-01"), (three.pk, "2026-12-01")])


class TestExactlyOnce:
    def test_interleaved_second_run_finds_the_firings(self, world, cars, monkeypatch):
        """A second run that starts after the first inserted its firings claims nothing."""
        rule = insurance_rule(world, activated="2026-11-30")
        original = scan.execute
        nested = {}

        def execute_with_a_rival(rule_, firings, stats):
            if not nested:
                nested["stats"] = scan.run_time_rules(at("2026-12-01", 9, 1))
            return original(rule_, firings, stats)

        monkeypatch.setattr(scan, "execute", execute_with_a_rival)
        first = run("2026-12-01", 9)
        assert (first.fired, nested["stats"].fired) == (2, 0)
        assert Task.objects.filter(source=f"rule:{rule.pk}").count() == 2

    def test_crash_before_the_actions_then_recovery(self, world, cars, monkeypatch):
        rule = insurance_rule(world, activated="2026-11-30")
        original = scan._execute_batch

        def crash(*args, **kw):
            raise KeyboardInterrupt("power cut")

        monkeypatch.setattr(scan, "_execute_batch", crash)
        with pytest.raises(KeyboardInterrupt):
            run("2026-12-01", 9)
        firings = RuleFiring.objects.filter(rule=rule)
        assert firings.count() == 2 and set(firings.values_list("status", flat=True)) == {"pending"}
        assert not Task.objects.exists()
        monkeypatch.setattr(scan, "_execute_batch", original)
        # Restarted at once: the keys exist, the firings are still leased: nothing runs twice.
        assert run("2026-12-01", 9, 5).fired == 0 and not Task.objects.exists()
        # After the lease the next run re-claims them and does their actions, once.
        firings.update(claimed_at=at("2026-11-01"))
        stats = run("2026-12-01", 9, 30)
        assert (stats.retried, stats.tasks) == (2, 2)
        assert set(firings.values_list("status", "attempts")) == {("done", 2)}
        assert run("2026-12-01", 10).tasks == 0
        firings.update(claimed_at=at("2026-11-01"))
        assert run("2026-12-01", 11).tasks == 0 and Task.objects.count() == 2

    def test_crash_in_the_middle_of_a_batch_undoes_it(self, world, cars, monkeypatch):
        rule = insurance_rule(world, activated="2026-11-30")

        def fail(*args, **kw):
            raise KeyboardInterrupt("killed after the tasks, before the firings were marked")

        monkeypatch.setattr(scan, "_save_firings", fail)
        with pytest.raises(KeyboardInterrupt):
            run("2026-12-01", 9)
        monkeypatch.undo()
        assert not Task.objects.exists()  # rolled back with the firings' status
        RuleFiring.objects.filter(rule=rule).update(claimed_at=at("2026-11-01"))
        assert run("2026-12-01", 10).tasks == 2
        assert Task.objects.count() == 2

    def test_actions_already_done_are_not_repeated(self, world, cars):
        """A firing re-claimed with its task recorded (a crash after the commit of the
        database actions, before a webhook) does not make the task again."""
        rule = insurance_rule(world, activated="2026-11-30")
        run("2026-12-01", 9)
        firings = RuleFiring.objects.filter(rule=rule)
        firings.update(status="pending", claimed_at=at("2026-11-01"))
        stats = run("2026-12-01", 10)
        assert (stats.retried, stats.tasks) == (2, 0)
        assert Task.objects.count() == 2 and set(firings.values_list("status", flat=True)) == {
            "done"
        }

    def test_failed_action_is_retried_after_the_lease(self, world, cars, monkeypatch):
        from autocrm.automation import actions

        rule = insurance_rule(world, activated="2026-11-30")
        calls = {"n": 0}
        original = actions._run_task

        def flaky(*args, **kw):
            calls["n"] += 1
            if calls["n"] <= 2:
                raise actions.ActionFailed("task service busy")
            return original(*args, **kw)

        monkeypatch.setattr(actions, "_run_task", flaky)
        run("2026-12-01", 9)
        firings = RuleFiring.objects.filter(rule=rule)
        assert set(firings.values_list("status", flat=True)) == {"pending"}
        assert "task service busy" in firings.first().error
        firings.update(claimed_at=at("2026-11-01"))
        run("2026-12-01", 10)
        assert set(firings.values_list("status", flat=True)) == {"done"}
        assert Task.objects.count() == 2

    def test_gives_up_after_max_attempts(self, world, cars):
        rule = insurance_rule(world, activated="2026-11-30")
        run("2026-12-01", 9)
        RuleFiring.objects.filter(rule=rule).update(
            status="pending", attempts=scan.MAX_ATTEMPTS, claimed_at=at("2026-11-01")
        )
        run("2026-12-01", 10)
        assert set(RuleFiring.objects.filter(rule=rule).values_list("status", flat=True)) == {
            "failed"
        }


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_fire_once(world):
    """Two scans in two threads (each with its own connection) over the same moments."""
    owner = cf.customer(world.a1, "张三")
    for n in range(30):
        cf.vehicle(owner, f"京B{n:05d}", insurance_expires_on=datetime.date(2026, 12, 31))
    rule = insurance_rule(world, activated="2026-11-30")
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            results.append(run("2026-12-01", 9))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(r.fired for r in results) == 30
    assert sum(r.tasks for r in results) == 30
    assert RuleFiring.objects.filter(rule=rule).count() == 30
    assert Task.objects.filter(source=f"rule:{rule.pk}").count() == 30


class TestCatchUp:
    @pytest.fixture
    def due_days(self, world):
        owner = cf.customer(world.a1, "张三")
        cars = {}
        for day in ("2026-11-27", "2026-11-29", "2026-12-01"):
            expiry = datetime.date.fromisoformat(day) + datetime.timedelta(days=30)
            cars[day] = cf.vehicle(owner, insurance_expires_on=expiry)
        return cars

    def test_moments_missed_while_down_fire_on_the_next_run(self, world, due_days):
        rule = insurance_rule(world, activated="2026-11-20", catch_up_days=7)
        run("2026-11-25", 10)  # the worker ran on the 25th, then was down until 1 December
        assert fired(rule) == []
        stats = run("2026-12-01", 10)
        assert stats.fired == 3
        assert {r for r, _occ in fired(rule)} == {v.pk for v in due_days.values()}

    def test_the_window_stops_at_catch_up_days(self, world, due_days):
        rule = insurance_rule(world, activated="2026-11-20", catch_up_days=3)
        run("2026-11-25", 10)
        run("2026-12-01", 10)
        assert {r for r, _occ in fired(rule)} == {
            due_days["2026-11-29"].pk,
            due_days["2026-12-01"].pk,
        }

    def test_a_new_rule_looks_back_one_day(self, world, due_days):
        rule = insurance_rule(world, activated="2026-12-01")  # switched on at midnight
        run("2026-12-01", 14)
        assert {r for r, _occ in fired(rule)} == {due_days["2026-12-01"].pk}
        assert Rule.objects.get(pk=rule.pk).last_run_at == at("2026-12-01", 14)

    def test_last_run_only_moves_forward(self, world, due_days):
        rule = insurance_rule(world, activated="2026-11-30")
        run("2026-12-01", 14)
        run("2026-11-30", 14)
        assert Rule.objects.get(pk=rule.pk).last_run_at == at("2026-12-01", 14)


class TestBrokenRules:
    def test_a_deleted_custom_field_switches_the_rule_off_with_the_reason(self, world, cars):
        field = CustomField.objects.create(
            org=world.org, target="vehicle", key="tyre", label_zh="轮胎"
        )
        broken = insurance_rule(
            world,
            name="按轮胎",
            activated="2026-11-30",
            condition={"field": "vehicle.custom.tyre", "op": "is_empty", "value": False},
        )
        healthy = insurance_rule(world, name="全部", activated="2026-11-30")
        field.delete()
        stats = run("2026-12-01", 10)
        broken.refresh_from_db()
        assert broken.state == Rule.State.DISABLED
        assert "vehicle.custom.tyre" in broken.disabled_reason
        assert stats.disabled == 1
        assert len(fired(healthy)) == 2 and not fired(broken)
        assert run("2026-12-01", 11).rules == 1  # no longer scanned

    def test_a_dropped_column_is_detected_the_same_way(self, world, cars, monkeypatch):
        rule = make_rule(
            world,
            activated="2026-11-30",
            entity="vehicle",
            trigger={"type": "date", "field": "vehicle.service_due_on", "offset_days": -7},
        )
        fields = dict(conditions._static_fields())
        fields.pop("vehicle.service_due_on")
        monkeypatch.setattr(conditions, "_static_fields", lambda: fields)
        run("2026-12-01", 10)
        rule.refresh_from_db()
        assert rule.state == Rule.State.DISABLED and "service_due_on" in rule.disabled_reason

    def test_a_record_gone_before_its_actions_is_skipped(self, world, cars):
        rule = insurance_rule(world, activated="2026-11-30")
        firing = RuleFiring.objects.create(
            org=world.org,
            rule=rule,
            record_id=999999,
            occurrence="x",
            claim="t",
            claimed_at=at("2026-11-01"),
        )
        run("2026-12-01", 10)
        firing.refresh_from_db()
        assert firing.status == "skipped"


def test_scan_query_is_one_per_chunk(world, cars, django_assert_max_num_queries):
    """The base is read set-based: a chunk of candidates costs a handful of reads, and each
    fired record only its action's own writes (the tag: about 4), so one more read per record
    breaks the bound."""
    owner = Customer.objects.get(name="张三")
    for n in range(40):
        cf.vehicle(owner, f"京C{n:05d}", insurance_expires_on=datetime.date(2027, 6, 1))
    rule = make_rule(
        world,
        activated="2026-11-30",
        entity="vehicle",
        trigger={"type": "date", "field": "vehicle.insurance_expires_on", "offset_days": -182},
        condition={"field": "customer.spend_12m", "op": "gte", "value": 0},
        actions=[{"type": "tag", "tag": "续保季"}],
    )
    with django_assert_max_num_queries(20 + 40 * 5):
        stats = run("2026-12-01", 10)
    assert stats.fired == 40 and fired(rule)
    assert Vehicle.objects.filter(owner__tags__name="续保季").exists()
