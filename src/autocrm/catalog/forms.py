"""Catalog forms. Amounts are read as text so the services give the one set of messages
(negative, more than two decimals, cost above the sale price…) for pages and the API alike."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from autocrm.catalog.models import Category, RepairClass
from autocrm.core.forms import StyledMixin, style_widget

MONEY_ATTRS = {"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}
EXTRA_LEVELS = 3


def money_field(label, *, required: bool = True, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=20,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs=MONEY_ATTRS),
    )


class LabourForm(StyledMixin, forms.Form):
    code = forms.CharField(label=_("Code"), max_length=30, help_text=_("e.g. BY-001"))
    name = forms.CharField(label=pgettext_lazy("catalog item", "Name"), max_length=100)
    hours = forms.CharField(
        label=_("Standard hours"),
        max_length=10,
        initial="1",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    price = money_field(_("Price (yuan)"))
    category = forms.ChoiceField(
        label=_("Settlement category"), choices=Category.choices, initial=Category.LABOUR
    )
    repair_class = forms.ChoiceField(
        label=_("Repair class"), choices=RepairClass.choices, initial=RepairClass.MINOR
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    layout = (("code", "name"), ("hours", "price"), ("category", "repair_class"), ("is_active",))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["is_active"]


class PartForm(StyledMixin, forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=40, help_text=_("Part number, e.g. 15208-65F0E")
    )
    name = forms.CharField(label=pgettext_lazy("catalog item", "Name"), max_length=100)
    brand = forms.CharField(label=_("Brand"), max_length=40, required=False)
    spec = forms.CharField(label=_("Specification"), max_length=60, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=10, initial="个")
    price = money_field(_("Sale price (yuan)"))
    cost = money_field(_("Cost (yuan)"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    layout = (("code", "name"), ("brand", "spec"), ("unit", "price", "cost"), ("is_active",))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["is_active"]


def item_choices(labour_items, parts) -> list:
    """A grouped list of what a package line can be: ``labour:<id>`` or ``part:<id>``."""
    return [
        ("", "—"),
        (_("Labour"), [(f"labour:{i.pk}", f"{i.code} {i.name}") for i in labour_items]),
        (
            _("Parts"),
            [
                (f"part:{p.pk}", " ".join(x for x in (p.code, p.name, p.brand, p.spec) if x))
                for p in parts
            ],
        ),
    ]


def split_item(value: str) -> dict:
    kind, _sep, pk = (value or "").partition(":")
    if kind == "labour":
        return {"labour_id": pk}
    if kind == "part":
        return {"part_id": pk}
    return {}


class PackageForm(StyledMixin, forms.Form):
    code = forms.CharField(label=_("Code"), max_length=30, help_text=_("e.g. XBY"))
    name = forms.CharField(
        label=pgettext_lazy("catalog item", "Name"), max_length=100, help_text=_("e.g. 小保养")
    )
    repair_class = forms.ChoiceField(
        label=_("Repair class"), choices=RepairClass.choices, initial=RepairClass.MINOR
    )
    bookable = forms.BooleanField(label=_("Bookable online"), required=False, initial=True)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    item = forms.ChoiceField(label=_("First item"), required=False)
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=12,
        initial="1",
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    layout = (("code", "name"), ("repair_class",), ("item", "quantity"), ("bookable", "is_active"))

    def __init__(self, *args, editing: bool = False, labour_items=(), parts=(), **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["item"], self.fields["quantity"]
        else:
            del self.fields["is_active"]
            self.fields["item"].choices = item_choices(labour_items, parts)
            self.fields["item"].help_text = _("Add more items on the next page.")

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        item = data.pop("item", None)
        quantity = data.pop("quantity", None)
        if "item" in self.fields:
            data["items"] = [{**split_item(item), "quantity": quantity or "1"}] if item else []
        return data


class PackageItemForm(StyledMixin, forms.Form):
    item = forms.ChoiceField(label=_("Labour item or part"))
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=12,
        initial="1",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def __init__(self, *args, labour_items=(), parts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = item_choices(labour_items, parts)

    def service_data(self) -> dict:
        return {**split_item(self.cleaned_data["item"]), "quantity": self.cleaned_data["quantity"]}


class StorePriceForm(StyledMixin, forms.Form):
    """The store's price and one row per membership level (``level_<n>``, ``member_<n>``)."""

    price = money_field(_("Store price (yuan)"))

    def __init__(self, *args, member_prices: dict | None = None, levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        member_prices = member_prices or {}
        rows = max(len(member_prices) + EXTRA_LEVELS, len(levels))
        data = self.data if self.is_bound else None
        if data is not None:  # keep every row a person filled in, however many
            posted = [k for k in data if k.startswith("level_")]
            rows = max(rows, len(posted))
        known = list(member_prices.items())
        suggestions = [lv for lv in levels if lv not in member_prices]
        self.level_rows = []
        for n in range(rows):
            level_name, member_name = f"level_{n}", f"member_{n}"
            self.fields[level_name] = forms.CharField(
                label=_("Membership level"),
                max_length=30,
                required=False,
                widget=forms.TextInput(attrs={"list": "level-names", "autocomplete": "off"}),
            )
            self.fields[member_name] = money_field(_("Member price (yuan)"), required=False)
            style_widget(self.fields[level_name])
            style_widget(self.fields[member_name])
            if n < len(known):
                self.initial.setdefault(level_name, known[n][0])
                self.initial.setdefault(member_name, known[n][1])
            elif n - len(known) < len(suggestions):
                self.initial.setdefault(level_name, suggestions[n - len(known)])
            self.level_rows.append((self[level_name], self[member_name]))

    def service_data(self) -> dict:
        """``price`` and ``member_prices``; rows without a price are left out, and a price
        without a level name is passed on so the service can say what is missing."""
        members: dict = {}
        for level_field, member_field in self.level_rows:
            level = (self.cleaned_data.get(level_field.name) or "").strip()
            amount = (self.cleaned_data.get(member_field.name) or "").strip()
            if not amount:
                continue
            if level in members:  # a level listed twice: let the service refuse it
                level = f"{level} "
            members[level] = amount
        return {"price": self.cleaned_data["price"], "member_prices": members}
