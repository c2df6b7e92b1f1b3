from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowConfig(AppConfig):
    name = "autocrm.workflow"
    label = "workflow"
    verbose_name = _("Process stages")

    def ready(self) -> None:
        from autocrm.core import events
        from autocrm.workflow import services

        events.subscribe("work_order.created", services.on_work_order_created)
