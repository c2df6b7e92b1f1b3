"""Roles and what each may do. A capability is granted when any of the user's roles has it."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

HQ_ADMIN = "hq_admin"
REGION_MANAGER = "region_manager"
STORE_MANAGER = "store_manager"
SERVICE_ADVISOR = "service_advisor"
TECHNICIAN = "technician"
FRONT_DESK = "front_desk"
FINANCE = "finance"
SALES = "sales"
MARKETING = "marketing"

ROLE_CHOICES = [
    (HQ_ADMIN, _("HQ administrator")),
    (REGION_MANAGER, _("Region manager")),
    (STORE_MANAGER, _("Store manager")),
    (SERVICE_ADVISOR, _("Service advisor")),
    (TECHNICIAN, _("Technician")),
    (FRONT_DESK, _("Front desk")),
    (FINANCE, _("Finance")),
    (SALES, _("Sales")),
    (MARKETING, _("Marketing")),
]
ROLE_CODES = [code for code, _label in ROLE_CHOICES]
ROLE_LABELS = dict(ROLE_CHOICES)

# Higher rank may grant roles of lower rank only (an HQ admin may grant every role).
RANK = {HQ_ADMIN: 3, REGION_MANAGER: 2, STORE_MANAGER: 1}

MANAGERS = {HQ_ADMIN, REGION_MANAGER, STORE_MANAGER}
OFFICE = MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, FINANCE, SALES, MARKETING}

CAPABILITIES: dict[str, set[str]] = {
    "home.view": set(ROLE_CODES),
    "store.view": OFFICE,
    "store.manage": {HQ_ADMIN},
    "region.manage": {HQ_ADMIN},
    "staff.view": MANAGERS,
    "staff.manage": MANAGERS,
    "staff.phone": MANAGERS | {FINANCE},
    "audit.view": MANAGERS,
    "customer.view": set(ROLE_CODES),
    # Browsing the customer list: office work; technicians open records through their jobs.
    "customer.list": OFFICE,
    "customer.edit": OFFICE,
    # Full mobile numbers: the people who call customers; others see 138****1234.
    "customer.phone": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, SALES},
    "customer.export": MANAGERS,
    "customer.erase": {HQ_ADMIN},
    "fields.manage": {HQ_ADMIN},
    "jobs.view": {HQ_ADMIN},
    # Shop floor.
    "catalog.view": set(ROLE_CODES),
    "catalog.manage": {HQ_ADMIN},
    "prices.manage": MANAGERS,
    "appointment.view": OFFICE,
    "appointment.edit": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK},
    "workorder.view": set(ROLE_CODES) - {MARKETING},
    "workorder.edit": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK},
    # A discount above the store's limit: a manager gives it (and is recorded as approving).
    "workorder.discount": MANAGERS,
    "workorder.work": MANAGERS | {TECHNICIAN},
    "workorder.qc": MANAGERS | {TECHNICIAN, SERVICE_ADVISOR},
    "workorder.settle": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, FINANCE},
    "payment.refund": MANAGERS | {FINANCE},
    "inspection.manage": {HQ_ADMIN},
    "board.view": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, TECHNICIAN},
    "board.manage": MANAGERS,
    "survey.view": MANAGERS | {SERVICE_ADVISOR},
    "survey.handle": MANAGERS,
    "servicesettings.manage": MANAGERS,
    # Automation: follow-up tasks, rules, processes, messages.
    "task.view": set(ROLE_CODES),
    "task.create": OFFICE,
    "task.manage": MANAGERS,
    "rules.manage": {HQ_ADMIN},
    "process.manage": {HQ_ADMIN},
    "messages.view": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, MARKETING},
    "messages.send": MANAGERS | {SERVICE_ADVISOR, FRONT_DESK, MARKETING},
    "templates.manage": {HQ_ADMIN, MARKETING},
    # Reports: managers see their stores' figures; advisors their own work orders only.
    "reports.view": MANAGERS | {SERVICE_ADVISOR},
    "reports.store": MANAGERS,
}


def has_capability(role_codes: Iterable[str], capability: str) -> bool:
    allowed = CAPABILITIES.get(capability)
    if allowed is None:
        raise KeyError(f"unknown capability {capability!r}")
    return bool(allowed.intersection(role_codes))


def grantable_roles(role_codes: Iterable[str]) -> list[str]:
    """Roles a user holding ``role_codes`` may give to someone else."""
    codes = set(role_codes)
    if HQ_ADMIN in codes:
        return list(ROLE_CODES)
    top = max((RANK.get(code, 0) for code in codes), default=0)
    if top == 0:
        return []
    return [code for code in ROLE_CODES if RANK.get(code, 0) < top]
