"""Every write of the import flow: upload (checked before anything is kept), column mapping and
profiles, the dry run, the import itself, and the command line's foreground import.

The web flow is upload → map columns → dry run (background) → confirm → import (background).
Refused files are never stored and create no job. The import's own writes go through
``engine.Importer``: bulk, chunked, and audited row by row with source 'import'."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import Store, User
from autocrm.core.selectors import store_for
from autocrm.core.services import require
from autocrm.core.validators import normalize_text
from autocrm.imports import readers, selectors
from autocrm.imports.engine import Importer, Totals
from autocrm.imports.mapping import FIELD_LABELS, clean_mapping, headers_key, is_usable
from autocrm.imports.models import ImportJob, ImportProfile
from autocrm.imports.readers import Inspection
from autocrm.imports.report import ErrorReport

log = logging.getLogger("autocrm.imports")

STORAGE_DIR = "imports"
#: Uploaded files that were never imported are removed after this long; reports after the next.
UNUSED_UPLOAD_DAYS = 3
REPORT_DAYS = 30


# --- helpers ----------------------------------------------------------------------------------


def allowed_store_ids(actor: User | None) -> frozenset[int] | None:
    """Stores whose customers the actor may update (None: the whole org)."""
    if actor is None or scoping.is_org_wide(actor):
        return None
    return scoping.store_ids(actor)


@contextlib.contextmanager
def _local_copy(upload) -> Iterator[Path]:
    """A path on disk for an uploaded file (Django keeps large uploads in a temporary file
    already; small ones are in memory)."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    suffix = os.path.splitext(upload.name or "")[1][:10]
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


@contextlib.contextmanager
def stored_path(name: str) -> Iterator[Path]:
    """A local path for a stored file: the file itself on local disk, else a temporary copy
    (S3-compatible storage in a scaled-out setup)."""
    if not name or not default_storage.exists(name):
        raise NotFound(_("The uploaded file is no longer available; upload it again."))
    try:
        yield Path(default_storage.path(name))
        return
    except NotImplementedError:
        pass
    with default_storage.open(name, "rb") as source, tempfile.NamedTemporaryFile() as handle:
        for chunk in iter(lambda: source.read(1024 * 1024), b""):
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


def _delete(name: str) -> None:
    if name:
        with contextlib.suppress(OSError):
            default_storage.delete(name)


def _require_job(actor: User, job: ImportJob) -> None:
    require(actor, "customer.edit")
    if job.org_id != actor.org_id or not scoping.can_see_store(actor, job.store_id):
        raise NotFound()


def mapping_for(org_id: int, info: Inspection) -> tuple[list[str | None], object]:
    """The saved profile's mapping when these headers were imported before, else the one
    proposed from the header names."""
    profile = selectors.profile_for_headers(org_id, info.headers)
    if profile is not None:
        return clean_mapping(info.headers, profile.mapping), profile
    return info.mapping, None


# --- the web flow -----------------------------------------------------------------------------


@audit.by_actor
def start_import(actor: User, *, upload, store_id=None) -> ImportJob:
    """Check an uploaded file and keep it for mapping. A refused file (``readers.Refused``)
    leaves nothing behind."""
    require(actor, "customer.edit")
    store = store_for(actor, store_id)  # an active store of the actor's
    file_name = os.path.basename(upload.name or "")[:200] or "upload"
    readers.check_size(upload.size or 0)
    with _local_copy(upload) as path:
        info = readers.inspect(path, file_name)
        ext = ".xlsx" if info.kind == "xlsx" else ".csv"
        with open(path, "rb") as handle:
            stored = default_storage.save(
                f"{STORAGE_DIR}/{actor.org_id}/{uuid.uuid4().hex}{ext}", File(handle)
            )
    mapping, profile = mapping_for(actor.org_id, info)
    job = ImportJob.objects.create(
        org_id=actor.org_id,
        store=store,
        created_by=actor,
        user_label=actor.get_username(),
        file_name=file_name,
        file_path=stored,
        file_size=upload.size or 0,
        file_type=info.kind,
        encoding=info.encoding,
        delimiter=info.delimiter,
        sheet_name=info.sheet_name[:100],
        header_row=info.header_row,
        headers=info.headers,
        mapping=mapping,
        profile=profile,
    )
    # Sample values are personal data: shown on the mapping page, not copied into the audit log.
    ImportJob.objects.filter(pk=job.pk).update(samples=info.samples)
    job.samples = info.samples
    return job


