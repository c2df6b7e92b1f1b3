"""Every write of a process definition: its stages (owner, required fields, time limit,
escalation) and transitions (roles, condition, approvals). HQ only (``process.manage``).

Each change bumps the process's ``version``; orders already in a stage keep the rules they
entered with (copied on their ``StageVisit``), so a changed limit applies from the next entry
on. A process stage is the same column on every store's board: adding one adds the column to
each store that has a board (a store's own column of the same name is adopted), and deleting
one that still holds open orders is refused unless the orders are moved to another stage,
explicitly, in the same step."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from autocrm.core import audit
from autocrm.core.errors import Conflict, Invalid, NotFound
from autocrm.core.models import User
from autocrm.core.roles import ROLE_CODES
from autocrm.core.selectors import get_or_404
from autocrm.core.services import check_errors, require
from autocrm.core.validators import normalize_text
from autocrm.workflow import conditions
from autocrm.workflow.entities import EntitySpec, fields_of, spec
from autocrm.workflow.models import (
    DEFAULT_STAGE_KEYS,
    DEFAULT_STAGES,
    Process,
    ProcessStage,
    Stage,
    Transition,
)
from autocrm.workflow.services import clean_stage_name

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
NAME_MAX = ProcessStage._meta.get_field("name").max_length
MAX_LIMIT = 60 * 24 * 365  # business minutes: far more than any stage should take
MAX_APPROVERS = 20
MAX_TIERS = 5


# --- reading and creating -----------------------------------------------------------------


def process_of(org_id: int, entity: str) -> Process | None:
    return Process.objects.filter(org_id=org_id, entity=entity).first()


def _seed(process: Process) -> None:
    """The default stages, adopting the same-named columns stores already have."""
    for sort, ((name, _color, _minutes), key) in enumerate(
        zip(DEFAULT_STAGES, DEFAULT_STAGE_KEYS, strict=True), start=1
    ):
        stage = ProcessStage.objects.create(process=process, key=key, name=name, sort=sort * 10)
        _adopt_columns(stage)


def open_process(actor: User, entity: str) -> Process:
    """The org's process for ``entity``; the first look makes it with the default stages."""
    require(actor, "process.manage")
    entity_spec = spec(entity)
    found = process_of(actor.org_id, entity_spec.code)
    if found is not None:
        return found
    with transaction.atomic(), audit.audit_context(user=actor):
        process, created = Process.objects.get_or_create(
            org_id=actor.org_id, entity=entity_spec.code, defaults={"updated_by": actor}
        )
        if created:
            _seed(process)
    return process


def _locked_process(actor: User, entity: str, version=None) -> tuple[Process, EntitySpec]:
    require(actor, "process.manage")
    entity_spec = spec(entity)
    process = open_process(actor, entity_spec.code)
    process = audit.locked(Process.objects.select_for_update().get(pk=process.pk))
    if version not in (None, "") and str(version) != str(process.version):
        raise Conflict(
            _("Someone changed this process meanwhile (now version %(v)d): reload and try again.")
            % {"v": process.version},
            code="stale",
        )
    return process, entity_spec


def _bump(process: Process, actor: User) -> None:
    process.version += 1
    process.updated_by = actor
    process.save(update_fields=["version", "updated_by", "updated_at"])


def stage_in(actor: User, stage_id) -> ProcessStage:
    """A process stage of the actor's org (404 otherwise)."""
    return get_or_404(
        ProcessStage.objects.select_related("process").filter(process__org_id=actor.org_id),
        stage_id,
    )


def transition_in(actor: User, transition_id) -> Transition:
    return get_or_404(
        Transition.objects.select_related("process", "source", "target").filter(
            process__org_id=actor.org_id
        ),
        transition_id,
    )


# --- boards -------------------------------------------------------------------------------


