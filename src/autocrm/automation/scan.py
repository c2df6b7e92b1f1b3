"""Running rules: the time scan, event handling, exactly-once firings, retries and preview.

Exactly once
    Every firing has a key — (rule, record, occurrence): the occurrence is the date a time
    rule's moment belongs to ("2026-12-01", the anniversary date) or the event's id — with a
    unique constraint. A run inserts the firing rows of a chunk first, all at once with
    insert-or-ignore (``ON CONFLICT DO NOTHING`` / ``INSERT OR IGNORE``), each marked with the
    run's random *claim* token, then reads back the rows carrying its token: only those are
    new, and only their actions run. A rerun, a second worker or an overlapping window finds
    the rows there and does nothing.

    The database actions of a batch of firings (tasks, outbox messages, fields, tags) run in
    one transaction that also marks the firings done, and only for firings still claimed by
    this run (checked under the row lock in that transaction). A crash before the commit
    leaves the firings ``pending`` and nothing else; after ``LEASE`` a later run re-claims them
    with one conditional UPDATE (so two runs cannot both win) and runs them again. Each action
    also carries the firing's key into messaging and ``create_task``, and ``results`` records
    every finished action, so a retry never repeats one. Webhooks run after that commit and are
    the one at-least-once action (a crash between sending and recording resends the same
    ``X-AutoCRM-Delivery``).

Catch-up
    A time rule remembers the end of its last completed scan (``last_run_at``). A scan looks
    at the moments in ``(last_run_at − OVERLAP, now]``, but never further back than the rule's
    ``catch_up_days``; a rule switched on and never run looks back one day. So moments missed
    while the worker was down fire on the next run, and nothing fires twice."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from autocrm.automation import actions as act
from autocrm.automation import conditions, triggers
from autocrm.automation.conditions import ENTITIES, FieldGone
from autocrm.automation.models import Rule, RuleFiring
from autocrm.core import audit

log = logging.getLogger("autocrm.rules")

LEASE = datetime.timedelta(minutes=10)  # a pending firing older than this is re-claimed
MAX_ATTEMPTS = 3
OVERLAP = datetime.timedelta(hours=1)
FIRST_LOOKBACK = datetime.timedelta(days=1)
MAX_CATCH_UP_DAYS = 30
CHUNK = 2000  # candidate records read (and firings inserted) per query
BATCH = 200  # firings whose actions run in one transaction
MAX_CHAIN = 3  # a rule's action may trigger other rules this many levels deep
S = RuleFiring.Status


@dataclass
class Stats:
    rules: int = 0
    fired: int = 0
    messages: int = 0
    tasks: int = 0
    failed: int = 0
    retried: int = 0
    disabled: int = 0
    per_rule: dict = field(default_factory=lambda: defaultdict(int))

    def line(self) -> str:
        return (
            f"rules: {self.rules}, fired: {self.fired}, "
            f"messages: {self.messages}, tasks: {self.tasks}"
        )

    def as_dict(self) -> dict:
        return {
            "rules": self.rules,
            "fired": self.fired,
            "messages": self.messages,
            "tasks": self.tasks,
            "failed": self.failed,
            "retried": self.retried,
            "disabled": self.disabled,
        }


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass
class Candidate:
    record_id: int
    store_id: int | None
    occurrence: str
    due_at: datetime.datetime | None
    event: dict = field(default_factory=dict)


# --- scope --------------------------------------------------------------------------------


def _store_path(entity: str) -> str:
    return ENTITIES[entity].store_path


def scope_q(rule: Rule) -> Q:
    path = _store_path(rule.entity)
    if rule.scope == Rule.Scope.REGION:
        return Q(**{f"{path}__region_id": rule.region_id})
    if rule.scope == Rule.Scope.STORES:
        return Q(**{f"{path}_id__in": list(rule.stores.values_list("pk", flat=True))})
    return Q()


def in_scope(rule: Rule, store_id: int | None) -> bool:
    """Whether a store is in the rule's scope. The scope's stores are read once per rule
    object (``process_events`` keeps its rules for the whole batch of events)."""
    if rule.scope == Rule.Scope.ORG:
        return True
    if store_id is None:
        return False
    ids = rule.__dict__.get("_scope_store_ids")
    if ids is None:
        if rule.scope == Rule.Scope.REGION:
            from autocrm.core.models import Store

            ids = Store.objects.filter(region_id=rule.region_id)
        else:
            ids = rule.stores.all()
        ids = rule.__dict__["_scope_store_ids"] = frozenset(ids.values_list("pk", flat=True))
    return store_id in ids


# --- claiming firings ---------------------------------------------------------------------


def claim_new(
    rule: Rule, candidates: list[Candidate], stats: Stats | None = None
) -> list[RuleFiring]:
    """Insert the candidates' firings (existing keys are ignored) and return those this call
    created: the rows that carry this call's fresh claim token."""
    if not candidates:
        return []
    now = timezone.now()
    token = new_token()
    RuleFiring.objects.bulk_create(
        [
            RuleFiring(
                org_id=rule.org_id,
                rule_id=rule.pk,
                store_id=c.store_id,
                record_id=c.record_id,
                occurrence=c.occurrence,
                due_at=c.due_at,
                claim=token,
                claimed_at=now,
                event=c.event,
            )
            for c in candidates
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    ids = [c.record_id for c in candidates]
    new = list(
        RuleFiring.objects.filter(rule_id=rule.pk, record_id__in=ids, claim=token).order_by("pk")
    )  # a token is never reused, so these are exactly the rows inserted just now
    if stats is not None:
        stats.fired += len(new)
        stats.per_rule[rule.pk] += len(new)
    return new


def recover(stats: Stats, *, org_id: int | None = None) -> None:
    """Re-claim firings a crashed or failed run left ``pending`` (after ``LEASE``) and run
    what they still lack; give up on those tried ``MAX_ATTEMPTS`` times."""
    now = timezone.now()
    stale = RuleFiring.objects.filter(status=S.PENDING, claimed_at__lt=now - LEASE)
    if org_id is not None:
        stale = stale.filter(org_id=org_id)
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=S.FAILED,
        finished_at=now,
        error=_("Gave up after %(n)d tries.") % {"n": MAX_ATTEMPTS},
    )
    token = new_token()
    count = stale.filter(attempts__lt=MAX_ATTEMPTS).update(
        claim=token, claimed_at=now, attempts=F("attempts") + 1
    )
    if not count:
        return
    stats.retried += count
    by_rule: dict[int, list[RuleFiring]] = defaultdict(list)
    for firing in RuleFiring.objects.filter(status=S.PENDING, claim=token).order_by("pk"):
        by_rule[firing.rule_id].append(firing)
    for rule in Rule.objects.filter(pk__in=list(by_rule)):
        firings = by_rule[rule.pk]
        if not rule.is_active:
            RuleFiring.objects.filter(pk__in=[f.pk for f in firings], claim=token).update(
                status=S.SKIPPED, finished_at=now, error=_("The rule was switched off.")
            )
            continue
        execute(rule, firings, stats)


# --- running actions ----------------------------------------------------------------------


def _result(firing: RuleFiring, index: int) -> dict | None:
    for entry in firing.results or []:
        if entry.get("i") == index:
            return entry
    return None


def _record(firing: RuleFiring, index: int, kind: str, outcome=None, error=None) -> None:
    entry = {
        "i": index,
        "type": kind,
        "ok": error is None,
        "detail": outcome.detail if outcome is not None else "",
        "at": timezone.now().isoformat(timespec="seconds"),
    }
    if error is not None:
        entry["error"] = str(error)[:300]
        entry["permanent"] = bool(getattr(error, "permanent", False))
    firing.results = [r for r in (firing.results or []) if r.get("i") != index] + [entry]


def _done(firing: RuleFiring, index: int) -> bool:
    entry = _result(firing, index)
    return bool(entry and entry.get("ok"))


def _run_action(rule, firing, index, action, target, stats, *, savepoint: bool) -> None:
    from autocrm.automation import capture

    try:
        with capture.acting(rule.pk, (firing.event or {}).get("depth", 0)):
            if savepoint:
                outcome = act.run_in_savepoint(action, index, rule, firing, target)
            else:
                outcome = act.run(action, index, rule, firing, target)
    except act.ActionFailed as exc:
        _record(firing, index, action["type"], error=exc)
        return
    except Exception as exc:  # an action's bug must not stop the other firings
        log.exception("rule %s action %s failed", rule.pk, index)
        _record(
            firing, index, action["type"], error=act.ActionFailed(f"{type(exc).__name__}: {exc}")
        )
        return
    _record(firing, index, action["type"], outcome)
    if outcome.counts == "message":
        stats.messages += 1
    elif outcome.counts == "task":
        stats.tasks += 1


def _finish(rule: Rule, firing: RuleFiring, stats: Stats) -> None:
    """Done when every action is; pending (retried after LEASE) while a retry may help."""
    now = timezone.now()
    missing = [i for i in range(len(rule.actions)) if not _done(firing, i)]
    if not missing:
        firing.status, firing.error, firing.finished_at = S.DONE, "", now
        return
    errors = [_result(firing, i) or {} for i in missing]
    firing.error = "; ".join(e.get("error", "") for e in errors if e.get("error"))[:300]
    if any(e.get("permanent") for e in errors) or firing.attempts >= MAX_ATTEMPTS:
        firing.status, firing.finished_at = S.FAILED, now
        stats.failed += 1
    else:
        firing.status, firing.claimed_at = S.PENDING, now  # retried once the lease runs out


_SAVED = ("status", "results", "error", "finished_at", "label", "claimed_at")


def _save_firings(firings: list[RuleFiring]) -> None:
    """One prepared UPDATE for the batch (``bulk_update``'s CASE expressions cost more in
    Python than the actions themselves)."""
    if not firings:
        return
    fields = [RuleFiring._meta.get_field(name) for name in _SAVED]
    table = connection.ops.quote_name(RuleFiring._meta.db_table)
    sets = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    rows = [
        [f.get_db_prep_save(getattr(firing, f.attname), connection) for f in fields] + [firing.pk]
        for firing in firings
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", rows)  # noqa: S608


def execute(rule: Rule, firings: list[RuleFiring], stats: Stats) -> None:
    """Run the actions of firings claimed by this run (each carries its claim token)."""
    for start in range(0, len(firings), BATCH):
        _execute_batch(rule, firings[start : start + BATCH], stats)


def _targets(rule: Rule, batch: list[RuleFiring]) -> dict:
    if rule.trigger.get("type") == "deleted":
        return {
            f.record_id: act.deleted_target(rule.entity, (f.event or {}).get("previous") or {})
            for f in batch
        }
    return act.load_targets(rule.entity, {f.record_id for f in batch})


def _execute_batch(rule: Rule, batch: list[RuleFiring], stats: Stats) -> None:
    targets = _targets(rule, batch)
    external: list[tuple[RuleFiring, act.Target]] = []
    with audit.audit_context(source="rule"), transaction.atomic():
        claims = {f.pk: f.claim for f in batch}
        owned = {
            pk
            for pk, claim in RuleFiring.objects.select_for_update()
            .filter(pk__in=list(claims), status=S.PENDING)
            .values_list("pk", "claim")
            if claims[pk] == claim
        }
        changed = []
        for firing in batch:
            if firing.pk not in owned:
                continue  # re-claimed by another run meanwhile: it is theirs now
            target = targets.get(firing.record_id)
            changed.append(firing)
            if target is None:
                firing.status, firing.finished_at = S.SKIPPED, timezone.now()
                firing.error = _("The record no longer exists.")
                continue
            firing.label = firing.label or target.label
            for index, action in enumerate(rule.actions):
                if _done(firing, index) or action["type"] in act.EXTERNAL:
                    continue
                _run_action(rule, firing, index, action, target, stats, savepoint=True)
            if any(
                a["type"] in act.EXTERNAL and not _done(firing, i)
                for i, a in enumerate(rule.actions)
            ):
                external.append((firing, target))
            else:
                _finish(rule, firing, stats)
        _save_firings(changed)
    for firing, target in external:  # after the commit: nothing to undo if they fail
        # Renew the lease first (a long run must not let another run take it meanwhile);
        # lost means another run re-claimed it after a stall: theirs to send.
        renewed = RuleFiring.objects.filter(
            pk=firing.pk, claim=firing.claim, status=S.PENDING
        ).update(claimed_at=timezone.now())
        if not renewed:
            continue
        for index, action in enumerate(rule.actions):
            if action["type"] in act.EXTERNAL and not _done(firing, index):
                _run_action(rule, firing, index, action, target, stats, savepoint=False)
        _finish(rule, firing, stats)
        RuleFiring.objects.filter(pk=firing.pk, claim=firing.claim).update(
            status=firing.status,
            results=firing.results,
            error=firing.error,
            finished_at=firing.finished_at,
            claimed_at=firing.claimed_at,
        )


# --- time rules ---------------------------------------------------------------------------


def window_for(rule: Rule, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    catch_up = min(max(rule.catch_up_days, 1), MAX_CATCH_UP_DAYS)
    floor = now - datetime.timedelta(days=catch_up)
    if rule.last_run_at is not None:
        start = rule.last_run_at - OVERLAP
    else:
        start = (rule.activated_at or now) - FIRST_LOOKBACK
    return max(start, floor), now


@dataclass
class Plan:
    """A time rule's query for one window, and how to turn its rows into candidates."""

    rule: Rule
    spec: conditions.Field
    queryset: object
    start: datetime.datetime
    now: datetime.datetime

    def chunks(self, size: int = CHUNK) -> Iterator[list[Candidate]]:
        store_col = f"{_store_path(self.rule.entity)}_id"
        qs = self.queryset.order_by("pk").values_list("pk", store_col, self.spec.path)
        last = None
        while True:
            page = list((qs.filter(pk__gt=last) if last is not None else qs)[:size])
            if not page:
                return
            last = page[-1][0]
            out = []
            for pk, store_id, value in page:
                if value is None:
                    continue
                occ, due = triggers.occurrence(
                    self.rule.trigger, self.spec, value, self.now, self.rule.at
                )
                if not self.start < due <= self.now:
                    continue
                day = occ[:10] if self.rule.trigger["type"] == "anniversary" else _day_of(value)
                out.append(Candidate(pk, store_id, occ, due, {"date": day}))
            yield out
            if len(page) < size:
                return


def _day_of(value) -> str:
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value).isoformat()
    return value.isoformat()


def plan_for(rule: Rule, now: datetime.datetime, start: datetime.datetime | None = None):
    """The rule's query for ``(start, now]`` (its catch-up window by default), or None when
    no moment can fall in it. Raises ``FieldGone`` / ``Invalid`` for a rule that cannot run."""
    if start is None:
        start, now = window_for(rule, now)
    triggers.validate(rule.trigger, rule.entity, rule.org_id)
    ctx = conditions.Context(rule.entity, rule.org_id, now=now)
    conditions.validate(rule.condition, ctx)
    spec = triggers.date_field(rule.trigger, ctx)
    moment = triggers.window_q(rule.trigger, spec, start, now, rule.at)
    if moment is None or start >= now:
        return None
    model = ENTITIES[rule.entity].model
    qs = model.objects.filter(org_id=rule.org_id).filter(scope_q(rule)).filter(moment)
    qs = conditions.apply(qs, rule.condition, ctx)
    return Plan(rule, spec, qs, start, now)


def _mark_run(rule: Rule, now: datetime.datetime) -> None:
    Rule.objects.filter(pk=rule.pk).filter(
        Q(last_run_at__isnull=True) | Q(last_run_at__lt=now)
    ).update(last_run_at=now)


def _disable(rule: Rule, exc: Exception, stats: Stats) -> None:
    from autocrm.automation import rules as services

    services.disable_with_reason(rule, getattr(exc, "message", str(exc)))
    stats.disabled += 1


def scan_rule(rule: Rule, now: datetime.datetime, stats: Stats) -> None:
    from autocrm.core.errors import Invalid

    try:
        plan = plan_for(rule, now)
    except (FieldGone, Invalid) as exc:
        _disable(rule, exc, stats)
        return
    if plan is not None:
        for candidates in plan.chunks():
            execute(rule, claim_new(rule, candidates, stats), stats)
    _mark_run(rule, now)


def run_time_rules(
    now: datetime.datetime | None = None,
    *,
    org_id: int | None = None,
    rule_ids: Iterable[int] | None = None,
) -> Stats:
    """One scan: retries first, then every active time rule over its window up to ``now``."""
    now = now or timezone.now()
    stats = Stats()
    recover(stats, org_id=org_id)
    rules = Rule.objects.filter(state=Rule.State.ACTIVE, kind=Rule.Kind.TIME).order_by("pk")
    if org_id is not None:
        rules = rules.filter(org_id=org_id)
    if rule_ids is not None:
        rules = rules.filter(pk__in=list(rule_ids))
    for rule in rules:
        stats.rules += 1
        try:
            scan_rule(rule, now, stats)
        except Exception:  # one broken rule must not stop the others
            log.exception("rule %s: scan failed", rule.pk)
    return stats


# --- event rules --------------------------------------------------------------------------


def _at(event: dict) -> datetime.datetime:
    parsed = parse_datetime(event.get("at") or "")
    return parsed or timezone.now()


def trigger_matches(rule: Rule, event: dict) -> bool:
    t = rule.trigger.get("type")
    if t == "field_changed":
        spec = conditions.Context(rule.entity, rule.org_id).field(rule.trigger["field"])
        name = f"custom.{spec.custom_key}" if spec.kind == "custom" else spec.attname
        return name in (event.get("changed") or ())
    if t == "stage_entered":
        from autocrm.workflow.models import Stage

        stage_id = (event.get("current") or {}).get("stage_id")
        name = Stage.objects.filter(pk=stage_id).values_list("name", flat=True).first()
        return name is not None and name.strip() == rule.trigger["stage"].strip()
    if t == "payment_made":
        return (event.get("current") or {}).get("kind", "payment") == "payment"
    return True


def matches(rule: Rule, event: dict) -> bool:
    """The rule's condition for the event's record (its own previous / changed leaves from
    the event), evaluated in the database — or over the snapshot of a deleted record."""
    deleted = rule.trigger.get("type") == "deleted"
    ctx = conditions.Context(
        rule.entity, rule.org_id, now=timezone.now(), event=True, snapshot_only=deleted
    )
    conditions.validate(rule.condition, ctx)
    if deleted:
        return conditions.evaluate(rule.condition, ctx, event.get("previous") or {}, event)
    qs = ENTITIES[rule.entity].model.objects.filter(pk=event["record_id"])
    return conditions.apply(qs, rule.condition, ctx, event).exists()


def _firing_event(rule: Rule, event: dict) -> dict:
    changed = list(event.get("changed") or ())
    previous = event.get("previous") or {}
    keep = (
        previous
        if rule.trigger.get("type") == "deleted"
        else {k: v for k, v in previous.items() if k in changed}
    )
    return {
        "key": event.get("key"),
        "changed": changed[:50],
        "previous": keep,
        "depth": event.get("depth", 0),
    }


def active_event_rules(org_id: int, key: str) -> list[Rule]:
    return list(
        Rule.objects.filter(
            org_id=org_id, state=Rule.State.ACTIVE, kind=Rule.Kind.EVENT, event_key=key
        ).order_by("pk")
    )


def process_events(events: list[dict]) -> Stats:
    """Evaluate the rules waiting for each event and fire those whose condition holds."""
    from autocrm.core.errors import Invalid

    stats = Stats()
    cache: dict[tuple, list[Rule]] = {}
    for event in events:
        org_id = event.get("org_id")
        if org_id is None and event.get("entity") in ENTITIES:  # a domain event: find its org
            model = ENTITIES[event["entity"]].model
            org_id = model.objects.filter(pk=event["record_id"]).values_list("org_id", flat=True)
            org_id = event["org_id"] = org_id.first()
        key = (org_id, event.get("key"))
        if key not in cache:
            cache[key] = active_event_rules(org_id, event.get("key")) if org_id else []
        for rule in cache[key]:
            if rule.pk == event.get("origin_rule") or event.get("depth", 0) > MAX_CHAIN:
                continue
            if not in_scope(rule, event.get("store_id")) or not trigger_matches(rule, event):
                continue
            try:
                if not matches(rule, event):
                    continue
            except (FieldGone, Invalid) as exc:
                _disable(rule, exc, stats)
                cache[key] = [r for r in cache[key] if r.pk != rule.pk]
                continue
            stats.rules += 1
            candidate = Candidate(
                event["record_id"],
                event.get("store_id"),
                str(event["id"])[:40],
                _at(event),
                _firing_event(rule, event),
            )
            execute(rule, claim_new(rule, [candidate], stats), stats)
    return stats


# --- preview ------------------------------------------------------------------------------

PREVIEW_LIMIT = 50


def preview(rule: Rule, now: datetime.datetime | None = None, limit: int = PREVIEW_LIMIT) -> dict:
    """How many and which records would fire now (the first ``limit``), and a sample message,
    without writing anything."""
    now = now or timezone.now()
    out: dict = {"count": 0, "records": [], "sample_message": None, "sample_error": None}
    if rule.kind == Rule.Kind.TIME:
        start, now = window_for(rule, now)
        out["window"] = {"start": start, "end": now}
        plan = plan_for(rule, now, start)
        if plan is None:
            return out
        rows: list[Candidate] = []
        total = 0
        for chunk in plan.chunks():
            total += len(chunk)
            rows.extend(chunk[: max(0, limit * 2 - len(rows))])
        fired = set(
            RuleFiring.objects.filter(
                rule_id=rule.pk, record_id__in=[c.record_id for c in rows]
            ).values_list("record_id", "occurrence")
        )
        already = RuleFiring.objects.filter(rule_id=rule.pk, due_at__gt=start, due_at__lte=now)
        out["count"] = max(0, total - already.count())
        rows = [c for c in rows if (c.record_id, c.occurrence) not in fired][:limit]
    else:
        ctx = conditions.Context(rule.entity, rule.org_id, now=now, event=True)
        conditions.validate(rule.condition, ctx)
        model = ENTITIES[rule.entity].model
        qs = model.objects.filter(org_id=rule.org_id).filter(scope_q(rule))
        if rule.trigger.get("type") != "deleted":
            qs = conditions.apply(qs, _static_part(rule.condition), ctx)
        out["count"] = qs.count()
        store_col = f"{_store_path(rule.entity)}_id"
        rows = [
            Candidate(pk, store_id, "", None)
            for pk, store_id in qs.order_by("-pk").values_list("pk", store_col)[:limit]
        ]
        out["note"] = _(
            "Event rules fire when the event happens; these records match the rest of the "
            "condition now."
        )
    targets = act.load_targets(rule.entity, [c.record_id for c in rows])
    for c in rows:
        target = targets.get(c.record_id)
        out["records"].append(
            {
                "id": c.record_id,
                "label": target.label if target else "",
                "store_id": c.store_id,
                "occurrence": c.occurrence,
                "due_at": c.due_at,
            }
        )
    if rows:
        _sample(rule, rows[0], targets.get(rows[0].record_id), out)
    return out


def _static_part(tree):
    """The condition with the event's own leaves taken as true (for the preview)."""
    if not isinstance(tree, dict) or not tree:
        return tree
    if "field" in tree:
        if tree.get("op") == "changed" or tree.get("previous"):
            return {}
        return tree
    ((kind, body),) = tree.items()
    if kind == "not":
        inner = _static_part(body)
        return {"not": inner} if inner else {}
    kept = [p for p in (_static_part(c) for c in body) if p]
    return {kind: kept} if kept else {}


def _sample(rule: Rule, candidate: Candidate, target, out: dict) -> None:
    from autocrm.core.models import Store
    from autocrm.messaging import services as messaging
    from autocrm.messaging.models import MessageTemplate

    action = next((a for a in rule.actions if a.get("type") == "message"), None)
    if action is None or target is None or target.customer is None:
        return
    template = MessageTemplate.objects.filter(org_id=rule.org_id, pk=action["template"]).first()
    store = Store.objects.filter(pk=target.store_id).first()
    if template is None or store is None:
        out["sample_error"] = _("The message template no longer exists.")
        return
    firing = RuleFiring(event={"date": (candidate.occurrence or "")[:10]})
    values = {**act.values_for(target, firing), **action.get("values", {})}
    try:
        context = messaging.context_for(target.customer, store, template.channel, values)
        out["sample_message"] = messaging.render(template, context, store=store)
    except Exception as exc:  # a preview reports the problem instead of failing
        out["sample_error"] = getattr(exc, "display_text", str(exc))
