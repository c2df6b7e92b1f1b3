"""The import app's limits, read from settings.py (the one place they are set).

``AUTOCRM_IMPORT_MAX_MB`` caps an uploaded or imported file. The upload page accepts a body
that large (plus the multipart overhead) through its entry in ``AUTOCRM_UPLOAD_PATHS``, which
``BodySizeLimitMiddleware`` enforces before the body is read."""

from __future__ import annotations

from django.conf import settings

UPLOAD_PATH = "/imports/upload/"


def max_mb() -> float:
    return float(settings.AUTOCRM_IMPORT_MAX_MB)


def max_bytes() -> int:
    return int(max_mb() * 1024 * 1024)


def upload_body_limit() -> int:
    """The largest request body the upload page accepts."""
    from autocrm.core.middleware import body_limit

    return body_limit(UPLOAD_PATH)
