"""List filters on custom fields (the form engine's values in the records' ``custom`` JSON).

One control per filterable field the user may see, read from the query string, so a filter
is kept by the list's cursor links and its Excel export, and the API reads the same
parameters:

- choice, yes/no: ``cf_<key>=<value>`` (exact; yes/no as 1 or 0)
- text: ``cf_<key>=<text>`` (contains, any case)
- whole number: ``cf_<key>.min`` / ``cf_<key>.max`` (inclusive)
- date: ``cf_<key>.min`` / ``cf_<key>.max`` (from / to, YYYY-MM-DD)

Other types (long text, decimal, multiple choice, web address) are not offered. A field the
user may not see is neither offered nor applied, even when its parameter is in the URL.

The selectors take the parsed form: ``{key: value}`` (exact, as before), ``{key:
{"contains": text}}`` or ``{key: {"min": a, "max": b}}``."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from autocrm.core import customfields
from autocrm.core.models import CustomField, User

T = CustomField.Type
PREFIX = "cf_"
FILTERABLE = (T.CHOICE, T.BOOLEAN, T.TEXT, T.INTEGER, T.DATE)
RANGED = (T.INTEGER, T.DATE)


def filterable(user: User, target: str) -> list[CustomField]:
    """The fields of ``target`` the user may see and filter on, in the form's order."""
    return [f for f in customfields.visible(user, target) if f.type in FILTERABLE]


def names(definition: CustomField) -> list[str]:
    """The query-string parameters of one field's control."""
    base = f"{PREFIX}{definition.key}"
    return [f"{base}.min", f"{base}.max"] if definition.type in RANGED else [base]


def form_fields(definition: CustomField) -> dict[str, forms.Field]:
    """The filter form's fields for one definition (all optional; bad values are ignored)."""
    fields = _form_fields(definition)
    for field in fields.values():
        field.widget.attrs.setdefault("aria-label", definition.label())
    return fields


def _form_fields(definition: CustomField) -> dict[str, forms.Field]:
    label = definition.label()
    if definition.type == T.CHOICE:
        choices = [("", _("%(field)s: any") % {"field": label})]
        choices += [(c, c) for c in definition.choices]
        field = forms.ChoiceField(required=False, choices=choices, label=label)
        return {names(definition)[0]: field}
    if definition.type == T.BOOLEAN:
        choices = [
            ("", _("%(field)s: any") % {"field": label}),
            ("1", _("%(field)s: yes") % {"field": label}),
            ("0", _("%(field)s: no") % {"field": label}),
        ]
        return {names(definition)[0]: forms.ChoiceField(required=False, choices=choices)}
    if definition.type == T.TEXT:
        field = forms.CharField(required=False, max_length=100, label=label)
        field.widget.attrs["placeholder"] = _("%(field)s contains…") % {"field": label}
        return {names(definition)[0]: field}
    fields = {}
    texts = (_("%(field)s from") % {"field": label}, _("%(field)s to") % {"field": label})
    for name, text in zip(names(definition), texts, strict=True):
        if definition.type == T.INTEGER:
            field = forms.IntegerField(required=False, min_value=-(10**12), max_value=10**12)
            field.widget.attrs["inputmode"] = "numeric"
        else:
            field = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
        field.widget.attrs.update(placeholder=text, **{"aria-label": text})
        fields[name] = field
    return fields


def values(definitions: list[CustomField], cleaned: dict) -> dict:
    """The selector's ``custom`` filter from a valid form's ``cleaned_data``."""
    result: dict = {}
    for d in definitions:
        if d.type in RANGED:
            low, high = (cleaned.get(n) for n in names(d))
            bounds = {}
            for name, bound in (("min", low), ("max", high)):
                if bound is not None:
                    bounds[name] = bound.isoformat() if d.type == T.DATE else bound
            if bounds:
                result[d.key] = bounds
            continue
        value = cleaned.get(names(d)[0])
        if value in (None, ""):
            continue
        if d.type == T.BOOLEAN:
            result[d.key] = value == "1"
        elif d.type == T.TEXT:
            result[d.key] = {"contains": value.strip()}
        else:
            result[d.key] = value
    return result


class FilterForm(forms.Form):
    """The custom-field controls alone: the API reads the list's parameters through it."""

    def __init__(self, data, definitions: list[CustomField]):
        super().__init__(data)
        self.definitions = definitions
        for d in definitions:
            self.fields.update(form_fields(d))

    def filter_values(self) -> dict:
        self.is_valid()
        return values(self.definitions, self.cleaned_data)


def from_query(user: User, target: str, query) -> dict:
    """The ``custom`` filter of a query string (the API's lists and exports)."""
    if not any(name.startswith(PREFIX) for name in query):
        return {}
    return FilterForm(query, filterable(user, target)).filter_values()


def apply(qs: QuerySet, user: User, target: str, custom: dict | None) -> QuerySet:
    """``qs`` filtered on ``custom``, for the fields the user may see (others are ignored)."""
    if not custom:
        return qs
    types = {f.key: f.type for f in customfields.visible(user, target)}
    for key, value in custom.items():
        if key not in types or not customfields.KEY_RE.fullmatch(key) or value in ("", None):
            continue
        if not isinstance(value, dict):
            qs = qs.filter(**{f"custom__{key}": value})
        elif "contains" in value and types[key] in (T.TEXT, T.LONG_TEXT):
            if value["contains"]:
                qs = qs.filter(**{f"custom__{key}__icontains": str(value["contains"])})
        elif types[key] in RANGED:
            for name, lookup in (("min", "gte"), ("max", "lte")):
                if value.get(name) not in (None, ""):
                    qs = qs.filter(**{f"custom__{key}__{lookup}": value[name]})
    return qs
