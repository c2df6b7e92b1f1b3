from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "autocrm.customers"
    label = "customers"
    verbose_name = _("Customers and vehicles")

    def ready(self) -> None:
        from autocrm.core import demo
        from autocrm.customers.demo import load

        if load not in demo.EXTENSIONS:
            demo.EXTENSIONS.append(load)
