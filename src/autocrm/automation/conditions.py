"""Rule conditions: a JSON tree compiled to a Django ``Q`` (never ``eval``).

A tree is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a leaf
``{"field": "customer.level", "op": "eq", "value": "VIP"}``. Fields come from a whitelist per
entity (``catalog``): the record's own columns, its relations' (customer, vehicle, work order,
store), to-many lists (tags, labour items), aggregates (spend in the last 12 months) and the
org's custom fields. A field missing from the whitelist is refused when a rule is saved and, if
it disappears later (a custom field deleted, a column dropped), the rule is switched off with
that reason instead of failing at run time.

Time rules evaluate the compiled ``Q`` over the whole base in one query; event rules evaluate
the same ``Q`` on the one record (``filter(pk=...).exists()``) after the leaves that read the
event itself — ``{"op": "changed"}`` and ``{"previous": true, ...}`` — are replaced by their
value from the event's payload. ``evaluate`` does the whole tree in Python over a snapshot (a
deleted record)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from autocrm.core.errors import Invalid

MAX_DEPTH = 8
MAX_LEAVES = 60
AGGREGATE_DAYS = 365

# Ops per field type, in the order a picker shows them.
OPS_BY_TYPE = {
    "text": ["eq", "ne", "in", "contains", "is_empty"],
    "choice": ["eq", "ne", "in", "is_empty"],
    "int": ["eq", "ne", "gt", "gte", "lt", "lte", "in", "is_empty"],
    "number": ["eq", "ne", "gt", "gte", "lt", "lte", "is_empty"],
    "date": ["eq", "ne", "gt", "gte", "lt", "lte", "is_empty", "days_since", "days_until"],
    "datetime": ["gt", "gte", "lt", "lte", "is_empty", "days_since", "days_until"],
    "bool": ["eq", "ne"],
    "many": ["contains", "in", "is_empty"],
    "multi": ["contains", "is_empty"],
}
COMPARE = ("eq", "ne", "gt", "gte", "lt", "lte")
EVENT_OPS = ("changed",)
ALL_OPS = (*COMPARE, "in", "contains", "is_empty", "days_since", "days_until", "changed")


def op_labels() -> dict[str, str]:
    return {
        "eq": _("equals"),
        "ne": _("does not equal"),
        "gt": _("greater than"),
        "gte": _("at least"),
        "lt": _("less than"),
        "lte": _("at most"),
        "in": _("is one of"),
        "contains": _("contains"),
        "is_empty": _("is empty"),
        "days_since": _("days since"),
        "days_until": _("days until"),
        "changed": _("changed"),
    }


class FieldGone(Invalid):
    """A condition, trigger or action names a field that is not (or no longer) in the
    whitelist: the rule cannot run and is switched off with this message."""


# --- the whitelist ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    key: str  # "customer.level"
    path: str  # ORM path inside the namespace's model: "level", "tags__name", "custom__k"
    type: str  # a key of OPS_BY_TYPE
    label: Any
    kind: str = "plain"  # plain | many | aggregate | computed | custom
    choices: tuple = ()
    attname: str = ""  # the snapshot key of a plain field (for previous / deleted)
    custom_key: str = ""

    @property
    def namespace(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def ops(self) -> list[str]:
        ops = list(OPS_BY_TYPE[self.type])
        if self.kind == "aggregate":
            ops = [o for o in ops if o != "is_empty"]
        return ops

    @property
    def in_snapshot(self) -> bool:
        """Whether the record's own snapshot holds it (for previous / changed / deleted)."""
        return self.kind in ("plain", "custom")


@dataclass(frozen=True)
class Entity:
    name: str
    label: Any
    model_path: str  # "customers.Customer"
    store_path: str  # ORM path to the store id column's relation
    # namespace -> ORM prefix from this entity's model ("" for the entity itself)
    paths: dict = field(default_factory=dict)

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)

    def prefix(self, namespace: str) -> str | None:
        return self.paths.get(namespace)


