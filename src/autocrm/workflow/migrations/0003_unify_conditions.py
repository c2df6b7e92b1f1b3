"""Transition conditions move to the rules engine's condition language: a leaf's field gets
its record's namespace (``total`` → ``work_order.total``, ``custom.fuel`` →
``work_order.custom.fuel``) and ``empty`` / ``set`` become ``is_empty`` (``value: false`` for
``set``). Reading still upgrades older trees (``workflow.conditions.upgrade``); this makes the
stored rows say the same. The logic is copied here so later changes cannot alter it."""

from django.db import migrations

NAMESPACES = {"customer", "vehicle", "work_order", "payment", "survey", "store"}


def _upgrade(tree, entity):
    if not isinstance(tree, dict) or not tree:
        return tree
    if "field" in tree:
        leaf = dict(tree)
        name = leaf.get("field")
        if isinstance(name, str) and name.split(".", 1)[0] not in NAMESPACES:
            leaf["field"] = f"{entity}.{name}"
        if leaf.get("op") == "empty":
            leaf["op"] = "is_empty"
            leaf.pop("value", None)
        elif leaf.get("op") == "set":
            leaf["op"], leaf["value"] = "is_empty", False
        return leaf
    out = {}
    for kind, body in tree.items():
        if kind in ("all", "any") and isinstance(body, list):
            out[kind] = [_upgrade(child, entity) for child in body]
        elif kind == "not":
            out[kind] = _upgrade(body, entity)
        else:
            out[kind] = body
    return out


def forwards(apps, schema_editor):
    Transition = apps.get_model("workflow", "Transition")
    rows = Transition.objects.select_related("process")
    for transition in rows.iterator():
        upgraded = _upgrade(transition.condition or {}, transition.process.entity)
        if upgraded != (transition.condition or {}):
            transition.condition = upgraded
            transition.save(update_fields=["condition"])


class Migration(migrations.Migration):
    dependencies = [
        ("workflow", "0002_process_engine"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