def _adopt_columns(stage: ProcessStage) -> None:
    """Give every store that has a board a column for ``stage``: the store's unlinked column
    of the same name when it has one, else a new column at the stage's position."""
    org_id = stage.process.org_id
    adopted = Stage.objects.filter(
        org_id=org_id, name=stage.name, process_stage__isnull=True
    ).update(process_stage=stage)
    with_column = Stage.objects.filter(org_id=org_id, process_stage=stage).values("store_id")
    missing = set(
        Stage.objects.filter(org_id=org_id)
        .exclude(store_id__in=with_column)
        .order_by()
        .values_list("store_id", flat=True)
        .distinct()
    )
    # A store whose own column (linked to another stage) already has the name gets a variant.
    clashing = set(
        Stage.objects.filter(org_id=org_id, name=stage.name, store_id__in=missing).values_list(
            "store_id", flat=True
        )
    )
    made = Stage.objects.bulk_create(
        [
            Stage(
                org_id=org_id,
                store_id=store_id,
                name=f"{stage.name[: NAME_MAX - 8]}-{stage.pk}"
                if store_id in clashing
                else stage.name,
                sort=stage.sort,
                process_stage=stage,
                target_minutes=min(stage.limit_minutes or 60, 10080),
            )
            for store_id in sorted(missing)
        ]
    )
    if adopted or made:
        audit.record_event(
            "update",
            Stage,
            _("Board columns of process stage %(name)s") % {"name": stage.name},
            {"adopted": [None, adopted], "created": [None, len(made)]},
            org_id=org_id,
        )


def board_columns(org_id: int) -> list[ProcessStage]:
    """The stages a new store's board starts with (empty when the org has no process)."""
    process = process_of(org_id, Process.Entity.WORK_ORDER)
    if process is None:
        return []
    return list(process.stages.order_by("sort", "id"))


# --- stages -------------------------------------------------------------------------------


def _role(value, field: str) -> str:
    value = (value or "").strip()
    if value and value not in ROLE_CODES:
        raise Invalid(fields={field: _("Choose one of the listed roles.")})
    return value


def _person(actor: User, value, field: str) -> User | None:
    if value in (None, ""):
        return None
    if isinstance(value, User):
        value = value.pk
    query = User.objects.filter(org_id=actor.org_id, is_active=True)
    found = None
    try:
        found = query.filter(pk=int(value)).first()
    except (TypeError, ValueError):
        found = query.filter(username=normalize_text(str(value)).lower()).first()
    if found is None:
        raise Invalid(fields={field: _("Choose an active member of your organization.")})
    return found


