"""Form parts of the work order pages that the form engine drives."""

from __future__ import annotations

from django import forms

from autocrm.core import customfields
from autocrm.core.forms import CustomFieldsMixin, StyledMixin


class WorkOrderCustomForm(CustomFieldsMixin, StyledMixin, forms.Form):
    """The work-order custom fields the user may edit (defined by an admin, no code)."""

    def __init__(self, *args, user, values: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_fields(customfields.editable(user, "work_order"), values)

    def custom_data(self) -> dict:
        return self.pop_custom(dict(self.cleaned_data))
