"""Every write of the check-in checklists (inspection templates) that HQ edits for all stores.

An inspection copies each item's section, name and order into its own results when it starts,
so editing or removing items never changes a past inspection. A checklist that an inspection
was started with is only ever deactivated (the inspection refers to it), never deleted.

Items of a section stay together: the technician's phone shows a heading per run of items with
the same section, so a new item joins the end of its section, and moves stay inside it (whole
sections move with ``move_section``). A checklist is offered to technicians only while active,
and only a checklist with items may be active."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from autocrm.core import audit
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import User
from autocrm.core.scoping import require_visible
from autocrm.core.services import require
from autocrm.core.validators import normalize_text
from autocrm.service.models import Inspection, InspectionTemplate, InspectionTemplateItem
from autocrm.service.selectors_checklists import checklist_items, get_checklist_item, sections

CAPABILITY = "inspection.manage"
NAME_MAX = InspectionTemplate._meta.get_field("name").max_length
ITEM_MAX = InspectionTemplateItem._meta.get_field("name").max_length
SECTION_MAX = InspectionTemplateItem._meta.get_field("section").max_length
MAX_ITEMS = 200  # a long check-in list is around 40; this stops runaway imports and scripts
STEP = 10  # gaps between ``sort`` values


def is_used(template: InspectionTemplate) -> bool:
    """Whether an inspection was started with the checklist (then it is never deleted)."""
    return Inspection.objects.filter(template_id=template.pk).exists()


# --- checks -------------------------------------------------------------------------------


def _own(actor: User, template: InspectionTemplate) -> InspectionTemplate:
    """The checklist, locked for this transaction; another org's is not found."""
    require(actor, CAPABILITY)
    require_visible(actor, template)
    return InspectionTemplate.objects.select_for_update().get(pk=template.pk)


def _own_item(template: InspectionTemplate, item: InspectionTemplateItem) -> InspectionTemplateItem:
    """The item as stored, if it belongs to the checklist (else NotFound)."""
    return get_checklist_item(template, item.pk)


def _clean_name(org_id: int, raw, *, template: InspectionTemplate | None = None) -> str:
    name = normalize_text(raw if isinstance(raw, str) else "")
    if not name:
        raise Invalid(fields={"name": _("Enter the checklist's name.")})
    if len(name) > NAME_MAX:
        raise Invalid(fields={"name": _("At most %(n)d characters.") % {"n": NAME_MAX}})
    dupes = InspectionTemplate.objects.filter(org_id=org_id, name__iexact=name)
    if template is not None:
        dupes = dupes.exclude(pk=template.pk)
    if dupes.exists():
        raise Invalid(fields={"name": _("There is already a checklist with this name.")})
    return name


def _clean_item(raw_section, raw_name) -> tuple[str, str]:
    section = normalize_text(raw_section if isinstance(raw_section, str) else "")
    name = normalize_text(raw_name if isinstance(raw_name, str) else "")
    errors = {}
    if len(section) > SECTION_MAX:
        errors["section"] = _("At most %(n)d characters.") % {"n": SECTION_MAX}
    if not name:
        errors["name"] = _("Enter what to check.")
    elif len(name) > ITEM_MAX:
        errors["name"] = _("At most %(n)d characters.") % {"n": ITEM_MAX}
    if errors:
        raise Invalid(fields=errors)
    return section, name


def _check_unique(items, section: str, name: str, *, skip: int | None = None) -> None:
    key = (section.casefold(), name.casefold())
    for other in items:
        if skip is not None and other.pk == skip:
            continue
        if (other.section.casefold(), other.name.casefold()) == key:
            message = (
                _("This section already has an item with this name.")
                if section
                else _("This checklist already has an item with this name.")
            )
            raise Invalid(fields={"name": message})


def _place(items: list, item: InspectionTemplateItem) -> list:
    """``items`` with ``item`` after the last item of its section, or at the end."""
    at = len(items)
    for n, other in enumerate(items):
        if other.section == item.section:
            at = n + 1
    return [*items[:at], item, *items[at:]]