ENTITIES: dict[str, Entity] = {
    "customer": Entity(
        "customer",
        gettext_lazy("Customer"),
        "customers.Customer",
        "home_store",
        {"customer": "", "store": "home_store"},
    ),
    "vehicle": Entity(
        "vehicle",
        gettext_lazy("Vehicle"),
        "customers.Vehicle",
        "home_store",
        {"vehicle": "", "customer": "owner", "store": "home_store"},
    ),
    "work_order": Entity(
        "work_order",
        gettext_lazy("Work order"),
        "service.WorkOrder",
        "store",
        {"work_order": "", "customer": "customer", "vehicle": "vehicle", "store": "store"},
    ),
    "payment": Entity(
        "payment",
        gettext_lazy("Payment"),
        "service.Payment",
        "store",
        {
            "payment": "",
            "work_order": "work_order",
            "customer": "work_order__customer",
            "vehicle": "work_order__vehicle",
            "store": "store",
        },
    ),
    "survey": Entity(
        "survey",
        gettext_lazy("Survey"),
        "feedback.Survey",
        "store",
        {
            "survey": "",
            "work_order": "work_order",
            "customer": "work_order__customer",
            "vehicle": "work_order__vehicle",
            "store": "store",
        },
    ),
}
NAMESPACE_MODELS = {
    "customer": "customers.Customer",
    "vehicle": "customers.Vehicle",
    "work_order": "service.WorkOrder",
    "payment": "service.Payment",
    "survey": "feedback.Survey",
    "store": "core.Store",
}
CUSTOM_TARGETS = {"customer", "vehicle", "work_order"}


def namespace_labels() -> dict[str, str]:
    return {
        "customer": _("Customer"),
        "vehicle": _("Vehicle"),
        "work_order": _("Work order"),
        "payment": _("Payment"),
        "survey": _("Survey"),
        "store": _("Store"),
    }


def _model(namespace: str):
    from django.apps import apps

    return apps.get_model(NAMESPACE_MODELS[namespace])


def _column(ns: str, name: str, type_: str | None = None, label=None) -> Field | None:
    """A whitelisted column, or None when the model has no such field (yet, or any more)."""
    model = _model(ns)
    try:
        f = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if type_ is None:
        internal = f.get_internal_type()
        type_ = {
            "DateField": "date",
            "DateTimeField": "datetime",
            "BooleanField": "bool",
            "DecimalField": "number",
            "FloatField": "number",
            "IntegerField": "int",
            "PositiveIntegerField": "int",
            "PositiveSmallIntegerField": "int",
            "SmallIntegerField": "int",
            "BigIntegerField": "int",
        }.get(internal, "choice" if f.choices else "text")
    choices = tuple((str(v), lbl) for v, lbl in (f.choices or ()) if v != "")
    return Field(
        key=f"{ns}.{name}",
        path=name,
        type=type_,
        label=label or f.verbose_name,
        choices=choices,
        attname=f.attname,
    )


def _many(ns: str, name: str, path: str, label) -> Field:
    return Field(key=f"{ns}.{name}", path=path, type="many", label=label, kind="many")


def _aggregate(ns: str, name: str, type_: str, label) -> Field:
    return Field(key=f"{ns}.{name}", path=name, type=type_, label=label, kind="aggregate")


