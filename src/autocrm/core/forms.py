"""Forms parse and validate input at the edge; services do the writing."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.utils.translation import gettext_lazy as _

from autocrm.core.errors import ServiceError
from autocrm.core.models import AuditLog, Store, User
from autocrm.core.roles import ROLE_CHOICES


def style_widget(field: forms.Field) -> None:
    widget = field.widget
    if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
        widget.attrs.setdefault("class", "form-check-input")
    elif isinstance(widget, forms.Select | forms.SelectMultiple):
        widget.attrs.setdefault("class", "form-select")
    else:
        widget.attrs.setdefault("class", "form-control")


class StyledMixin:
    """Tabler classes on every widget, so templates render fields uniformly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            style_widget(field)


class CustomFieldsMixin:
    """Adds the form-engine fields the user may edit as ``custom_<key>`` form fields."""

    custom_prefix = "custom_"

    def add_custom_fields(self, definitions, values: dict | None) -> None:
        from autocrm.core.customfields import form_field

        self.custom_names = []
        for definition in definitions:
            name = f"{self.custom_prefix}{definition.key}"
            self.fields[name] = form_field(definition)
            style_widget(self.fields[name])
            if values and definition.key in values:
                self.initial.setdefault(name, values[definition.key])
            self.custom_names.append(name)

    def custom_fields(self) -> list:
        return [self[name] for name in getattr(self, "custom_names", [])]

    def pop_custom(self, data: dict) -> dict:
        """Move ``custom_<key>`` values out of ``data`` into the dict the services expect."""
        return {
            name[len(self.custom_prefix) :]: data.pop(name)
            for name in list(data)
            if name in getattr(self, "custom_names", [])
        }


# Service field names that core forms call differently.
SERVICE_FIELD_NAMES = {"region_id": "region", "store_ids": "stores", "region_ids": "regions"}


def apply_service_error(
    form: forms.Form,
    exc: ServiceError,
    rename: Mapping[str, str] | Callable[[str], str] = SERVICE_FIELD_NAMES,
) -> None:
    """Show a service's refusal on the form: per field where it names one, else on top.
    ``rename`` (a dict or a function) maps a service's field names to the form's."""
    placed = False
    for name, message in exc.fields.items():
        target = rename(name) if callable(rename) else rename.get(name, name)
        if target in form.fields:
            form.add_error(target, str(message))
            placed = True
    if not placed:
        form.add_error(None, str(exc.message))


class LoginForm(StyledMixin, AuthenticationForm):
    error_messages = {
        "invalid_login": _("Wrong username or password. Check both and try again."),
        "inactive": _("This account has been deactivated. Ask your manager."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username", autofocus=True)
        self.fields["password"].widget.attrs.update(autocomplete="current-password")

    def clean_username(self):
        return (self.cleaned_data.get("username") or "").strip().lower()


class StyledPasswordChangeForm(StyledMixin, PasswordChangeForm):
    pass


class RegionForm(StyledMixin, forms.Form):
    name = forms.CharField(label=_("Region name"), max_length=60)
    code = forms.CharField(label=_("Code"), max_length=40, help_text=_("e.g. north"))


class StoreForm(StyledMixin, forms.Form):
    name = forms.CharField(label=_("Store name"), max_length=100)
    code = forms.CharField(
        label=_("Code"), max_length=40, help_text=_("Lower-case letters, digits, hyphens.")
    )
    kind = forms.ChoiceField(label=_("Type"), choices=Store.Kind.choices)
    region = forms.ChoiceField(label=_("Region"), required=False)
    city = forms.CharField(label=_("City"), max_length=40, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    is_active = forms.BooleanField(label=_("Open (active)"), required=False, initial=True)

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", "—")] + [(r.pk, r.name) for r in regions]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["region_id"] = int(data.pop("region")) if data.get("region") else None
        return data


class StaffForm(StyledMixin, forms.Form):
    username = forms.CharField(label=_("Login name"), max_length=150)
    full_name = forms.CharField(label=_("Name"), max_length=60)
    phone = forms.CharField(label=_("Mobile"), max_length=20, required=False)
    password = forms.CharField(
        label=_("Initial password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits."),
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    scope = forms.ChoiceField(label=_("Works in"), choices=User.Scope.choices)
    stores = forms.MultipleChoiceField(
        label=_("Stores"), required=False, widget=forms.CheckboxSelectMultiple
    )
    regions = forms.MultipleChoiceField(
        label=_("Regions"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, stores=(), regions=(), grantable=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].choices = [(s.pk, s.name) for s in stores]
        self.fields["regions"].choices = [(r.pk, r.name) for r in regions]
        self.fields["roles"].choices = [(c, label) for c, label in ROLE_CHOICES if c in grantable]
        if editing:
            del self.fields["username"]
            del self.fields["password"]


class TokenForm(StyledMixin, forms.Form):
    name = forms.CharField(
        label=_("Token name"), max_length=60, help_text=_("What will use it, e.g. 'Excel sync'.")
    )


class AuditFilterForm(StyledMixin, forms.Form):
    object_type = forms.ChoiceField(label=_("Object type"), required=False)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=40)
    user = forms.CharField(label=_("Person"), required=False, max_length=150)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("All"))] + AuditLog.Action.choices
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, object_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["object_type"].choices = [("", _("All"))] + [(t, t) for t in object_types]
