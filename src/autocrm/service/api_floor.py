"""Floor API: photos and videos, inspections, clock on/off, done, time entries, my jobs.
The same services as the technician's pages; errors in the API's JSON shape."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from autocrm.core.errors import Forbidden, Invalid
from autocrm.core.services import require
from autocrm.service import selectors, services
from autocrm.service import selectors_floor as floor
from autocrm.service.api import LineOut, line_out
from autocrm.service.media import add_media
from autocrm.service.models import Inspection, Media, TimeEntry

router = Router(tags=["shop floor: technicians"])
FROM_QUERY = Query(None, alias="from")  # ?from=…&to=… (``from`` is a Python keyword)
TO_QUERY = Query(None, alias="to")


class MediaOut(Schema):
    id: int
    token: str
    kind: str
    step: str
    content_type: str
    size: int
    caption: str
    shared: bool
    result_id: int | None
    line_id: int | None
    url: str
    thumbnail_url: str | None
    created_at: datetime.datetime


class ResultOut(Schema):
    id: int
    section: str
    name: str
    rating: str
    note: str
    line_id: int | None


class InspectionOut(Schema):
    id: int
    work_order_id: int
    template_id: int
    inspector_id: int | None
    started_at: datetime.datetime
    completed_at: datetime.datetime | None
    results: list[ResultOut]


class InspectionIn(Schema):
    template_id: int


class RatingIn(Schema):
    rating: str
    note: str = Field("", max_length=200)


class ProposeIn(Schema):
    result_ids: list[int]


class NoteIn(Schema):
    note: str = Field("", max_length=200)


class TimeEntryOut(Schema):
    id: int
    work_order_id: int
    line_id: int
    technician_id: int
    started_at: datetime.datetime
    ended_at: datetime.datetime | None
    minutes: int
    note: str


class JobLineOut(Schema):
    id: int
    name: str
    hours: Decimal | None
    progress: str
    technician_ids: list[int]
    clocked_minutes: int
    running: bool


class JobOut(Schema):
    work_order_id: int
    number: str
    plate: str
    vehicle: str
    promised_at: datetime.datetime | None
    lines: list[JobLineOut]


class MyJobsOut(Schema):
    running: TimeEntryOut | None
    jobs: list[JobOut]


def media_out(m: Media) -> dict:
    data = {f: getattr(m, f, None) for f in MediaOut.model_fields}
    data["url"] = reverse("media_file", args=[m.token])
    data["thumbnail_url"] = reverse("media_thumb", args=[m.token]) if m.thumbnail else None
    return data


def inspection_out(inspection: Inspection) -> dict:
    data = {f: getattr(inspection, f, None) for f in InspectionOut.model_fields}
    data["results"] = list(inspection.results.order_by("sort", "id"))
    return data


def entry_out(entry: TimeEntry) -> dict:
    return {f: getattr(entry, f) for f in TimeEntryOut.model_fields}


# --- media --------------------------------------------------------------------------------


@router.post("/work-orders/{wo_id}/media", response={201: MediaOut})
def upload_media(
    request,
    wo_id: int,
    file: File[UploadedFile] = None,
    step: Form[str] = "other",
    result_id: Form[int | None] = None,
    line_id: Form[int | None] = None,
    caption: Form[str] = "",
    shared: Form[bool] = True,
):
    """Multipart upload of one photo (JPEG, PNG, WebP, GIF; at most 15 MB) or video (MP4, MOV,
    WebM; at most 100 MB). The type is read from the file's content."""
    wo = selectors.get_work_order(request.user, wo_id)
    media = add_media(
        request.user,
        wo,
        file,
        step=step,
        result_id=result_id,
        line_id=line_id,
        caption=caption,
        shared=shared,
    )
    return Status(201, media_out(media))


@router.get("/work-orders/{wo_id}/media", response=list[MediaOut])
def list_media(request, wo_id: int):
    require(request.user, "workorder.view")
    wo = selectors.get_work_order(request.user, wo_id)
    return [media_out(m) for m in floor.work_order_media(request.user, wo)]


# --- inspections --------------------------------------------------------------------------


