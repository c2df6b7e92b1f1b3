"""Forms of the customer and vehicle pages: they parse input; services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from autocrm.core.forms import CustomFieldsMixin, StyledMixin, style_widget
from autocrm.core.scoping import scoped
from autocrm.customers import customfilters
from autocrm.customers.models import Customer, MileageReading, SourceChannel, Tag, Vehicle
from autocrm.customers.preferences import split_tags

DATE = {"type": "date"}


def org_sources(user, *, active_only: bool = False):
    qs = scoped(SourceChannel.objects.all(), user)
    return qs.filter(is_active=True) if active_only else qs


def org_tags(user):
    return scoped(Tag.objects.all(), user)


def _choice(value) -> int | None:
    return int(value) if value not in (None, "") else None


class FilterBarMixin:
    """A list's filter form: one control per custom field the user may see and filter on
    (``customfilters``), and the bar's labels."""

    def label_controls(self, placeholders: dict, labels: dict) -> None:
        """Text inputs show their ``placeholders`` (also their accessible names), the other
        controls get ``labels``; ``q`` is a search box."""
        for name, text in placeholders.items():
            self.fields[name].widget.attrs.update(placeholder=text, **{"aria-label": text})
        for name, text in labels.items():
            self.fields[name].widget.attrs["aria-label"] = text
        self.fields["q"].widget.input_type = "search"

    def add_custom_filters(self, custom) -> None:
        self.custom_definitions = list(custom)
        for definition in self.custom_definitions:
            for name, field in customfilters.form_fields(definition).items():
                self.fields[name] = field
                style_widget(field)

    def custom_filters(self) -> list[tuple[str, bool, list]]:
        """(label, is a range, bound fields) per custom field, for the filter bar."""
        return [
            (
                d.label(),
                d.type in customfilters.RANGED,
                [self[n] for n in customfilters.names(d)],
            )
            for d in self.custom_definitions
        ]


