"""Import pages: upload, map columns, dry run, confirm, progress, error report.
Thin: parse input, call a selector or service, render."""

from __future__ import annotations

import os

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from autocrm.core.errors import ServiceError
from autocrm.core.forms import apply_service_error
from autocrm.core.http import XLSX, stream_download
from autocrm.core.selectors import visible_stores
from autocrm.core.views import capability_required, is_partial
from autocrm.imports import conf, readers, selectors, services
from autocrm.imports.forms import MappingForm, UploadForm
from autocrm.imports.models import ImportJob

CAPABILITY = "customer.edit"
JOBS_PER_PAGE = 50
PLAN_PER_PAGE = 50


class SizeLimitHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the import limit (whatever the request
    said its length was); the rest of the body is discarded unread into any file."""

    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


@capability_required(CAPABILITY)
def import_list(request):
    page = Paginator(selectors.visible_jobs(request.user), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "imports/list.html", {"page": page, "jobs": page.object_list})


def _upload_page(request, form, status=200, error: str = ""):
    context = {"form": form, "upload_error": error}
    return render(request, "imports/upload.html", context, status=status)


@csrf_exempt  # checked below, once the size limit is in place (Django's documented pattern)
@capability_required(CAPABILITY)
def import_upload(request):
    stores = list(visible_stores(request.user, active=True))
    if request.method == "POST":
        # a body over the page's limit (settings.AUTOCRM_UPLOAD_PATHS) was refused by
        # BodySizeLimitMiddleware; this stops a file over the import limit as it arrives
        handler = SizeLimitHandler(request, conf.max_bytes())
        request.upload_handlers.insert(0, handler)
        request._import_size_handler = handler
    return _upload(request, stores)


@csrf_protect
def _upload(request, stores):
    if request.method != "POST":
        initial = {"store": stores[0].pk} if len(stores) == 1 else {}
        return _upload_page(request, UploadForm(stores=stores, initial=initial))
    form = UploadForm(request.POST, request.FILES, stores=stores)
    handler = getattr(request, "_import_size_handler", None)
    if handler is not None and handler.exceeded:
        message = readers.check_size_message()
        return _upload_page(request, UploadForm(stores=stores), status=413, error=message)
    if not form.is_valid():
        return _upload_page(request, form, status=422)
    try:
        job = services.start_import(
            request.user, upload=form.cleaned_data["file"], store_id=form.cleaned_data["store"]
        )
    except ServiceError as exc:
        apply_service_error(form, exc)
        return _upload_page(request, form, status=exc.status)
    return redirect("import_detail", pk=job.pk)


def _mapping_form(job: ImportJob, data=None) -> MappingForm:
    default_name = job.profile.name if job.profile else os.path.splitext(job.file_name)[0][:60]
    return MappingForm(
        data,
        headers=job.headers,
        mapping=job.mapping,
        samples=job.samples,
        initial={"profile_name": default_name},
    )


def _detail(request, job: ImportJob, form: MappingForm | None = None, status: int = 200):
    stats = job.stats or {}
    result = stats.get("result")
    if result is None and job.status == ImportJob.Status.FAILED:
        result = {
            "rows": job.processed,
            "created": job.created,
            "updated": job.updated,
            "skipped": job.skipped,
            "rejected": job.rejected,
            "warned": job.warned,
        }
    context: dict = {"job": job, "plan": stats.get("plan"), "result": result}
    if job.status in (ImportJob.Status.MAPPING, ImportJob.Status.PLANNED):
        context["form"] = form or _mapping_form(job)
    if job.status == ImportJob.Status.PLANNED:
        context["page"] = Paginator(job.preview, PLAN_PER_PAGE).get_page(request.GET.get("page"))
        context["preview_limited"] = job.total > len(job.preview)
    return render(request, "imports/detail.html", context, status=status)


@capability_required(CAPABILITY)
def import_detail(request, pk):
    return _detail(request, selectors.get_job(request.user, pk))


@require_POST
@capability_required(CAPABILITY)
def import_mapping(request, pk):
    job = selectors.get_job(request.user, pk)
    form = _mapping_form(job, request.POST)
    if form.is_valid():
        try:
            services.set_mapping(
                request.user, job, form.mapping(), profile_name=form.cleaned_data["profile_name"]
            )
            return redirect("import_detail", pk=job.pk)
        except ServiceError as exc:
            apply_service_error(form, exc)
            return _detail(request, job, form, status=exc.status)
    return _detail(request, job, form, status=422)


@require_POST
@capability_required(CAPABILITY)
def import_confirm(request, pk):
    job = selectors.get_job(request.user, pk)
    try:
        services.confirm_import(request.user, job)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect("import_detail", pk=job.pk)


@never_cache
@capability_required(CAPABILITY)
def import_progress(request, pk):
    """The progress bar, polled every second while the job runs; once it is over, the page
    reloads to show the result."""
    job = selectors.get_job(request.user, pk)
    if not job.is_active and is_partial(request):
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response
    return render(request, "imports/_progress.html", {"job": job})


@capability_required(CAPABILITY)
def import_report(request, pk):
    job = selectors.get_job(request.user, pk)
    if not job.report_path or not default_storage.exists(job.report_path):
        raise Http404(_("There is no report for this import."))
    return stream_download(
        default_storage.open(job.report_path, "rb"), f"导入报告-{job.pk}.xlsx", XLSX
    )
