"""The condition compiler: every op, relations, to-many lists, aggregates, custom fields,
days since/until, previous/changed, the Python evaluator and the refusals."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from autocrm.automation import conditions
from autocrm.automation.conditions import Context, FieldGone
from autocrm.core.errors import Invalid
from autocrm.core.models import CustomField
from autocrm.customers.models import Customer, Vehicle
from autocrm.service.models import Payment, WorkOrder
from tests import customer_factories as cf
from tests import service_factories as sf

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 12, 1, 10, 0))
TODAY = datetime.date(2026, 12, 1)


def at(day: str, hour: int = 12) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour))
    )


def match(entity: str, tree, org, *, event=None, now=NOW) -> set[int]:
    model = conditions.ENTITIES[entity].model
    ctx = Context(entity, org.pk, now=now, event=event is not None)
    conditions.validate(tree, ctx)
    qs = conditions.apply(model.objects.filter(org_id=org.pk), tree, ctx, event)
    return set(qs.values_list("pk", flat=True))


def leaf(field, op, value=None, **kw):
    out = {"field": field, "op": op, **kw}
    if value is not None:
        out["value"] = value
    return out


@pytest.fixture
def people(world):
    a = cf.customer(world.a1, "张三", level="VIP", visit_count=5, lifetime_spend=Decimal("800"))
    b = cf.customer(world.a1, "李四", level="金卡", visit_count=1, lifetime_spend=Decimal("30.50"))
    c = cf.customer(world.a3, "王五", level="", visit_count=0, consent_sms=True)
    other = cf.customer(world.b1, "别家", level="VIP")
    return a, b, c, other


class TestOps:
    def test_text(self, world, people):
        a, b, c, _other = people
        assert match("customer", leaf("customer.level", "eq", "VIP"), world.org) == {a.pk}
        assert match("customer", leaf("customer.level", "ne", "VIP"), world.org) == {b.pk, c.pk}
        assert match("customer", leaf("customer.level", "in", ["VIP", "金卡"]), world.org) == {
            a.pk,
            b.pk,
        }
        assert match("customer", leaf("customer.name", "contains", "三"), world.org) == {a.pk}
        assert match("customer", leaf("customer.level", "is_empty", True), world.org) == {c.pk}
        assert match("customer", leaf("customer.level", "is_empty", False), world.org) == {
            a.pk,
            b.pk,
        }

    def test_numbers(self, world, people):
        a, b, c, _ = people
        org = world.org
        assert match("customer", leaf("customer.visit_count", "gt", 1), org) == {a.pk}
        assert match("customer", leaf("customer.visit_count", "gte", 1), org) == {a.pk, b.pk}
        assert match("customer", leaf("customer.visit_count", "lt", 1), org) == {c.pk}
        assert match("customer", leaf("customer.visit_count", "lte", 1), org) == {b.pk, c.pk}
        assert match("customer", leaf("customer.visit_count", "in", [0, 5]), org) == {a.pk, c.pk}
        assert match("customer", leaf("customer.lifetime_spend", "eq", "30.5"), org) == {b.pk}
        assert match("customer", leaf("customer.lifetime_spend", "gte", 500), org) == {a.pk}

    def test_bool_and_choice(self, world, people):
        a, b, c, _ = people
        assert match("customer", leaf("customer.consent_sms", "eq", True), world.org) == {c.pk}
        assert match("customer", leaf("customer.consent_sms", "ne", True), world.org) == {
            a.pk,
            b.pk,
        }
        v1 = cf.vehicle(a, fuel=Vehicle.Fuel.ELECTRIC)
        cf.vehicle(b, fuel=Vehicle.Fuel.PETROL)
        assert match("vehicle", leaf("vehicle.fuel", "eq", "electric"), world.org) == {v1.pk}
        with pytest.raises(Invalid):
            match("vehicle", leaf("vehicle.fuel", "eq", "steam"), world.org)

    def test_dates_and_datetimes(self, world, people):
        a, b, c, _ = people
        v1 = cf.vehicle(a, insurance_expires_on=datetime.date(2026, 12, 31))
        v2 = cf.vehicle(b, insurance_expires_on=datetime.date(2027, 1, 1))
        org = world.org
        assert match("vehicle", leaf("vehicle.insurance_expires_on", "eq", "2026-12-31"), org) == {
            v1.pk
        }
        assert match("vehicle", leaf("vehicle.insurance_expires_on", "gt", "2026-12-31"), org) == {
            v2.pk
        }
        assert match("vehicle", leaf("vehicle.insurance_expires_on", "ne", "2026-12-31"), org) == {
            v2.pk
        }
        # A datetime against a date compares the local (Beijing) day: 00:30 on the 2nd in
        # Beijing is still the 1st in UTC.
        Customer.objects.filter(pk=a.pk).update(last_visit_at=at("2026-11-02", 0))
        Customer.objects.filter(pk=b.pk).update(last_visit_at=at("2026-11-01", 23))
        assert match("customer", leaf("customer.last_visit_at", "lte", "2026-11-01"), org) == {b.pk}
        assert match("customer", leaf("customer.last_visit_at", "gte", "2026-11-02"), org) == {a.pk}
        assert match(
            "customer", leaf("customer.last_visit_at", "lt", "2026-11-01T23:30:00+08:00"), org
        ) == {b.pk}

    def test_days_since_and_until(self, world, people):
        a, b, c, _ = people
        Customer.objects.filter(pk=a.pk).update(last_visit_at=at("2026-06-04", 8))  # 180 days
        Customer.objects.filter(pk=b.pk).update(last_visit_at=at("2026-06-05", 23))  # 179 days
        org = world.org
        since = leaf("customer.last_visit_at", "days_since", 180, cmp="gte")
        assert match("customer", since, org) == {a.pk}
        assert match("customer", {**since, "cmp": "eq"}, org) == {a.pk}
        assert match("customer", {**since, "cmp": "lt"}, org) == {b.pk}
        v1 = cf.vehicle(a, inspection_due_on=TODAY + datetime.timedelta(days=30))
        v2 = cf.vehicle(b, inspection_due_on=TODAY + datetime.timedelta(days=10))
        until = leaf("vehicle.inspection_due_on", "days_until", 30, cmp="lte")
        assert match("vehicle", until, org) == {v1.pk, v2.pk}
        assert match("vehicle", {**until, "cmp": "gt", "value": 10}, org) == {v1.pk}
        assert match("vehicle", {**until, "cmp": "eq", "value": 10}, org) == {v2.pk}
        # Customer birthdays are dates: days since a date, nulls never match.
        Customer.objects.filter(pk=c.pk).update(birthday=datetime.date(1990, 12, 1))
        born = leaf("customer.birthday", "days_since", 365 * 30, cmp="gte")
        assert match("customer", born, org) == {c.pk}

    def test_groups(self, world, people):
        a, b, c, _ = people
        org = world.org
        vip_or_gold = {
            "any": [leaf("customer.level", "eq", "VIP"), leaf("customer.level", "eq", "金卡")]
        }
        assert match("customer", vip_or_gold, org) == {a.pk, b.pk}
        tree = {"all": [vip_or_gold, {"not": leaf("customer.visit_count", "gte", 5)}]}
        assert match("customer", tree, org) == {b.pk}
        assert match("customer", {}, org) == {a.pk, b.pk, c.pk}


class TestRelations:
    def test_vehicle_rule_reads_its_owner_and_store(self, world, people):
        a, b, c, _ = people
        v1 = cf.vehicle(a, brand="宝马")
        v2 = cf.vehicle(b, brand="宝马")
        cf.vehicle(c, brand="比亚迪")
        tree = {"all": [leaf("vehicle.brand", "eq", "宝马"), leaf("customer.level", "eq", "VIP")]}
        assert match("vehicle", tree, world.org) == {v1.pk}
        world.a1.kind = "audio"
        world.a1.save()
        assert match("vehicle", leaf("store.kind", "eq", "audio"), world.org) == {v1.pk, v2.pk}
        assert match("vehicle", leaf("store.region", "eq", "south"), world.org) == {
            v.pk for v in Vehicle.objects.filter(owner=c)
        }

    def test_work_order_rule_reads_vehicle_and_customer(self, world, people):
        a, b, _c, _ = people
        wo1 = sf.work_order(world.a1, a, cf.vehicle(a, insurer="平安保险"))
        sf.work_order(world.a1, b, cf.vehicle(b, insurer="中国人保"))
        assert match("work_order", leaf("vehicle.insurer", "eq", "平安保险"), world.org) == {wo1.pk}
        assert match("work_order", leaf("customer.name", "eq", "张三"), world.org) == {wo1.pk}

    def test_payment_and_survey_reach_the_customer(self, world, people):
        a, b, _c, _ = people
        wo = sf.work_order(world.a1, a)
        pay = Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method="cash", amount=100
        )
        Payment.objects.create(
            org=world.org,
            store=world.a1,
            work_order=sf.work_order(world.a1, b),
            method="cash",
            amount=50,
        )
        assert match("payment", leaf("customer.level", "eq", "VIP"), world.org) == {pay.pk}
        assert match("payment", leaf("payment.amount", "gte", 80), world.org) == {pay.pk}


class TestToMany:
    def test_tags(self, world, people):
        a, b, c, _ = people
        vip = cf.tag(world.org, "VIP客户")
        fleet = cf.tag(world.org, "车队客户")
        a.tags.add(vip, fleet)
        b.tags.add(fleet)
        org = world.org
        assert match("customer", leaf("customer.tags", "contains", "vip"), org) == {a.pk}
        assert match("customer", leaf("customer.tags", "in", ["车队客户"]), org) == {a.pk, b.pk}
        assert match("customer", leaf("customer.tags", "is_empty", True), org) == {c.pk}
        assert match("customer", leaf("customer.tags", "is_empty", False), org) == {a.pk, b.pk}
        # No duplicate rows when two tags match.
        model = Customer.objects.filter(org=org)
        ctx = Context("customer", org.pk)
        tree = leaf("customer.tags", "in", ["VIP客户", "车队客户"])
        assert conditions.apply(model, tree, ctx).count() == 2

    def test_work_order_lines(self, world, people):
        a, b, _c, _ = people
        labour = sf.labour(world.org, "功放安装", code="L036")
        wo1 = sf.work_order(world.a1, a)
        sf.line(wo1, "功放安装", labour=labour)
        sf.line(wo1, "喇叭升级安装")
        wo2 = sf.work_order(world.a1, b)
        sf.line(wo2, "更换机油")
        org = world.org
        assert match("work_order", leaf("work_order.labour_names", "contains", "安装"), org) == {
            wo1.pk
        }
        assert match("work_order", leaf("work_order.labour_codes", "in", ["L036"]), org) == {wo1.pk}


class TestAggregates:
    def _settled(self, store, customer, total, when, status=WorkOrder.Status.SETTLED):
        return sf.work_order(store, customer, status=status, total=Decimal(total), settled_at=when)

    def test_spend_and_visits_in_the_last_12_months(self, world, people):
        a, b, c, _ = people
        self._settled(world.a1, a, "15000", at("2026-03-01"))
        self._settled(world.a2, a, "6000", at("2026-11-30"))  # another store counts too
        self._settled(world.a1, a, "9000", at("2025-11-30"))  # older than 12 months
        self._settled(world.a1, b, "25000", at("2026-10-01"), status=WorkOrder.Status.QC)
        self._settled(world.a1, c, "20000", at("2026-10-01"), status=WorkOrder.Status.CLOSED)
        org = world.org
        assert match("customer", leaf("customer.spend_12m", "gte", 20000), org) == {a.pk, c.pk}
        assert match("customer", leaf("customer.spend_12m", "lt", 1), org) == {b.pk}
        assert match("customer", leaf("customer.visits_12m", "eq", 2), org) == {a.pk}
        # The same aggregate from a vehicle and a work order rule (through their customer).
        cf.vehicle(a)
        big = set(Vehicle.objects.filter(owner__in=[a, c]).values_list("pk", flat=True))
        assert match("vehicle", leaf("customer.spend_12m", "gte", 20000), org) == big
        assert len(match("work_order", leaf("customer.spend_12m", "gte", 21000), org)) == 3

    def test_paid_in_the_last_12_months(self, world, people):
        a, b, _c, _ = people
        wo = sf.work_order(world.a1, a)
        p = Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method="wechat", amount=700
        )
        Payment.objects.filter(pk=p.pk).update(created_at=at("2026-11-01"))
        old = Payment.objects.create(
            org=world.org, store=world.a1, work_order=wo, method="cash", amount=900
        )
        Payment.objects.filter(pk=old.pk).update(created_at=at("2025-01-01"))
        assert match("customer", leaf("customer.paid_12m", "eq", 700), world.org) == {a.pk}

    def test_first_visit(self, world, people):
        a, b, _c, _ = people
        first = self._settled(world.a1, a, "100", at("2026-01-01"))
        second = self._settled(world.a1, a, "100", at("2026-05-01"))
        only = self._settled(world.a1, b, "100", at("2026-05-01"))
        org = world.org
        assert match("work_order", leaf("work_order.first_visit", "eq", True), org) == {
            first.pk,
            only.pk,
        }
        assert match("work_order", leaf("work_order.first_visit", "eq", False), org) == {second.pk}


class TestCustomFields:
    def test_custom_values(self, world, people):
        a, b, c, _ = people
        for key, type_ in (
            ("source_detail", "text"),
            ("budget", "decimal"),
            ("wants_calls", "boolean"),
            ("next_check", "date"),
            ("hobbies", "multi_choice"),
        ):
            CustomField.objects.create(
                org=world.org,
                target="customer",
                key=key,
                label_zh=key,
                type=type_,
                choices=["钓鱼", "自驾"] if type_ == "multi_choice" else [],
            )
        a.custom = {
            "source_detail": "展会",
            "budget": "12.50",
            "wants_calls": True,
            "next_check": "2026-12-20",
            "hobbies": ["钓鱼", "自驾"],
        }
        a.save()
        b.custom = {
            "source_detail": "抖音",
            "budget": "9",
            "wants_calls": False,
            "hobbies": ["自驾"],
        }
        b.save()
        org = world.org
        assert match("customer", leaf("customer.custom.source_detail", "eq", "展会"), org) == {a.pk}
        assert match("customer", leaf("customer.custom.budget", "gt", 10), org) == {a.pk}
        assert match("customer", leaf("customer.custom.wants_calls", "eq", True), org) == {a.pk}
        assert match("customer", leaf("customer.custom.next_check", "days_until", 19), org) == {
            a.pk
        }
        assert match("customer", leaf("customer.custom.hobbies", "contains", "钓鱼"), org) == {a.pk}
        assert match("customer", leaf("customer.custom.source_detail", "is_empty"), org) == {c.pk}

    def test_a_deleted_custom_field_is_gone(self, world):
        field = CustomField.objects.create(
            org=world.org, target="vehicle", key="tyre_size", label_zh="轮胎尺寸"
        )
        tree = leaf("vehicle.custom.tyre_size", "eq", "225/45R17")
        conditions.validate(tree, Context("vehicle", world.org.pk))
        field.delete()
        with pytest.raises(FieldGone):
            conditions.validate(tree, Context("vehicle", world.org.pk))


class TestEventLeaves:
    def test_changed_and_previous_in_the_query(self, world, people):
        a, b, _c, _ = people
        event = {
            "changed": ["level"],
            "previous": {"level": "金卡", "visit_count": 5},
            "current": {"level": "VIP"},
        }
        org = world.org
        changed = leaf("customer.level", "changed")
        assert match("customer", changed, org, event=event) == {
            c.pk for c in Customer.objects.filter(org=org)
        }
        assert match("customer", {**changed, "from": "金卡", "to": "VIP"}, org, event=event)
        assert not match("customer", {**changed, "from": "银卡"}, org, event=event)
        assert not match("customer", leaf("customer.name", "changed"), org, event=event)
        was_gold = leaf("customer.level", "eq", "金卡", previous=True)
        tree = {"all": [was_gold, leaf("customer.level", "eq", "VIP")]}
        assert match("customer", tree, org, event=event) == {a.pk}
        assert match("customer", {"not": was_gold}, org, event=event) == set()

    def test_python_evaluation_over_a_snapshot(self, world):
        ctx = Context("vehicle", world.org.pk, now=NOW, event=True, snapshot_only=True)
        snap = {"brand": "宝马", "insurance_expires_on": "2026-12-31", "current_mileage": 52000}
        tree = {
            "all": [
                leaf("vehicle.brand", "in", ["宝马", "奔驰"]),
                leaf("vehicle.insurance_expires_on", "days_until", 30, cmp="eq"),
                leaf("vehicle.current_mileage", "gt", 50000),
                {"not": leaf("vehicle.insurer", "is_empty", False)},
            ]
        }
        conditions.validate(tree, ctx)
        assert conditions.evaluate(tree, ctx, snap)
        assert not conditions.evaluate(leaf("vehicle.brand", "contains", "奔"), ctx, snap)
        with pytest.raises(Invalid):  # deleted records: only their own fields
            conditions.validate(leaf("customer.level", "eq", "VIP"), ctx)


class TestRefusals:
    @pytest.mark.parametrize(
        "tree",
        [
            [],
            {"all": []},
            {"all": [{"field": "customer.level"}], "any": []},
            {"some": [leaf("customer.level", "eq", "VIP")]},
            leaf("customer.level", "gt", "VIP"),
            leaf("customer.visit_count", "eq", "many"),
            leaf("customer.birthday", "eq", "31/12/1990"),
            leaf("customer.visit_count", "in", []),
            leaf("customer.birthday", "days_since", "ten"),
            leaf("customer.level", "eq"),
            {"field": "customer.level", "op": "eq", "value": "VIP", "negate": True},
            leaf("customer.level", "changed"),  # not an event rule
        ],
    )
    def test_bad_trees(self, world, tree):
        with pytest.raises(Invalid) as caught:
            conditions.validate(tree, Context("customer", world.org.pk))
        assert caught.value.fields["condition"]

    def test_unknown_field(self, world):
        with pytest.raises(FieldGone) as caught:
            conditions.validate(leaf("customer.shoe_size", "eq", 42), Context("customer", 1))
        assert "customer.shoe_size" in str(caught.value.message)

    def test_field_of_another_record_type(self, world):
        with pytest.raises(FieldGone):  # a customer has no vehicle namespace
            conditions.validate(leaf("vehicle.brand", "eq", "宝马"), Context("customer", 1))

    def test_depth_limit(self, world):
        tree = leaf("customer.level", "eq", "VIP")
        for _ in range(conditions.MAX_DEPTH + 1):
            tree = {"not": tree}
        with pytest.raises(Invalid):
            conditions.validate(tree, Context("customer", world.org.pk))


class TestCatalog:
    def test_fields_ops_and_labels(self, world):
        CustomField.objects.create(org=world.org, target="vehicle", key="tyre", label_zh="轮胎")
        cat = conditions.catalog("vehicle", world.org.pk)
        fields = {f["field"]: f for f in cat["fields"]}
        assert {
            "vehicle.service_due_on",
            "customer.spend_12m",
            "store.kind",
            "customer.tags",
        } <= set(fields)
        assert fields["vehicle.custom.tyre"]["label"] == "轮胎"
        assert [o["op"] for o in fields["vehicle.insurance_expires_on"]["ops"]][-2:] == [
            "days_since",
            "days_until",
        ]
        assert fields["vehicle.fuel"]["choices"][0]["value"] == "petrol"
        assert fields["vehicle.brand"]["event_only_ops"] == ["changed", "previous"]
        assert fields["customer.level"]["event_only_ops"] == []
        assert "work_order.status" not in fields
        with pytest.raises(Invalid):
            conditions.catalog("invoice")
