"""The rule builder (规则): the list of rules with a switch each, the form that builds a rule
without code, the dry run ("would fire now") and each rule's firing log. HQ administrators
only (``rules.manage``)."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from autocrm.automation import actions as act
from autocrm.automation import conditions, forms_rules, rules, triggers
from autocrm.automation.models import Rule, Task
from autocrm.core.errors import Invalid, ServiceError
from autocrm.core.models import Region, Store, User
from autocrm.core.roles import ROLE_CHOICES
from autocrm.core.views import capability_required, is_partial
from autocrm.service.models import WorkOrder

FIRING_LOG_SIZE = 50
# The services' field names the form shows its errors beside; others go on top.
SHOWN = {
    "name",
    "entity",
    "trigger",
    "condition",
    "actions",
    "scope",
    "region",
    "stores",
    "at",
    "catch_up_days",
    "owner",
}


def describe(rule: Rule, fields_for=conditions.fields_for) -> str:
    """The trigger in words: "保险到期前30天", "生日（每年）", "记录新建". A list passes a
    ``fields_for`` that remembers each entity's fields (they cost a query)."""
    t = rule.trigger or {}
    labels = triggers.type_labels()
    if triggers.kind_of(t) == "time":
        spec = fields_for(rule.entity, rule.org_id).get(t.get("field"))
        field = str(spec.label) if spec else t.get("field", "")
        days = int(t.get("offset_days") or 0)
        if t.get("type") == "anniversary":
            text = _("Every year on %(field)s") % {"field": field}
            if t.get("years"):
                text += _(" (years %(years)s)") % {"years": "、".join(str(y) for y in t["years"])}
        elif days < 0:
            text = _("%(n)d days before %(field)s") % {"n": -days, "field": field}
        elif days > 0:
            text = _("%(n)d days after %(field)s") % {"n": days, "field": field}
        else:
            text = _("On %(field)s") % {"field": field}
        return text
    text = str(labels.get(t.get("type"), t.get("type", "")))
    extra = t.get("field") or t.get("status") or t.get("stage")
    return f"{text}：{extra}" if extra else text


def _rows(user):
    return (
        rules.rules(user)
        .prefetch_related("stores")
        .annotate(firing_count=Count("firings"))
        .order_by("name", "pk")
    )


@capability_required("rules.manage")
def rule_list(request):
    items = list(_rows(request.user))
    fields_for = functools.cache(conditions.fields_for)  # one read per entity, not per rule
    for rule in items:
        rule.trigger_text = describe(rule, fields_for)
    return render(request, "automation/rules/list.html", {"rules": items})


@require_POST
@capability_required("rules.manage")
def rule_switch(request, pk):
    rule = rules.get_rule(request.user, pk)
    try:
        if rule.is_active:
            rule = rules.disable_rule(request.user, rule)
        else:
            rule = rules.enable_rule(request.user, rule)
        error = ""
    except ServiceError as exc:
        error = str(exc.message)
    if is_partial(request):
        rule = _rows(request.user).get(pk=rule.pk)
        rule.trigger_text = describe(rule)
        return render(request, "automation/rules/_row.html", {"rule": rule, "error": error})
    if error:
        messages.error(request, error)
    return redirect(request.POST.get("next") or "rule_list")


# --- the builder --------------------------------------------------------------------------