@cache
def _static_fields() -> dict[str, Field]:
    """Every namespace's whitelisted fields (the org's custom fields are added per org)."""
    cols = {
        "customer": [
            "name",
            "kind",
            "gender",
            "level",
            "birthday",
            "mobile",
            "visit_count",
            "lifetime_spend",
            "first_visit_at",
            "last_visit_at",
            "consent_sms",
            "consent_wechat",
            "created_at",
        ],
        "vehicle": [
            "plate",
            "brand",
            "model",
            "model_year",
            "fuel",
            "color",
            "insurer",
            "insurance_expires_on",
            "inspection_due_on",
            "registered_on",
            "purchased_on",
            "current_mileage",
            "last_service_on",
            "last_service_km",
            "service_due_on",
            "service_due_km",
            "daily_km",
            "created_at",
        ],
        "work_order": [
            "number",
            "status",
            "repair_class",
            "total",
            "paid",
            "mileage_in",
            "opened_at",
            "settled_at",
            "closed_at",
            "campaign",
        ],
        "payment": ["amount", "method", "kind", "created_at"],
        "survey": [
            "nps",
            "timeliness",
            "professionalism",
            "attitude",
            "result",
            "is_low",
            "comment",
            "submitted_at",
        ],
        "store": ["kind", "city", "code"],
    }
    fields: dict[str, Field] = {}
    for ns, names in cols.items():
        for name in names:
            spec = _column(ns, name)
            if spec is not None:
                fields[spec.key] = spec
    extra = [
        Field("customer.source", "source__name", "text", gettext_lazy("source")),
        _many("customer", "tags", "tags__name", gettext_lazy("tags")),
        _aggregate("customer", "spend_12m", "number", gettext_lazy("spend in the last 12 months")),
        _aggregate("customer", "visits_12m", "int", gettext_lazy("visits in the last 12 months")),
        _aggregate("customer", "paid_12m", "number", gettext_lazy("paid in the last 12 months")),
        Field("work_order.stage", "stage__name", "text", gettext_lazy("board stage")),
        Field("work_order.source", "source__name", "text", gettext_lazy("source")),
        _many("work_order", "labour_codes", "lines__labour__code", gettext_lazy("labour codes")),
        _many("work_order", "labour_names", "lines__name", gettext_lazy("item names")),
        _many("work_order", "package_codes", "lines__package__code", gettext_lazy("package codes")),
        Field(
            "work_order.first_visit",
            "first_visit",
            "bool",
            gettext_lazy("first visit of the customer"),
            kind="computed",
        ),
        Field("store.region", "region__code", "text", gettext_lazy("region code")),
    ]
    for spec in extra:
        fields[spec.key] = spec
    return fields


CUSTOM_TYPES = {
    "text": "text",
    "long_text": "text",
    "url": "text",
    "choice": "choice",
    "multi_choice": "multi",
    "integer": "int",
    "decimal": "number",
    "date": "date",
    "boolean": "bool",
}


def custom_fields(org_id: int | None) -> dict[str, Field]:
    if org_id is None:
        return {}
    from autocrm.core.models import CustomField

    fields = {}
    for cf in CustomField.objects.filter(org_id=org_id, target__in=CUSTOM_TARGETS):
        key = f"{cf.target}.custom.{cf.key}"
        fields[key] = Field(
            key=key,
            path=f"custom__{cf.key}",
            type=CUSTOM_TYPES.get(cf.type, "text"),
            label=cf.label_zh,
            kind="custom",
            choices=tuple((str(c), str(c)) for c in (cf.choices or [])),
            attname="custom",
            custom_key=cf.key,
        )
    return fields


def fields_for(entity: str, org_id: int | None) -> dict[str, Field]:
    """The fields a rule on ``entity`` may use: its namespaces' columns and custom fields."""
    spaces = ENTITIES[entity].paths
    every = {**_static_fields(), **custom_fields(org_id)}
    return {k: f for k, f in every.items() if f.namespace in spaces}


def catalog(entity: str, org_id: int | None = None, fields: dict | None = None) -> dict:
    """What a rule builder offers for ``entity``: fields grouped by namespace, with their
    type, labels and allowed ops (labels in the active language, Chinese by default).
    ``fields`` replaces the whitelist (a caller's ``Context.fields``), if given."""
    if entity not in ENTITIES:
        raise Invalid(fields={"entity": _("Choose one of the listed record types.")})
    ops = op_labels()
    spaces = namespace_labels()
    out = []
    for spec in (fields if fields is not None else fields_for(entity, org_id)).values():
        out.append(
            {
                "field": spec.key,
                "namespace": spec.namespace,
                "namespace_label": spaces[spec.namespace],
                "label": str(spec.label),
                "type": spec.type,
                "kind": spec.kind,
                "ops": [{"op": o, "label": ops[o]} for o in spec.ops],
                "choices": [{"value": v, "label": str(lbl)} for v, lbl in spec.choices],
                "event_only_ops": ["changed", "previous"]
                if spec.in_snapshot and spec.namespace == entity
                else [],
            }
        )
    return {
        "entity": entity,
        "label": str(ENTITIES[entity].label),
        "fields": out,
        "ops": [{"op": o, "label": ops[o]} for o in ALL_OPS],
    }


