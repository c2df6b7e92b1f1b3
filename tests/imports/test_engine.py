"""The dry run's plan and the import itself: what is created, updated, skipped and rejected,
duplicates within a file and across imports, merged-looking rows, audit, scoping."""

from __future__ import annotations

import datetime

import pytest

from autocrm.core.models import AuditLog
from autocrm.customers.models import Customer, MileageReading, Ownership, PlateKey, Vehicle
from autocrm.imports import engine, services
from autocrm.imports.readers import Refused
from tests import customer_factories as cf
from tests.imports.files import SAMPLE, VIN_BAD_CHECK, VIN_OK, csv_file, read_report, xlsx


def run(world, path, *, actor=None, dry_run=False, report=None, store=None):
    totals, _info, _mapping = services.import_path(
        path,
        store=store or world.a1,
        actor=actor if actor is not None else world.advisor_a1,
        dry_run=dry_run,
        report_to=report,
    )
    return totals


def plan_of(world, path, **kw) -> tuple[engine.Totals, dict[int, dict]]:
    from autocrm.imports import readers

    info = readers.inspect(path)
    importer = engine.Importer(
        org=world.org,
        store=kw.pop("store", world.a1),
        headers=info.headers,
        mapping=info.mapping,
        actor=world.advisor_a1,
        allowed_store_ids=services.allowed_store_ids(world.advisor_a1),
        dry_run=kw.pop("dry_run", True),
        **kw,
    )
    with readers.open_rows(path, info) as rows:
        totals = importer.run(r for r in rows if r[0] > info.header_row)
    return totals, {p["row"]: p for p in importer.preview}


def test_dry_run_plan_changes_nothing(world, tmp_path):
    path = xlsx(tmp_path / "a.xlsx", SAMPLE)
    totals, plan = plan_of(world, path)
    assert not Customer.objects.exists() and not Vehicle.objects.exists()
    assert not AuditLog.objects.filter(source="import").exists()
    assert (totals.rows, totals.created, totals.updated, totals.skipped, totals.rejected) == (
        7,
        4,
        0,
        1,
        2,
    )
    assert plan[3]["action"] == "create"  # 张三 with car 1
    assert plan[3]["what"] == ["New customer", "New vehicle 京A12345"]
    assert plan[4]["action"] == "create" and plan[4]["what"] == ["New vehicle 京B54321"]
    assert plan[5]["action"] == "create"
    assert any("check digit" in w for w in plan[5]["warnings"])  # accepted with a warning
    assert plan[6]["action"] == "reject" and plan[6]["reasons"] == [
        "Mobile number format is wrong."
    ]
    assert plan[7]["action"] == "skip" and plan[7]["reasons"] == ["Same as row 3."]
    assert plan[8]["action"] == "reject" and "Plate" in plan[8]["reasons"][0]
    assert plan[9]["action"] == "create" and plan[9]["mobile"] == "137****3333"


def test_import_creates_customers_vehicles_and_report(world, tmp_path):
    path = xlsx(tmp_path / "a.xlsx", SAMPLE)
    report = tmp_path / "report.xlsx"
    totals = run(world, path, report=report)
    assert (totals.rows, totals.created, totals.updated, totals.skipped, totals.rejected) == (
        7,
        4,
        0,
        1,
        2,
    )
    zhang = Customer.objects.get(mobile="13812345678")
    assert (zhang.name, zhang.name_pinyin, zhang.name_initials, zhang.mobile_tail) == (
        "张三",
        "zhangsan",
        "zs",
        "5678",
    )
    assert zhang.home_store_id == world.a1.pk and zhang.birthday == datetime.date(1980, 1, 2)
    cars = {v.plate: v for v in zhang.vehicles.all()}
    assert set(cars) == {"京A12345", "京B54321"}  # the merged-looking row is 张三's second car
    first = cars["京A12345"]
    assert (first.vin, first.vin_tail, first.vin_check_ok) == (VIN_OK, VIN_OK[-6:], True)
    assert first.current_mileage == 42000 and first.insurance_expires_on == datetime.date(
        2025, 3, 5
    )
    assert cars["京B54321"].current_mileage == 12000
    assert cars["京B54321"].insurance_expires_on == datetime.date(2025, 4, 1)
    assert set(PlateKey.objects.filter(vehicle=first).values_list("key", flat=True)) >= {
        "A12345",
        "12345",
        "45",
    }
    assert Ownership.objects.filter(vehicle=first, customer=zhang, ended_at=None).exists()
    reading = MileageReading.objects.get(vehicle=first)
    assert (reading.km, reading.source) == (42000, "import")
    li = Customer.objects.get(mobile="13900001111")
    assert li.vehicles.get().vin == VIN_BAD_CHECK and not li.vehicles.get().vin_check_ok
    assert Customer.objects.get(mobile="13700003333").name == "孙八"
    assert not Customer.objects.filter(name__in=["王五", "赵六"]).exists()

    sheets = read_report(report)
    rejected = sheets["未导入"]
    assert rejected[0][-2:] == ("原因", "行号")
    assert [(r[0], r[-1]) for r in rejected[1:]] == [("王五", 6), ("赵六", 8)]
    assert rejected[1][1] == "12345"  # the original value, as it was in the file
    assert "Mobile number format is wrong" in rejected[1][-2]
    assert "Plate format is wrong" in rejected[2][-2]
    assert [r[0] for r in sheets["警告"][1:]] == ["李四"]


