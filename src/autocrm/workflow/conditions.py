"""Conditions of transitions, in the rules engine's condition language.

A transition's condition is the same JSON tree as a rule's (``autocrm.automation.conditions``):
leaves such as ``{"field": "work_order.total", "op": "gt", "value": "2000.00"}``, branches
``all`` / ``any`` / ``not``, ``{}`` always holds; it is checked by ``validate`` and compiled to a
``Q`` by ``apply`` there. This module only adds what the process engine needs around it:

* the record's own fields the process engine always offered (advisor, promised time, ...) join
  the whitelist for transitions (``fields``);
* trees stored before the merge named the record's fields bare (``total``, ``custom.fuel``) and
  used ``empty`` / ``set``: ``upgrade`` turns them into today's form when read;
* ``clean`` accepts what the editor's form sends (text) and stores values normalised (amounts
  as strings of two decimals), ``holds`` asks the database about one record, ``describe`` says
  the condition in words (``合计 > 2000.00 且 进厂里程（公里） 已填写``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from autocrm.automation import conditions as lang
from autocrm.core.errors import Invalid
from autocrm.workflow.entities import (
    BOOLEAN,
    CHOICE,
    DATE,
    INTEGER,
    MOMENT,
    MONEY,
    PERSON,
    EntitySpec,
)

NAMESPACES = frozenset(lang.NAMESPACE_MODELS)
# The process registry's kinds as the language's field types.
TYPES = {
    MONEY: "number",
    INTEGER: "int",
    DATE: "date",
    MOMENT: "datetime",
    CHOICE: "choice",
    BOOLEAN: "bool",
    PERSON: "int",
}
OP_SIGNS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
YES = {"1", "true", "yes", "是"}
NO = {"0", "false", "no", "否"}


def fields(entity: EntitySpec, org_id: int | None) -> dict[str, lang.Field]:
    """The language's whitelist for the entity, plus the record's own fields that the process
    registry names and the whitelist lacks (so conditions saved on them keep working)."""
    found = dict(lang.fields_for(entity.code, org_id))
    for spec in entity.fields():
        key = f"{entity.code}.{spec.name}"
        if key in found or spec.is_custom:
            continue
        path = spec.lookup or spec.name
        found[key] = lang.Field(
            key=key,
            path=path,
            type=TYPES.get(spec.kind, "text"),
            label=spec.label,
            choices=spec.choices,
            attname=path if spec.kind == PERSON else spec.name,
        )
    return found


def context(entity: EntitySpec, org_id: int | None) -> lang.Context:
    return lang.Context(entity.code, org_id, fields=fields(entity, org_id))


def catalog(entity: EntitySpec, org_id: int | None) -> dict:
    """What the transition editor offers: the language's catalog for the entity."""
    return lang.catalog(entity.code, org_id, fields=fields(entity, org_id))


def editor_choices(entity: EntitySpec, org_id: int | None) -> tuple[list, list]:
    """The editor's pickers from the catalog: fields grouped by record, and the ops (with
    "is filled in", saved as ``is_empty: false``); ``changed`` is for event rules only."""
    found = catalog(entity, org_id)
    groups: dict[str, list] = {}
    for item in found["fields"]:
        groups.setdefault(item["namespace_label"], []).append((item["field"], item["label"]))
    ops = []
    for item in found["ops"]:
        if item["op"] in lang.EVENT_OPS:
            continue
        ops.append((item["op"], item["label"]))
        if item["op"] == "is_empty":
            ops.append(("set", _("is filled in")))
    return list(groups.items()), ops


# --- stored trees of before ---------------------------------------------------------------


def upgrade(tree, entity_code: str):
    """``tree`` in today's form: bare field names get the entity's namespace (``total`` →
    ``work_order.total``, ``custom.fuel`` → ``work_order.custom.fuel``), ``empty`` becomes
    ``is_empty`` and ``set`` ``is_empty: false``. Anything else is given back as it is."""

    def change(leaf: dict) -> dict:
        leaf = dict(leaf)
        name = leaf.get("field")
        if isinstance(name, str) and name.split(".", 1)[0] not in NAMESPACES:
            leaf["field"] = f"{entity_code}.{name}"
        if leaf.get("op") == "empty":
            leaf["op"] = "is_empty"
            leaf.pop("value", None)
        elif leaf.get("op") == "set":
            leaf["op"], leaf["value"] = "is_empty", False
        return leaf

    return _map_leaves(tree, change)


def _map_leaves(tree, change):
    """The tree with each leaf replaced by ``change(leaf)``; malformed parts left as they are
    (``validate`` refuses them)."""
    if not isinstance(tree, dict) or not tree:
        return tree
    if "field" in tree:
        return change(tree)
    out = {}
    for kind, body in tree.items():
        if kind in ("all", "any") and isinstance(body, list):
            out[kind] = [_map_leaves(child, change) for child in body]
        elif kind == "not":
            out[kind] = _map_leaves(body, change)
        else:
            out[kind] = body
    return out


