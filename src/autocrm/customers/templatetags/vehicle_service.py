"""Template helpers for vehicles' maintenance predictions."""

from __future__ import annotations

from django import template

from autocrm.customers import maintenance

register = template.Library()


@register.filter
def service_due_state(vehicle) -> str:
    """ "overdue", "soon", "ok" or "": set by the page's selector for its vehicles, looked up
    (one query) for a page that shows a single vehicle without it."""
    if not hasattr(vehicle, "service_due_state"):
        maintenance.with_due_state([vehicle])
    return vehicle.service_due_state
