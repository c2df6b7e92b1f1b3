"""Photos and short videos taken on the shop floor: checked, stored and served.

The type of a file is read from its first bytes, never from its name or the browser's word
for it, so a script renamed ``.jpg`` is refused and a PNG named ``.mp4`` is kept as a photo.
Every photo is decoded in full with Pillow (a truncated or forged file fails) and gets a small
JPEG thumbnail, turned upright by its EXIF orientation, that pages show instead of the original.
Files live under MEDIA_ROOT, which is never served as such: ``media_response`` serves one file
after the caller checked that the person may see it (staff: the work order's store; owners:
shared media through their signed link)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import threading
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from autocrm.core import audit
from autocrm.core.errors import Conflict, Forbidden, Invalid
from autocrm.core.models import User
from autocrm.core.scoping import require_visible
from autocrm.core.services import require
from autocrm.core.validators import tidy_prose
from autocrm.service.models import InspectionResult, Media, WorkOrder, WorkOrderLine
from autocrm.service.services import require_open

THUMB_PX = 480
HEAD_BYTES = 64
# HEIF/AVIF stills share the ``ftyp`` box with MP4 but are photos Pillow cannot read here.
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
_STRICT = threading.Lock()


@contextlib.contextmanager
def _strict_decoding():
    """WeasyPrint (printing) switches Pillow to accept truncated images for the whole
    process; an upload must be complete, so decode with that switched off meanwhile."""
    with _STRICT:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


@dataclass(frozen=True)
class Sniffed:
    kind: str  # Media.Kind
    content_type: str
    ext: str


def sniff(head: bytes) -> Sniffed | None:
    """The real type of a file from its first bytes (``None``: not a photo or video we keep)."""
    image, video = Media.Kind.IMAGE, Media.Kind.VIDEO
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(image, "image/jpeg", "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(image, "image/png", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(image, "image/gif", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(image, "image/webp", "webp")
    if len(head) >= 12 and head[4:8] == b"ftyp":
        if int.from_bytes(head[:4], "big") < 12 or head[8:12] in HEIF_BRANDS:
            return None
        if head[8:12] == b"qt  ":
            return Sniffed(video, "video/quicktime", "mov")
        return Sniffed(video, "video/mp4", "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:HEAD_BYTES]:
        return Sniffed(video, "video/webm", "webm")
    return None


def limit_mb(kind: str) -> float:
    if kind == Media.Kind.IMAGE:
        return float(getattr(settings, "AUTOCRM_MEDIA_IMAGE_MB", 15))
    return float(getattr(settings, "AUTOCRM_MEDIA_VIDEO_MB", 100))


def _not_media() -> Invalid:
    message = _("This file is not a photo or a video (JPEG, PNG, WebP, GIF, MP4, MOV or WebM).")
    return Invalid(message, fields={"file": message})


def _head(upload) -> bytes:
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    return head or b""


def _decoded(upload, sniffed: Sniffed) -> Image.Image:
    """The whole picture decoded (a truncated, forged or oversized file raises ``Invalid``)."""
    upload.seek(0)
    try:
        with warnings.catch_warnings(), _strict_decoding():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(upload)
            if probe.format != PIL_FORMATS[sniffed.content_type]:
                raise _not_media()
            probe.verify()
            upload.seek(0)
            image = Image.open(upload)
            if image.format == "JPEG":
                image.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))
            image.load()
    except Invalid:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        message = _("The photo is damaged or incomplete; take it again.")
        raise Invalid(message, fields={"file": message}) from None
    finally:
        upload.seek(0)
    return image


def thumbnail_bytes(image: Image.Image) -> bytes:
    """A JPEG at most THUMB_PX on its longer side, upright, transparency on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    else:
        image = image.convert("RGB")
    image.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def check_upload(upload) -> tuple[Sniffed, bytes | None]:
    """The file's real type and, for a photo, its thumbnail; refuses anything else."""
    size = getattr(upload, "size", None) or 0
    if size <= 0:
        raise _not_media()
    sniffed = sniff(_head(upload))
    if sniffed is None:
        raise _not_media()
    most = limit_mb(sniffed.kind)
    if size > most * 1048576:
        message = _("The file is too large: at most %(mb)s MB for a %(kind)s.") % {
            "mb": f"{most:g}",
            "kind": Media.Kind(sniffed.kind).label,
        }
        raise Invalid(message, fields={"file": message})
    thumb = thumbnail_bytes(_decoded(upload, sniffed)) if sniffed.kind == Media.Kind.IMAGE else None
    return sniffed, thumb


