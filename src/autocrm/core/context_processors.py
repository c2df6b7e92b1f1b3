"""Navigation of the signed-in user's roles, built once per request."""

from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

NAV = [
    ("home", _("Home"), "home.view"),
    ("customer_list", _("Customers"), "customer.list"),
    ("vehicle_list", _("Vehicles"), "customer.list"),
    ("floor_jobs", _("My jobs"), "workorder.work"),
    ("task_inbox", _("Tasks"), "task.view"),
    ("workorder_list", _("Work orders"), "workorder.edit"),
    ("appointment_calendar", _("Appointments"), "appointment.view"),
    ("board", _("Job board"), "board.view"),
    ("approval_list", _("Approvals"), "board.manage"),
    ("feedback_alerts", _("Low scores"), "survey.view"),
    ("reports_dashboard", _("Reports"), "reports.view"),
    ("message_list", _("Messages"), "messages.view"),
    ("import_list", _("Imports"), "customer.edit"),
    ("catalog_index", _("Catalog"), "catalog.view"),
    ("store_list", _("Stores"), "store.view"),
    ("staff_list", _("Staff"), "staff.view"),
    ("audit_list", _("Audit log"), "audit.view"),
    ("job_list", _("Jobs"), "jobs.view"),
    ("field_list", _("Custom fields"), "fields.manage"),
    ("checklist_list", _("Checklists"), "inspection.manage"),
    ("process_edit", _("Process"), "process.manage"),
    ("rule_list", _("Rules"), "rules.manage"),
]
# Set-up pages an administrator opens now and then: folded into one "Admin" menu so the
# daily pages stay on one line.
ADMIN = {
    "import_list",
    "store_list",
    "staff_list",
    "audit_list",
    "job_list",
    "field_list",
    "checklist_list",
    "process_edit",
    "rule_list",
    "template_list",
}


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
    items, admin = [], []
    for name, label, capability in NAV:
        if user.can(capability):
            prefix = name.split("_")[0]
            (admin if name in ADMIN else items).append(
                {
                    "url": reverse(name),
                    "label": label,
                    "key": prefix,
                    "active": current == name or (prefix != "home" and current.startswith(prefix)),
                    "counts": _task_counts(user) if name == "task_inbox" else None,
                }
            )
    return {
        "nav_items": items,
        "nav_admin": admin,
        "nav_admin_active": any(item["active"] for item in admin),
    }


def _task_counts(user):
    """Open and overdue tasks for the badge: one query, and only when a page draws the
    navigation (not for htmx fragments)."""
    from autocrm.automation.selectors import counts

    return SimpleLazyObject(lambda: counts(user))