@router.post("/work-orders/{wo_id}/inspections", response={201: InspectionOut})
def start_inspection(request, wo_id: int, payload: InspectionIn):
    wo = selectors.get_work_order(request.user, wo_id)
    inspection = services.start_inspection(request.user, wo, payload.template_id)
    return Status(201, inspection_out(inspection))


@router.get("/inspections/{inspection_id}", response=InspectionOut)
def get_inspection(request, inspection_id: int):
    require(request.user, "workorder.view")
    return inspection_out(floor.get_inspection(request.user, inspection_id))


@router.patch("/inspection-results/{result_id}", response=ResultOut)
def rate_result(request, result_id: int, payload: RatingIn):
    """``rating``: ``ok`` (green), ``soon`` (yellow), ``now`` (red) or ``na``."""
    found = floor.get_result(request.user, result_id)
    return services.rate_result(request.user, found, rating=payload.rating, note=payload.note)


@router.post("/inspections/{inspection_id}/complete", response=InspectionOut)
def complete_inspection(request, inspection_id: int):
    found = floor.get_inspection(request.user, inspection_id)
    return inspection_out(services.complete_inspection(request.user, found))


@router.post("/inspections/{inspection_id}/propose", response={201: list[LineOut]})
def propose(request, inspection_id: int, payload: ProposeIn):
    """Red and yellow items become proposed lines (priced later by the advisor)."""
    found = floor.get_inspection(request.user, inspection_id)
    made = services.propose_from_results(request.user, found, payload.result_ids)
    return Status(201, [line_out(ln) for ln in made])


# --- time ---------------------------------------------------------------------------------


@router.post("/lines/{line_id}/clock-on", response={201: TimeEntryOut})
def clock_on(request, line_id: int):
    line = selectors.get_line(request.user, line_id)
    return Status(201, entry_out(services.clock_on(request.user, line)))


@router.post("/lines/{line_id}/clock-off", response=TimeEntryOut)
def clock_off(request, line_id: int, payload: NoteIn | None = None):
    line = selectors.get_line(request.user, line_id)
    note = payload.note if payload else ""
    return entry_out(services.clock_off(request.user, line, note=note))


@router.post("/lines/{line_id}/done", response=LineOut)
def done(request, line_id: int, payload: NoteIn | None = None):
    line = selectors.get_line(request.user, line_id)
    note = payload.note if payload else ""
    return line_out(services.mark_line_done(request.user, line, note=note))


@router.get("/time-entries", response=list[TimeEntryOut])
def time_entries(
    request,
    technician: int | None = None,
    date_from: datetime.date | None = FROM_QUERY,
    date_to: datetime.date | None = TO_QUERY,
):
    """Clock-ons started between ``from`` and ``to`` (local dates, both included).
    Technicians see their own; managers anyone's in their stores."""
    user = request.user
    require(user, "workorder.view")
    if not user.can("staff.view"):
        if technician not in (None, user.pk):
            raise Forbidden(_("You can only see your own time."))
        technician = user.pk
    if date_from and date_to and date_to < date_from:
        raise Invalid(fields={"to": _("The end date is before the start date.")})
    qs = floor.time_entries(user, technician_id=technician, date_from=date_from, date_to=date_to)
    return [entry_out(e) for e in qs[:2000]]


@router.get("/my-jobs", response=MyJobsOut)
def my_jobs(request):
    """Lines assigned to me on in-progress orders, grouped by work order."""
    user = request.user
    require(user, "workorder.work")
    jobs, running = floor.my_jobs_with_time(user)
    return {
        "running": entry_out(running) if running else None,
        "jobs": [
            {
                "work_order_id": job.work_order.pk,
                "number": job.work_order.number,
                "plate": job.work_order.vehicle.plate,
                "vehicle": f"{job.work_order.vehicle.brand} {job.work_order.vehicle.model}".strip(),
                "promised_at": job.work_order.promised_at,
                "lines": [
                    {
                        "id": ln.pk,
                        "name": ln.name,
                        "hours": ln.hours,
                        "progress": ln.progress,
                        "technician_ids": [t.pk for t in ln.technicians.all()],
                        "clocked_minutes": ln.my_minutes,
                        "running": ln.running,
                    }
                    for ln in job.lines
                ],
            }
            for job in jobs
        ],
    }