def test_the_same_file_again_creates_no_duplicates(world, tmp_path):
    path = xlsx(tmp_path / "a.xlsx", SAMPLE)
    run(world, path)
    counts = (
        Customer.objects.count(),
        Vehicle.objects.count(),
        MileageReading.objects.count(),
        Ownership.objects.count(),
        PlateKey.objects.count(),
    )
    again = run(world, path)
    assert (again.created, again.updated, again.skipped, again.rejected) == (0, 0, 5, 2)
    assert counts == (
        Customer.objects.count(),
        Vehicle.objects.count(),
        MileageReading.objects.count(),
        Ownership.objects.count(),
        PlateKey.objects.count(),
    )
    # and as CSV in GBK, the same rows are recognised too
    csv_again = run(world, csv_file(tmp_path / "a.csv", SAMPLE, encoding="gbk"))
    assert (csv_again.created, csv_again.updated) == (0, 0)
    assert Customer.objects.count() == counts[0]


def test_audit_entries_with_source_import(world, tmp_path):
    run(world, xlsx(tmp_path / "a.xlsx", SAMPLE))
    zhang = Customer.objects.get(mobile="13812345678")
    entry = AuditLog.objects.get(object_type="customers.Customer", object_id=str(zhang.pk))
    assert (entry.source, entry.action, entry.user_id, entry.user_label) == (
        "import",
        "create",
        world.advisor_a1.pk,
        "sa-a1",
    )
    assert (entry.org_id, entry.store_id) == (world.org.pk, world.a1.pk)
    assert entry.changes["name"] == [None, "张三"]
    assert entry.changes["birthday"] == [None, "1980-01-02"]
    assert "id" not in entry.changes
    created = AuditLog.objects.filter(source="import", action="create")
    assert created.filter(object_type="customers.Customer").count() == Customer.objects.count()
    assert created.filter(object_type="customers.Vehicle").count() == Vehicle.objects.count()
    assert created.filter(object_type="customers.Ownership").count() == Ownership.objects.count()
    assert created.filter(object_type="customers.MileageReading").count() == 2
    assert len(set(created.values_list("request_id", flat=True))) == 1


def test_existing_customer_gets_empty_fields_filled_and_a_new_car(world, tmp_path):
    source = cf.source(world.org, "抖音")
    existing = cf.customer(world.a1, name="张三丰", mobile="13812345678", level="金卡")
    old_car = cf.vehicle(existing, plate="京A12345", vin="", km=50000)
    old_car.current_mileage = 50000
    old_car.save()
    rows = [
        [
            "张三",
            "13812345678",
            "京A12345",
            VIN_OK,
            "大众",
            None,
            42000,
            None,
            "1980-01-02",
            "抖音",
            "银卡",
        ],
        ["张三", "13812345678", "京N99999", None, None, None, None, None, None, None, None],
    ]
    headers = [
        "姓名",
        "手机",
        "车牌",
        "VIN",
        "品牌",
        "车型",
        "里程",
        "保险到期",
        "生日",
        "来源",
        "会员等级",
    ]
    totals = run(world, xlsx(tmp_path / "a.xlsx", rows, headers=headers))
    assert (totals.created, totals.updated) == (1, 1)
    existing.refresh_from_db()
    assert existing.name == "张三丰"  # never overwritten
    assert existing.level == "金卡"  # not empty: kept
    assert existing.birthday == datetime.date(1980, 1, 2) and existing.source == source
    old_car.refresh_from_db()
    assert old_car.vin == VIN_OK and old_car.brand == "大众"  # empty before: filled
    assert old_car.current_mileage == 50000  # a lower reading never lowers it
    assert existing.vehicles.count() == 2
    update = AuditLog.objects.get(
        source="import", action="update", object_type="customers.Customer"
    )
    assert update.changes == {"birthday": [None, "1980-01-02"], "source_id": [None, source.pk]}
    vehicle_update = AuditLog.objects.get(
        source="import", action="update", object_type="customers.Vehicle"
    )
    assert vehicle_update.changes["vin"] == ["", VIN_OK]


