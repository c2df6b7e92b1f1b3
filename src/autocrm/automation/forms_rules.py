"""The rule builder's form, without code: the posted rows (trigger, condition rows, action
blocks) to the definition the rule services check, and a rule back to rows for editing.

The state is a plain dict of the texts a person typed, so a refused definition is shown again
exactly as it was entered, with the services' Chinese messages beside the parts they name."""

from __future__ import annotations

import json
import re

from django.utils.translation import gettext as _

from autocrm.automation import conditions, triggers
from autocrm.automation.models import Rule

DEFAULT_ENTITY = "vehicle"
ACTION_KEYS = {
    "message": ("template", "values"),
    "task": ("title", "details", "kind", "who", "role", "assignee_id", "due_hours"),
    "set_field": ("field", "value"),
    "tag": ("tag", "remove"),
    "webhook": ("url", "secret"),
}
LEAF_KEYS = {"field", "op", "value", "cmp"}
SECRET_MASK = "******"
_INT = re.compile(r"-?\d+")
_SPLIT = re.compile(r"\s*[,，、]\s*")


def empty_row() -> dict:
    return {"field": "", "op": "", "value": "", "cmp": "lte"}


def blank_state() -> dict:
    return {
        "name": "",
        "description": "",
        "entity": DEFAULT_ENTITY,
        "scope": "org",
        "region_id": "",
        "store_ids": [],
        "owner_id": "",
        "at": "09:00",
        "catch_up_days": "3",
        "trigger": {
            "kind": "time",
            "type": "date",
            "field": "",
            "offset_days": "0",
            "direction": "before",
            "years": "",
            "event": "created",
            "changed_field": "",
            "status": "",
            "stage": "",
        },
        "match": "all",
        "rows": [empty_row()],
        "condition_json": "",
        "actions": [],
    }


# --- a rule to rows -----------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "、".join(_text(v) for v in value)
    return str(value)


def _flat(condition: dict) -> tuple[str, list[dict]] | None:
    """(all|any, leaves) when the condition is a flat list of simple leaves, else None."""
    if not condition:
        return "all", []
    if "field" in condition:
        leaves = [condition]
        match = "all"
    elif len(condition) == 1 and next(iter(condition)) in ("all", "any"):
        match, leaves = next(iter(condition.items()))
    else:
        return None
    if not isinstance(leaves, list) or any(
        not isinstance(leaf, dict) or "field" not in leaf or set(leaf) - LEAF_KEYS
        for leaf in leaves
    ):
        return None
    return match, leaves


def state_of(rule: Rule) -> dict:
    state = blank_state()
    state.update(
        name=rule.name,
        description=rule.description,
        entity=rule.entity,
        scope=rule.scope,
        region_id=str(rule.region_id or ""),
        store_ids=[str(pk) for pk in rule.stores.values_list("pk", flat=True)],
        owner_id=str(rule.owner_id or ""),
        at=rule.at.strftime("%H:%M"),
        catch_up_days=str(rule.catch_up_days),
    )
    t = rule.trigger or {}
    trig = state["trigger"]
    if triggers.kind_of(t) == "time":
        offset = int(t.get("offset_days") or 0)
        trig.update(
            kind="time",
            type=t.get("type", "date"),
            field=t.get("field", ""),
            offset_days=str(abs(offset)),
            direction="before" if offset < 0 else "after",
            years="、".join(str(y) for y in t.get("years", [])),
        )
    else:
        trig.update(
            kind="event",
            event=t.get("type", "created"),
            changed_field=t.get("field", ""),
            status=t.get("status", ""),
            stage=t.get("stage", ""),
        )
    flat = _flat(rule.condition or {})
    if flat is None:
        state["condition_json"] = json.dumps(rule.condition, ensure_ascii=False, indent=2)
        state["rows"] = []
    else:
        state["match"] = flat[0]
        state["rows"] = [
            {
                "field": leaf.get("field", ""),
                "op": leaf.get("op", ""),
                "value": _text(leaf.get("value")),
                "cmp": leaf.get("cmp", "gte"),
            }
            for leaf in flat[1]
        ] or [empty_row()]
    for action in rule.actions or []:
        block = {"type": action.get("type", "")}
        for key in ACTION_KEYS.get(block["type"], ()):
            block[key] = _text(action.get(key))
        if block["type"] == "message":
            block["values"] = json.dumps(action.get("values") or {}, ensure_ascii=False)
        if block["type"] == "task":
            block["who"] = (
                "person"
                if action.get("assignee_id")
                else "advisor"
                if action.get("assign_to")
                else "role"
            )
            block["kind"] = action.get("kind", "follow_up")
            block["due_hours"] = str(action.get("due_hours", 24))
        if block["type"] == "tag":
            block["remove"] = "1" if action.get("remove") else ""
        if block["type"] == "webhook" and action.get("secret"):
            block["secret"] = SECRET_MASK
        state["actions"].append(block)
    return state


