from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "autocrm.service"
    label = "service"
    verbose_name = _("Shop floor")

    def ready(self) -> None:
        # After the customers' loader (this app comes after customers in INSTALLED_APPS):
        # the shop-floor demo needs its customers and vehicles.
        from autocrm.core import demo
        from autocrm.service.demo import load

        if load not in demo.EXTENSIONS:
            demo.EXTENSIONS.append(load)
