"""Forms of the checklist editor; the rules themselves live in ``service.checklists``."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from autocrm.core.forms import StyledMixin
from autocrm.service.checklists import ITEM_MAX, NAME_MAX, SECTION_MAX


class ChecklistForm(StyledMixin, forms.Form):
    name = forms.CharField(label=_("Checklist name"), max_length=NAME_MAX)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(placeholder=_("e.g. Check-in inspection"))


class ChecklistItemForm(StyledMixin, forms.Form):
    section = forms.CharField(label=_("Section"), max_length=SECTION_MAX, required=False)
    name = forms.CharField(label=_("Item to check"), max_length=ITEM_MAX)

    def __init__(self, *args, sections_list: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if sections_list:
            self.fields["section"].widget.attrs["list"] = sections_list
        self.fields["section"].widget.attrs.update(placeholder=_("e.g. Tyres and brakes"))
        self.fields["name"].widget.attrs.update(placeholder=_("e.g. Front brake pads"))
        for field in self.fields.values():  # the inline row shows no labels
            field.widget.attrs.setdefault("aria-label", field.label)