def check_mapping(headers: list[str], mapping: list) -> list[str | None]:
    mapping = clean_mapping(headers, mapping)
    chosen = [k for k in mapping if k]
    twice = sorted({k for k in chosen if chosen.count(k) > 1}, key=chosen.index)
    if twice:
        raise Invalid(
            _("Each field can be chosen for one column only: %(fields)s.")
            % {"fields": ", ".join(str(FIELD_LABELS[k]) for k in twice)},
            fields={"mapping": _("Chosen twice.")},
        )
    if not is_usable(mapping):
        raise Invalid(
            _("Choose at least two columns, one of them the name, mobile, plate or VIN."),
            fields={"mapping": _("Not enough columns chosen.")},
        )
    return mapping


@audit.by_actor
def set_mapping(actor: User, job: ImportJob, mapping: list, *, profile_name: str = "") -> ImportJob:
    """Save the columns' fields (and, named, as a profile for the next file with these
    headers), then run the dry run in the background."""
    _require_job(actor, job)
    if job.status not in (ImportJob.Status.MAPPING, ImportJob.Status.PLANNED):
        raise Conflict(_("This import has already started; upload the file again to redo it."))
    mapping = check_mapping(job.headers, mapping)
    name = normalize_text(profile_name)[:60]
    if name:
        profile = ImportProfile.objects.filter(org_id=actor.org_id, name=name).first()
        if profile is None:
            profile = ImportProfile(org_id=actor.org_id, name=name, created_by=actor)
        profile.headers = job.headers
        profile.headers_key = headers_key(job.headers)
        profile.mapping = mapping
        profile.save()
        job.profile = profile
    job.mapping = mapping
    job.status = ImportJob.Status.PLANNING
    job.error = ""
    job.save(update_fields=["mapping", "profile", "status", "error", "updated_at"])
    from autocrm.imports import tasks

    tasks.plan_import(job.pk)
    job.refresh_from_db()
    return job


@audit.by_actor
def confirm_import(actor: User, job: ImportJob) -> ImportJob:
    """Start the import of a checked file in the background."""
    _require_job(actor, job)
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PLANNED).update(
        status=ImportJob.Status.QUEUED, updated_at=timezone.now()
    )
    if not claimed:
        raise Conflict(_("Check the file first, or it is already being imported."))
    from autocrm.imports import tasks

    tasks.run_import(job.pk)
    job.refresh_from_db()
    return job


# --- background work --------------------------------------------------------------------------


def _inspection(job: ImportJob) -> Inspection:
    return Inspection(
        kind=job.file_type,
        encoding=job.encoding,
        delimiter=job.delimiter or ",",
        sheet_name=job.sheet_name,
        header_row=job.header_row,
        headers=job.headers,
        mapping=job.mapping,
    )


def _counts(totals: Totals) -> dict:
    return {
        "processed": totals.rows,
        "created": totals.created,
        "updated": totals.updated,
        "skipped": totals.skipped,
        "rejected": totals.rejected,
        "warned": totals.warned,
    }


def _execute(job: ImportJob, *, dry_run: bool) -> None:
    actor = job.created_by
    allowed = allowed_store_ids(actor) if actor is not None else frozenset({job.store_id})
    language = getattr(actor, "language", "") or settings.LANGUAGE_CODE
    report = None if dry_run else ErrorReport(job.headers)

    def progress(totals: Totals) -> None:
        ImportJob.objects.filter(pk=job.pk).update(**_counts(totals), updated_at=timezone.now())

    try:
        with translation.override(language), stored_path(job.file_path) as path:
            importer = Importer(
                org=job.org,
                store=job.store,
                headers=job.headers,
                mapping=job.mapping,
                actor=actor,
                user_label=job.user_label,
                allowed_store_ids=allowed,
                dry_run=dry_run,
                report=report,
                on_progress=progress,
                note=_("Import #%(id)s") % {"id": job.pk},
            )
            with readers.open_rows(path, _inspection(job)) as rows:
                totals = importer.run(r for r in rows if r[0] > job.header_row)
    except Exception as exc:
        if isinstance(exc, Invalid | NotFound):  # the file turned out unreadable, or is gone
            message = str(exc.message)
        else:
            log.exception("import #%s failed", job.pk)
            with translation.override(language):
                message = _(
                    "The import stopped on an unexpected error; the rows imported before it "
                    "are kept. Importing the file again skips them."
                )
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.MAPPING if dry_run else ImportJob.Status.FAILED,
            error=message[:2000],
            finished_at=None if dry_run else timezone.now(),
        )
        raise
    now = timezone.now()
    fields = _counts(totals)
    if dry_run:
        ImportJob.objects.filter(pk=job.pk).update(
            **fields,
            status=ImportJob.Status.PLANNED,
            total=totals.rows,
            preview=importer.preview,
            stats={"plan": totals.as_dict()},
            planned_at=now,
            updated_at=now,
        )
        return
    report_path = ""
    if report is not None and not report.empty:
        with tempfile.TemporaryFile() as handle:
            report.save(handle)
            handle.seek(0)
            report_path = default_storage.save(
                f"{STORAGE_DIR}/{job.org_id}/report-{job.pk}-{uuid.uuid4().hex[:8]}.xlsx",
                File(handle),
            )
    stats = dict(job.stats or {})
    stats["result"] = totals.as_dict()
    ImportJob.objects.filter(pk=job.pk).update(
        **fields,
        status=ImportJob.Status.DONE,
        total=totals.rows,
        stats=stats,
        report_path=report_path,
        file_path="",
        finished_at=now,
        updated_at=now,
    )
    _delete(job.file_path)  # the customers are in the database now; the upload goes


