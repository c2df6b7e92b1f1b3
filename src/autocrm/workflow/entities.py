"""The kinds of record a process can govern, and the fields its rules may name.

A process stage's required fields, a transition's condition and an amount-tiered approval all
name fields from here: real columns of the record, or ``custom.<key>`` for a custom field of the
form engine. Work orders are the first entity; leads, complaints and approvals add an
``EntitySpec`` with their model and fields and reuse the whole engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from autocrm.core.errors import NotFound

CUSTOM = "custom."

# Kinds of field: what a condition may ask of them.
MONEY, INTEGER, TEXT, CHOICE, MOMENT, PERSON, BOOLEAN, DATE = (
    "money",
    "integer",
    "text",
    "choice",
    "moment",
    "person",
    "boolean",
    "date",
)
NUMERIC = {MONEY, INTEGER}


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the model field, or custom.<key>
    label: str
    kind: str
    choices: tuple[tuple[str, str], ...] = ()
    lookup: str = ""  # ORM path when it differs from ``name`` (custom fields)
    custom_key: str = ""

    @property
    def is_custom(self) -> bool:
        return bool(self.custom_key)


@dataclass(frozen=True)
class EntitySpec:
    code: str
    label: object
    model_label: str  # "service.WorkOrder"
    fields: Callable[[], list[FieldSpec]]
    custom_target: str | None = None
    amount_fields: tuple[str, ...] = ()
    closed: Callable[[object], bool] = field(default=lambda obj: False)

    @property
    def model(self):
        return apps.get_model(self.model_label)


def _work_order_fields() -> list[FieldSpec]:
    from autocrm.catalog.models import RepairClass
    from autocrm.service.models import WorkOrder

    def label(name: str) -> str:
        return str(WorkOrder._meta.get_field(name).verbose_name)

    return [
        FieldSpec("total", label("total"), MONEY),
        FieldSpec("discount_total", label("discount_total"), MONEY),
        FieldSpec("labour_total", label("labour_total"), MONEY),
        FieldSpec("parts_total", label("parts_total"), MONEY),
        FieldSpec("paid", label("paid"), MONEY),
        FieldSpec("mileage_in", label("mileage_in"), INTEGER),
        FieldSpec("promised_at", label("promised_at"), MOMENT),
        FieldSpec("advisor", label("advisor"), PERSON, lookup="advisor_id"),
        FieldSpec("complaint", label("complaint"), TEXT),
        FieldSpec(
            "status",
            label("status"),
            CHOICE,
            tuple((v, str(lab)) for v, lab in WorkOrder.Status.choices),
        ),
        FieldSpec(
            "repair_class",
            label("repair_class"),
            CHOICE,
            tuple((v, str(lab)) for v, lab in RepairClass.choices),
        ),
        FieldSpec("old_parts_returned", label("old_parts_returned"), BOOLEAN),
    ]


def _work_order_closed(wo) -> bool:
    return not wo.is_open


ENTITIES: dict[str, EntitySpec] = {
    "work_order": EntitySpec(
        code="work_order",
        label=gettext_lazy("Work orders"),
        model_label="service.WorkOrder",
        fields=_work_order_fields,
        custom_target="work_order",
        amount_fields=("discount_total", "total", "labour_total", "parts_total"),
        closed=_work_order_closed,
    ),
}


def spec(code: str) -> EntitySpec:
    found = ENTITIES.get(code)
    if found is None:
        raise NotFound(_("There is no process for this kind of record."))
    return found


_CUSTOM_KIND = {
    "text": TEXT,
    "long_text": TEXT,
    "url": TEXT,
    "integer": INTEGER,
    "decimal": MONEY,  # compared as a decimal number
    "date": DATE,
    "choice": CHOICE,
    "multi_choice": TEXT,
    "boolean": BOOLEAN,
}


def fields_of(entity: EntitySpec, org_id: int) -> dict[str, FieldSpec]:
    """The record's fields and the org's custom fields for it, by name."""
    found = {f.name: f for f in entity.fields()}
    if entity.custom_target:
        from autocrm.core.customfields import definitions

        for definition in definitions(org_id, entity.custom_target):
            name = f"{CUSTOM}{definition.key}"
            found[name] = FieldSpec(
                name=name,
                label=definition.label(),
                kind=_CUSTOM_KIND.get(definition.type, TEXT),
                choices=tuple((c, c) for c in definition.choices or ()),
                lookup=f"custom__{definition.key}",
                custom_key=definition.key,
            )
    return found


def value_of(obj, spec_: FieldSpec):
    """A record's current value of a field (custom fields from its ``custom`` JSON)."""
    if spec_.is_custom:
        return (getattr(obj, "custom", None) or {}).get(spec_.custom_key)
    if spec_.kind == PERSON:
        return getattr(obj, f"{spec_.name}_id", None)
    return getattr(obj, spec_.name, None)


def is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def amount_of(obj, name: str) -> Decimal:
    value = getattr(obj, name, None)
    return Decimal(str(value)) if value is not None else Decimal("0")