def test_vehicle_found_by_vin_and_owner_found_through_it(world, tmp_path):
    owner = cf.customer(world.a1, name="王五", mobile="13600001111")
    car = cf.vehicle(owner, plate="京A11111", vin=VIN_OK)
    car.insurance_expires_on = None
    car.save()
    rows = [["王五", None, None, VIN_OK, None, None, 61000, "2026-06-30", None]]
    totals = run(world, xlsx(tmp_path / "a.xlsx", rows))
    assert (totals.created, totals.updated, totals.rejected) == (0, 1, 0)
    car.refresh_from_db()
    assert car.insurance_expires_on == datetime.date(2026, 6, 30) and car.current_mileage == 61000
    assert Customer.objects.count() == 1


def test_plate_and_vin_of_two_different_vehicles_is_rejected(world, tmp_path):
    owner = cf.customer(world.a1, mobile="13600001111")
    cf.vehicle(owner, plate="京A11111", vin=VIN_OK)
    cf.vehicle(owner, plate="京A22222", vin="")
    rows = [["王五", "13600001111", "京A22222", VIN_OK, None, None, None, None, None]]
    totals, plan = plan_of(world, xlsx(tmp_path / "a.xlsx", rows))
    assert totals.rejected == 1
    assert "two different vehicles" in plan[3]["reasons"][0]


def test_customers_of_stores_outside_ones_area_are_not_touched(world, tmp_path):
    other = cf.customer(world.a2, name="外店客户", mobile="13600002222")
    rows = [
        ["外店客户", "13600002222", "京A33333", None, None, None, None, None, None],
        [None, None, "京A44444", None, None, None, None, None, None],
    ]
    totals, plan = plan_of(world, xlsx(tmp_path / "a.xlsx", rows))
    assert totals.rejected == 2
    assert "outside your area" in plan[3]["reasons"][0]
    assert "row 3" in plan[4]["reasons"][0]  # merged row below a rejected customer
    # HQ sees every store: the same file fills in the customer
    totals = run(world, xlsx(tmp_path / "a.xlsx", rows), actor=world.hq)
    assert (totals.created, totals.rejected) == (2, 0)
    assert other.vehicles.count() == 2


def test_store_column_chooses_the_home_store(world, tmp_path):
    rows = [
        ["甲", "13600000001", None, None, None, None, None, None, None, "tj-bj"],
        ["乙", "13600000002", None, None, None, None, None, None, None, "广州天河店"],
        ["丙", "13600000003", None, None, None, None, None, None, None, "火星店"],
    ]
    headers = [*SAMPLE_HEADERS, "门店"]
    totals = run(world, xlsx(tmp_path / "a.xlsx", rows, headers=headers), actor=world.hq)
    assert (totals.created, totals.rejected) == (2, 1)
    assert Customer.objects.get(name="甲").home_store == world.a2
    assert Customer.objects.get(name="乙").home_store == world.a3
    # an advisor of a1 cannot put customers into another store
    totals = run(
        world,
        xlsx(
            tmp_path / "b.xlsx",
            [["丁", "13600000004", None, None, None, None, None, None, None, "tj-bj"]],
            headers=headers,
        ),
    )
    assert totals.rejected == 1


SAMPLE_HEADERS = [
    "客户姓名",
    "手机号",
    "车牌号",
    "车架号",
    "品牌",
    "车型",
    "当前里程",
    "保险到期日",
    "生日",
]


