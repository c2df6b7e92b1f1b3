"""Forms of the import pages: they parse input; services check and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from autocrm.core.forms import StyledMixin
from autocrm.imports import conf
from autocrm.imports.mapping import FIELDS


class UploadForm(StyledMixin, forms.Form):
    file = forms.FileField(label=_("Excel or CSV file"))
    store = forms.TypedChoiceField(label=_("Import into store"), coerce=int)

    def __init__(self, *args, stores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [(s.pk, s.name) for s in stores]
        self.fields["store"].help_text = _("New customers get this store as their home store.")
        self.fields["file"].widget.attrs["accept"] = (
            ".xlsx,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv"
        )
        self.fields["file"].help_text = _(
            ".xlsx or .csv (UTF-8 or GBK), at most %(mb)s MB, with a header row such as "
            "姓名, 手机号, 车牌号."
        ) % {"mb": f"{conf.max_mb():g}"}


class MappingForm(StyledMixin, forms.Form):
    profile_name = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=60,
        help_text=_("Files with the same headers will use it next time."),
    )

    def __init__(self, *args, headers=(), mapping=(), samples=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = list(headers)
        self.samples = list(samples)
        choices = [("", _("— not imported —")), *FIELDS]
        for index, header in enumerate(self.headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or f"#{index + 1}", choices=choices, required=False
            )
            self.fields[name].widget.attrs.update(
                {"class": "form-select", "data-testid": f"map-{index}"}
            )
            if index < len(mapping) and not self.is_bound:
                self.initial[name] = mapping[index] or ""

    def mapping(self) -> list[str | None]:
        return [self.cleaned_data.get(f"col_{i}") or None for i in range(len(self.headers))]

    def columns(self) -> list[dict]:
        """One entry per column for the template: header, sample values and the select."""
        return [
            {
                "header": header or f"#{index + 1}",
                "samples": [row[index] for row in self.samples if index < len(row) and row[index]],
                "field": self[f"col_{index}"],
            }
            for index, header in enumerate(self.headers)
        ]
