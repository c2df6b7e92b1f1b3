"""Admin screens of the form engine: define the custom fields of customers and vehicles."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from autocrm.core import customfields
from autocrm.core.errors import NotFound, ServiceError
from autocrm.core.forms import StyledMixin, apply_service_error
from autocrm.core.models import CustomField
from autocrm.core.roles import ROLE_CHOICES
from autocrm.core.views import capability_required


class FieldForm(StyledMixin, forms.Form):
    target = forms.ChoiceField(label=gettext_lazy("Applies to"), choices=CustomField.Target.choices)
    key = forms.CharField(
        label=gettext_lazy("Key"),
        max_length=40,
        help_text=gettext_lazy("Lower-case letters, digits and _; cannot change later."),
    )
    label_zh = forms.CharField(label=gettext_lazy("Chinese label"), max_length=60)
    label_en = forms.CharField(label=gettext_lazy("English label"), max_length=60, required=False)
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=CustomField.Type.choices)
    required = forms.BooleanField(label=gettext_lazy("Required"), required=False)
    choices = forms.CharField(
        label=gettext_lazy("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("One per line (for choice fields)."),
    )
    min_value = forms.DecimalField(label=gettext_lazy("Minimum"), required=False)
    max_value = forms.DecimalField(label=gettext_lazy("Maximum"), required=False)
    regex = forms.CharField(label=gettext_lazy("Pattern"), max_length=200, required=False)
    help_text = forms.CharField(label=gettext_lazy("Help text"), max_length=200, required=False)
    group = forms.CharField(label=gettext_lazy("Group"), max_length=40, required=False)
    order = forms.IntegerField(label=gettext_lazy("Order"), min_value=0, initial=0)
    visible_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Roles that see it (none = everyone)"),
        choices=ROLE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    editable_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Roles that edit it (none = everyone who can edit the record)"),
        choices=ROLE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            for name in ("target", "key", "type"):
                self.fields[name].disabled = True


def _own(user, pk) -> CustomField:
    field = CustomField.objects.filter(org_id=user.org_id, pk=pk).first()
    if field is None:
        raise NotFound()
    return field


@capability_required("fields.manage")
def field_list(request):
    fields = CustomField.objects.filter(org_id=request.user.org_id)
    return render(request, "core/field_list.html", {"fields": fields})


@capability_required("fields.manage")
def field_edit(request, pk=None):
    field = _own(request.user, pk) if pk else None
    initial = {}
    if field is not None:
        initial = {name: getattr(field, name) for name in FieldForm.base_fields}
        initial["choices"] = "\n".join(field.choices)
    form = FieldForm(request.POST or None, initial=initial, editing=field is not None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["choices"] = data.get("choices") or ""
        try:
            if field is None:
                field = customfields.create_field(request.user, **data)
                messages.success(request, _("Field %(label)s added.") % {"label": field})
            else:
                for name in ("target", "key", "type"):
                    data.pop(name, None)
                customfields.update_field(request.user, field, **data)
                messages.success(request, _("Field %(label)s saved.") % {"label": field})
            return redirect("field_list")
        except ServiceError as exc:
            apply_service_error(form, exc)
    return render(request, "core/field_form.html", {"form": form, "field": field})


@capability_required("fields.manage")
def field_delete(request, pk):
    field = _own(request.user, pk)
    if request.method == "POST":
        try:
            customfields.delete_field(
                request.user, field, confirm=request.POST.get("confirm") == "1"
            )
            messages.success(
                request, _("Field %(label)s deleted; stored values are kept.") % {"label": field}
            )
            return redirect("field_list")
        except ServiceError as exc:
            messages.error(request, str(exc.fields.get("confirm", exc.message)))
    return render(request, "core/field_delete.html", {"field": field})
