"""Customer and vehicle services: what they do and what they refuse."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.customers import selectors
from autocrm.customers import services as cs
from autocrm.customers.models import MileageReading, PlateKey
from autocrm.customers.validators import vin_check_digit
from tests import customer_factories as cf

VIN = "LSVAU2180N2183294"  # a real-format VIN; fixed below to a valid check digit


def valid_vin(base: str = VIN) -> str:
    return base[:8] + vin_check_digit(base) + base[9:]


def bad_check_vin() -> str:
    return cf.bad_check_digit_vin(valid_vin())


class TestCustomers:
    def test_create_normalises_and_indexes(self, world):
        c = cs.create_customer(world.advisor_a1, name=" 张　三 ", mobile="+86 139-0000-1234")
        assert (c.name, c.mobile, c.mobile_tail) == ("张 三", "13900001234", "1234")
        assert c.name_initials == "zs" and c.name_pinyin == "zhangsan"
        assert c.home_store == world.a1 and c.org == world.org

    def test_duplicate_mobile_offers_existing(self, world):
        first = cs.create_customer(world.advisor_a1, name="张三", mobile="13900001234")
        with pytest.raises(Conflict) as exc:
            cs.create_customer(world.advisor_a1, name="张三三", mobile="139 0000 1234")
        assert exc.value.extra["existing_id"] == first.pk and "mobile" in exc.value.fields

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "甲", "mobile": "12345"}, "mobile"),
            (
                {"name": "甲", "birthday": timezone.localdate() + datetime.timedelta(days=2)},
                "birthday",
            ),
            ({"name": "甲", "kind": "alien"}, "kind"),
            ({"name": "甲", "gender": "x"}, "gender"),
        ],
    )
    def test_bad_input_names_the_field(self, world, data, field):
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, **data)
        assert field in exc.value.fields

    def test_messages_are_chinese(self, world):
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, name="甲", mobile="12345")
        assert "手机" in str(exc.value.fields["mobile"])

    def test_refusals(self, world):
        with pytest.raises(Forbidden):
            cs.create_customer(world.tech_a1, name="甲")
        with pytest.raises(Invalid) as exc:
            cs.create_customer(world.advisor_a1, name="甲", home_store_id=world.a2.pk)
        assert "home_store" in exc.value.fields
        with pytest.raises(Invalid):
            cs.create_customer(world.hq, name="甲")  # HQ must choose the store
        foreign = cf.source(world.other_org)
        with pytest.raises(Invalid):
            cs.create_customer(world.advisor_a1, name="甲", source_id=foreign.pk)

    def test_update_other_store_is_not_found(self, world):
        c = cf.customer(world.a2)
        with pytest.raises(NotFound):
            cs.update_customer(world.advisor_a1, c, name="改")

    def test_consent_given_and_withdrawn(self, world):
        c = cf.customer(world.a1)
        cs.set_consent(world.advisor_a1, c, "sms", True, "到店签字")
        assert c.consent_sms and c.consent_sms_how == "到店签字" and c.consent_sms_at
        cs.set_consent(world.advisor_a1, c, "sms", False, "电话要求退订")
        c.refresh_from_db()
        assert not c.consent_sms
        changes = AuditLog.objects.filter(
            object_type="customers.Customer", object_id=str(c.pk), action="update"
        )
        assert changes.filter(changes__has_key="consent_sms").count() == 2
        with pytest.raises(Invalid):
            cs.set_consent(world.advisor_a1, c, "sms", True, "")

    def test_reveal_is_audited_and_restricted(self, world):
        c = cf.customer(world.a1, mobile="13912345678")
        assert cs.reveal_mobile(world.advisor_a1, c) == "13912345678"
        entry = AuditLog.objects.get(action="reveal")
        assert entry.user_label == "sa-a1" and entry.object_id == str(c.pk)
        with pytest.raises(Forbidden):
            cs.reveal_mobile(world.tech_a1, c)
        with pytest.raises(NotFound):
            cs.reveal_mobile(world.manager_a2, c)

    def test_interactions(self, world):
        c = cf.customer(world.a1)
        note = cs.add_interaction(world.advisor_a1, c, kind="call", summary=" 回访：满意 ")
        assert note.summary == "回访：满意" and note.staff == world.advisor_a1
        other = cf.vehicle(cf.customer(world.a1))
        with pytest.raises(Invalid):
            cs.add_interaction(world.advisor_a1, c, kind="note", summary="x", vehicle_id=other.pk)
        with pytest.raises(Invalid):
            cs.add_interaction(world.advisor_a1, c, kind="note", summary="  ")


class TestVehicles:
    def test_create_with_plate_vin_and_mileage(self, world):
        owner = cf.customer(world.a1)
        v = cs.create_vehicle(
            world.advisor_a1,
            owner_id=owner.pk,
            plate="京ａ·12345",
            vin=valid_vin().lower(),
            brand="大众",
            mileage_km=23000,
        )
        assert v.plate == "京A12345" and v.vin == valid_vin() and v.vin_check_ok
        assert v.home_store == world.a1 and v.current_mileage == 23000
        assert set(PlateKey.objects.filter(vehicle=v).values_list("key", flat=True)) == {
            "A12345",
            "12345",
            "2345",
            "345",
            "45",
        }
        assert v.ownerships.get().customer == owner

    def test_new_energy_and_special_plates(self, world):
        owner = cf.customer(world.a1)
        for plate in ("粤BD12345", "沪A1234学", "粤Z1234港"):
            assert (
                cs.create_vehicle(world.advisor_a1, owner_id=owner.pk, plate=plate).plate == plate
            )

    def test_invalid_plate_needs_override(self, world):
        owner = cf.customer(world.a1)
        with pytest.raises(Invalid) as exc:
            cs.create_vehicle(world.advisor_a1, owner_id=owner.pk, plate="WJ12345")
        assert "plate" in exc.value.fields
        v = cs.create_vehicle(
            world.advisor_a1, owner_id=owner.pk, plate="WJ12345", plate_override=True
        )
        assert v.plate == "WJ12345"

    def test_vin_check_digit_asks_for_confirmation(self, world):
        owner = cf.customer(world.a1)
        with pytest.raises(Invalid) as exc:
            cs.create_vehicle(world.advisor_a1, owner_id=owner.pk, vin=bad_check_vin())
        assert "vin" in exc.value.fields
        assert exc.value.code == cs.VIN_UNCONFIRMED
        with pytest.raises(Invalid) as exc:  # a malformed VIN is another refusal
            cs.create_vehicle(world.advisor_a1, owner_id=owner.pk, vin="LSVAU2180N218329")
        assert exc.value.code != cs.VIN_UNCONFIRMED
        v = cs.create_vehicle(
            world.advisor_a1, owner_id=owner.pk, vin=bad_check_vin(), confirm_vin=True
        )
        assert v.vin_check_ok is False

    @pytest.mark.parametrize(
        "vin", ["LSVAU2180N218329", "LSVAU2180N21832O4"[:17], "LSVAU2180N2183!94"]
    )
    def test_bad_vin_refused(self, world, vin):
        with pytest.raises(Invalid) as exc:
            cs.create_vehicle(world.advisor_a1, owner_id=cf.customer(world.a1).pk, vin=vin)
        assert "vin" in exc.value.fields

    def test_needs_plate_or_vin(self, world):
        with pytest.raises(Invalid):
            cs.create_vehicle(world.advisor_a1, owner_id=cf.customer(world.a1).pk, brand="大众")

    def test_duplicates_offer_existing(self, world):
        v = cf.vehicle(cf.customer(world.a1), plate="京A54321")
        other = cf.customer(world.a1)
        with pytest.raises(Conflict) as exc:
            cs.create_vehicle(world.advisor_a1, owner_id=other.pk, plate="京A54321")
        assert exc.value.extra["existing_id"] == v.pk
        with pytest.raises(Conflict):
            cs.create_vehicle(world.advisor_a1, owner_id=other.pk, vin=v.vin)

    def test_plate_change_rebuilds_keys(self, world):
        v = cf.vehicle(cf.customer(world.a1), plate="京A54321")
        cs.update_vehicle(world.advisor_a1, v, plate="京B98765")
        keys = set(PlateKey.objects.filter(vehicle=v).values_list("key", flat=True))
        assert "98765" in keys and "54321" not in keys

    def test_mileage_never_decreases_without_correction(self, world):
        v = cf.vehicle(cf.customer(world.a1))
        cs.record_mileage(world.advisor_a1, v, km=30000, read_on=datetime.date(2026, 3, 1))
        with pytest.raises(Invalid) as exc:
            cs.record_mileage(world.advisor_a1, v, km=29000)
        assert "30000" in str(exc.value.fields["km"])
        with pytest.raises(Invalid) as exc:
            cs.record_mileage(world.advisor_a1, v, km=29000, source="correction")
        assert "note" in exc.value.fields
        cs.record_mileage(world.advisor_a1, v, km=29000, source="correction", note="上次录错")
        v.refresh_from_db()
        assert v.current_mileage == 29000
        future = timezone.localdate() + datetime.timedelta(days=3)
        with pytest.raises(Invalid):
            cs.record_mileage(world.advisor_a1, v, km=40000, read_on=future)
        assert MileageReading.objects.filter(vehicle=v).count() == 2

    def test_transfer_keeps_history_for_both_owners(self, world):
        old = cf.customer(world.a1, name="老车主")
        new = cf.customer(world.a1, name="新车主")
        v = cf.vehicle(old)
        cf.interaction(old, "上次保养", vehicle=v)
        cs.transfer_vehicle(world.advisor_a1, v, new)
        old_profile = selectors.profile(world.advisor_a1, old.pk)
        new_profile = selectors.profile(world.advisor_a1, new.pk)
        assert old_profile.vehicles == [] and [o.vehicle for o in old_profile.past_vehicles] == [v]
        assert new_profile.vehicles == [v]
        assert any(i.summary == "上次保养" for i in old_profile.timeline)
        assert not any(i.summary == "上次保养" for i in new_profile.timeline)
        periods = list(v.ownerships.order_by("started_at").values_list("customer_id", "ended_at"))
        assert periods[0][0] == old.pk and periods[0][1] is not None
        assert periods[1] == (new.pk, None)
        with pytest.raises(Invalid):
            cs.transfer_vehicle(world.advisor_a1, v, new)


class TestProfile:
    def _queries(self, user, pk) -> int:
        with CaptureQueriesContext(connection) as ctx:
            selectors.profile(user, pk)
        return len(ctx.captured_queries)

    def test_query_count_bounded_whatever_the_history(self, world):
        short = cf.customer(world.a1)
        cf.vehicle(short)
        cf.interaction(short)
        long = cf.customer(world.a1)
        for _ in range(3):
            v = cf.vehicle(long, km=1000)
            cs.record_mileage(world.advisor_a1, v, km=5000)
        for i in range(120):
            cf.interaction(long, f"第{i}次")
        assert self._queries(world.advisor_a1, long.pk) == self._queries(world.advisor_a1, short.pk)
        assert self._queries(world.advisor_a1, long.pk) <= 8
        assert (
            len(selectors.profile(world.advisor_a1, long.pk).timeline) == selectors.TIMELINE_LIMIT
        )

    def test_average_days_between_visits(self, world):
        c = cf.customer(world.a1, visit_count=3)
        c.first_visit_at = timezone.now() - datetime.timedelta(days=200)
        c.last_visit_at = timezone.now()
        c.save()
        assert selectors.profile(world.advisor_a1, c.pk).average_days_between_visits == 100

    def test_other_store_not_found(self, world):
        c = cf.customer(world.a2)
        with pytest.raises(NotFound):
            selectors.profile(world.advisor_a1, c.pk)


def test_every_kind_of_contact_lands_on_the_timeline(world):
    """Notes, calls, visits, consultations, quotes and messages (the latter from other apps
    through the same service) all go on the timeline; an unknown kind is refused."""
    c = cf.customer(world.a1)
    kinds = ["note", "call", "visit", "consultation", "quote", "message"]
    for kind in kinds:
        cs.add_interaction(world.advisor_a1, c, kind=kind, summary=f"{kind} entry")
    assert sorted(i.kind for i in selectors.timeline(c)) == sorted(kinds)
    with pytest.raises(Invalid) as exc:
        cs.add_interaction(world.advisor_a1, c, kind="gossip", summary="x")
    assert "kind" in exc.value.fields
