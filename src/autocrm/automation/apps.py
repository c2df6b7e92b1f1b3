from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "autocrm.automation"
    label = "automation"
    verbose_name = _("Automation")

    def ready(self) -> None:
        # The rules engine: event capture (after the audit log's receivers, in core), its
        # worker jobs, and the demo's built-in rules (after the shop-floor demo data).
        from autocrm.automation import builtin, capture, rule_jobs  # noqa: F401
        from autocrm.core import demo

        capture.connect()
        if builtin.demo_loader not in demo.EXTENSIONS:
            demo.EXTENSIONS.append(builtin.demo_loader)