# --- posted rows to state -----------------------------------------------------------------


def state_from_post(post) -> dict:
    state = blank_state()
    for key in ("name", "description", "entity", "scope", "region_id", "owner_id", "at"):
        state[key] = (
            post.get(key, state[key]).strip() if key != "description" else post.get(key, "")
        )
    state["catch_up_days"] = post.get("catch_up_days", "3").strip()
    state["store_ids"] = post.getlist("store_ids")
    trig = state["trigger"]
    for key in trig:
        trig[key] = post.get(f"trigger_{key}", trig[key]).strip()
    state["match"] = "any" if post.get("match") == "any" else "all"
    fields, ops = post.getlist("cond_field"), post.getlist("cond_op")
    values, cmps = post.getlist("cond_value"), post.getlist("cond_cmp")
    state["rows"] = [
        {
            "field": fields[i],
            "op": ops[i] if i < len(ops) else "",
            "value": values[i] if i < len(values) else "",
            "cmp": cmps[i] if i < len(cmps) else "lte",
        }
        for i in range(len(fields))
    ]
    state["condition_json"] = post.get("condition_json", "")
    count = int(post.get("action_count") or 0) if (post.get("action_count") or "").isdigit() else 0
    for i in range(min(count, 20)):
        kind = post.get(f"act-{i}-type", "")
        if kind not in ACTION_KEYS:
            continue
        block = {"type": kind}
        for key in ACTION_KEYS[kind]:
            block[key] = post.get(f"act-{i}-{key}", "").strip()
        state["actions"].append(block)
    return state


def edit_rows(state: dict, post) -> bool:
    """Apply an "add / remove a row or action" button; True when one was pressed (the form
    is then shown again instead of being saved)."""
    if "add_row" in post:
        state["rows"].append(empty_row())
    elif "remove_row" in post:
        index = post.get("remove_row", "")
        if index.isdigit() and int(index) < len(state["rows"]):
            state["rows"].pop(int(index))
    elif post.get("add_action") in ACTION_KEYS:
        kind = post["add_action"]
        block = {"type": kind, **{k: "" for k in ACTION_KEYS[kind]}}
        if kind == "task":
            block.update(who="role", role="service_advisor", kind="follow_up", due_hours="24")
        state["actions"].append(block)
    elif "remove_action" in post:
        index = post.get("remove_action", "")
        if index.isdigit() and int(index) < len(state["actions"]):
            state["actions"].pop(int(index))
    elif "refresh" not in post:
        return False
    return True


# --- state to the definition --------------------------------------------------------------


def _scalar(spec, text: str):
    if spec is not None and spec.type == "bool":
        low = text.lower()
        if low in ("true", "1", "是", "yes"):
            return True
        if low in ("false", "0", "否", "no"):
            return False
        return text
    if spec is not None and spec.type == "int" and _INT.fullmatch(text):
        return int(text)
    return text


def _leaf(row: dict, fields: dict) -> dict:
    spec = fields.get(row["field"])
    op, text = row["op"], row["value"].strip()
    leaf: dict = {"field": row["field"], "op": op}
    if op == "is_empty":
        leaf["value"] = text.lower() not in ("false", "0", "否", "no")
    elif op in ("days_since", "days_until"):
        leaf["value"] = int(text) if _INT.fullmatch(text) else text
        leaf["cmp"] = row.get("cmp") or "gte"
    elif op == "in":
        leaf["value"] = [_scalar(spec, part) for part in _SPLIT.split(text) if part]
    else:
        leaf["value"] = _scalar(spec, text)
    return leaf


