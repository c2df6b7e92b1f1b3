"""Request-level safety: body size limit, security headers, and the audit context."""

from __future__ import annotations

import logging
import time
from fnmatch import fnmatchcase

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from autocrm.core import audit

security_log = logging.getLogger("autocrm.security")


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def wants_json(request) -> bool:
    return request.path.startswith("/api/")


def body_limit(path: str) -> int:
    """Upload pages (settings.AUTOCRM_UPLOAD_PATHS: path prefix, or a pattern with ``*`` for
    paths with ids in them → bytes) have their own limit."""
    for prefix, limit in getattr(settings, "AUTOCRM_UPLOAD_PATHS", {}).items():
        if path.startswith(prefix) or ("*" in prefix and fnmatchcase(path, prefix)):
            return int(limit)
    return settings.AUTOCRM_MAX_BODY_BYTES


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit before anything reads them (413, JSON for the API)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(request.path)
        if length > limit:
            security_log.warning(
                "oversized body refused path=%s bytes=%s ip=%s",
                request.path,
                length,
                client_ip(request),
            )
            message = _("The request is too large (limit %(mb).1f MB).") % {"mb": limit / 1048576}
            if wants_json(request):
                return JsonResponse(
                    {"code": "too_large", "message": message, "fields": {}}, status=413
                )
            return render(request, "error.html", {"title": message, "status": 413}, status=413)
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
        return response


class SessionRefreshMiddleware:
    """Sessions expire after SESSION_COOKIE_AGE of inactivity: a request that used its session
    (a signed-in page) moves the expiry forward. To spare a database write on every page, at
    most once per SESSION_REFRESH_SECONDS (the expiry is exact to within that). Requests that
    never touch the session (health checks, files) neither load nor save it."""

    KEY = "_refreshed"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.accessed and not session.is_empty():
            now = int(time.time())
            if now - session.get(self.KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
                session[self.KEY] = now  # saved, with a fresh expiry, by SessionMiddleware
        return response


class AuditContextMiddleware:
    """Every change made while handling a request is attributed to its user, source and IP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = "api" if request.path.startswith("/api/") else "web"
        with audit.audit_context(source=source, ip=client_ip(request)):
            # request.user (a session and a user query) only once an audit row is written
            audit.set_user_lazily(lambda: request.user)
            return self.get_response(request)


class ServiceErrorMiddleware:
    """A service's refusal that a page did not handle becomes a page with the right status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from autocrm.core.errors import ServiceError

        if not isinstance(exception, ServiceError) or wants_json(request):
            return None
        context = {"title": str(exception.message), "status": exception.status}
        return render(request, "error.html", context, status=exception.status)