def _limit(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        minutes = int(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        minutes = -1
    if not 1 <= minutes <= MAX_LIMIT:
        raise Invalid(
            fields={"limit_minutes": _("Enter a limit from one minute to one year of hours.")}
        )
    return minutes


def _required(entity: EntitySpec, org_id: int, value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple):
        raise Invalid(fields={"required_fields": _("Choose fields from the list.")})
    known = fields_of(entity, org_id)
    names = []
    for name in value:
        if name not in known:
            raise Invalid(
                fields={"required_fields": _("Unknown field: %(name)s.") % {"name": name}}
            )
        if name not in names:
            names.append(name)
    return names


def _clean_stage(
    actor: User,
    process: Process,
    entity: EntitySpec,
    data: dict,
    stage: ProcessStage | None,
    *,
    check_names: bool = True,
) -> dict:
    clean: dict = {}
    errors: dict[str, str | None] = {}
    if stage is None or "name" in data:
        others = None
        if check_names:
            others = ProcessStage.objects.filter(process=process)
            if stage is not None:
                others = others.exclude(pk=stage.pk)
        clean["name"], errors["name"] = clean_stage_name(
            data.get("name"),
            others,
            _("The process already has a stage with this name."),
            limit=NAME_MAX,
        )
    if data.get("key") not in (None, "") and stage is None:
        key = str(data["key"]).strip().lower()
        if not KEY.match(key):
            errors["key"] = _("Use lower-case letters, digits, - and _ (at most 40).")
        elif ProcessStage.objects.filter(process=process, key=key).exists():
            errors["key"] = _("Already used.")
        clean["key"] = key
    check_errors(errors)
    if "owner_role" in data:
        clean["owner_role"] = _role(data["owner_role"], "owner_role")
    if "escalate_role" in data:
        clean["escalate_role"] = _role(data["escalate_role"], "escalate_role")
    if "escalate_to" in data:
        clean["escalate_to"] = _person(actor, data["escalate_to"], "escalate_to")
    if "limit_minutes" in data:
        clean["limit_minutes"] = _limit(data["limit_minutes"])
    if "required_fields" in data:
        clean["required_fields"] = _required(entity, process.org_id, data["required_fields"])
    if data.get("sort") not in (None, ""):
        try:
            sort = int(data["sort"])
        except (TypeError, ValueError):
            sort = -1
        if not 0 <= sort <= 32767:
            raise Invalid(fields={"sort": _("Enter a position from 0 to 32767.")})
        clean["sort"] = sort
    return clean


def _new_key(process: Process) -> str:
    taken = set(ProcessStage.objects.filter(process=process).values_list("key", flat=True))
    n = len(taken) + 1
    while f"stage-{n}" in taken:
        n += 1
    return f"stage-{n}"


@audit.by_actor
@transaction.atomic
def create_stage(actor: User, entity: str, *, version=None, **data) -> ProcessStage:
    process, entity_spec = _locked_process(actor, entity, version)
    clean = _clean_stage(actor, process, entity_spec, data, None)
    clean.setdefault("key", _new_key(process))
    if "sort" not in clean:
        last = process.stages.aggregate(m=Max("sort"))["m"] or 0
        clean["sort"] = min(last + 10, 32767)
    stage = ProcessStage.objects.create(process=process, **clean)
    _adopt_columns(stage)
    _bump(process, actor)
    return stage


@audit.by_actor
@transaction.atomic
def update_stage(actor: User, stage: ProcessStage, *, version=None, **data) -> ProcessStage:
    """Change a stage's rules. Orders already in it keep the limit and escalation they
    entered with; renaming renames the stores' columns that still carry the old name."""
    process, entity_spec = _locked_process(actor, stage.process.entity, version)
    stage = audit.locked(ProcessStage.objects.select_for_update().get(pk=stage.pk))
    if stage.process_id != process.pk:
        raise NotFound()
    clean = _clean_stage(actor, process, entity_spec, data, stage)
    old_name = stage.name
    for key, value in clean.items():
        setattr(stage, key, value)
    stage.save()
    if stage.name != old_name:
        clashing = Stage.objects.filter(org_id=process.org_id, name=stage.name).values("store_id")
        for column in Stage.objects.filter(process_stage=stage, name=old_name).exclude(
            store_id__in=clashing
        ):
            column.name = stage.name
            column.save(update_fields=["name", "updated_at"])
    _bump(process, actor)
    return stage


def open_orders_in(stage: ProcessStage):
    from autocrm.service.models import WorkOrder

    return WorkOrder.objects.filter(stage__process_stage=stage).exclude(
        status__in=WorkOrder.CLOSED_STATUSES
    )


@audit.by_actor
@transaction.atomic
def delete_stage(actor: User, stage: ProcessStage, *, move_to=None, version=None) -> int:
    """Delete a stage. Open orders in it are refused, unless ``move_to`` (another stage of
    the process, by id or key) says where they go: each is moved there on its store's board,
    with a line in its history. The stores' columns are switched off, not deleted, so history
    keeps their names. Returns the number of orders moved."""
    from autocrm.workflow import services as board

    process, _entity = _locked_process(actor, stage.process.entity, version)
    stage = ProcessStage.objects.select_for_update().filter(pk=stage.pk, process=process).first()
    if stage is None:
        raise NotFound()
    waiting = open_orders_in(stage).count()
    target = None
    if move_to not in (None, ""):
        target = _stage_ref(process, move_to, "move_to")
        if target.pk == stage.pk:
            raise Invalid(fields={"move_to": _("Choose another stage.")})
    if waiting and target is None:
        raise Conflict(
            _(
                "%(n)d open work orders are in “%(name)s”: choose the stage to move them to, "
                "or move them first."
            )
            % {"n": waiting, "name": stage.name},
            code="stage_in_use",
            fields={"move_to": _("Choose where its work orders go.")},
        )
    moved = 0
    if waiting:
        _adopt_columns(target)
        columns = dict(Stage.objects.filter(process_stage=target).values_list("store_id", "pk"))
        for wo in open_orders_in(stage).select_related("stage"):
            board.system_move(
                wo,
                columns[wo.store_id],
                actor,
                note=_("stage %(name)s was removed from the process") % {"name": stage.name},
            )
            moved += 1
    for column in Stage.objects.filter(process_stage=stage):
        others = Stage.objects.filter(store_id=column.store_id, is_active=True).exclude(
            pk=column.pk
        )
        column.process_stage = None
        column.is_active = column.is_active and not others.exists()  # a board keeps one column
        column.save(update_fields=["process_stage", "is_active", "updated_at"])
    stage.delete()
    _bump(process, actor)
    return moved


def _stage_ref(process: Process, ref, field: str) -> ProcessStage:
    """A stage of ``process`` by id or key."""
    query = ProcessStage.objects.filter(process=process)
    found = None
    if isinstance(ref, ProcessStage):
        found = query.filter(pk=ref.pk).first()
    elif isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = query.filter(pk=int(ref)).first()
    elif isinstance(ref, str):
        found = query.filter(key=ref.strip()).first()
    if found is None:
        raise Invalid(fields={field: _("Choose a stage of this process.")})
    return found


# --- transitions --------------------------------------------------------------------------


def _money(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "").lstrip("¥"))
    except (InvalidOperation, ValueError):
        raise Invalid(fields={field: _("Enter an amount.")}) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise Invalid(fields={field: _("Enter an amount.")})
    return amount.quantize(Decimal("0.01"))


def _clean_approval(actor: User, entity: EntitySpec, data: dict) -> dict:
    mode = data.get("approval") or Transition.Approval.NONE
    if mode not in Transition.Approval.values:
        raise Invalid(fields={"approval": _("Choose how the move is approved.")})
    clean = {
        "approval": mode,
        "approval_role": "",
        "approvers": [],
        "approvals_needed": 1,
        "amount_field": "",
        "tiers": [],
    }
    if mode == Transition.Approval.NONE:
        return clean
    try:
        needed = int(data.get("approvals_needed") or 1)
    except (TypeError, ValueError):
        needed = 0
    if not 1 <= needed <= MAX_APPROVERS:
        raise Invalid(fields={"approvals_needed": _("Enter a number from 1 to 20.")})
    clean["approvals_needed"] = needed
    if mode == Transition.Approval.ROLE:
        role = _role(data.get("approval_role"), "approval_role")
        if not role:
            raise Invalid(fields={"approval_role": _("Choose the role that approves.")})
        clean["approval_role"] = role
    elif mode == Transition.Approval.PEOPLE:
        raw = data.get("approvers") or []
        if isinstance(raw, str):
            raw = [v for v in re.split(r"[,，\s]+", raw) if v]
        people = []
        for value in raw:
            person = _person(actor, value, "approvers")
            if person.pk not in people:
                people.append(person.pk)
        if not people or len(people) > MAX_APPROVERS:
            raise Invalid(fields={"approvers": _("Name one to 20 approvers.")})
        if needed > len(people):
            raise Invalid(
                fields={
                    "approvals_needed": _("At most %(m)d: the number of approvers named.")
                    % {"m": len(people)}
                }
            )
        clean["approvers"] = people
    else:  # tiered by amount
        field = data.get("amount_field") or ""
        if field not in entity.amount_fields:
            raise Invalid(fields={"amount_field": _("Choose the amount the tiers look at.")})
        tiers = []
        for n, tier in enumerate(data.get("tiers") or [], start=1):
            if not isinstance(tier, dict):
                raise Invalid(fields={"tiers": _("Give each tier an amount and a role.")})
            if tier.get("over") in (None, "") and not tier.get("role"):
                continue  # an empty row of the form
            over = _money(tier.get("over"), "tiers")
            role = _role(tier.get("role"), "tiers")
            if not role:
                raise Invalid(fields={"tiers": _("Tier %(n)d: choose a role.") % {"n": n}})
            tiers.append({"over": str(over), "role": role})
        overs = [t["over"] for t in tiers]
        if not tiers or len(tiers) > MAX_TIERS or len(set(overs)) != len(overs):
            raise Invalid(fields={"tiers": _("Give one to five tiers with different amounts.")})
        clean["amount_field"] = field
        clean["tiers"] = sorted(tiers, key=lambda t: Decimal(t["over"]))
    return clean


def _clean_transition(actor: User, process: Process, entity: EntitySpec, data: dict) -> dict:
    source = _stage_ref(process, data.get("source"), "source")
    target = _stage_ref(process, data.get("target"), "target")
    if source.pk == target.pk:
        raise Invalid(fields={"target": _("Choose another stage than the one it starts from.")})
    roles = data.get("allowed_roles") or []
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list | tuple) or not set(roles) <= set(ROLE_CODES):
        raise Invalid(fields={"allowed_roles": _("Choose roles from the list.")})
    clean = {
        "source": source,
        "target": target,
        "allowed_roles": sorted(set(roles)),
        "condition": conditions.clean(data.get("condition") or {}, entity, process.org_id),
    }
    clean.update(_clean_approval(actor, entity, data))
    return clean


