"""The form engine: custom field definitions applied to records' ``custom`` JSON values.

Used by services (validation on write), forms (widgets), pages and exports (display), the API
and imports. Values are stored as JSON-friendly primitives: str, int, str(Decimal), ISO date,
bool, list of str."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from autocrm.core import audit
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import CustomField, User
from autocrm.core.roles import ROLE_CODES

T = CustomField.Type
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a field's key: also a JSON path in queries


def definitions(org_id: int, target: str) -> list[CustomField]:
    return list(
        CustomField.objects.filter(org_id=org_id, target=target).order_by("group", "order", "id")
    )


def _allowed(user: User, roles: list[str]) -> bool:
    return not roles or bool(set(roles) & set(user.role_codes()))


def visible(user: User, target: str) -> list[CustomField]:
    return [f for f in definitions(user.org_id, target) if _allowed(user, f.visible_roles)]


def visible_custom(
    user: User, target: str, values: dict, *, fields: list[CustomField] | None = None
) -> dict:
    """The stored ``values`` of the fields the user may see. For many records, load
    ``fields = visible(user, target)`` once and pass it (no query per record)."""
    keys = {f.key for f in (visible(user, target) if fields is None else fields)}
    return {k: v for k, v in (values or {}).items() if k in keys}


def editable(user: User, target: str) -> list[CustomField]:
    return [f for f in visible(user, target) if _allowed(user, f.editable_roles)]


def to_value(field: CustomField, raw):
    """Parse one input into the stored form, or raise ValidationError with a Chinese reason."""
    if raw in (None, "", [], ()):
        if field.required:
            raise ValidationError(_("This field is required."))
        return None
    if field.type in (T.TEXT, T.LONG_TEXT):
        value = str(raw).strip()
        if field.regex and not re.fullmatch(field.regex, value):
            raise ValidationError(_("Does not have the expected format."))
        limit = 2000 if field.type == T.LONG_TEXT else 200
        if len(value) > limit:
            raise ValidationError(_("At most %(n)d characters.") % {"n": limit})
        return value
    if field.type in (T.INTEGER, T.DECIMAL):
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValidationError(_("Enter a number.")) from None
        if field.type == T.INTEGER and number != number.to_integral_value():
            raise ValidationError(_("Enter a whole number."))
        if field.min_value is not None and number < field.min_value:
            raise ValidationError(_("At least %(n)s.") % {"n": field.min_value.normalize()})
        if field.max_value is not None and number > field.max_value:
            raise ValidationError(_("At most %(n)s.") % {"n": field.max_value.normalize()})
        return int(number) if field.type == T.INTEGER else str(number)
    if field.type == T.DATE:
        if isinstance(raw, datetime.date):
            return raw.isoformat()
        try:
            return datetime.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValidationError(_("Enter a date like 2026-03-05.")) from None
    if field.type == T.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on", "是", "y"):
            return True
        if text in ("0", "false", "no", "off", "否", "n"):
            return False
        raise ValidationError(_("Answer yes or no."))
    if field.type == T.CHOICE:
        value = str(raw).strip()
        if value not in field.choices:
            raise ValidationError(_("Choose one of: %(c)s.") % {"c": "、".join(field.choices)})
        return value
    if field.type == T.MULTI_CHOICE:
        values = [raw] if isinstance(raw, str) else list(raw)
        values = [str(v).strip() for v in values if str(v).strip()]
        wrong = [v for v in values if v not in field.choices]
        if wrong:
            raise ValidationError(_("Choose from: %(c)s.") % {"c": "、".join(field.choices)})
        return values
    if field.type == T.URL:
        value = str(raw).strip()
        URLValidator(message=_("Enter a web address starting with http:// or https://."))(value)
        return value
    raise ValidationError(_("Unknown field type."))


def clean_values(user: User, target: str, data: dict, current: dict | None = None) -> dict:
    """Merge ``data`` into ``current`` for the fields the user may edit. Unknown keys and
    fields the user may not edit are refused; stored values of other fields are kept."""
    current = dict(current or {})
    fields = {f.key: f for f in editable(user, target)}
    known = {f.key for f in definitions(user.org_id, target)}
    errors: dict[str, str] = {}
    for key, raw in (data or {}).items():
        if key not in fields:
            errors[f"custom.{key}"] = (
                _("You may not change this field.") if key in known else _("Unknown field.")
            )
            continue
        try:
            value = to_value(fields[key], raw)
        except ValidationError as exc:
            errors[f"custom.{key}"] = " ".join(str(m) for m in exc.messages)
            continue
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    for key, field in fields.items():
        if field.required and key not in current and f"custom.{key}" not in errors:
            errors[f"custom.{key}"] = _("This field is required.")
    if errors:
        raise Invalid(fields=errors)
    return current


def display(user: User, target: str, values: dict) -> list[tuple[str, str, str]]:
    """(group, label, shown value) for the fields the user may see, in order."""
    return display_with(visible(user, target), values)


def display_with(fields: list[CustomField], values: dict) -> list[tuple[str, str, str]]:
    """``display`` for definitions already loaded (one query for many records)."""
    rows = []
    for f in fields:
        value = (values or {}).get(f.key)
        if value is None:
            shown = ""
        elif isinstance(value, bool):
            shown = _("Yes") if value else _("No")
        elif isinstance(value, list):
            shown = "、".join(value)
        else:
            shown = str(value)
        rows.append((f.group, f.label(), shown))
    return rows


def form_field(field: CustomField) -> forms.Field:
    """The Django form field for one definition (forms render it with the other fields)."""
    common = {"label": field.label(), "required": field.required, "help_text": field.help_text}
    if field.type == T.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    if field.type in (T.INTEGER, T.DECIMAL):
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if field.type == T.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if field.type == T.BOOLEAN:
        common["required"] = False
        return forms.BooleanField(**common)
    if field.type == T.CHOICE:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in field.choices], **common)
    if field.type == T.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in field.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    return forms.CharField(**common)


# --- definitions: the admin's writes ------------------------------------------------------

DEFINITION_FIELDS = (
    "label_zh",
    "label_en",
    "type",
    "required",
    "choices",
    "min_value",
    "max_value",
    "regex",
    "help_text",
    "group",
    "order",
    "visible_roles",
    "editable_roles",
)


def _clean_definition(data: dict, existing: CustomField | None) -> dict:
    clean = {k: data[k] for k in DEFINITION_FIELDS if k in data}
    errors = {}
    needs_label = existing is None or "label_zh" in clean
    if needs_label and not (clean.get("label_zh") or "").strip():
        errors["label_zh"] = _("Enter the Chinese label.")
    if "type" in clean and clean["type"] not in T.values:
        errors["type"] = _("Choose a type.")
    if existing is not None and "type" in clean and clean["type"] != existing.type:
        errors["type"] = _("The type cannot change once values may exist; add a new field.")
    kind = clean.get("type", existing.type if existing else T.TEXT)
    if "choices" in clean:
        choices = clean["choices"]
        if isinstance(choices, str):
            choices = re.split(r"[\n,，、]+", choices)
        clean["choices"] = list(dict.fromkeys(c.strip() for c in choices if c and c.strip()))
        if existing is not None:
            lost = set(existing.choices) - set(clean["choices"])
            if lost:
                errors["choices"] = _(
                    "Choices cannot be removed while records may use them: %(c)s."
                ) % {"c": "、".join(sorted(lost))}
    if kind in (T.CHOICE, T.MULTI_CHOICE) and not clean.get(
        "choices", existing.choices if existing else []
    ):
        errors["choices"] = _("Give at least one choice.")
    if clean.get("regex"):
        try:
            re.compile(clean["regex"])
        except re.error:
            errors["regex"] = _("This is not a valid pattern.")
    for key in ("visible_roles", "editable_roles"):
        if key in clean:
            roles = list(clean[key] or [])
            if set(roles) - set(ROLE_CODES):
                errors[key] = _("Unknown role.")
            clean[key] = roles
    if errors:
        raise Invalid(fields=errors)
    return clean


@audit.by_actor
@transaction.atomic
def create_field(actor: User, *, target: str, key: str, **data) -> CustomField:
    from autocrm.core.services import require

    require(actor, "fields.manage")
    key = (key or "").strip().lower().replace("-", "_")
    errors = {}
    if target not in CustomField.Target.values:
        errors["target"] = _("Choose what the field applies to.")
    if not KEY_RE.fullmatch(key):
        errors["key"] = _("Use lower-case letters, digits and _ (start with a letter).")
    if errors:
        raise Invalid(fields=errors)
    clean = _clean_definition(data, None)
    if CustomField.objects.filter(org_id=actor.org_id, target=target, key=key).exists():
        raise Conflict(
            _("A field with this key already exists."), fields={"key": _("Already used.")}
        )
    return CustomField.objects.create(org_id=actor.org_id, target=target, key=key, **clean)


@audit.by_actor
@transaction.atomic
def update_field(actor: User, field: CustomField, **data) -> CustomField:
    """Labels, help, order, roles and added choices; stored values are never touched."""
    from autocrm.core.services import require

    require(actor, "fields.manage")
    if field.org_id != actor.org_id:
        raise NotFound()
    for key, value in _clean_definition(data, field).items():
        setattr(field, key, value)
    field.save()
    return field


@audit.by_actor
@transaction.atomic
def delete_field(actor: User, field: CustomField, *, confirm: bool) -> None:
    """Remove the definition (audited). Values stay in the records' JSON, so re-creating a
    field with the same key brings them back."""
    from autocrm.core.services import require

    require(actor, "fields.manage")
    if field.org_id != actor.org_id:
        raise NotFound()
    if not confirm:
        raise Invalid(fields={"confirm": _("Confirm that the field should be deleted.")})
    field.delete()