def _choices(request, state: dict) -> dict:
    """What the builder's pickers offer for the chosen record type."""
    user = request.user
    entity = state["entity"] if state["entity"] in conditions.ENTITIES else "vehicle"
    catalog = rules.catalog(entity, user.org_id)
    date_fields = [
        f
        for f in catalog["fields"]
        if f["namespace"] == entity and f["kind"] == "plain" and f["type"] in ("date", "datetime")
    ]
    own_fields = [
        f
        for f in catalog["fields"]
        if f["namespace"] == entity and f["kind"] in ("plain", "custom")
    ]
    from autocrm.messaging.models import MessageTemplate

    return {
        "catalog": catalog,
        "field_ops": {f["field"]: [o["op"] for o in f["ops"]] for f in catalog["fields"]},
        "date_fields": date_fields,
        "own_fields": own_fields,
        "time_triggers": [t for t in catalog["triggers"] if t["kind"] == "time"],
        "event_triggers": [t for t in catalog["triggers"] if t["kind"] == "event"],
        "ops": [o for o in catalog["ops"] if o["op"] != "changed"],
        "cmps": [
            ("lte", "≤"),
            ("lt", "<"),
            ("eq", "="),
            ("gte", "≥"),
            ("gt", ">"),
            ("ne", "≠"),
        ],
        "statuses": WorkOrder.Status.choices,
        "templates": MessageTemplate.objects.filter(org_id=user.org_id, is_active=True),
        "roles": ROLE_CHOICES,
        "task_kinds": Task.Kind.choices,
        "staff": User.objects.filter(org_id=user.org_id, is_active=True).order_by("username"),
        "regions": Region.objects.filter(org_id=user.org_id).order_by("name"),
        "stores": Store.objects.filter(org_id=user.org_id).order_by("code"),
        "scopes": Rule.Scope.choices,
        "action_types": act.type_labels(),
    }


def _render_form(request, state, *, rule=None, errors=None, status=200, preview=None):
    context = {
        "state": state,
        "rule": rule,
        "errors": errors or {},
        "preview": preview,
        **_choices(request, state),
    }
    if rule is not None:
        context["trigger_text"] = describe(rule)
        context["firings"] = list(rules.firings(request.user, rule)[:FIRING_LOG_SIZE])
    return render(request, "automation/rules/form.html", context, status=status)


def _save(request, state, rule=None):
    """Create or change the rule from the posted state; (rule, errors)."""
    old = rule.actions if rule is not None else None
    data, errors = forms_rules.definition(state, request.user.org_id, old)
    if errors:
        return None, errors
    try:
        if rule is None:
            rule = rules.create_rule(
                request.user, enabled=request.POST.get("enabled") == "1", **data
            )
        else:
            version = request.POST.get("version")
            rule = rules.update_rule(
                request.user,
                rule,
                version=int(version) if (version or "").isdigit() else None,
                **data,
            )
    except ServiceError as exc:
        errors = {str(k): str(v) for k, v in (exc.fields or {}).items()}
        unplaced = set(errors) - SHOWN
        if not errors or unplaced or not isinstance(exc, Invalid):
            errors["form"] = str(exc.message) or "；".join(errors[k] for k in sorted(unplaced))
        return None, errors
    return rule, {}


@capability_required("rules.manage")
def rule_new(request):
    if request.method != "POST":
        return _render_form(request, forms_rules.blank_state())
    state = forms_rules.state_from_post(request.POST)
    if forms_rules.edit_rows(state, request.POST):
        return _render_form(request, state)
    rule, errors = _save(request, state)
    if errors:
        return _render_form(request, state, errors=errors, status=400)
    messages.success(request, _("Rule “%(name)s” saved.") % {"name": rule.name})
    return redirect("rule_detail", pk=rule.pk)


@capability_required("rules.manage")
def rule_detail(request, pk):
    rule = rules.get_rule(request.user, pk)
    if request.method != "POST":
        preview = _preview(request, rule) if request.GET.get("preview") else None
        return _render_form(request, forms_rules.state_of(rule), rule=rule, preview=preview)
    state = forms_rules.state_from_post(request.POST)
    if forms_rules.edit_rows(state, request.POST):
        return _render_form(request, state, rule=rule)
    saved, errors = _save(request, state, rule)
    if errors:
        return _render_form(request, state, rule=rule, errors=errors, status=400)
    messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
    return redirect("rule_detail", pk=saved.pk)


def _preview(request, rule) -> dict:
    try:
        out = rules.preview(request.user, rule)
    except ServiceError as exc:
        return {"error": str(exc.message)}
    names = dict(Store.objects.filter(org_id=rule.org_id).values_list("pk", "name"))
    for record in out["records"]:
        record["store_name"] = names.get(record["store_id"], "")
    return out


@capability_required("rules.manage")
def rule_preview(request, pk):
    rule = rules.get_rule(request.user, pk)
    if not is_partial(request):
        return redirect(f"{request.path.rsplit('preview/', 1)[0]}?preview=1")
    return render(
        request,
        "automation/rules/_preview.html",
        {"preview": _preview(request, rule), "rule": rule},
    )