# --- checking, running, saying ------------------------------------------------------------


def _yes_no(text: str):
    low = text.strip().lower()
    return True if low in YES else False if low in NO else text


def _from_text(ctx: lang.Context):
    """Values as typed in the editor's form (text) in their JSON type, where it is plain."""

    def change(leaf: dict) -> dict:
        spec = ctx.fields.get(leaf.get("field"))
        value = leaf.get("value")
        if spec is None or not isinstance(value, str):
            return leaf
        leaf, op = dict(leaf), leaf.get("op")
        if op == "in":
            leaf["value"] = [v for v in re.split(r"[,，、\s]+", value) if v]
        elif op in ("days_since", "days_until") and re.fullmatch(r"-?\d+", value.strip()):
            leaf["value"] = int(value)
        elif op == "is_empty" or spec.type == "bool":
            leaf["value"] = _yes_no(value)
        elif spec.type in ("int", "number"):
            leaf["value"] = value.strip().replace(",", "")
        return leaf

    return change


def _normalised(ctx: lang.Context):
    """Amounts as strings of two decimals, whole numbers as numbers."""

    def change(leaf: dict) -> dict:
        spec = ctx.fields[leaf["field"]]
        if "value" not in leaf or leaf.get("op") not in (*lang.COMPARE, "in"):
            return leaf
        label = f"{lang.namespace_labels()[spec.namespace]}.{spec.label}"
        leaf = dict(leaf)
        if spec.type == "number":
            number = Decimal(str(leaf["value"]))
            if not number.is_finite() or abs(number) >= Decimal("1e12"):
                raise Invalid(
                    fields={"condition": _("“%(field)s” needs a number.") % {"field": label}}
                )
            leaf["value"] = str(number.quantize(Decimal("0.01")))
        elif spec.type == "int":
            values = leaf["value"] if isinstance(leaf["value"], list) else [leaf["value"]]
            values = [int(v) for v in values]
            leaf["value"] = values if isinstance(leaf["value"], list) else values[0]
        return leaf

    return change


def clean(tree, entity: EntitySpec, org_id: int) -> dict:
    """The tree checked by the language and normalised; ``Invalid`` on ``condition`` with
    the reason. Trees in the form of before are accepted and saved in today's."""
    if tree in (None, "", {}):
        return {}
    ctx = context(entity, org_id)
    tree = _map_leaves(upgrade(tree, entity.code), _from_text(ctx))
    lang.validate(tree, ctx)
    try:
        return _map_leaves(tree, _normalised(ctx))
    except (InvalidOperation, ValueError, TypeError):
        raise Invalid(fields={"condition": _("The condition is not well formed.")}) from None


def holds(tree: dict, entity: EntitySpec, obj) -> bool:
    """Whether the saved record meets the condition (one query; none for an empty tree)."""
    if not tree:
        return True
    ctx = context(entity, obj.org_id)
    rows = entity.model.objects.filter(pk=obj.pk)
    return lang.apply(rows, upgrade(tree, entity.code), ctx).exists()


def describe(tree: dict, entity: EntitySpec, org_id: int) -> str:
    """The condition in words: ``合计 > 2000.00 且 进厂里程（公里） 已填写``; the record's own
    fields by their label, others with their record's (``客户.等级 = VIP``)."""
    if not tree:
        return ""
    tree = upgrade(tree, entity.code)
    known = fields(entity, org_id)
    spaces = lang.namespace_labels()
    labels = lang.op_labels()

    def label(key) -> tuple[lang.Field | None, str]:
        spec = known.get(key)
        if spec is None:
            return None, str(key)
        if spec.namespace == entity.code:
            return spec, str(spec.label)
        return spec, f"{spaces[spec.namespace]}.{spec.label}"

    def value_text(spec, value) -> str:
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if spec is not None and spec.choices:
            return str(dict(spec.choices).get(str(value), value))
        return str(value)

    def walk(node) -> str:
        if not isinstance(node, dict):
            return str(node)
        if "all" in node:
            return _(" and ").join(walk(c) for c in node["all"])
        if "any" in node:
            return "(" + _(" or ").join(walk(c) for c in node["any"]) + ")"
        if "not" in node:
            return _("not (%(c)s)") % {"c": walk(node["not"])}
        spec, name = label(node.get("field"))
        op, value = node.get("op"), node.get("value")
        if op == "is_empty":
            return f"{name} {labels['is_empty'] if value in (None, True) else _('is filled in')}"
        if op == "in":
            values = value if isinstance(value, list) else [value]
            return f"{name} {labels['in']} " + "、".join(value_text(spec, v) for v in values)
        if op in ("days_since", "days_until"):
            cmp = node.get("cmp", "gte")
            return f"{name} {labels[op]} {OP_SIGNS.get(cmp, cmp)} {value}"
        if op in OP_SIGNS:
            return f"{name} {OP_SIGNS[op]} {value_text(spec, value)}"
        return f"{name} {labels.get(op, op)} {value_text(spec, value)}"

    return walk(tree)
