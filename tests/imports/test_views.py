"""The import pages: upload → map columns → dry run → confirm → progress → error report,
the refusals on upload, permissions and scoping."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from autocrm.customers.models import Customer
from autocrm.imports import conf
from autocrm.imports.models import ImportJob, ImportProfile
from tests.imports.files import HEADERS, SAMPLE, read_report, xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client, path: Path, store, name: str | None = None, **extra):
    data = SimpleUploadedFile(name or path.name, path.read_bytes())
    return client.post(reverse("import_upload"), {"file": data, "store": store.pk}, **extra)


def stored_files(media) -> list[Path]:
    return [p for p in Path(media).rglob("*") if p.is_file()]


def mapping_post(job, **overrides) -> dict:
    data = {f"col_{i}": key or "" for i, key in enumerate(job.mapping)}
    data["profile_name"] = "门店导出"
    data.update(overrides)
    return data


def test_whole_flow(world, login, tmp_path, media):
    client = login(world.advisor_a1)
    page = client.get(reverse("import_upload"))
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.content

    response = upload(client, xlsx(tmp_path / "客户.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("import_detail", args=[job.pk])
    assert (job.status, job.store, job.created_by, job.header_row) == (
        "mapping",
        world.a1,
        world.advisor_a1,
        2,
    )
    assert job.mapping[:3] == ["name", "mobile", "plate"] and job.file_name == "客户.xlsx"
    assert len(stored_files(media)) == 1

    page = client.get(response.url)
    assert page.status_code == 200
    assert b'data-testid="mapping-form"' in page.content and "张三" in page.content.decode()

    response = client.post(reverse("import_mapping", args=[job.pk]), mapping_post(job))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "planned" and job.total == 7  # the dry run ran (immediately in tests)
    assert job.profile.name == "门店导出"
    assert not Customer.objects.exists()
    page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
    assert 'data-testid="plan-counts"' in page and page.count('data-testid="plan-row"') == 7
    assert 'data-action="reject" data-row="6"' in page and "手机号格式不对" in page

    response = client.post(reverse("import_confirm", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.updated, job.skipped, job.rejected) == ("done", 4, 0, 1, 2)
    assert job.started_at and job.finished_at and job.report_path
    assert Customer.objects.count() == 3
    assert job.file_path == "" and len(stored_files(media)) == 1  # upload gone, report kept

    page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
    assert 'data-testid="import-result"' in page and 'data-testid="download-report"' in page
    report = client.get(reverse("import_report", args=[job.pk]))
    assert report.status_code == 200 and report["Content-Type"] == XLSX
    assert report["Cache-Control"] == "no-store"
    sheets = read_report(io.BytesIO(b"".join(report.streaming_content)))
    assert [r[0] for r in sheets["未导入"][1:]] == ["王五", "赵六"]
    assert sheets["未导入"][0][: len(HEADERS)] == tuple(HEADERS)

    listing = client.get(reverse("import_list")).content.decode()
    assert "客户.xlsx" in listing


def test_profile_is_reused_for_the_same_headers(world, login, tmp_path):
    client = login(world.advisor_a1)
    upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    # the user says column 8 (保险到期日) is not to be imported
    client.post(reverse("import_mapping", args=[job.pk]), mapping_post(job, col_7=""))
    profile = ImportProfile.objects.get()
    assert profile.mapping[7] is None and profile.org == world.org
    upload(client, xlsx(tmp_path / "b.xlsx", SAMPLE[:2]), world.a1)
    second = ImportJob.objects.latest("id")
    assert second.profile == profile and second.mapping[7] is None
    page = client.get(reverse("import_detail", args=[second.pk])).content.decode()
    assert 'data-testid="mapping-profile"' in page


def test_mapping_errors_are_shown(world, login, tmp_path):
    client = login(world.advisor_a1)
    upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    response = client.post(
        reverse("import_mapping", args=[job.pk]), mapping_post(job, col_2="mobile")
    )
    assert response.status_code == 422 and b'data-testid="form-error"' in response.content
    job.refresh_from_db()
    assert job.status == "mapping"


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("photo.xlsx", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, 400),
        ("empty.csv", b"", 422),  # Django's own check: "The submitted file is empty."
        ("list.csv", "甲,乙,丙\n1,2,3\n".encode(), 400),
    ],
)
def test_refused_uploads_change_nothing(world, login, media, name, content, code):
    client = login(world.advisor_a1)
    data = SimpleUploadedFile(name, content)
    response = client.post(reverse("import_upload"), {"file": data, "store": world.a1.pk})
    assert response.status_code == code
    assert b'class="invalid-feedback d-block"' in response.content
    assert not ImportJob.objects.exists() and stored_files(media) == []
    assert not Customer.objects.exists()


def test_macro_upload_refused(world, login, tmp_path, media):
    from tests.imports.files import with_macro

    client = login(world.advisor_a1)
    path = with_macro(xlsx(tmp_path / "a.xlsx", SAMPLE), tmp_path / "b.xlsx")
    response = upload(client, path, world.a1)
    assert response.status_code == 400 and b'class="invalid-feedback d-block"' in response.content
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_oversized_upload_refused(world, login, tmp_path, media, settings):
    settings.AUTOCRM_IMPORT_MAX_MB = 0.01  # 10 KB
    client = login(world.advisor_a1)
    path = xlsx(tmp_path / "a.xlsx", SAMPLE * 200)
    assert path.stat().st_size > 10 * 1024
    response = upload(client, path, world.a1)
    assert response.status_code == 413 and b'data-testid="upload-error"' in response.content
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_huge_body_refused_before_it_is_read(world, login):
    """A 200 MB upload is refused from its Content-Length by the middleware; the import page's
    own limit (50 MB by default) is above the 2 MB every other page accepts."""
    client = login(world.advisor_a1)
    huge = str(200 * 1024 * 1024)
    response = client.post(reverse("import_upload"), {"store": world.a1.pk}, CONTENT_LENGTH=huge)
    assert response.status_code == 413
    assert conf.upload_body_limit() > 50 * 1024 * 1024
    three_mb = str(3 * 1024 * 1024)
    other = client.post(reverse("customer_list"), {}, CONTENT_LENGTH=three_mb)
    assert other.status_code == 413


def test_upload_between_2_and_50_mb_passes_the_body_limit(world, login, tmp_path):
    client = login(world.advisor_a1)
    from tests.imports.files import csv_file

    rows = [
        [f"客户{i}", f"136{i:08d}", None, None, "x" * 30, None, None, None, None]
        for i in range(40_000)
    ]
    path = csv_file(tmp_path / "big.csv", rows)
    assert path.stat().st_size > 2 * 1024 * 1024
    response = upload(client, path, world.a1)
    assert response.status_code == 302


def test_technician_cannot_import(world, login, tmp_path):
    client = login(world.tech_a1)
    assert client.get(reverse("import_list")).status_code == 403
    assert client.get(reverse("import_upload")).status_code == 403
    assert upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1).status_code == 403
    assert not ImportJob.objects.exists()


def test_jobs_are_scoped_to_their_store(world, login, tmp_path):
    upload(login(world.advisor_a1), xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    other = login(world.manager_a2)
    assert other.get(reverse("import_detail", args=[job.pk])).status_code == 404
    assert other.get(reverse("import_report", args=[job.pk])).status_code == 404
    assert other.post(reverse("import_confirm", args=[job.pk])).status_code == 404
    assert "a.xlsx" not in other.get(reverse("import_list")).content.decode()
    assert login(world.manager_a1).get(reverse("import_detail", args=[job.pk])).status_code == 200
    assert login(world.hq).get(reverse("import_detail", args=[job.pk])).status_code == 200
    assert login(world.other_admin).get(reverse("import_detail", args=[job.pk])).status_code == 404


def test_store_must_be_one_of_the_users(world, login, tmp_path):
    response = upload(login(world.advisor_a1), xlsx(tmp_path / "a.xlsx", SAMPLE), world.a2)
    assert response.status_code == 422
    assert not ImportJob.objects.exists()


def test_progress_partial_polls_then_reloads(world, login, tmp_path):
    client = login(world.advisor_a1)
    upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status="running", total=7, processed=3)
    url = reverse("import_progress", args=[job.pk])
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and b'hx-trigger="every 1s"' in partial.content
    assert "3 / 7 行".encode() in partial.content and b"width: 42%" in partial.content
    page = client.get(reverse("import_detail", args=[job.pk]))
    assert b'hx-trigger="every 1s"' in page.content
    ImportJob.objects.filter(pk=job.pk).update(status="done")
    done = client.get(url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"


def test_confirm_twice_is_refused(world, login, tmp_path):
    client = login(world.advisor_a1)
    upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    client.post(reverse("import_mapping", args=[job.pk]), mapping_post(job))
    client.post(reverse("import_confirm", args=[job.pk]))
    client.post(reverse("import_confirm", args=[job.pk]))
    assert Customer.objects.count() == 3


def test_upload_still_needs_the_csrf_token(world, tmp_path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.advisor_a1)
    response = upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_unused_uploads_and_old_reports_are_pruned(world, login, tmp_path, media):
    import datetime

    from django.utils import timezone

    from autocrm.imports import services

    upload(login(world.advisor_a1), xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    assert services.prune_files() == 0  # fresh: kept
    later = timezone.now() + datetime.timedelta(days=services.UNUSED_UPLOAD_DAYS + 1)
    assert services.prune_files(later) == 1
    job.refresh_from_db()
    assert (job.status, job.file_path) == ("failed", "") and stored_files(media) == []


def test_a_failing_import_is_marked_and_keeps_what_was_imported(
    world, login, tmp_path, monkeypatch
):
    from autocrm.imports import engine

    client = login(world.advisor_a1)
    upload(client, xlsx(tmp_path / "a.xlsx", SAMPLE), world.a1)
    job = ImportJob.objects.get()
    client.post(reverse("import_mapping", args=[job.pk]), mapping_post(job))

    def broken(self, chunk):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine.Importer, "_chunk", broken)
    client.post(reverse("import_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "failed" and "disk" not in job.error and job.finished_at
    page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
    assert 'data-testid="import-error"' in page