@audit.by_actor
@transaction.atomic
def add_media(
    actor: User,
    wo: WorkOrder,
    upload,
    *,
    step: str,
    result_id=None,
    line_id=None,
    caption: str = "",
    shared: bool = True,
) -> Media:
    """Keep a photo or short video of a work order, optionally on an inspection item or a
    line, at a named step (check-in, teardown, replacement, QC)."""
    require(actor, "workorder.work", "workorder.edit")
    require_visible(actor, wo)
    require_open(wo)
    if step not in Media.Step.values:
        raise Invalid(fields={"step": _("Choose the step the photo shows.")})
    result = line = None
    if result_id not in (None, ""):
        result = InspectionResult.objects.filter(
            pk=_int(result_id, "result"), inspection__work_order=wo
        ).first()
        if result is None:
            raise Invalid(fields={"result": _("Choose an item of this work order's inspection.")})
    if line_id not in (None, ""):
        line = WorkOrderLine.objects.filter(pk=_int(line_id, "line"), work_order=wo).first()
        if line is None:
            raise Invalid(fields={"line": _("Choose an item of this work order.")})
    if upload is None:
        raise Invalid(fields={"file": _("Take or choose a photo or video.")})
    sniffed, thumb = check_upload(upload)
    token = secrets.token_hex(16)
    media = Media(
        org_id=wo.org_id,
        store_id=wo.store_id,
        work_order=wo,
        result=result,
        line=line,
        token=token,
        kind=sniffed.kind,
        step=step,
        content_type=sniffed.content_type,
        size=upload.size,
        caption=tidy_prose(caption or "")[:200],
        shared=bool(shared),
        uploaded_by=actor,
    )
    try:
        media.file.save(f"{token}.{sniffed.ext}", upload, save=False)
        if thumb is not None:
            media.thumbnail.save(f"{token}_t.jpg", ContentFile(thumb), save=False)
        media.save()
    except Exception:
        _delete_files(media)
        raise
    return media


@audit.by_actor
@transaction.atomic
def remove_media(actor: User, media: Media) -> None:
    """Take back a photo taken by mistake (while the work order is open)."""
    require(actor, "workorder.work", "workorder.edit")
    wo = media.work_order
    require_visible(actor, wo)
    if not wo.is_open:
        raise Conflict(_("The work order is closed; its photos are kept."), code="closed")
    if not actor.can("workorder.edit") and media.uploaded_by_id != actor.pk:
        raise Forbidden(_("Only the person who took it or an advisor can remove a photo."))
    media.delete()
    transaction.on_commit(lambda: _delete_files(media))


def _int(value, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(fields={field: _("Invalid value.")}) from None


def _delete_files(media: Media) -> None:
    for field in (media.file, media.thumbnail):
        if field and field.name:
            with contextlib.suppress(OSError):
                field.storage.delete(field.name)


# --- serving ------------------------------------------------------------------------------

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def media_response(media: Media, thumb: bool = False, request=None) -> HttpResponse:
    """The file (or its thumbnail) as an answer. The caller has checked who may see it.
    With ``request``, a single byte range is honoured (phones play videos by ranges)."""
    field = media.thumbnail if thumb else media.file
    if not field or not field.name:
        raise Http404
    content_type = "image/jpeg" if thumb else media.content_type
    try:
        handle = field.storage.open(field.name, "rb")
        size = field.storage.size(field.name)
    except (FileNotFoundError, OSError):
        raise Http404 from None
    wanted = request.headers.get("Range", "") if request is not None else ""
    match = RANGE_RE.match(wanted.strip()) if wanted else None
    if match and (match.group(1) or match.group(2)) and size:
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(0, size - int(last)), size - 1
        if start > end or start >= size:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle.seek(start)
        response = StreamingHttpResponse(
            _read(handle, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(handle, content_type=content_type)
    ext = "jpg" if thumb else os.path.splitext(field.name)[1].lstrip(".") or "bin"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{media.token}.{ext}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _read(handle, remaining: int):
    try:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def valid_token(token: str) -> bool:
    return bool(TOKEN_RE.match(token or ""))