def _renumber(items: list[InspectionTemplateItem]) -> list[InspectionTemplateItem]:
    for n, item in enumerate(items, start=1):
        if item.sort != n * STEP:
            item.sort = n * STEP
            item.save(update_fields=["sort"])
    return items


def _touch(template: InspectionTemplate) -> None:
    """The checklist's ``updated_at`` follows the edits of its items."""
    template.save(update_fields=["updated_at"])


# --- checklists ---------------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def create_template(
    actor: User, *, name, items: list[dict] | None = None, is_active: bool | None = None
) -> InspectionTemplate:
    """A new checklist, with ``items`` (each ``{"section", "name"}``, kept in the order given)
    when given. Without ``is_active`` it is active when it has items; an empty one waits as
    inactive until its items are added, so technicians never open an empty list."""
    require(actor, CAPABILITY)
    errors: dict[str, str] = {}
    clean_name = ""
    try:
        clean_name = _clean_name(actor.org_id, name)
    except Invalid as exc:
        errors.update(exc.fields)
    rows: list[InspectionTemplateItem] = []
    for n, raw in enumerate(items or []):
        raw = raw if isinstance(raw, dict) else {}
        try:
            section, item_name = _clean_item(raw.get("section", ""), raw.get("name"))
            _check_unique(rows, section, item_name)
        except Invalid as exc:
            for key, message in exc.fields.items():
                errors.setdefault(f"items.{n}.{key}", message)
            continue
        rows.append(InspectionTemplateItem(section=section, name=item_name))
    if len(items or []) > MAX_ITEMS:
        errors["items"] = _("A checklist has at most %(n)d items.") % {"n": MAX_ITEMS}
    if is_active is None:
        is_active = bool(rows)
    elif is_active and not items:
        errors["is_active"] = _("Add items before activating the checklist.")
    if errors:
        raise Invalid(fields=errors)
    template = InspectionTemplate.objects.create(
        org_id=actor.org_id, name=clean_name, is_active=bool(is_active)
    )
    for n, item in enumerate(rows, start=1):  # in the order given
        item.template, item.sort = template, n * STEP
        item.save()
    return template


@audit.by_actor
@transaction.atomic
def update_template(
    actor: User, template: InspectionTemplate, *, name=None, is_active: bool | None = None
) -> InspectionTemplate:
    """Rename and/or (de)activate. Past inspections show the checklist's current name; their
    items are their own copies."""
    template = _own(actor, template)
    changed = []
    if name is not None:
        clean_name = _clean_name(template.org_id, name, template=template)
        if clean_name != template.name:
            template.name = clean_name
            changed.append("name")
    if is_active is not None and bool(is_active) != template.is_active:
        if is_active and not template.items.exists():
            raise Invalid(
                _("Add items before activating the checklist."),
                fields={"is_active": _("Add items before activating the checklist.")},
            )
        template.is_active = bool(is_active)
        changed.append("is_active")
    if changed:
        template.save(update_fields=[*changed, "updated_at"])
    return template


@audit.by_actor
@transaction.atomic
def retire_template(actor: User, template: InspectionTemplate) -> bool:
    """Delete a checklist no inspection was started with, else deactivate it. True when
    deleted."""
    template = _own(actor, template)
    if is_used(template):
        if template.is_active:
            template.is_active = False
            template.save(update_fields=["is_active", "updated_at"])
        return False
    # Item by item, so each deletion is audited with a readable name.
    for item in checklist_items(template):
        item.delete()
    template.delete()
    return True


# --- items --------------------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def add_item(
    actor: User, template: InspectionTemplate, *, name, section=""
) -> InspectionTemplateItem:
    """Add an item at the end of its section (or of the list, for a new section)."""
    template = _own(actor, template)
    clean_section, clean_name = _clean_item(section, name)
    items = checklist_items(template)
    if len(items) >= MAX_ITEMS:
        raise Conflict(
            _("A checklist has at most %(n)d items.") % {"n": MAX_ITEMS},
            fields={"name": _("A checklist has at most %(n)d items.") % {"n": MAX_ITEMS}},
        )
    _check_unique(items, clean_section, clean_name)
    item = InspectionTemplateItem(template=template, section=clean_section, name=clean_name)
    ordered = _place(items, item)
    item.sort = (ordered.index(item) + 1) * STEP
    item.save()
    _renumber(ordered)
    _touch(template)
    return item


