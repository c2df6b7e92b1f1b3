"""Reads of import jobs and profiles, scoped to the user: a job is seen by the people who can
see its store (HQ: the whole org); profiles are shared by the org."""

from __future__ import annotations

from django.db.models import QuerySet

from autocrm.core.errors import NotFound
from autocrm.core.models import User
from autocrm.core.scoping import scoped
from autocrm.imports.mapping import headers_key
from autocrm.imports.models import ImportJob, ImportProfile


def visible_jobs(user: User) -> QuerySet[ImportJob]:
    return scoped(ImportJob.objects.select_related("store", "created_by"), user).order_by("-id")


def get_job(user: User, pk) -> ImportJob:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound from None
    job = visible_jobs(user).select_related("org", "profile").filter(pk=pk).first()
    if job is None:
        raise NotFound
    return job


def visible_profiles(user: User) -> QuerySet[ImportProfile]:
    return scoped(ImportProfile.objects.all(), user)


def profile_for_headers(org_id: int, headers: list[str]) -> ImportProfile | None:
    """The profile saved for files with these headers (the most recently saved one)."""
    return (
        ImportProfile.objects.filter(org_id=org_id, headers_key=headers_key(headers))
        .order_by("-updated_at", "-id")
        .first()
    )