@audit.by_actor
@transaction.atomic
def save_transition(actor: User, entity: str, *, version=None, **data) -> Transition:
    """Create the transition between two stages, or replace the rules of the existing one."""
    process, entity_spec = _locked_process(actor, entity, version)
    clean = _clean_transition(actor, process, entity_spec, data)
    found = Transition.objects.filter(source=clean["source"], target=clean["target"]).first()
    if found is None:
        found = Transition.objects.create(process=process, **clean)
    else:
        found = audit.locked(Transition.objects.select_for_update().get(pk=found.pk))
        for key, value in clean.items():
            setattr(found, key, value)
        found.save()
    _bump(process, actor)
    return found


@audit.by_actor
@transaction.atomic
def delete_transition(actor: User, transition: Transition, *, version=None) -> None:
    process, _entity = _locked_process(actor, transition.process.entity, version)
    found = Transition.objects.filter(pk=transition.pk, process=process).first()
    if found is None:
        raise NotFound()
    found.delete()
    _bump(process, actor)


# --- whole lists (the API's PUT) ----------------------------------------------------------


@audit.by_actor
@transaction.atomic
def replace_stages(
    actor: User, entity: str, stages: list[dict], *, moves: dict | None = None, version=None
) -> Process:
    """Make the process's stages exactly ``stages`` (matched by ``key``; order as given).
    Stages left out are deleted, with their open orders moved as ``moves`` ({key: key}) says;
    refused, as a whole, when one still holds orders and ``moves`` does not say where."""
    process, entity_spec = _locked_process(actor, entity, version)
    moves = moves or {}
    if not stages:
        raise Invalid(fields={"stages": _("A process needs at least one stage.")})
    existing = {s.key: s for s in process.stages.all()}
    keys = [str(item.get("key") or "").strip().lower() for item in stages]
    given = [k for k in keys if k]
    if len(set(given)) != len(given):
        raise Invalid(fields={"stages": _("Each stage's key may appear once.")})
    names = [normalize_text(item.get("name") or "") for item in stages]
    if len(set(names)) != len(names):
        raise Invalid(fields={"stages": _("Each stage's name may appear once.")})
    gone = [stage for key, stage in existing.items() if key not in given]
    for stage in gone:
        target = moves.get(stage.key)
        if open_orders_in(stage).exists() and (target in (None, "") or target not in given):
            raise Conflict(
                _("“%(name)s” still has open work orders: say in moves where they go.")
                % {"name": stage.name},
                code="stage_in_use",
                fields={f"moves.{stage.key}": _("Choose where its work orders go.")},
            )
    # Names are checked on the list as a whole (above): stages may swap names in one step.
    placed: list[ProcessStage] = []
    for position, (item, key) in enumerate(zip(stages, keys, strict=True), start=1):
        data = {k: v for k, v in item.items() if k not in ("key", "id")}
        data["sort"] = position * 10
        if key in existing:
            stage = existing[key]
            clean = _clean_stage(actor, process, entity_spec, data, stage, check_names=False)
            for name, value in clean.items():
                setattr(stage, name, value)
            stage.save()
        else:
            data["key"] = key
            clean = _clean_stage(actor, process, entity_spec, data, None, check_names=False)
            clean.setdefault("key", _new_key(process))
            stage = ProcessStage.objects.create(process=process, **clean)
            _adopt_columns(stage)
        placed.append(stage)
    by_key = {s.key: s for s in placed}
    for stage in gone:
        target = by_key.get(moves.get(stage.key) or "")
        delete_stage(actor, stage, move_to=target.pk if target else None)
    process.refresh_from_db()
    _bump(process, actor)
    return process


@audit.by_actor
@transaction.atomic
def replace_transitions(
    actor: User, entity: str, transitions: list[dict], *, version=None
) -> Process:
    """Make the process's transitions exactly ``transitions`` (stages named by key)."""
    process, entity_spec = _locked_process(actor, entity, version)
    cleaned = []
    seen = set()
    for n, item in enumerate(transitions):
        try:
            clean = _clean_transition(actor, process, entity_spec, item)
        except Invalid as exc:
            raise Invalid(
                fields={f"transitions.{n}.{k}": v for k, v in exc.fields.items()}
            ) from None
        pair = (clean["source"].pk, clean["target"].pk)
        if pair in seen:
            raise Invalid(fields={f"transitions.{n}": _("This move is listed twice.")})
        seen.add(pair)
        cleaned.append(clean)
    current = {(t.source_id, t.target_id): t for t in process.transitions.all()}
    for pair, transition in current.items():
        if pair not in seen:
            transition.delete()
    for clean in cleaned:
        found = current.get((clean["source"].pk, clean["target"].pk))
        if found is None:
            Transition.objects.create(process=process, **clean)
        else:
            for key, value in clean.items():
                setattr(found, key, value)
            found.save()
    _bump(process, actor)
    return process