def _int_or_text(text: str):
    return int(text) if _INT.fullmatch(text or "") else text


def _trigger(state: dict) -> dict:
    trig = state["trigger"]
    if trig["kind"] == "time":
        days = _int_or_text(trig["offset_days"] or "0")
        if isinstance(days, int) and trig["direction"] == "before":
            days = -days
        out = {"type": trig["type"], "field": trig["field"], "offset_days": days}
        if trig["type"] == "anniversary" and trig["years"].strip():
            out["years"] = [_int_or_text(y) for y in _SPLIT.split(trig["years"].strip()) if y]
        return out
    out = {"type": trig["event"]}
    if trig["event"] == "field_changed":
        out["field"] = trig["changed_field"]
    elif trig["event"] == "status_entered":
        out["status"] = trig["status"]
    elif trig["event"] == "stage_entered":
        out["stage"] = trig["stage"]
    return out


def _action(block: dict, old: dict | None) -> dict:
    kind = block["type"]
    if kind == "message":
        out = {"type": kind, "template": _int_or_text(block.get("template", ""))}
        try:
            values = json.loads(block.get("values") or "{}")
        except ValueError:
            values = {}
        if values:
            out["values"] = values
        return out
    if kind == "task":
        out = {
            "type": kind,
            "title": block.get("title", ""),
            "kind": block.get("kind") or "follow_up",
            "due_hours": _int_or_text(block.get("due_hours") or "24"),
        }
        if block.get("details"):
            out["details"] = block["details"]
        who = block.get("who") or "role"
        if who == "person":
            out["assignee_id"] = _int_or_text(block.get("assignee_id", ""))
        elif who == "advisor":
            out["assign_to"] = "advisor"
        else:
            out["role"] = block.get("role", "")
        return out
    if kind == "set_field":
        value = block.get("value", "")
        field = block.get("field", "")
        if value == "" and field.endswith(("_on",)):
            value = None
        return {"type": kind, "field": field, "value": value}
    if kind == "tag":
        return {"type": kind, "tag": block.get("tag", ""), "remove": bool(block.get("remove"))}
    secret = block.get("secret", "")
    if secret == SECRET_MASK and old:
        secret = old.get("secret", "")
    return {"type": "webhook", "url": block.get("url", ""), "secret": secret}


def definition(state: dict, org_id: int, old_actions: list | None = None) -> tuple[dict, dict]:
    """(the keyword arguments of ``rules.create_rule``/``update_rule``, form errors found
    before the services look)."""
    errors: dict[str, str] = {}
    entity = state["entity"]
    fields = conditions.fields_for(entity, org_id) if entity in conditions.ENTITIES else {}
    if state["condition_json"].strip():
        try:
            condition = json.loads(state["condition_json"])
        except ValueError:
            condition = {}
            errors["condition"] = _("The condition must be a JSON object.")
    else:
        rows = [r for r in state["rows"] if r["field"] or r["value"].strip()]
        leaves = [_leaf(r, fields) for r in rows]
        condition = {state["match"]: leaves} if leaves else {}
    webhooks = [a for a in (old_actions or []) if a.get("type") == "webhook"]
    actions = []
    for block in state["actions"]:
        old = webhooks.pop(0) if block["type"] == "webhook" and webhooks else None
        actions.append(_action(block, old))
    days = state["catch_up_days"]
    data = {
        "name": state["name"],
        "description": state["description"],
        "entity": entity,
        "trigger": _trigger(state),
        "condition": condition,
        "actions": actions,
        "scope": state["scope"],
        "region_id": _int_or_text(state["region_id"]) or None,
        "store_ids": state["store_ids"],
        "at": state["at"] or "09:00",
        "catch_up_days": int(days) if _INT.fullmatch(days) else days,
        "owner_id": _int_or_text(state["owner_id"]) or None,
    }
    return data, errors
