"""Fixtures and sample files shared by the shop-floor tests."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploaded photos go to a throw-away folder."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def picture(fmt="PNG", size=(1200, 800), color=(200, 30, 30), orientation=None) -> bytes:
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return out.getvalue()


def png_upload(name="p.png", size=(640, 480)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, picture(size=size), content_type="image/png")
