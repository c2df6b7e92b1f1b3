"""The REST API root: /api/v1/. Errors are always JSON ``{"code", "message", "fields"}``."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from autocrm.automation.api import router as automation_router
from autocrm.automation.api_rules import router as rules_router
from autocrm.catalog.api import router as catalog_router
from autocrm.core.api import BearerAuth
from autocrm.core.api import router as core_router
from autocrm.core.errors import ServiceError
from autocrm.customers.api import router as customers_router
from autocrm.feedback.api import router as feedback_router
from autocrm.messaging.api import router as messaging_router
from autocrm.reports.api import router as reports_router
from autocrm.service.api import router as service_router
from autocrm.service.api_checklists import router as checklists_router
from autocrm.service.api_floor import router as floor_router
from autocrm.workflow.api import router as workflow_router
from autocrm.workflow.api_process import router as process_router

log = logging.getLogger("autocrm.api")
security_log = logging.getLogger("autocrm.security")

api = NinjaAPI(
    title="AutoCRM API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    auth=BearerAuth(),
    description=(
        "Authenticate with `POST /api/v1/auth/token`, then send `Authorization: Bearer <token>`. "
        "Lists use cursor pagination (`cursor`, `limit`). Errors are JSON "
        '`{"code", "message", "fields"}`.'
    ),
)


def error(request, status: int, code: str, message, fields: dict | None = None, extra=None):
    body = {
        "code": code,
        "message": str(message),
        "fields": {k: str(v) for k, v in (fields or {}).items()},
    }
    body.update(extra or {})  # e.g. "existing_id" of the record a duplicate collides with
    return api.create_response(request, body, status=status)


def _field_name(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "form")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation(request, exc: ValidationError):
    errors = exc.errors or []
    if any(
        e.get("type") == "json_invalid" or "parse" in str(e.get("msg", "")).lower() for e in errors
    ):
        return error(request, 400, "malformed", _("The request body is not valid JSON."))
    fields = {}
    for e in errors:
        name = _field_name(e.get("loc", ()))
        if e.get("type") == "missing":
            fields[name] = _("This field is required.")
        else:
            fields[name] = e.get("msg", _("Invalid value."))
    return error(request, 422, "invalid", _("Some fields are not valid."), fields)


@api.exception_handler(ServiceError)
def on_service_error(request, exc: ServiceError):
    return error(request, exc.status, exc.code, exc.message, exc.fields, exc.extra)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    security_log.info(
        "api unauthenticated path=%s ip=%s", request.path, request.META.get("REMOTE_ADDR")
    )
    return error(request, 401, "unauthenticated", _("Sign in first: send a valid Bearer token."))


@api.exception_handler(AuthorizationError)
def on_forbidden(request, exc):
    return error(request, 403, "forbidden", _("You do not have permission to do this."))


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return error(request, 403, "forbidden", _("You do not have permission to do this."))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return error(request, 404, "not_found", _("Not found."))


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return error(request, 400, "malformed", _("The request body is not valid JSON."))
    return error(request, exc.status_code, "error", str(exc))


@api.exception_handler(Exception)
def on_unexpected(request, exc):
    log.exception("unhandled API error on %s", request.path)
    return error(
        request, 500, "server_error", _("Something went wrong on our side; it was logged.")
    )


api.add_router("/", core_router)
api.add_router("/", customers_router)
api.add_router("/", catalog_router)
api.add_router("/", service_router)
api.add_router("/", floor_router)
api.add_router("/", checklists_router)
api.add_router("/", workflow_router)
api.add_router("/", process_router)
api.add_router("/", feedback_router)
api.add_router("/", reports_router)
api.add_router("/", messaging_router)
api.add_router("/", automation_router)
api.add_router("/", rules_router)