@audit.by_actor
@transaction.atomic
def update_item(
    actor: User,
    template: InspectionTemplate,
    item: InspectionTemplateItem,
    *,
    name=None,
    section=None,
) -> InspectionTemplateItem:
    """Rename an item or put it in another section (at that section's end). Inspections
    already started keep the old wording: they copied it."""
    template = _own(actor, template)
    item = _own_item(template, item)
    clean_section, clean_name = _clean_item(
        item.section if section is None else section, item.name if name is None else name
    )
    items = checklist_items(template)
    _check_unique(items, clean_section, clean_name, skip=item.pk)
    if (clean_section, clean_name) == (item.section, item.name):
        return item
    moved = clean_section != item.section
    item.section, item.name = clean_section, clean_name
    item.save(update_fields=["section", "name"])
    if moved:
        rest = [i for i in items if i.pk != item.pk]
        _renumber(_place(rest, item))
    _touch(template)
    return item


@audit.by_actor
@transaction.atomic
def remove_item(actor: User, template: InspectionTemplate, item: InspectionTemplateItem) -> None:
    """Remove an item; past inspections keep it (their results are copies)."""
    template = _own(actor, template)
    item = _own_item(template, item)
    items = checklist_items(template)
    if template.is_active and len(items) <= 1:
        raise Conflict(
            _("An active checklist needs at least one item: deactivate it first."),
            fields={"items": _("Keep at least one item, or deactivate the checklist.")},
        )
    item.delete()
    _renumber([i for i in items if i.pk != item.pk])
    _touch(template)


@audit.by_actor
@transaction.atomic
def move_item(
    actor: User, template: InspectionTemplate, item: InspectionTemplateItem, step: int
) -> list[InspectionTemplateItem]:
    """Move an item one place up (``-1``) or down (``+1``) within its section."""
    template = _own(actor, template)
    item = _own_item(template, item)
    items = checklist_items(template)
    at = next(n for n, i in enumerate(items) if i.pk == item.pk)
    to = at + (1 if step > 0 else -1)
    if 0 <= to < len(items) and items[to].section == item.section:
        items[at], items[to] = items[to], items[at]
        _renumber(items)
        _touch(template)
    return items


@audit.by_actor
@transaction.atomic
def move_section(
    actor: User, template: InspectionTemplate, section, step: int
) -> list[InspectionTemplateItem]:
    """Move the run of items of ``section`` before the previous run (``-1``) or after the
    next one (``+1``)."""
    template = _own(actor, template)
    runs = [run for _section, run in sections(checklist_items(template))]
    wanted = normalize_text(section if isinstance(section, str) else "")
    at = next((n for n, run in enumerate(runs) if run[0].section == wanted), None)
    if at is None:
        raise NotFound()
    to = at + (1 if step > 0 else -1)
    if 0 <= to < len(runs):
        runs[at], runs[to] = runs[to], runs[at]
        _renumber([item for run in runs for item in run])
        _touch(template)
    return [item for run in runs for item in run]


@audit.by_actor
@transaction.atomic
def reorder_items(
    actor: User, template: InspectionTemplate, item_ids
) -> list[InspectionTemplateItem]:
    """Put the checklist's items in the order given (every item exactly once)."""
    template = _own(actor, template)
    items = {i.pk: i for i in checklist_items(template)}
    try:
        ids = [int(i) for i in item_ids]
    except (TypeError, ValueError):
        ids = []
    if sorted(ids) != sorted(items):
        raise Invalid(fields={"item_ids": _("List every item of the checklist exactly once.")})
    ordered = _renumber([items[i] for i in ids])
    _touch(template)
    return ordered
