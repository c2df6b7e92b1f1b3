"""Business errors raised by services and turned into pages or JSON at the edge."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    default_message = _("The request could not be processed.")

    def __init__(
        self,
        message=None,
        *,
        fields: dict | None = None,
        code: str | None = None,
        extra: dict | None = None,
    ):
        self.message = message or self.default_message
        self.fields = fields or {}
        self.extra = extra or {}  # e.g. the id of the existing record a duplicate collides with
        if code:
            self.code = code
        super().__init__(str(self.message))

    @property
    def display_text(self) -> str:
        """The message and the field reasons, for a one-line notice on a page."""
        detail = "；".join(str(v) for v in self.fields.values())
        text = str(self.message)
        return f"{text} {detail}" if detail and detail not in text else text


class Invalid(ServiceError):
    status = 422
    code = "invalid"
    default_message = _("Some fields are not valid.")


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    default_message = _("You do not have permission to do this.")


class NotFound(ServiceError, Http404):
    """Also an Http404, so pages and the API answer 404 without special handling."""

    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    default_message = _("This conflicts with an existing record.")