def plan_job(job_id: int) -> None:
    """The dry run of a mapped file: per row, what would happen."""
    job = ImportJob.objects.select_related("org", "store", "created_by").filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.PLANNING:
        return
    ImportJob.objects.filter(pk=job.pk).update(
        processed=0, created=0, updated=0, skipped=0, rejected=0, warned=0, total=0
    )
    _execute(job, dry_run=True)


def run_job(job_id: int) -> None:
    """The import of a checked file (the worker runs it; one worker claims it)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING,
        started_at=now,
        updated_at=now,
        processed=0,
        created=0,
        updated=0,
        skipped=0,
        rejected=0,
        warned=0,
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("org", "store", "created_by").get(pk=job_id)
    _execute(job, dry_run=False)


def prune_files(now: datetime.datetime | None = None) -> int:
    """Remove uploads never imported after a few days and reports after a month."""
    now = now or timezone.now()
    removed = 0
    stale = ImportJob.objects.filter(
        status__in=[ImportJob.Status.MAPPING, ImportJob.Status.PLANNED, ImportJob.Status.FAILED],
        updated_at__lt=now - datetime.timedelta(days=UNUSED_UPLOAD_DAYS),
    ).exclude(file_path="")
    for job in stale.only("pk", "file_path", "status"):
        _delete(job.file_path)
        ImportJob.objects.filter(pk=job.pk).update(
            file_path="",
            status=ImportJob.Status.FAILED,
            error=F("error")
            if job.status == ImportJob.Status.FAILED
            else _("Not imported within %(days)s days: the file was removed. Upload it again.")
            % {"days": UNUSED_UPLOAD_DAYS},
        )
        removed += 1
    old_reports = ImportJob.objects.filter(
        finished_at__lt=now - datetime.timedelta(days=REPORT_DAYS)
    ).exclude(report_path="")
    for job in old_reports.only("pk", "report_path"):
        _delete(job.report_path)
        ImportJob.objects.filter(pk=job.pk).update(report_path="")
        removed += 1
    return removed


# --- the command line -------------------------------------------------------------------------


def import_path(
    path: Path | str,
    *,
    store: Store,
    actor: User | None = None,
    user_label: str = "",
    dry_run: bool = False,
    report_to: Path | str | None = None,
    on_progress: Callable[[Totals], None] | None = None,
) -> tuple[Totals, Inspection, list[str | None]]:
    """Import (or only check) a file in the foreground: ``autocrm import customers``.

    Attributed to ``actor`` when given (who must be allowed to import into ``store``), else
    to the command line; audit source 'import' either way."""
    if actor is not None:
        require(actor, "customer.edit")
        if actor.org_id != store.org_id or not scoping.can_see_store(actor, store.pk):
            raise Invalid(fields={"store": _("Choose a store within your own area.")})
    info = readers.inspect(path)
    mapping, _profile = mapping_for(store.org_id, info)
    report = ErrorReport(info.headers) if report_to else None
    with audit.audit_context(source="import", user=actor):
        importer = Importer(
            org=store.org,
            store=store,
            headers=info.headers,
            mapping=mapping,
            actor=actor,
            user_label=user_label,
            allowed_store_ids=allowed_store_ids(actor),
            dry_run=dry_run,
            report=report,
            on_progress=on_progress,
            preview_rows=0,
            note=_("Import of %(file)s") % {"file": Path(path).name[:150]},
        )
        with readers.open_rows(path, info) as rows:
            totals = importer.run(r for r in rows if r[0] > info.header_row)
    if report is not None and not report.empty:
        report.save(report_to)
    return totals, info, mapping
