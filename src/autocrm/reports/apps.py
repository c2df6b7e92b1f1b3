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
        # Last of the demo's loaders (this app comes after service and automation in
        # INSTALLED_APPS): the rollups are built from the whole demo history.
        if rollups.demo_loader not in demo.EXTENSIONS:
            demo.EXTENSIONS.append(rollups.demo_loader)
