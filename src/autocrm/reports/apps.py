from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "autocrm.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from autocrm.core import demo, events
        from autocrm.reports import rollups

        for name in rollups.EVENTS:
            events.subscribe(name, rollups.on_event)
        # Once the demo's rows are committed: the rollups are built from its whole history.
        if rollups.demo_loader not in demo.AFTER_COMMIT:
            demo.AFTER_COMMIT.append(rollups.demo_loader)