# --- validation ---------------------------------------------------------------------------


@dataclass
class Context:
    """What compiling and checking a tree needs: the entity, its fields, and "now"."""

    entity: str
    org_id: int | None
    now: datetime.datetime = field(default_factory=timezone.now)
    event: bool = False  # previous / changed allowed
    snapshot_only: bool = False  # deleted records: every leaf must be in the snapshot
    fields: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.fields:
            self.fields = fields_for(self.entity, self.org_id)

    @property
    def today(self) -> datetime.date:
        return timezone.localdate(self.now)

    def field(self, key) -> Field:
        spec = self.fields.get(key) if isinstance(key, str) else None
        if spec is None:
            raise FieldGone(
                _("The field “%(field)s” does not exist (any more) for %(entity)s.")
                % {"field": key, "entity": ENTITIES[self.entity].label},
                fields={"condition": _("Unknown field “%(field)s”.") % {"field": key}},
                code="field_gone",
            )
        return spec


def _refuse(message: str) -> None:
    raise Invalid(message, fields={"condition": message})


def _is_leaf(node: dict) -> bool:
    return "field" in node


def validate(tree, ctx: Context) -> dict:
    """The tree, checked: known nodes, whitelisted fields, allowed ops, values of the right
    type. Raises ``Invalid`` (``FieldGone`` for an unknown field) with a Chinese message."""
    if tree in (None, {}):
        return {}
    count = [0]
    _check_node(tree, ctx, 0, count)
    return tree


def _check_node(node, ctx: Context, depth: int, count: list) -> None:
    if depth > MAX_DEPTH:
        _refuse(_("The condition is nested too deeply (at most %(n)d levels).") % {"n": MAX_DEPTH})
    if not isinstance(node, dict) or not node:
        _refuse(_("Each part of a condition must be a non-empty JSON object."))
    if _is_leaf(node):
        count[0] += 1
        if count[0] > MAX_LEAVES:
            _refuse(_("A condition may test at most %(n)d fields.") % {"n": MAX_LEAVES})
        _check_leaf(node, ctx)
        return
    if len(node) != 1:
        _refuse(_("Use exactly one of “all”, “any” or “not” in each group."))
    ((kind, body),) = node.items()
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            _refuse(_("“%(kind)s” needs a non-empty list of conditions.") % {"kind": kind})
        for child in body:
            _check_node(child, ctx, depth + 1, count)
    elif kind == "not":
        _check_node(body, ctx, depth + 1, count)
    else:
        _refuse(_("Unknown part “%(name)s”: use all, any, not or a field.") % {"name": kind})


LEAF_KEYS = {"field", "op", "value", "cmp", "previous", "from", "to"}


def _check_leaf(leaf: dict, ctx: Context) -> None:
    unknown = set(leaf) - LEAF_KEYS
    if unknown:
        _refuse(_("Unknown key “%(key)s” in a condition.") % {"key": sorted(unknown)[0]})
    spec = ctx.field(leaf.get("field"))
    op = leaf.get("op")
    label = f"{namespace_labels()[spec.namespace]}.{spec.label}"
    event_leaf = op == "changed" or bool(leaf.get("previous"))
    if event_leaf:
        if not ctx.event:
            _refuse(_("“Previous value” and “changed” only work with event triggers."))
        if not (spec.in_snapshot and spec.namespace == ctx.entity):
            _refuse(
                _("“Previous value” and “changed” only work on the triggering record's own fields.")
            )
    elif ctx.snapshot_only and not (spec.in_snapshot and spec.namespace == ctx.entity):
        _refuse(
            _("A rule on deleted records can only test their own fields, not “%(f)s”.")
            % {"f": label}
        )
    if op == "changed":
        for key in ("from", "to"):
            if key in leaf and leaf[key] is not None:
                _check_value(spec, "eq", leaf[key], label)
        return
    if op not in spec.ops:
        _refuse(
            _("“%(op)s” cannot be used with the field “%(field)s”.")
            % {"op": op_labels().get(op, op) if isinstance(op, str) else op, "field": label}
        )
    if op in ("days_since", "days_until"):
        cmp = leaf.get("cmp", "gte")
        if cmp not in COMPARE:
            _refuse(_("Compare the number of days with eq, ne, gt, gte, lt or lte."))
        value = leaf.get("value")
        if isinstance(value, bool) or not isinstance(value, int) or not -36500 <= value <= 36500:
            _refuse(_("“%(field)s”: give the number of days as a whole number.") % {"field": label})
        return
    if op == "is_empty":
        if not isinstance(leaf.get("value", True), bool):
            _refuse(_("“is empty” takes true or false."))
        return
    if "value" not in leaf:
        _refuse(_("“%(field)s”: give the value to compare with.") % {"field": label})
    _check_value(spec, op, leaf["value"], label)


