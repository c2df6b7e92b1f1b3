"""Navigation of the signed-in user's roles, built once per request."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

NAV = [
    ("home", _("Home"), "home.view"),
    ("customer_list", _("Customers"), "customer.list"),
    ("floor_jobs", _("My jobs"), "workorder.work"),
    ("workorder_list", _("Work orders"), "workorder.edit"),
    ("appointment_calendar", _("Appointments"), "appointment.view"),
    ("board", _("Job board"), "board.view"),
    ("feedback_alerts", _("Low scores"), "survey.view"),
    ("import_list", _("Imports"), "customer.edit"),
    ("catalog_index", _("Catalog"), "catalog.view"),
    ("store_list", _("Stores"), "store.view"),
    ("staff_list", _("Staff"), "staff.view"),
    ("audit_list", _("Audit log"), "audit.view"),
    ("job_list", _("Jobs"), "jobs.view"),
    ("field_list", _("Custom fields"), "fields.manage"),
    ("checklist_list", _("Checklists"), "inspection.manage"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = getattr(getattr(request, "resolver_match", None), "url_name", "") or ""
    items = []
    for name, label, capability in NAV:
        if user.can(capability):
            prefix = name.split("_")[0]
            items.append(
                {
                    "url": reverse(name),
                    "label": label,
                    "key": prefix,
                    "active": current == name or (prefix != "home" and current.startswith(prefix)),
                }
            )
    return {"nav_items": items}
