"""Every read of org data for pages, the API, exports and search, scoped to the user."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from autocrm.core.errors import NotFound
from autocrm.core.models import ApiToken, AuditLog, JobRun, Region, Store, User
from autocrm.core.scoping import is_org_wide, scoped, store_ids


def get_or_404(queryset: QuerySet, pk) -> object:
    """The row with ``pk`` in an already scoped queryset, or NotFound (404)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound from None
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFound
    return obj


def visible_stores(user: User, *, q: str = "", region_id=None, active=None) -> QuerySet[Store]:
    qs = scoped(Store.objects.select_related("region"), user)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(code__icontains=q) | Q(city__icontains=q))
    if region_id:
        qs = qs.filter(region_id=region_id)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("code")


def store_for(actor: User, store_id, *, field: str = "store", active_only: bool = True) -> Store:
    """The store a new record goes into: the one chosen, among the stores the actor may see
    (active ones only, unless ``active_only`` is off), or the actor's only store when none is
    chosen. Refusals are ``Invalid`` on ``field``."""
    from django.utils.translation import gettext as _

    from autocrm.core.errors import Invalid

    stores = visible_stores(actor, active=True if active_only else None)
    if store_id in (None, ""):
        only = list(stores[:2])
        if len(only) == 1:
            return only[0]
        raise Invalid(fields={field: _("Choose the store.")})
    try:
        store_id = int(store_id)
    except (TypeError, ValueError):
        raise Invalid(fields={field: _("Choose the store.")}) from None
    store = stores.filter(pk=store_id).first()
    if store is None:
        raise Invalid(fields={field: _("Choose a store within your own area.")})
    return store


def store_count(user: User) -> int:
    """Stores in scope; for store and region staff the ids are already known."""
    if is_org_wide(user):
        return scoped(Store.objects.all(), user).count()
    return len(store_ids(user))


def get_store(user: User, pk) -> Store:
    return get_or_404(visible_stores(user), pk)


def visible_regions(user: User) -> QuerySet[Region]:
    qs = scoped(Region.objects.all(), user)
    if not is_org_wide(user):
        qs = qs.filter(stores__in=store_ids(user)).distinct()
    return qs.annotate(store_count=Count("stores", distinct=True)).order_by("code")


def visible_staff(
    user: User, *, q: str = "", role: str = "", store_id=None, active=None
) -> QuerySet[User]:
    """Staff of the user's stores; HQ sees everyone of the org, including HQ staff."""
    qs = scoped(User.objects.all(), user)
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(full_name__icontains=q) | Q(phone__endswith=q))
    if role:
        qs = qs.filter(roles__code=role)
    if store_id:
        qs = qs.filter(stores__pk=store_id)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.distinct().prefetch_related("roles", "stores", "regions").order_by("username")


def staff_count(user: User) -> int:
    """Active staff in scope, counted without loading or de-duplicating whole rows."""
    return scoped(User.objects.filter(is_active=True), user).values("pk").distinct().count()


def get_staff(user: User, pk) -> User:
    return get_or_404(visible_staff(user), pk)


def user_tokens(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def token_user(key_hash: str) -> User | None:
    """The active user behind an API token, or None (revoked, unknown, deactivated)."""
    token = (
        ApiToken.objects.select_related("user", "user__org")
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@dataclass
class AuditFilter:
    object_type: str = ""
    object_id: str = ""
    user: str = ""
    action: str = ""
    store_id: int | None = None
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None


def audit_entries(user: User, f: AuditFilter | None = None) -> QuerySet[AuditLog]:
    """Audit entries of the user's scope: HQ sees the org; managers see their stores' rows."""
    f = f or AuditFilter()
    qs = scoped(AuditLog.objects.all(), user)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.object_id:
        qs = qs.filter(object_id=f.object_id)
    if f.user:
        qs = qs.filter(user_label__icontains=f.user)
    if f.action:
        qs = qs.filter(action=f.action)
    if f.store_id:
        qs = qs.filter(store_id=f.store_id)
    tz = timezone.get_current_timezone()
    if f.date_from:
        start = datetime.datetime.combine(f.date_from, datetime.time.min, tzinfo=tz)
        qs = qs.filter(created_at__gte=start)
    if f.date_to:
        end = datetime.datetime.combine(f.date_to, datetime.time.min, tzinfo=tz)
        qs = qs.filter(created_at__lt=end + datetime.timedelta(days=1))
    return qs.order_by("-created_at", "-id")


def audit_object_types(user: User) -> list[str]:
    return list(
        scoped(AuditLog.objects.all(), user)
        .order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct()
    )


def recent_jobs(limit: int = 100) -> QuerySet[JobRun]:
    """Worker bookkeeping is installation-wide (not org data); the page is for HQ admins."""
    return JobRun.objects.order_by("-started_at", "-id")[:limit]


def job_counts(hours: int = 24) -> dict:
    since = timezone.now() - datetime.timedelta(hours=hours)
    rows = JobRun.objects.filter(started_at__gte=since).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def search(user: User, q: str, limit: int = 8) -> dict:
    """Header search (page and API): ``hits`` (customers and vehicles: plate, mobile, VIN, name,
    pinyin), then ``stores`` and ``staff`` in scope."""
    from autocrm.customers import selectors as customer_selectors

    q = (q or "").strip()[:100]
    if not q:
        return {"hits": [], "stores": [], "staff": []}
    stores = list(visible_stores(user, q=q)[:limit]) if user.can("store.view") else []
    staff = list(visible_staff(user, q=q)[:limit]) if user.can("staff.view") else []
    return {"hits": customer_selectors.search(user, q), "stores": stores, "staff": staff}