def _check_value(spec: Field, op: str, value, label: str) -> None:
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > 200:
            _refuse(
                _("“%(field)s”: “is one of” takes a list of 1 to 200 values.") % {"field": label}
            )
        for item in value:
            _scalar(spec, item, label)
        return
    if spec.type in ("many", "multi") or op == "contains":
        if not isinstance(value, str) or not value.strip():
            _refuse(_("“%(field)s”: give the text to look for.") % {"field": label})
        return
    _scalar(spec, value, label)


def _scalar(spec: Field, value, label: str):
    try:
        to_python(spec, value, strict=True)
    except (ValueError, TypeError, InvalidOperation):
        messages = {
            "int": _("“%(field)s” needs a whole number."),
            "number": _("“%(field)s” needs a number."),
            "date": _("“%(field)s” needs a date (YYYY-MM-DD)."),
            "datetime": _("“%(field)s” needs a date (YYYY-MM-DD) or a date and time."),
            "bool": _("“%(field)s” needs true or false."),
        }
        _refuse(messages.get(spec.type, _("“%(field)s” needs a text value.")) % {"field": label})
    if spec.type == "choice" and spec.choices and str(value) not in {v for v, _l in spec.choices}:
        _refuse(_("“%(field)s” has no option “%(value)s”.") % {"field": label, "value": value})
    return None


def to_python(spec: Field, value, *, strict: bool = False):
    """A JSON value (from a condition or a snapshot) as the field's Python type; ``strict``
    refuses what only loosely fits (a condition as written by a person)."""
    if value is None:
        return None
    t = spec.type
    if t == "int":
        if isinstance(value, bool) or (strict and not isinstance(value, int | str)):
            raise ValueError
        return int(value)
    if t == "number":
        if isinstance(value, bool):
            raise ValueError
        return Decimal(str(value))
    if t == "date":
        if isinstance(value, datetime.datetime):
            return timezone.localdate(value) if timezone.is_aware(value) else value.date()
        if isinstance(value, datetime.date):
            return value
        parsed = parse_date(str(value)[:10])
        if parsed is None:
            raise ValueError
        return parsed
    if t == "datetime":
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, datetime.date):
            return value
        text = str(value)
        parsed = parse_datetime(text) if len(text) > 10 else None
        if parsed is not None:
            return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
        day = parse_date(text)
        if day is None:
            raise ValueError
        return day
    if t == "bool":
        if not isinstance(value, bool):
            raise ValueError
        return value
    if isinstance(value, bool) or (strict and not isinstance(value, str | int)):
        raise ValueError
    return str(value)


def leaves(tree):
    if not isinstance(tree, dict) or not tree:
        return
    if _is_leaf(tree):
        yield tree
        return
    for kind, body in tree.items():
        if kind in ("all", "any") and isinstance(body, list):
            for child in body:
                yield from leaves(child)
        elif kind == "not":
            yield from leaves(body)


# --- compile to Q -------------------------------------------------------------------------

TRUE = Q(pk__isnull=False)
FALSE = Q(pk__isnull=True)


