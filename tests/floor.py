"""Steps of the shop floor through the services, for tests that need a settled work order the
way the floor makes one (unlike tests/service_factories.py, which writes rows directly)."""

from __future__ import annotations

from autocrm.service import services
from autocrm.service.models import ServiceSettings


def finish(world, wo, payments=None):
    """Start → done (clocked) → QC → settle, by the store's advisor and technician."""
    wo.refresh_from_db()
    services.perform(world.advisor_a1, wo, "start")
    for line in wo.lines.filter(approval="approved"):
        services.assign_line(world.advisor_a1, line, [world.tech_a1.pk])
        services.clock_on(world.tech_a1, line)
        services.mark_line_done(world.tech_a1, line)
    services.perform(world.tech_a1, wo, "qc")
    items = ServiceSettings.objects.get(store=wo.store).qc_items
    services.record_qc(world.tech_a1, wo, checks={name: True for name in items})
    wo.refresh_from_db()
    if payments is None:
        payments = [{"method": "cash", "amount": str(wo.total)}]
    services.perform(world.advisor_a1, wo, "settle", payments=payments)
    wo.refresh_from_db()
    return wo
