from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "autocrm.service"
    label = "service"
    verbose_name = _("Shop floor")

    def ready(self) -> None:
        from autocrm.customers.selectors import PROFILE_SECTIONS
        from autocrm.service.selectors import profile_section

        if profile_section not in PROFILE_SECTIONS:
            PROFILE_SECTIONS.append(profile_section)
