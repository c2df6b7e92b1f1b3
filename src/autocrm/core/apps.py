from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "autocrm.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from autocrm.core import audit, jobs  # noqa: F401  (jobs registers worker signals)

        audit.connect()
