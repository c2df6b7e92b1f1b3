"""Conditions of transitions: small JSON trees compiled to ORM ``Q`` objects, never ``eval``.

A leaf is ``{"field": "total", "op": "gt", "value": "2000"}``; branches are ``{"all": [...]}``,
``{"any": [...]}`` and ``{"not": {...}}``; ``{}`` always holds. Fields come from the entity's
registry (custom fields as ``custom.<key>``). ``clean`` checks a tree and gives it back with its
values normalised (amounts as strings of two decimals); ``compile`` gives annotations and a
``Q`` for any queryset of the entity, so a rule can also run set-based over many records;
``holds`` asks the database about one record; ``describe`` says the condition in words."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db.models import DecimalField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from autocrm.core.errors import Invalid
from autocrm.workflow.entities import (
    BOOLEAN,
    CHOICE,
    DATE,
    INTEGER,
    MOMENT,
    MONEY,
    NUMERIC,
    PERSON,
    TEXT,
    EntitySpec,
    FieldSpec,
    fields_of,
)

MAX_LEAVES = 20
MAX_DEPTH = 4
COMPARE = {"gt", "gte", "lt", "lte"}
OPS_BY_KIND = {
    MONEY: {"eq", "ne", *COMPARE, "empty", "set"},
    INTEGER: {"eq", "ne", *COMPARE, "empty", "set"},
    DATE: {"eq", "ne", *COMPARE, "empty", "set"},
    TEXT: {"eq", "ne", "empty", "set"},
    CHOICE: {"eq", "ne", "in", "empty", "set"},
    MOMENT: {"empty", "set"},
    PERSON: {"empty", "set"},
    BOOLEAN: {"eq"},
}
OP_SIGNS = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
}


def op_labels() -> dict[str, str]:
    return {
        "eq": _("equals"),
        "ne": _("differs from"),
        "gt": _("is more than"),
        "gte": _("is at least"),
        "lt": _("is less than"),
        "lte": _("is at most"),
        "in": _("is one of"),
        "empty": _("is empty"),
        "set": _("is filled in"),
    }


def _bad(message: str) -> Invalid:
    return Invalid(fields={"condition": message})


def _value(spec: FieldSpec, op: str, raw):
    if op in ("empty", "set"):
        return None
    if op == "in":
        values = raw if isinstance(raw, list) else [raw]
        values = [str(v).strip() for v in values if str(v).strip()]
        allowed = {v for v, _label in spec.choices}
        if not values or (allowed and not set(values) <= allowed):
            raise _bad(_("%(field)s: choose from its listed values.") % {"field": spec.label})
        return values
    if spec.kind in NUMERIC:
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except (InvalidOperation, ValueError):
            raise _bad(_("%(field)s: enter a number.") % {"field": spec.label}) from None
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise _bad(_("%(field)s: enter a number.") % {"field": spec.label})
        if spec.kind == INTEGER:
            if number != number.to_integral_value():
                raise _bad(_("%(field)s: enter a whole number.") % {"field": spec.label})
            return int(number)
        return str(number.quantize(Decimal("0.01")))
    if spec.kind == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "是"):
            return True
        if text in ("0", "false", "no", "否"):
            return False
        raise _bad(_("%(field)s: answer yes or no.") % {"field": spec.label})
    text = str(raw if raw is not None else "").strip()
    if spec.kind == DATE:
        import datetime

        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError:
            raise _bad(
                _("%(field)s: enter a date like 2026-03-05.") % {"field": spec.label}
            ) from None
    if spec.kind == CHOICE:
        allowed = {v for v, _label in spec.choices}
        if allowed and text not in allowed:
            raise _bad(_("%(field)s: choose from its listed values.") % {"field": spec.label})
    if not text or len(text) > 200:
        raise _bad(_("%(field)s: enter the value to compare with.") % {"field": spec.label})
    return text


def clean(tree, entity: EntitySpec, org_id: int) -> dict:
    """The tree, checked and normalised; ``Invalid`` on ``condition`` with the reason."""
    if tree in (None, "", {}):
        return {}
    if not isinstance(tree, dict):
        raise _bad(_("A condition is a JSON object."))
    fields = fields_of(entity, org_id)
    leaves = 0

    def walk(node, depth: int) -> dict:
        nonlocal leaves
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            raise _bad(_("The condition is not well formed."))
        if "all" in node or "any" in node:
            key = "all" if "all" in node else "any"
            children = node[key]
            if len(node) != 1 or not isinstance(children, list) or not children:
                raise _bad(_("The condition is not well formed."))
            return {key: [walk(child, depth + 1) for child in children]}
        if "not" in node:
            if len(node) != 1:
                raise _bad(_("The condition is not well formed."))
            return {"not": walk(node["not"], depth + 1)}
        leaves += 1
        if leaves > MAX_LEAVES:
            raise _bad(_("At most %(n)d comparisons in one condition.") % {"n": MAX_LEAVES})
        name, op = node.get("field"), node.get("op")
        if set(node) - {"field", "op", "value"}:
            raise _bad(_("The condition is not well formed."))
        spec = fields.get(name) if isinstance(name, str) else None
        if spec is None:
            raise _bad(_("Unknown field: %(name)s.") % {"name": name})
        if op not in OPS_BY_KIND[spec.kind]:
            raise _bad(
                _("%(field)s cannot be compared with “%(op)s”.") % {"field": spec.label, "op": op}
            )
        leaf = {"field": name, "op": op}
        value = _value(spec, op, node.get("value"))
        if value is not None:
            leaf["value"] = value
        return leaf

    return walk(tree, 0)


def compile(tree: dict, entity: EntitySpec, org_id: int) -> tuple[dict, Q]:  # noqa: A001
    """Annotations the ``Q`` needs (custom fields read out of the JSON column) and the ``Q``."""
    if not tree:
        return {}, Q()
    fields = fields_of(entity, org_id)
    annotations: dict = {}

    def column(spec: FieldSpec) -> str:
        if not spec.is_custom:
            return spec.lookup or spec.name
        alias = f"_cf_{spec.custom_key.replace('-', '_')}"
        if alias not in annotations:
            text = KeyTextTransform(spec.custom_key, "custom")
            if spec.kind in NUMERIC:
                text = Cast(text, DecimalField(max_digits=20, decimal_places=4))
            annotations[alias] = text
        return alias

    def leaf(node: dict) -> Q:
        spec = fields[node["field"]]
        op, value = node["op"], node.get("value")
        if spec.is_custom and spec.kind == BOOLEAN:
            return Q(**{spec.lookup: value}) if op == "eq" else Q()
        col = column(spec)
        if op == "empty":
            q = Q(**{f"{col}__isnull": True})
            if spec.kind in (TEXT, CHOICE, DATE):
                q |= Q(**{col: ""})
            return q
        if op == "set":
            q = Q(**{f"{col}__isnull": False})
            if spec.kind in (TEXT, CHOICE, DATE):
                q &= ~Q(**{col: ""})
            return q
        if spec.kind in NUMERIC:
            value = Decimal(str(value))
        if op == "eq":
            return Q(**{col: value})
        if op == "ne":
            return ~Q(**{col: value}) | Q(**{f"{col}__isnull": True})
        if op == "in":
            return Q(**{f"{col}__in": value})
        return Q(**{f"{col}__{op}": value})

    def walk(node: dict) -> Q:
        if "all" in node:
            q = Q()
            for child in node["all"]:
                q &= walk(child)
            return q
        if "any" in node:
            q = Q(pk__in=[])
            for child in node["any"]:
                q |= walk(child)
            return q
        if "not" in node:
            return ~walk(node["not"])
        return leaf(node)

    return annotations, walk(tree)


def holds(tree: dict, entity: EntitySpec, obj) -> bool:
    """Whether the saved record meets the condition (one query; none for an empty tree)."""
    if not tree:
        return True
    annotations, q = compile(tree, entity, obj.org_id)
    return entity.model.objects.filter(pk=obj.pk).annotate(**annotations).filter(q).exists()


def describe(tree: dict, entity: EntitySpec, org_id: int) -> str:
    """The condition in words: ``合计 > 2000 且 进厂里程 已填写``."""
    if not tree:
        return ""
    fields = fields_of(entity, org_id)
    labels = op_labels()

    def walk(node: dict) -> str:
        if "all" in node:
            return _(" and ").join(walk(c) for c in node["all"])
        if "any" in node:
            return "(" + _(" or ").join(walk(c) for c in node["any"]) + ")"
        if "not" in node:
            return _("not (%(c)s)") % {"c": walk(node["not"])}
        spec = fields.get(node["field"])
        label = spec.label if spec else node["field"]
        op, value = node["op"], node.get("value")
        if op in ("empty", "set"):
            return f"{label} {labels[op]}"
        if op == "in":
            names = dict(spec.choices) if spec else {}
            return f"{label} {labels[op]} " + "、".join(names.get(v, v) for v in value)
        if spec is not None and spec.kind == CHOICE:
            value = dict(spec.choices).get(value, value)
        if spec is not None and spec.kind == BOOLEAN:
            value = _("yes") if value else _("no")
        return f"{label} {OP_SIGNS.get(op, op)} {value}"

    return walk(tree)
