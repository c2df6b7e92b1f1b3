"""Reads of import jobs and profiles, scoped to the user: a job is seen by the people who can
see its store (HQ: the whole org); profiles are shared by the org."""

from __future__ import annotations

from django.db.models import QuerySet

from autocrm.core.models import User
from autocrm.core.scoping import scoped
from autocrm.core.selectors import get_or_404
from autocrm.imports.mapping import headers_key
from autocrm.imports.models import ImportJob, ImportProfile


def visible_jobs(user: User) -> QuerySet[ImportJob]:
    return scoped(ImportJob.objects.select_related("store", "created_by"), user).order_by("-id")


def get_job(user: User, pk) -> ImportJob:
    return get_or_404(visible_jobs(user).select_related("org", "profile"), pk)


def profile_for_headers(org_id: int, headers: list[str]) -> ImportProfile | None:
    """The profile saved for files with these headers (the most recently saved one)."""
    return (
        ImportProfile.objects.filter(org_id=org_id, headers_key=headers_key(headers))
        .order_by("-updated_at", "-id")
        .first()
    )