class CustomerFilterForm(FilterBarMixin, StyledMixin, forms.Form):
    """The list's filters, read from the query string; invalid values are simply ignored."""

    q = forms.CharField(required=False, max_length=100)
    store = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    tag = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    source = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    level = forms.CharField(required=False, max_length=30)
    consent = forms.ChoiceField(
        required=False,
        choices=[
            ("", _("Any consent")),
            ("sms", _("SMS consent")),
            ("wechat", _("WeChat consent")),
            ("none", _("No consent")),
        ],
    )
    brand = forms.CharField(required=False, max_length=40)
    insurance_days = forms.IntegerField(required=False, min_value=0, max_value=366)

    def __init__(self, *args, stores=(), tags=(), sources=(), custom=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_filters(custom)
        self.fields["store"].choices = [("", _("All stores"))] + [(s.pk, s.name) for s in stores]
        self.fields["tag"].choices = [("", _("All tags"))] + [(t.pk, t.name) for t in tags]
        self.fields["source"].choices = [("", _("All sources"))] + [(s.pk, s.name) for s in sources]
        self.label_controls(
            {
                "q": _("Plate, mobile, name or pinyin"),
                "level": _("Level"),
                "brand": _("Vehicle brand"),
                "insurance_days": _("Insurance due in … days"),
            },
            {
                "store": _("Store"),
                "tag": _("Tag"),
                "source": _("Source"),
                "consent": _("Consent"),
            },
        )

    def filter_values(self) -> dict:
        """Keyword arguments for ``selectors.CustomerFilter`` from the valid fields."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "q": data.get("q") or "",
            "store_id": data.get("store"),
            "tag_id": data.get("tag"),
            "source_id": data.get("source"),
            "level": (data.get("level") or "").strip(),
            "consent": data.get("consent") or "",
            "brand": (data.get("brand") or "").strip(),
            "insurance_within_days": data.get("insurance_days"),
            "custom": customfilters.values(self.custom_definitions, data),
        }


class VehicleFilterForm(FilterBarMixin, StyledMixin, forms.Form):
    """The vehicle list's filters, read from the query string; invalid values are ignored."""

    q = forms.CharField(required=False, max_length=100)
    store = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    brand = forms.CharField(required=False, max_length=40)
    fuel = forms.ChoiceField(required=False)
    insurance_days = forms.IntegerField(required=False, min_value=0, max_value=366)
    inspection_days = forms.IntegerField(required=False, min_value=0, max_value=366)
    order = forms.ChoiceField(
        required=False, choices=[("", _("Newest first")), ("oldest", _("Oldest first"))]
    )

    def __init__(self, *args, stores=(), custom=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_filters(custom)
        self.fields["store"].choices = [("", _("All stores"))] + [(s.pk, s.name) for s in stores]
        self.fields["fuel"].choices = [("", _("Any fuel")), *Vehicle.Fuel.choices]
        self.label_controls(
            {
                "q": _("Plate, VIN or owner"),
                "brand": _("Vehicle brand"),
                "insurance_days": _("Insurance due in … days"),
                "inspection_days": _("Inspection due in … days"),
            },
            {"store": _("Store"), "fuel": _("Fuel"), "order": _("Order")},
        )

    def filter_values(self) -> dict:
        """Keyword arguments for ``selectors.VehicleFilter`` from the valid fields."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "q": data.get("q") or "",
            "store_id": data.get("store"),
            "brand": (data.get("brand") or "").strip(),
            "fuel": data.get("fuel") or "",
            "insurance_within_days": data.get("insurance_days"),
            "inspection_within_days": data.get("inspection_days"),
            "custom": customfilters.values(self.custom_definitions, data),
        }

    def oldest_first(self) -> bool:
        self.is_valid()
        return self.cleaned_data.get("order") == "oldest"


class CustomerForm(CustomFieldsMixin, StyledMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(
        label=_("Type"), choices=Customer.Kind.choices, initial=Customer.Kind.PERSON
    )
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False)
    other_contacts = forms.CharField(
        label=_("Other contacts"),
        max_length=200,
        required=False,
        help_text=_("Landline, second mobile, contact person…"),
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=Customer.Gender.choices, required=False)
    birthday = forms.DateField(label=_("Birthday"), required=False, widget=forms.DateInput(DATE))
    wechat_id = forms.CharField(label=_("WeChat ID"), max_length=60, required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    level = forms.CharField(label=_("Membership level"), max_length=30, required=False)
    home_store = forms.ChoiceField(label=_("Home store"), required=False)
    tags = forms.MultipleChoiceField(
        label=_("Tags"), required=False, widget=forms.CheckboxSelectMultiple
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Preferences (``customers.preferences``): checked by the service, which names the field.
    pref_services = forms.MultipleChoiceField(
        label=_("Preferred services"), required=False, widget=forms.CheckboxSelectMultiple
    )
    pref_services_other = forms.CharField(
        label=_("Other preferred services"),
        required=False,
        help_text=_("Separate several with commas."),
    )
    pref_music_style = forms.CharField(label=_("Music style"), required=False)
    pref_budget_min = forms.CharField(label=_("Budget from (yuan)"), required=False)
    pref_budget_max = forms.CharField(label=_("Budget up to (yuan)"), required=False)
    pref_brands = forms.CharField(
        label=_("Preferred brands"),
        required=False,
        help_text=_("Separate several with commas, e.g. JBL, 哈曼卡顿"),
    )

    #: service error keys -> form fields
    PREFERENCE_FIELDS = {
        "preferences": "pref_services_other",
        "preferences.services": "pref_services_other",
        "preferences.music_style": "pref_music_style",
        "preferences.budget_min": "pref_budget_min",
        "preferences.budget_max": "pref_budget_max",
        "preferences.brands": "pref_brands",
    }

    def __init__(
        self,
        *args,
        stores=(),
        sources=(),
        tags=(),
        custom=(),
        custom_values=None,
        service_names=(),
        preferences_values=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.add_custom_fields(custom, custom_values)
        self._init_preferences(list(service_names), preferences_values or {})
        stores = list(stores)
        store_choices = [(s.pk, s.name) for s in stores]
        self.fields["home_store"].choices = (
            store_choices if len(stores) == 1 else [("", "—")] + store_choices
        )
        self.fields["source"].choices = [("", "—")] + [(s.pk, s.name) for s in sources]
        self.fields["tags"].choices = [(t.pk, t.name) for t in tags]
        self.fields["mobile"].widget.attrs.update(inputmode="tel", autocomplete="off")
        self.fields["name"].widget.attrs.update(autocomplete="off")

    def service_data(self) -> dict:
        """Keyword arguments for ``create_customer`` / ``update_customer``."""
        data = dict(self.cleaned_data)
        data["home_store_id"] = _choice(data.pop("home_store"))
        data["source_id"] = _choice(data.pop("source"))
        data["tag_ids"] = [int(t) for t in data.pop("tags")]
        data["custom"] = self.pop_custom(data)
        data["preferences"] = {
            "services": [*data.pop("pref_services"), *split_tags(data.pop("pref_services_other"))],
            "music_style": data.pop("pref_music_style"),
            "budget_min": data.pop("pref_budget_min").strip(),
            "budget_max": data.pop("pref_budget_max").strip(),
            "brands": data.pop("pref_brands"),
        }
        return data

    def _init_preferences(self, service_names: list[str], values: dict) -> None:
        """Catalog services and packages are ticked; other preferred services (free tags, or
        names no longer in the catalog) go to the text box."""
        chosen = [str(s) for s in values.get("services") or []]
        self.fields["pref_services"].choices = [(n, n) for n in service_names]
        self.initial.setdefault("pref_services", [s for s in chosen if s in service_names])
        others = [s for s in chosen if s not in service_names]
        self.initial.setdefault("pref_services_other", "，".join(others))
        self.initial.setdefault("pref_music_style", values.get("music_style", ""))
        for key in ("budget_min", "budget_max"):
            self.initial.setdefault(f"pref_{key}", values.get(key, ""))
            self.fields[f"pref_{key}"].widget.attrs.update(inputmode="numeric", autocomplete="off")
        self.initial.setdefault("pref_brands", "，".join(values.get("brands") or []))
        self.fields["pref_music_style"].widget.attrs["placeholder"] = _("e.g. pop, classical")


class VehicleForm(CustomFieldsMixin, StyledMixin, forms.Form):
    plate = forms.CharField(
        label=_("Plate"), max_length=12, required=False, help_text=_("e.g. 京A12345")
    )
    plate_override = forms.BooleanField(
        label=_("The plate is correct although unusual"), required=False
    )
    vin = forms.CharField(label=_("VIN"), max_length=25, required=False)
    confirm_vin = forms.BooleanField(
        label=_("The VIN is exactly as on the vehicle"), required=False
    )
    brand = forms.CharField(label=_("Brand"), max_length=40, required=False)
    model = forms.CharField(label=_("Model"), max_length=60, required=False)
    model_year = forms.IntegerField(label=_("Model year"), required=False)
    fuel = forms.ChoiceField(
        label=_("Fuel"), choices=[("", "—")] + list(Vehicle.Fuel.choices), required=False
    )
    color = forms.CharField(label=_("Colour"), max_length=20, required=False)
    engine_no = forms.CharField(label=_("Engine number"), max_length=30, required=False)
    registered_on = forms.DateField(
        label=_("Registration date"), required=False, widget=forms.DateInput(DATE)
    )
    purchased_on = forms.DateField(
        label=_("Purchase date"), required=False, widget=forms.DateInput(DATE)
    )
    insurer = forms.CharField(label=_("Insurer"), max_length=40, required=False)
    insurance_expires_on = forms.DateField(
        label=_("Insurance expires"), required=False, widget=forms.DateInput(DATE)
    )
    inspection_due_on = forms.DateField(
        label=_("Annual inspection due"), required=False, widget=forms.DateInput(DATE)
    )
    mileage_km = forms.IntegerField(
        label=_("Current mileage (km)"), required=False, min_value=0, max_value=2_000_000
    )

    def __init__(self, *args, editing: bool = False, custom=(), custom_values=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_fields(custom, custom_values)
        if editing:  # later readings go through the mileage form, which keeps the history
            del self.fields["mileage_km"]
        else:
            self.fields["mileage_km"].widget.attrs["inputmode"] = "numeric"
        self.fields["plate"].widget.attrs.update(autocomplete="off", autocapitalize="characters")
        self.fields["vin"].widget.attrs.update(autocomplete="off", autocapitalize="characters")
        self.fields["model_year"].widget.attrs["inputmode"] = "numeric"

    #: set by the page when the service refused the VIN for its check digit alone
    vin_unconfirmed = False

    def show_vin_confirmation(self) -> bool:
        """The confirmation box appears once the VIN is well-formed but its check digit fails
        (the service said so), and stays while it is ticked."""
        return bool(
            self.data.get("confirm_vin") or self.initial.get("confirm_vin") or self.vin_unconfirmed
        )

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if "mileage_km" in data:
            data["mileage_km"] = data["mileage_km"] or None
        data["custom"] = self.pop_custom(data)
        return data


class MileageForm(StyledMixin, forms.Form):
    SOURCES = [
        (MileageReading.Source.MANUAL, MileageReading.Source.MANUAL.label),
        (MileageReading.Source.CUSTOMER, MileageReading.Source.CUSTOMER.label),
        (MileageReading.Source.CORRECTION, MileageReading.Source.CORRECTION.label),
    ]

    km = forms.IntegerField(label=_("Mileage (km)"), min_value=0, max_value=2_000_000)
    read_on = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(DATE))
    source = forms.ChoiceField(label=_("Source"), choices=SOURCES)
    note = forms.CharField(
        label=_("Note"),
        max_length=200,
        required=False,
        help_text=_("Required for a correction."),
    )

    def __init__(self, *args, vehicle_id=None, **kwargs):
        if vehicle_id is not None:
            kwargs.setdefault("auto_id", f"id_mileage{vehicle_id}_%s")
        super().__init__(*args, **kwargs)
        self.fields["km"].widget.attrs["inputmode"] = "numeric"


class InteractionForm(StyledMixin, forms.Form):
    KINDS = [("note", _("Note")), ("call", _("Call"))]

    kind = forms.ChoiceField(
        label=_("Type"), choices=KINDS, initial="note", widget=forms.RadioSelect
    )
    summary = forms.CharField(label=_("Summary"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].widget.attrs["class"] = "btn-check"
        summary = self.fields["summary"].widget.attrs
        summary.update(placeholder=_("What was said or agreed"), autocomplete="off")
        summary["aria-label"] = _("Summary")
        body = self.fields["body"].widget.attrs
        body.update(placeholder=_("Details (optional)"))
        body["aria-label"] = _("Details")
