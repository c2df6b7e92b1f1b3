"""Reads of the feedback app, scoped to the user's org and stores."""

from __future__ import annotations

from django.db.models import QuerySet

from autocrm.core import scoping
from autocrm.core.errors import NotFound
from autocrm.core.models import User
from autocrm.feedback.models import Survey


def surveys(user: User) -> QuerySet[Survey]:
    return scoping.scoped(Survey.objects.all(), user).select_related(
        "store", "customer", "work_order", "work_order__vehicle", "handled_by"
    )


def low_alerts(user: User, *, handled: bool = False) -> QuerySet[Survey]:
    """Low scores of the user's stores: unhandled ones (the alert list) or handled ones."""
    return surveys(user).filter(is_low=True, handled_at__isnull=not handled)


def alert_count(user: User) -> int:
    return low_alerts(user).count()


def get_survey(user: User, pk) -> Survey:
    try:
        return surveys(user).get(pk=int(pk))
    except (Survey.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None
