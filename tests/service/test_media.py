"""Photos and videos: the type comes from the bytes, photos are decoded and thumbnailed,
limits hold before anything is read, and files are served only to people who may see them."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageFile

from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import AuditLog
from autocrm.service import media as m
from autocrm.service.models import Media, WorkOrder
from autocrm.service.services import start_inspection
from tests import factories as f
from tests import service_factories as sf
from tests.service.conftest import picture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free"
MOV_HEAD = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 16
WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 16
HEIC_HEAD = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 16


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def wo(world):
    return sf.work_order(world.a1, status=WorkOrder.Status.IN_PROGRESS)


def test_sniff_reads_the_bytes_not_the_name():
    assert m.sniff(picture("PNG")[:64]).content_type == "image/png"
    assert m.sniff(picture("JPEG")[:64]).content_type == "image/jpeg"
    assert m.sniff(picture("GIF")[:64]).content_type == "image/gif"
    assert m.sniff(picture("WEBP")[:64]).content_type == "image/webp"
    assert m.sniff(MP4_HEAD) == m.Sniffed("video", "video/mp4", "mp4")
    assert m.sniff(MOV_HEAD) == m.Sniffed("video", "video/quicktime", "mov")
    assert m.sniff(WEBM_HEAD) == m.Sniffed("video", "video/webm", "webm")
    assert m.sniff(HEIC_HEAD) is None  # a still, not a video, and not readable here
    assert m.sniff(b"<?php echo 1; ?>") is None
    assert m.sniff(b"") is None


def test_png_named_mp4_is_kept_as_a_photo(world, wo, media_root):
    data = picture("PNG", size=(1200, 800))
    media = m.add_media(
        world.tech_a1,
        wo,
        upload(data, "clip.mp4", "video/mp4"),
        step=Media.Step.TEARDOWN,
        caption="  前刹车片  ",
    )
    assert media.kind == Media.Kind.IMAGE and media.content_type == "image/png"
    assert media.file.name.endswith(f"{media.token}.png")
    assert len(media.token) == 32 and media.size == len(data)
    assert media.caption == "前刹车片" and media.uploaded_by == world.tech_a1
    assert media.store_id == world.a1.pk and media.org_id == world.org.pk
    stored = media_root / media.file.name
    assert stored.read_bytes() == data
    with Image.open(media_root / media.thumbnail.name) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 480 and thumb.size == (480, 320)
    entry = AuditLog.objects.filter(object_type="service.Media", object_id=str(media.pk)).get()
    assert entry.user_id == world.tech_a1.pk and entry.action == AuditLog.Action.CREATE


def test_thumbnail_is_turned_upright_by_exif(world, wo, media_root):
    data = picture("JPEG", size=(600, 300), orientation=6)  # taken with the phone turned
    media = m.add_media(world.tech_a1, wo, upload(data), step=Media.Step.CHECK_IN)
    with Image.open(media_root / media.thumbnail.name) as thumb:
        assert thumb.size == (240, 480)


def test_small_and_transparent_pictures_get_a_thumbnail(world, wo, media_root):
    image = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    media = m.add_media(world.tech_a1, wo, upload(out.getvalue(), "a.png"), step="other")
    with Image.open(media_root / media.thumbnail.name) as thumb:
        assert thumb.size == (100, 60)  # never enlarged
        assert thumb.getpixel((5, 5)) == (255, 255, 255)  # transparency on white


def test_videos_are_kept_without_thumbnail(world, wo):
    data = MP4_HEAD + b"\x00" * 4000
    media = m.add_media(
        world.tech_a1,
        wo,
        upload(data, "v.bin", "application/octet-stream"),
        step=Media.Step.REPLACE,
    )
    assert media.kind == Media.Kind.VIDEO and media.content_type == "video/mp4"
    assert media.file.name.endswith(".mp4") and not media.thumbnail


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, honestly a photo", "photo.jpg"),
        (b"<html><script>alert(1)</script></html>", "x.png"),
        (HEIC_HEAD + b"\x00" * 100, "IMG_0001.HEIC"),
        (b"", "empty.jpg"),
    ],
)
def test_anything_else_is_refused(world, wo, media_root, data, name):
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(data, name), step="other")
    assert "file" in exc.value.fields
    assert not Media.objects.exists()
    assert not any(p.is_file() for p in media_root.rglob("*"))


@pytest.mark.parametrize("lenient", [False, True])
def test_truncated_or_forged_photo_is_refused(world, wo, media_root, monkeypatch, lenient):
    # WeasyPrint (printing) makes Pillow lenient for the whole process; uploads stay strict.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient)
    jpeg = picture("JPEG", size=(800, 600))
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(jpeg[: len(jpeg) // 2]), step="other")
    assert "file" in exc.value.fields
    # JPEG magic followed by rubbish
    with pytest.raises(Invalid):
        m.add_media(world.tech_a1, wo, upload(b"\xff\xd8\xff\xe0" + b"garbage" * 50), step="other")
    assert not Media.objects.exists()
    assert not any(p.is_file() for p in media_root.rglob("*"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is lenient  # put back as it was


def test_size_limits(world, wo, settings):
    settings.AUTOCRM_MEDIA_IMAGE_MB = 0.01  # 10 KB
    settings.AUTOCRM_MEDIA_VIDEO_MB = 0.02
    big_photo = picture("PNG", size=(300, 300)) + b"\x00" * 20000
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(big_photo, "a.png"), step="other")
    assert "0.01" in exc.value.fields["file"]
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(MP4_HEAD + b"\x00" * 30000, "v.mp4"), step="other")
    assert "0.02" in exc.value.fields["file"]
    # a video just under its limit is fine
    m.add_media(world.tech_a1, wo, upload(MP4_HEAD + b"\x00" * 15000, "v.mp4"), step="other")


def test_refusals(world, wo):
    data = picture("PNG", size=(50, 50))
    other_store = sf.work_order(world.a2, status=WorkOrder.Status.IN_PROGRESS)
    with pytest.raises(NotFound):
        m.add_media(world.tech_a1, other_store, upload(data), step="other")
    other_org = sf.work_order(world.b1, status=WorkOrder.Status.IN_PROGRESS)
    with pytest.raises(NotFound):
        m.add_media(world.tech_a1, other_org, upload(data), step="other")
    marketing = f.staff(world.org, "marketing", stores=[world.a1])
    with pytest.raises(Forbidden):
        m.add_media(marketing, wo, upload(data), step="other")
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(data), step="whatever")
    assert "step" in exc.value.fields
    other_line = sf.line(other_store)
    with pytest.raises(Invalid) as exc:
        m.add_media(world.tech_a1, wo, upload(data), step="other", line_id=other_line.pk)
    assert "line" in exc.value.fields
    insp = start_inspection(world.tech_a1, wo, sf.inspection_template(world.org).pk)
    other_insp = start_inspection(world.hq, other_store, sf.inspection_template(world.org).pk)
    with pytest.raises(Invalid) as exc:
        m.add_media(
            world.tech_a1, wo, upload(data), step="other", result_id=other_insp.results.first().pk
        )
    assert "result" in exc.value.fields
    ok = m.add_media(
        world.tech_a1, wo, upload(data), step="check_in", result_id=insp.results.first().pk
    )
    assert ok.result == insp.results.first()
    settled = sf.work_order(world.a1, status=WorkOrder.Status.SETTLED)
    with pytest.raises(Conflict):
        m.add_media(world.tech_a1, settled, upload(data), step="other")
    # advisors may add photos too
    assert m.add_media(world.advisor_a1, wo, upload(data), step="other").pk


def test_remove_media(world, wo, media_root, django_capture_on_commit_callbacks):
    media = m.add_media(world.tech_a1, wo, upload(picture("PNG", size=(50, 50))), step="other")
    other_tech = f.staff(world.org, "technician", stores=[world.a1])
    with pytest.raises(Forbidden):
        m.remove_media(other_tech, media)
    path = media_root / media.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        m.remove_media(world.tech_a1, media)
    assert not Media.objects.exists() and not path.exists()


# --- serving ------------------------------------------------------------------------------


def test_media_is_served_only_to_staff_who_may_see_it(world, wo, login):
    data = picture("PNG", size=(900, 600))
    media = m.add_media(world.tech_a1, wo, upload(data, "p.png"), step="other")
    url, thumb = (
        reverse("media_file", args=[media.token]),
        reverse("media_thumb", args=[media.token]),
    )
    assert url == f"/media/wo/{media.token}/"

    r = login(world.advisor_a1).get(url)
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    assert b"".join(r.streaming_content) == data
    assert r["X-Content-Type-Options"] == "nosniff" and "private" in r["Cache-Control"]
    r = login(world.tech_a1).get(thumb)
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(b"".join(r.streaming_content))).size == (480, 320)
    assert login(world.hq).get(url).status_code == 200

    tech_a2 = f.staff(world.org, "technician", stores=[world.a2])
    assert login(tech_a2).get(url).status_code == 404
    assert login(tech_a2).get(thumb).status_code == 404
    assert login(world.manager_a2).get(url).status_code == 404
    assert login(world.other_admin).get(url).status_code == 404
    assert login(world.advisor_a1).get("/media/wo/not-a-token/").status_code == 404
    anonymous = login(world.advisor_a1)
    anonymous.logout()
    r = anonymous.get(url)
    assert r.status_code == 302 and "/login/" in r["Location"]
    # MEDIA_ROOT itself is not served
    assert login(world.advisor_a1).get(f"/media/{media.file.name}").status_code == 404


def test_video_ranges(world, wo, login):
    data = MP4_HEAD + bytes(range(256)) * 8
    media = m.add_media(world.tech_a1, wo, upload(data, "v.mp4"), step="other")
    client = login(world.tech_a1)
    url = reverse("media_file", args=[media.token])
    r = client.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert b"".join(r.streaming_content) == data[10:20]
    r = client.get(url, headers={"Range": "bytes=-5"})
    assert b"".join(r.streaming_content) == data[-5:]
    assert client.get(url, headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416
    assert client.get(reverse("media_thumb", args=[media.token])).status_code == 404


def test_media_response_for_the_portal(world, wo):
    media = m.add_media(
        world.tech_a1, wo, upload(picture("GIF", size=(20, 20)), "g.gif"), step="qc"
    )
    r = m.media_response(media, thumb=False)
    assert r.status_code == 200 and r["Content-Type"] == "image/gif"
    assert m.media_response(media, thumb=True)["Content-Type"] == "image/jpeg"


def test_huge_uploads_are_refused_before_reading(world, wo, login):
    huge = str(300 * 1024 * 1024)
    client = login(world.tech_a1)
    r = client.post(reverse("floor_photos", args=[wo.pk]), {"step": "other"}, CONTENT_LENGTH=huge)
    assert r.status_code == 413
    result_url = reverse("floor_result", args=[1])
    assert client.post(result_url, {}, CONTENT_LENGTH=huge).status_code == 413
    r = client.post(f"/api/v1/work-orders/{wo.pk}/media", {}, CONTENT_LENGTH=huge)
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    # the upload pages accept a full-size video; other pages keep the small limit
    ten_mb = str(10 * 1024 * 1024)
    assert client.post(reverse("floor_jobs"), {}, CONTENT_LENGTH=ten_mb).status_code == 413
    from autocrm.core.middleware import body_limit

    assert body_limit(f"/floor/wo/{wo.pk}/photos/") > 100 * 1024 * 1024
    assert body_limit(f"/api/v1/work-orders/{wo.pk}/media") > 100 * 1024 * 1024
    assert body_limit(f"/api/v1/work-orders/{wo.pk}/lines") < 100 * 1024 * 1024
