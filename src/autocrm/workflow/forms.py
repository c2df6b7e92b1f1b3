"""Forms of the stage editor; the rules themselves live in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from autocrm.core.forms import StyledMixin
from autocrm.workflow.services import MAX_TARGET, MIN_TARGET, NAME_MAX


class StageForm(StyledMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    color = forms.CharField(
        label=_("Colour"),
        max_length=7,
        initial="#206bc4",
        widget=forms.TextInput(attrs={"type": "color", "class": "form-control form-control-color"}),
    )
    target_minutes = forms.IntegerField(
        label=_("Target time (minutes)"), min_value=MIN_TARGET, max_value=MAX_TARGET, initial=60
    )
    sort = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("sort") is None:
            data.pop("sort", None)
        return data
