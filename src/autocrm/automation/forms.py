"""Forms of the task inbox: they parse what was typed; the services decide and refuse."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from autocrm.automation.models import Task
from autocrm.core.forms import StyledMixin
from autocrm.core.roles import ROLE_CHOICES

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(forms.DateTimeField):
    """A phone's date-and-time picker (``datetime-local``), in the store's time zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT)
    default_error_messages = {
        "invalid": _("Enter a date and time, e.g. 2026-12-01 10:00."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d"])
        super().__init__(**kwargs)


def tomorrow_morning() -> datetime.datetime:
    """The usual due time of a new task: 10:00 tomorrow, local time."""
    now = timezone.localtime()
    return (now + datetime.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


class CompleteForm(StyledMixin, forms.Form):
    result = forms.ChoiceField(
        label=_("Result"),
        choices=Task.Result.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose the result."),
            "invalid_choice": _("Choose the result."),
        },
    )
    note = forms.CharField(
        label=_("What was said or done"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    next_step = forms.CharField(
        label=_("Next step"),
        required=False,
        max_length=200,
        help_text=_("Optional: becomes a new task, e.g. call again after the holiday."),
    )
    next_due = LocalDateTimeField(label=_("Next step due"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Radio buttons take Tabler's check style, not the text-input one StyledMixin gives.
        self.fields["result"].widget.attrs["class"] = "form-check-input"


class CancelForm(StyledMixin, forms.Form):
    reason = forms.CharField(
        label=_("Why cancel"),
        max_length=4000,
        error_messages={"required": _("Say why the task is cancelled.")},
    )


class AssignMixin:
    """A person (one of ``staff``) or a role: the service wants at least one of them."""

    def set_staff(self, staff) -> None:
        self.fields["assignee"].choices = [("", _("— nobody in particular —"))] + [
            (str(person.pk), person.display_name) for person in staff
        ]


class ReassignForm(StyledMixin, AssignMixin, forms.Form):
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    role = forms.ChoiceField(
        label=_("Or whoever holds the role"),
        required=False,
        choices=[("", _("— keep the role —"))] + list(ROLE_CHOICES),
    )

    def __init__(self, *args, staff=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.set_staff(staff)


class TaskForm(StyledMixin, AssignMixin, forms.Form):
    store = forms.ChoiceField(label=_("Store"))
    title = forms.CharField(
        label=_("What has to be done"),
        max_length=200,
        error_messages={"required": _("Say what has to be done.")},
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Task.Kind.choices, initial=Task.Kind.OTHER)
    details = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    role = forms.ChoiceField(
        label=_("Or whoever holds the role"),
        required=False,
        choices=[("", "—")] + list(ROLE_CHOICES),
    )
    due_at = LocalDateTimeField(
        label=_("Due by"), error_messages={"required": _("Say by when it has to be done.")}
    )
    customer = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=40,
        help_text=_("Optional: mobile number, plate or customer number."),
    )

    def __init__(self, *args, stores=(), staff=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [(str(s.pk), s.name) for s in stores]
        if len(self.fields["store"].choices) == 1:
            self.fields["store"].widget = forms.HiddenInput()
            self.initial.setdefault("store", self.fields["store"].choices[0][0])
        self.initial.setdefault("due_at", tomorrow_morning())
        self.set_staff(staff)