def test_duplicates_and_merged_rows_across_chunks(world, tmp_path):
    """Chunks of 2 rows: what earlier chunks brought in is remembered, in the dry run and in
    the import alike."""
    rows = [
        ["甲", "13600000001", "京A00001", None, None, None, None, None, None],
        ["乙", "13600000002", "京A00002", None, None, None, None, None, None],
        [None, None, "京A00003", None, None, None, None, None, None],  # 乙's, next chunk
        ["甲", "13600000001", "京A00004", None, None, None, None, None, None],  # 甲's 2nd car
        ["甲", "13600000001", "京A00001", None, None, None, None, None, None],  # duplicate
        ["丙", "13600000003", "京A00002", None, None, None, None, None, None],  # 乙's plate
        ["乙", "13600000002", None, None, None, None, None, None, None],  # duplicate
    ]
    path = xlsx(tmp_path / "a.xlsx", rows)
    dry, plan = plan_of(world, path, chunk_size=2)
    real, real_plan = plan_of(world, path, chunk_size=2, dry_run=False)
    assert plan == real_plan
    assert [plan[n]["action"] for n in range(3, 10)] == [
        "create",
        "create",
        "create",
        "create",
        "skip",
        "reject",
        "skip",
    ]
    assert "row 4" in plan[8]["reasons"][0]
    jia, yi = Customer.objects.get(name="甲"), Customer.objects.get(name="乙")
    assert set(jia.vehicles.values_list("plate", flat=True)) == {"京A00001", "京A00004"}
    assert set(yi.vehicles.values_list("plate", flat=True)) == {"京A00002", "京A00003"}
    assert not Customer.objects.filter(name="丙").exists()


def test_formula_rows_rejected_with_the_reason(world, tmp_path):
    rows = [
        ["张三", "13812345678", "京A12345", None, "=A1", None, None, None, None],
        ["李四", "13900001111", None, None, None, None, None, None, None],
    ]
    totals, plan = plan_of(world, xlsx(tmp_path / "a.xlsx", rows))
    assert (totals.created, totals.rejected) == (1, 1)
    assert "formula" in plan[3]["reasons"][0] and "品牌" in plan[3]["reasons"][0]


def test_bad_optional_values_are_warnings(world, tmp_path):
    rows = [["张三", "13812345678", "京A12345", None, None, None, "很多", "明年", "2999-01-01"]]
    totals, plan = plan_of(world, xlsx(tmp_path / "a.xlsx", rows))
    assert (totals.created, totals.warned) == (1, 1)
    assert len(plan[3]["warnings"]) == 3


def test_a_conflict_saved_meanwhile_costs_only_its_own_row(world, tmp_path, monkeypatch):
    """Someone saves a customer with the same mobile while the chunk is planned: the chunk is
    written again row by row and only that row is rejected."""
    rows = [
        ["甲", "13600000001", "京A00001", None, None, None, None, None, None],
        ["乙", "13600000002", "京A00002", None, None, None, None, None, None],
        [None, None, "京A00003", None, None, None, None, None, None],
    ]
    original = engine.Importer._lookup

    def lookup_then_race(self, parsed):
        found = original(self, parsed)
        cf.customer(world.a1, name="别人", mobile="13600000002")
        return found

    monkeypatch.setattr(engine.Importer, "_lookup", lookup_then_race)
    totals = run(world, xlsx(tmp_path / "a.xlsx", rows))
    assert (totals.created, totals.rejected) == (1, 2)
    assert Customer.objects.get(mobile="13600000001").vehicles.count() == 1
    assert Customer.objects.get(mobile="13600000002").name == "别人"
    assert not Vehicle.objects.filter(plate__in=["京A00002", "京A00003"]).exists()


def test_refused_file_raises(world, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"not a spreadsheet at all")
    with pytest.raises(Refused):
        run(world, path)


def test_a_plate_that_differs_from_the_one_on_file_still_means_that_vehicle(world, tmp_path):
    owner = cf.customer(world.a1, name="王五", mobile="13600001111")
    cf.vehicle(owner, plate="京A11111", vin=VIN_OK)
    rows = [
        ["王五", "13600001111", "京A99999", VIN_OK, None, None, None, None, None],
        ["王五", "13600001111", "京A99999", None, None, None, None, None, None],
    ]
    totals, plan = plan_of(world, xlsx(tmp_path / "a.xlsx", rows))
    assert any("differs" in w for w in plan[3]["warnings"])
    assert plan[4]["action"] == "skip" and plan[4]["reasons"] == ["Same as row 3."]
    assert totals.created == 0
