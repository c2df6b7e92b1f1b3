"""Settings of the import app, with defaults when settings.py does not define them.

``AUTOCRM_IMPORT_MAX_MB`` caps an uploaded or imported file (default 50 MB).
``AUTOCRM_UPLOAD_PATHS`` (path prefix → bytes) lets ``BodySizeLimitMiddleware`` accept the
upload page's larger body; the import page's own entry is added here when missing, the way
django-appconf fills in app defaults."""

from __future__ import annotations

import os

from django.conf import settings

UPLOAD_PATH = "/imports/upload/"
DEFAULT_MAX_MB = 50.0
# A multipart body carries the file plus the form's other fields and boundaries.
MULTIPART_OVERHEAD = 1024 * 1024


def max_mb() -> float:
    value = getattr(settings, "AUTOCRM_IMPORT_MAX_MB", None)
    if value is None:
        value = os.environ.get("AUTOCRM_IMPORT_MAX_MB", DEFAULT_MAX_MB)
    return float(value)


def max_bytes() -> int:
    return int(max_mb() * 1024 * 1024)


def upload_body_limit() -> int:
    return max_bytes() + MULTIPART_OVERHEAD


def install_defaults() -> None:
    if not hasattr(settings, "AUTOCRM_IMPORT_MAX_MB"):
        settings.AUTOCRM_IMPORT_MAX_MB = max_mb()
    paths = dict(getattr(settings, "AUTOCRM_UPLOAD_PATHS", None) or {})
    paths.setdefault(UPLOAD_PATH, upload_body_limit())
    settings.AUTOCRM_UPLOAD_PATHS = paths
