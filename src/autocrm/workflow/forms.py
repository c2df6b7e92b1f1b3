"""Forms of the stage editor, the process editor and approvals; the rules themselves live in
the services."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from autocrm.core.forms import StyledMixin, style_widget
from autocrm.workflow.services import MAX_TARGET, MIN_TARGET, NAME_MAX


class StageForm(StyledMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX)
    color = forms.CharField(
        label=_("Colour"),
        max_length=7,
        initial="#206bc4",
        widget=forms.TextInput(attrs={"type": "color", "class": "form-control form-control-color"}),
    )
    target_minutes = forms.IntegerField(
        label=_("Target time (minutes)"), min_value=MIN_TARGET, max_value=MAX_TARGET, initial=60
    )
    sort = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("sort") is None:
            data.pop("sort", None)
        return data


# --- the process editor (HQ) --------------------------------------------------------------


def _role_choices(blank_label) -> list:
    from autocrm.core.roles import ROLE_CHOICES

    return [("", blank_label), *ROLE_CHOICES]


class ProcessStageForm(StyledMixin, forms.Form):
    """A stage of the process: its rules. Limits are typed in business hours."""

    name = forms.CharField(label=_("Name"), max_length=30)
    owner_role = forms.ChoiceField(label=_("Owner role"), required=False)
    required_fields = forms.MultipleChoiceField(
        label=_("Required before leaving"), required=False, widget=forms.CheckboxSelectMultiple
    )
    limit_hours = forms.DecimalField(
        label=_("Time limit (business hours)"),
        required=False,
        min_value=Decimal("0.25"),
        max_value=Decimal("2000"),
        decimal_places=2,
        help_text=_("Counted in the store's opening hours only. Empty: no limit."),
    )
    escalate_role = forms.ChoiceField(label=_("When overdue, escalate to role"), required=False)
    escalate_to = forms.CharField(
        label=_("…or to a person (login name)"), required=False, max_length=150
    )

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_role"].choices = _role_choices(_("No owner"))
        self.fields["escalate_role"].choices = _role_choices(_("Store manager (default)"))
        self.fields["required_fields"].choices = list(field_choices)
        self.fields["limit_hours"].widget.attrs.update({"step": "0.25", "inputmode": "decimal"})

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        hours = data.pop("limit_hours")
        data["limit_minutes"] = None if hours is None else int(hours * 60)
        return data


class StageDeleteForm(forms.Form):
    move_to = forms.ChoiceField(label=_("Move its work orders to"), required=False)

    def __init__(self, *args, stage_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move_to"].choices = [("", "—"), *stage_choices]
        self.fields["move_to"].widget.attrs["class"] = "form-select form-select-sm"


TIERS = 3


class TransitionForm(StyledMixin, forms.Form):
    """A move between two stages: who may make it, when, and who approves it."""

    source = forms.ChoiceField(label=_("From"))
    target = forms.ChoiceField(label=_("To"))
    allowed_roles = forms.MultipleChoiceField(
        label=_("Roles allowed (none ticked: everyone who moves cards)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    condition_field = forms.ChoiceField(label=_("Only when"), required=False)
    condition_op = forms.ChoiceField(label=_("Comparison"), required=False)
    condition_value = forms.CharField(label=_("Value"), required=False, max_length=200)
    condition_json = forms.CharField(
        label=_("Or a condition as JSON"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('e.g. {"all": [{"field": "work_order.total", "op": "gt", "value": 2000}]}'),
    )
    approval = forms.ChoiceField(label=_("Approval"))
    approval_role = forms.ChoiceField(label=_("Approver role"), required=False)
    approvers = forms.CharField(
        label=_("Approvers (login names, separated by commas)"), required=False, max_length=1000
    )
    approvals_needed = forms.IntegerField(
        label=_("Approvals needed"), min_value=1, max_value=20, initial=1, required=False
    )
    amount_field = forms.ChoiceField(label=_("Amount the tiers look at"), required=False)

    def __init__(
        self,
        *args,
        stage_choices=(),
        condition_fields=(),
        condition_ops=(),
        amount_choices=(),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        from autocrm.core.roles import ROLE_CHOICES
        from autocrm.workflow.models import Transition

        self.fields["source"].choices = list(stage_choices)
        self.fields["target"].choices = list(stage_choices)
        self.fields["allowed_roles"].choices = list(ROLE_CHOICES)
        self.fields["condition_field"].choices = [("", _("Always")), *condition_fields]
        self.fields["condition_op"].choices = [("", "—"), *condition_ops]
        self.fields["approval"].choices = list(Transition.Approval.choices)
        self.fields["approval_role"].choices = _role_choices("—")
        self.fields["amount_field"].choices = [("", "—"), *amount_choices]
        for n in range(1, TIERS + 1):
            over = forms.DecimalField(
                label=_("Tier %(n)d: amount over (¥)") % {"n": n},
                required=False,
                min_value=0,
                decimal_places=2,
            )
            role = forms.ChoiceField(
                label=_("Tier %(n)d: approver role") % {"n": n},
                required=False,
                choices=_role_choices("—"),
            )
            self.fields[f"tier{n}_over"] = over
            self.fields[f"tier{n}_role"] = role
            style_widget(over)
            style_widget(role)

    def tier_fields(self) -> list:
        return [(self[f"tier{n}_over"], self[f"tier{n}_role"]) for n in range(1, TIERS + 1)]

    def clean(self):
        data = super().clean()
        raw = (data.get("condition_json") or "").strip()
        if raw:
            try:
                data["condition"] = json.loads(raw)
            except ValueError:
                self.add_error("condition_json", _("This is not valid JSON."))
        elif data.get("condition_field"):
            leaf = {"field": data["condition_field"], "op": data.get("condition_op") or "eq"}
            if leaf["op"] not in ("is_empty", "set"):
                leaf["value"] = data.get("condition_value") or ""
            data["condition"] = leaf
        else:
            data["condition"] = {}
        return data

    def service_data(self) -> dict:
        data = self.cleaned_data
        tiers = []
        for n in range(1, TIERS + 1):
            over, role = data.get(f"tier{n}_over"), data.get(f"tier{n}_role")
            if over is not None or role:
                tiers.append({"over": "" if over is None else str(over), "role": role or ""})
        return {
            "source": data["source"],
            "target": data["target"],
            "allowed_roles": data.get("allowed_roles") or [],
            "condition": data.get("condition") or {},
            "approval": data["approval"],
            "approval_role": data.get("approval_role") or "",
            "approvers": data.get("approvers") or "",
            "approvals_needed": data.get("approvals_needed") or 1,
            "amount_field": data.get("amount_field") or "",
            "tiers": tiers,
        }

    @classmethod
    def initial_for(cls, transition, entity_code: str) -> dict:
        from autocrm.core.models import User
        from autocrm.workflow.conditions import upgrade

        condition = upgrade(transition.condition or {}, entity_code)
        if condition.get("op") == "is_empty" and condition.get("value") is False:
            condition = {"field": condition["field"], "op": "set"}
        initial = {
            "source": transition.source_id,
            "target": transition.target_id,
            "allowed_roles": transition.allowed_roles,
            "approval": transition.approval,
            "approval_role": transition.approval_role,
            "approvers": ", ".join(
                User.objects.filter(pk__in=transition.approvers).values_list("username", flat=True)
            ),
            "approvals_needed": transition.approvals_needed,
            "amount_field": transition.amount_field,
        }
        if condition and set(condition) <= {"field", "op", "value"}:
            value = condition.get("value", "")
            initial.update(
                condition_field=condition.get("field"),
                condition_op=condition.get("op"),
                condition_value="、".join(map(str, value)) if isinstance(value, list) else value,
            )
        elif condition:
            initial["condition_json"] = json.dumps(condition, ensure_ascii=False)
        for n, tier in enumerate(transition.tiers[:TIERS], start=1):
            initial[f"tier{n}_over"] = tier.get("over")
            initial[f"tier{n}_role"] = tier.get("role")
        return initial


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )
