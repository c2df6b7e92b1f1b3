"""An advisor imports a customer list from Excel: uploads it, checks the proposed columns,
reads the dry run, confirms, waits for the import to finish and downloads the rows that were
not imported, with the reason for each."""

from __future__ import annotations

import pytest
from openpyxl import Workbook, load_workbook
from playwright.sync_api import expect

from autocrm.customers.models import Customer, Vehicle
from autocrm.imports.models import ImportJob
from tests.e2e.helpers import login, path_of

pytestmark = pytest.mark.e2e

ROWS = [
    ["客户姓名", "手机号", "车牌号", "品牌", "保险到期日"],
    ["欧阳修远", "139 8765 4321", "京QZ7X91", "大众", "2025/3/5"],
    [None, None, "京QZ7X92", "丰田", "2025年4月1日"],  # second car, merged cells
    ["司马光", "+86 137-0000-2222", "京QZ7X93", "本田", None],
    ["诸葛亮", "12345", "京QZ7X94", None, None],  # bad mobile
    ["上官婉儿", "13600003333", "坏车牌", None, None],  # bad plate
    ["欧阳修远", "13987654321", "京QZ7X91", None, None],  # duplicate of the first row
]


@pytest.fixture
def spreadsheet(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["门店客户资料（导出）"])
    for row in ROWS:
        ws.append(row)
    path = tmp_path / "客户资料.xlsx"
    wb.save(path)
    return path


def test_advisor_imports_customers_from_excel(
    page, demo, spreadsheet, settings, tmp_path, monkeypatch
):
    from autocrm.imports import services, tasks

    settings.MEDIA_ROOT = tmp_path / "media"
    # The import is handed to the worker; here the test plays the worker, so the page's
    # progress polling is seen at work.
    queued: list[int] = []
    monkeypatch.setattr(tasks, "run_import", queued.append)
    login(page, "advisor1")
    page.goto("/imports/")
    with page.expect_navigation():
        page.click("[data-testid=new-import]")
    assert path_of(page) == "/imports/upload/"

    page.set_input_files("#id_file", str(spreadsheet))
    with page.expect_navigation():
        page.click("[data-testid=upload-submit]")
    job = ImportJob.objects.get()
    assert path_of(page) == f"/imports/{job.pk}/"
    assert job.store_id == demo.store_ids["s001"]  # the advisor's only store
    # The columns were recognised from their headers.
    expect(page.locator("[data-testid=map-0]")).to_have_value("name")
    expect(page.locator("[data-testid=map-1]")).to_have_value("mobile")
    expect(page.locator("[data-testid=map-2]")).to_have_value("plate")
    expect(page.locator("[data-testid=map-4]")).to_have_value("insurance_expires_on")

    with page.expect_navigation():
        page.click("[data-testid=check-file]")
    counts = page.locator("[data-testid=plan-counts]")
    expect(counts.locator("[data-count=rows]")).to_have_text("6")
    expect(counts.locator("[data-count=created]")).to_have_text("3")
    expect(counts.locator("[data-count=skipped]")).to_have_text("1")
    expect(counts.locator("[data-count=rejected]")).to_have_text("2")
    rejected = page.locator("[data-testid=plan-row][data-action=reject]")
    expect(rejected).to_have_count(2)
    expect(rejected.first).to_contain_text("诸葛亮")
    assert not Customer.objects.exists()  # a dry run changes nothing

    with page.expect_navigation():
        page.click("[data-testid=confirm-import]")
    progress = page.locator("[data-testid=import-progress]")
    expect(progress).to_have_attribute("data-status", "queued")
    expect(progress).to_have_attribute("hx-trigger", "every 1s")
    services.run_job(queued.pop())
    result = page.locator("[data-testid=import-result]")
    expect(result).to_be_visible(timeout=15_000)  # the page polls until the job is done
    expect(result.locator("[data-count=created]")).to_have_text("3")
    expect(result.locator("[data-count=rejected]")).to_have_text("2")
    assert set(Customer.objects.values_list("name", flat=True)) == {"欧阳修远", "司马光"}
    assert Vehicle.objects.filter(owner__name="欧阳修远").count() == 2

    with page.expect_download() as info:
        page.click("[data-testid=download-report]")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    with open(download.path(), "rb") as handle:  # the saved download has no extension
        sheet = load_workbook(handle, read_only=True)["未导入"]
        rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == tuple(ROWS[0]) and rows[0][5] == "原因"
    assert [(r[0], r[1]) for r in rows[1:]] == [("诸葛亮", "12345"), ("上官婉儿", "13600003333")]
    assert all(r[5] for r in rows[1:])  # every row says why
