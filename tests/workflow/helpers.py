"""Shared set-up for the job board tests."""

from __future__ import annotations

from autocrm.workflow import services
from autocrm.workflow.models import Stage
from tests import service_factories as sf


def stages_of(store) -> list[Stage]:
    services.ensure_default_stages(store)
    return list(Stage.objects.filter(store=store, is_active=True).order_by("sort", "id"))


def order_in(store, stage=None, **kw):
    """An open work order placed in ``stage`` (the store's first by default)."""
    stage = stage or stages_of(store)[0]
    wo = sf.work_order(store, **kw)
    services.place_new_order(wo.pk)
    wo.refresh_from_db()
    if wo.stage_id != stage.pk:
        wo.stage = stage
        wo.save(update_fields=["stage"])
    return wo