def _join(*parts: str) -> str:
    return "__".join(p for p in parts if p)


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def compile_q(tree, ctx: Context, event: dict | None = None) -> Q:
    """The tree as a ``Q`` on the entity's model. ``event`` (for event rules) holds
    ``previous`` and ``changed`` of the triggering record; its leaves become constants.
    Aggregates add aliases to ``ctx.aliases``: apply them with ``apply``."""
    if tree in (None, {}):
        return TRUE
    if _is_leaf(tree):
        if tree.get("op") == "changed" or tree.get("previous"):
            return TRUE if _event_leaf(tree, ctx, event) else FALSE
        return _leaf_q(tree, ctx)
    ((kind, body),) = tree.items()
    if kind == "not":
        return ~compile_q(body, ctx, event)
    parts = [compile_q(child, ctx, event) for child in body]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if kind == "all" else combined | part
    return combined


def apply(queryset, tree, ctx: Context, event: dict | None = None):
    """``queryset`` narrowed to the records the condition holds for."""
    q = compile_q(tree, ctx, event)
    if ctx.aliases:
        queryset = queryset.alias(**ctx.aliases)
    return queryset.filter(q)


def _leaf_q(leaf: dict, ctx: Context) -> Q:
    spec = ctx.field(leaf["field"])
    prefix = ENTITIES[ctx.entity].prefix(spec.namespace)
    op = leaf["op"]
    value = leaf.get("value")
    if spec.kind == "many":
        return _many_q(spec, prefix, op, value)
    if spec.kind == "aggregate":
        path = _aggregate_alias(spec, prefix, ctx)
    elif spec.kind == "computed":
        path = _computed_alias(spec, prefix, ctx)
    elif spec.kind == "custom" and spec.type != "bool":
        path = _custom_alias(spec, prefix, ctx)
    else:  # a column, or a custom yes/no (JSON true/false compares as JSON)
        path = _join(prefix, spec.path)
    if op == "is_empty":
        empty = Q(**{f"{path}__isnull": True})
        if spec.type in ("text", "choice", "multi"):
            empty |= Q(**{path: ""})
        return empty if leaf.get("value", True) else ~empty
    if op in ("days_since", "days_until"):
        return _days_q(spec, path, op, leaf.get("cmp", "gte"), int(value), ctx)
    if op == "contains":
        if spec.type == "multi":  # the list's JSON text holds the quoted choice
            from django.db import connection

            needle = json.dumps(value, ensure_ascii=connection.vendor == "sqlite")
            return Q(**{f"{path}__icontains": needle})
        return Q(**{f"{path}__icontains": value})
    if op == "in":
        return Q(**{f"{path}__in": [_db_value(spec, v) for v in value]})
    if spec.type in ("date", "datetime") or (spec.kind == "custom" and spec.type == "date"):
        return _date_compare(spec, path, op, to_python(spec, value))
    lookup = {"eq": "exact", "ne": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
    q = Q(**{f"{path}__{lookup[op]}": _db_value(spec, value)})
    return ~q if op == "ne" else q


def _db_value(spec: Field, value):
    v = to_python(spec, value)
    if spec.kind == "custom" and spec.type == "date":
        return v.isoformat()
    return v


def _date_compare(spec: Field, path: str, op: str, value) -> Q:
    """Dates compare by the local calendar day; a datetime field against a date compares its
    local day; a custom date (ISO text) compares as text."""
    if spec.kind == "custom":
        text = value.isoformat() if isinstance(value, datetime.date) else str(value)
        lookup = {"eq": "exact", "ne": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
        q = Q(**{f"{path}__{lookup[op]}": text[:10]})
        return ~q if op == "ne" else q
    if spec.type == "datetime" and isinstance(value, datetime.datetime):
        q = Q(**{f"{path}__{'exact' if op in ('eq', 'ne') else op}": value})
        return ~q if op == "ne" else q
    if spec.type == "datetime":
        return _day_compare(path, op, value)
    lookup = {"eq": "exact", "ne": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
    q = Q(**{f"{path}__{lookup[op]}": value})
    return ~q if op == "ne" else q


def _day_compare(path: str, op: str, day: datetime.date) -> Q:
    """A datetime column's local day compared with ``day``, as ranges (index friendly)."""
    start, end = _start_of(day), _start_of(day + datetime.timedelta(days=1))
    if op == "eq":
        return Q(**{f"{path}__gte": start, f"{path}__lt": end})
    if op == "ne":
        return ~Q(**{f"{path}__gte": start, f"{path}__lt": end})
    return {
        "gt": Q(**{f"{path}__gte": end}),
        "gte": Q(**{f"{path}__gte": start}),
        "lt": Q(**{f"{path}__lt": start}),
        "lte": Q(**{f"{path}__lt": end}),
    }[op]


FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def _days_q(spec: Field, path: str, op: str, cmp: str, days: int, ctx: Context) -> Q:
    """days_since(d) = today − d; days_until(d) = d − today, both in whole local days."""
    if op == "days_since":
        day, cmp = ctx.today - datetime.timedelta(days=days), FLIP[cmp]
    else:
        day = ctx.today + datetime.timedelta(days=days)
    if spec.kind == "custom":
        return _date_compare(spec, path, cmp, day)
    if spec.type == "datetime":
        return _day_compare(path, cmp, day)
    return _date_compare(spec, path, cmp, day)


def _many_q(spec: Field, prefix: str, op: str, value) -> Q:
    """To-many lists as ``IN (subquery)``: no join, so no duplicated rows."""
    model = _model(spec.namespace)
    key = _join(prefix, "pk") + "__in"
    if op == "is_empty":
        having = model.objects.filter(**{f"{spec.path}__isnull": False}).values("pk")
        return ~Q(**{key: having}) if value in (None, True) else Q(**{key: having})
    if op == "in":
        having = model.objects.filter(**{f"{spec.path}__in": [str(v) for v in value]})
    else:
        having = model.objects.filter(**{f"{spec.path}__icontains": value})
    return Q(**{key: having.values("pk")})


def _customer_ref(prefix: str) -> str:
    return _join(prefix, "pk") if prefix else "pk"


def _aggregate_alias(spec: Field, prefix: str, ctx: Context) -> str:
    from autocrm.service.models import Payment, WorkOrder

    name = f"_agg_{spec.path}_{len(ctx.aliases)}"
    since = ctx.now - datetime.timedelta(days=AGGREGATE_DAYS)
    ref = OuterRef(_customer_ref(prefix))
    finished = [WorkOrder.Status.SETTLED, WorkOrder.Status.CLOSED]
    if spec.path == "paid_12m":
        rows = (
            Payment.objects.filter(
                work_order__customer_id=ref, created_at__gte=since, created_at__lte=ctx.now
            )
            .order_by()
            .values("work_order__customer_id")
            .annotate(v=Sum("amount"))
            .values("v")[:1]
        )
        expr = Coalesce(Subquery(rows, output_field=DecimalField()), Value(Decimal("0")))
    else:
        rows = WorkOrder.objects.filter(
            customer_id=ref,
            status__in=finished,
            settled_at__gte=since,
            settled_at__lte=ctx.now,
        ).order_by()
        if spec.path == "spend_12m":
            rows = rows.values("customer_id").annotate(v=Sum("total")).values("v")[:1]
            expr = Coalesce(Subquery(rows, output_field=DecimalField()), Value(Decimal("0")))
        else:
            rows = rows.values("customer_id").annotate(v=Count("pk")).values("v")[:1]
            expr = Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))
    ctx.aliases[name] = expr
    return name


def _computed_alias(spec: Field, prefix: str, ctx: Context) -> str:
    from autocrm.service.models import WorkOrder

    name = f"_cmp_{spec.path}_{len(ctx.aliases)}"
    if spec.path == "first_visit":
        earlier = WorkOrder.objects.filter(
            customer_id=OuterRef(_join(prefix, "customer_id")),
            status__in=[WorkOrder.Status.SETTLED, WorkOrder.Status.CLOSED],
            settled_at__lt=OuterRef(_join(prefix, "settled_at")),
        )
        ctx.aliases[name] = ~Exists(earlier)
    return name


def _custom_alias(spec: Field, prefix: str, ctx: Context) -> str:
    name = f"_cf_{spec.custom_key}_{len(ctx.aliases)}"
    text = KeyTextTransform(spec.custom_key, _join(prefix, "custom"))
    if spec.type == "int":
        ctx.aliases[name] = Cast(text, IntegerField())
    elif spec.type == "number":
        ctx.aliases[name] = Cast(text, DecimalField(max_digits=20, decimal_places=4))
    elif spec.type == "bool":
        ctx.aliases[name] = KeyTransform(spec.custom_key, _join(prefix, "custom"))
    else:  # a plain text expression, so lookups compare text (not JSON)
        ctx.aliases[name] = Cast(text, TextField())
    return name


# --- the event's own leaves, and whole trees over a snapshot ------------------------------


def snapshot_value(spec: Field, snapshot: dict | None):
    if snapshot is None:
        return None
    if spec.kind == "custom":
        return to_python(spec, (snapshot.get("custom") or {}).get(spec.custom_key))
    raw = snapshot.get(spec.attname)
    if spec.type == "datetime" and isinstance(raw, str):
        parsed = parse_datetime(raw)
        return parsed
    return to_python(spec, raw) if raw is not None else None


def _event_leaf(leaf: dict, ctx: Context, event: dict | None) -> bool:
    """``changed`` (optionally from/to a value) and ``previous`` leaves, from the payload."""
    spec = ctx.field(leaf["field"])
    event = event or {}
    changed = set(event.get("changed") or ())
    name = spec.attname if spec.kind != "custom" else f"custom.{spec.custom_key}"
    if leaf.get("op") == "changed":
        if name not in changed:
            return False
        before = snapshot_value(spec, event.get("previous"))
        after = snapshot_value(spec, event.get("current"))
        if leaf.get("from") is not None and before != to_python(spec, leaf["from"]):
            return False
        return leaf.get("to") is None or after == to_python(spec, leaf["to"])
    return holds(spec, leaf, snapshot_value(spec, event.get("previous")), ctx)


def evaluate(tree, ctx: Context, snapshot: dict, event: dict | None = None) -> bool:
    """The whole tree in Python over ``snapshot`` (the record's own fields)."""
    if tree in (None, {}):
        return True
    if _is_leaf(tree):
        if tree.get("op") == "changed" or tree.get("previous"):
            return _event_leaf(tree, ctx, event)
        spec = ctx.field(tree["field"])
        return holds(spec, tree, snapshot_value(spec, snapshot), ctx)
    ((kind, body),) = tree.items()
    if kind == "not":
        return not evaluate(body, ctx, snapshot, event)
    results = (evaluate(child, ctx, snapshot, event) for child in body)
    return all(results) if kind == "all" else any(results)


def _local_day(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def holds(spec: Field, leaf: dict, value, ctx: Context) -> bool:
    """One leaf against a Python value (SQL semantics: an empty value never compares)."""
    op = leaf["op"]
    if op == "is_empty":
        empty = value in (None, "", [])
        return empty if leaf.get("value", True) else not empty
    if op in ("days_since", "days_until"):
        day = _local_day(value)
        if day is None:
            return False
        days = (ctx.today - day).days if op == "days_since" else (day - ctx.today).days
        return _cmp(leaf.get("cmp", "gte"), days, int(leaf["value"]))
    if op == "contains":
        if isinstance(value, list):
            return any(str(leaf["value"]).lower() in str(v).lower() for v in value)
        return value is not None and str(leaf["value"]).lower() in str(value).lower()
    if op == "in":
        return value in [to_python(spec, v) for v in leaf["value"]]
    if op == "ne" and value is None:
        return True
    if value is None:
        return False
    other = to_python(spec, leaf["value"])
    if spec.type in ("date", "datetime"):
        if isinstance(other, datetime.datetime) and isinstance(value, datetime.datetime):
            return _cmp(op, value, other)
        value, other = _local_day(value), _local_day(other)
    return _cmp(op, value, other)


def _cmp(op: str, a, b) -> bool:
    try:
        return {
            "eq": a == b,
            "ne": a != b,
            "gt": a > b,
            "gte": a >= b,
            "lt": a < b,
            "lte": a <= b,
        }[op]
    except TypeError:
        return False
