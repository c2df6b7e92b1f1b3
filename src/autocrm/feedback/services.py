"""Writes of the feedback app: the owner's survey after a visit and the manager's handling of
a low score."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, events
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import User
from autocrm.core.scoping import require_visible
from autocrm.core.services import require
from autocrm.core.validators import tidy_prose
from autocrm.feedback.models import DIMENSION_NAMES, LOW_NPS, LOW_REASONS, LOW_STARS, Survey

REASON_CODES = {code for code, _label in LOW_REASONS}
MAX_COMMENT = 1000


def is_low(nps: int, stars: dict[str, int]) -> bool:
    return nps <= LOW_NPS or any(value <= LOW_STARS for value in stars.values())


def _score(value, low: int, high: int, missing: str, out_of_range: str, field: str, errors):
    if value in (None, ""):
        errors[field] = missing
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[field] = out_of_range
        return None
    if not low <= number <= high:
        errors[field] = out_of_range
        return None
    return number


def clean_scores(data: dict) -> dict:
    """Range- and presence-checked scores, reasons and comment; Invalid names each field."""
    errors: dict = {}
    nps = _score(
        data.get("nps"),
        0,
        10,
        _("Choose how likely you are to recommend us (0–10)."),
        _("Choose a number from 0 to 10."),
        "nps",
        errors,
    )
    stars = {}
    for name in DIMENSION_NAMES:
        stars[name] = _score(
            data.get(name),
            1,
            5,
            _("Give 1 to 5 stars."),
            _("Give 1 to 5 stars."),
            name,
            errors,
        )
    reasons = data.get("reasons") or []
    if isinstance(reasons, str):
        reasons = [reasons]
    reasons = list(dict.fromkeys(str(r) for r in reasons))
    if any(r not in REASON_CODES for r in reasons):
        errors["reasons"] = _("Choose reasons from the list.")
    comment = tidy_prose(data.get("comment") or "")
    if len(comment) > MAX_COMMENT:
        errors["comment"] = _("Keep the comment under %(n)s characters.") % {"n": MAX_COMMENT}
    if errors:
        raise Invalid(fields=errors)
    return {"nps": nps, **stars, "reasons": reasons, "comment": comment}


def submit_survey(link_or_work_order, **scores) -> Survey:
    """The owner's rating of a finished visit, once per work order. Low scores (NPS ≤ 6 or any
    dimension ≤ 3) appear at once in the managers' alert list and publish ``survey.low``.
    Given the owner's link, the write is attributed to the portal in the audit log."""
    from autocrm.portal.models import PortalLink

    if isinstance(link_or_work_order, PortalLink):
        if link_or_work_order.purpose != PortalLink.Purpose.SURVEY:
            raise NotFound()
        with audit.audit_context(source="portal"):
            return _submit(link_or_work_order.work_order, scores)
    return _submit(link_or_work_order, scores)


@transaction.atomic
def _submit(wo, scores: dict) -> Survey:
    from autocrm.service.models import WorkOrder

    if wo.status not in WorkOrder.FINISHED_STATUSES:
        raise Conflict(_("The visit is not finished yet."), code="not_finished")
    if Survey.objects.filter(work_order=wo).exists():
        raise Conflict(_("You have already rated this visit. Thank you!"), code="already_submitted")
    clean = clean_scores(scores)
    low = is_low(clean["nps"], {d: clean[d] for d in DIMENSION_NAMES})
    try:
        with transaction.atomic():
            survey = Survey.objects.create(
                org_id=wo.org_id,
                store_id=wo.store_id,
                work_order=wo,
                customer_id=wo.customer_id,
                is_low=low,
                **clean,
            )
    except IntegrityError:  # two submissions at the same moment
        raise Conflict(
            _("You have already rated this visit. Thank you!"), code="already_submitted"
        ) from None
    events.publish(
        "survey.low" if low else "survey.submitted",
        survey_id=survey.pk,
        work_order_id=wo.pk,
        store_id=wo.store_id,
        nps=survey.nps,
    )
    return survey


@audit.by_actor
@transaction.atomic
def handle_survey(actor: User, survey: Survey, *, note: str) -> Survey:
    """A manager records what was done about a low score (called back, refund, redo…)."""
    require(actor, "survey.handle")
    require_visible(actor, survey)
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.handled_at is not None:
        who = survey.handled_by.display_name if survey.handled_by_id else _("someone else")
        raise Conflict(_("Already handled by %(who)s.") % {"who": who}, code="already_handled")
    note = tidy_prose(note)
    if not note:
        raise Invalid(fields={"note": _("Say what was done, e.g. called the owner back.")})
    if len(note) > 300:
        raise Invalid(fields={"note": _("Keep the note under 300 characters.")})
    survey.handled_at = timezone.now()
    survey.handled_by = actor
    survey.handling_note = note
    survey.save(update_fields=["handled_at", "handled_by", "handling_note"])
    events.publish("survey.handled", survey_id=survey.pk, store_id=survey.store_id)
    return survey
