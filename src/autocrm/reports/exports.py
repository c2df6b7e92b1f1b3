"""The Excel downloads of customer lists (RFM segments, cross-sell lists): each one is
recorded in the audit log as a reveal of that many customers."""

from __future__ import annotations

from django.utils import timezone
from openpyxl import Workbook

from autocrm.core import audit, xlsx
from autocrm.core.http import XLSX, download
from autocrm.core.models import User
from autocrm.customers.models import Customer


def customer_download(user: User, wb: Workbook, rows: int, note: str, name: str):
    """The workbook as ``{name}-{today}.xlsx``, audited as ``rows`` customers revealed."""
    content = xlsx.workbook_bytes(wb)
    audit.record_event(
        "reveal", Customer, note, {"rows": [None, rows]}, org_id=user.org_id, user=user
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    return download(content, f"{name}-{stamp}.xlsx", XLSX)
