"""Scheduled reports: a daily, weekly or monthly Excel of a saved report to email addresses.

The worker's periodic task (``builder_tasks.send_scheduled_reports``) calls ``send_due``: every
report whose period has passed since ``last_sent_at`` is run on its owner's scope, written to
Excel and sent through Django's email backend with the file attached — or, when no email
provider is configured, queued in the outbox (one message per address, without the file,
pointing to the report's page) for staff to see. ``last_sent_at`` records the send."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core.http import XLSX
from autocrm.core.models import Store
from autocrm.messaging import conf
from autocrm.reports import builder
from autocrm.reports.models import SavedReport

log = logging.getLogger(__name__)


def is_due(report: SavedReport, now: datetime.datetime | None = None) -> bool:
    if not report.schedule or not report.recipients:
        return False
    if report.last_sent_at is None:
        return True
    today = timezone.localdate(now or timezone.now())
    last = timezone.localdate(report.last_sent_at)
    if report.schedule == SavedReport.Schedule.DAILY:
        return last < today
    if report.schedule == SavedReport.Schedule.WEEKLY:
        return (today - last).days >= 7
    return (last.year, last.month) < (today.year, today.month)


def send(report: SavedReport, now: datetime.datetime | None = None) -> str:
    """Send one report now; returns "email" or "outbox"."""
    now = now or timezone.now()
    owner = report.owner
    result = builder.run(report, owner)
    subject = _("Report “%(name)s” %(day)s") % {
        "name": report.name,
        "day": timezone.localdate(now).isoformat(),
    }
    url = reverse("reports_builder_result", args=[report.pk])
    rows = _("%(n)d rows, see the attached Excel file.") % {"n": len(result.rows)}
    body = result.error or rows
    if conf.email_enabled():
        email = EmailMessage(
            subject=subject,
            body=f"{body}\n{url}",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(report.recipients),
            connection=get_connection(conf.email_backend(), fail_silently=False),
        )
        email.attach(builder.filename(report), builder.workbook(result), XLSX)
        email.send()
        how = "email"
    else:
        from autocrm.messaging import services as messaging

        store = (
            owner.stores.order_by("pk").first()
            or Store.objects.filter(org_id=report.org_id).order_by("pk").first()
        )
        if store is None:
            return ""
        day = timezone.localdate(now).isoformat()
        for address in report.recipients:
            messaging.queue(
                org_id=report.org_id,
                store_id=store.pk,
                to=address,
                channel="email",
                purpose="scheduled_report",
                subject=subject,
                body=f"{body}\n{url}",
                related=f"saved_report:{report.pk}",
                key=f"saved_report:{report.pk}:{day}:{address}"[:100],
            )
        how = "outbox"
    report.last_sent_at = now
    report.save(update_fields=["last_sent_at"])
    return how


def send_due(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    sent = 0
    for report in SavedReport.objects.exclude(schedule="").select_related("owner"):
        if not is_due(report, now):
            continue
        try:
            if send(report, now):
                sent += 1
        except Exception:  # one failing report must not stop the others
            log.exception("scheduled report %s failed", report.pk)
    return sent
