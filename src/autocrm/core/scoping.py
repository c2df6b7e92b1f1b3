"""The one place where org/store visibility is decided.

Every model declares ``scope_org`` and ``scope_store``: ORM lookup paths to its organisation and
store (``None`` when it has none). ``scoped(queryset, user)`` narrows any queryset to what the
user may see: nothing of another org; all of the org for HQ scope; the stores of their regions for
region scope; their own stores otherwise. Selectors call it; views and the API call selectors."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from autocrm.core.models import Store, User

M = TypeVar("M", bound=Model)


def _cache(user: User) -> dict:
    cache = getattr(user, "_scope_cache", None)
    if cache is None:
        cache = {}
        user._scope_cache = cache
    return cache


def is_org_wide(user: User) -> bool:
    return user.is_authenticated and user.org_id is not None and user.scope == User.Scope.ORG


def store_ids(user: User) -> frozenset[int]:
    """The ids of the stores a user may see, cached on the user object for the request."""
    cache = _cache(user)
    if "store_ids" not in cache:
        if not user.is_authenticated or user.org_id is None:
            ids: frozenset[int] = frozenset()
        else:
            stores = Store.objects.filter(org_id=user.org_id)
            if user.scope == User.Scope.REGION:
                stores = stores.filter(
                    Q(region__in=user.regions.all()) | Q(pk__in=user.stores.all())
                )
            elif user.scope == User.Scope.STORE:
                stores = stores.filter(pk__in=user.stores.all())
            ids = frozenset(stores.values_list("pk", flat=True))
        cache["store_ids"] = ids
    return cache["store_ids"]


def scoped(queryset: QuerySet[M], user: User) -> QuerySet[M]:
    """Restrict ``queryset`` to rows the user may see; an anonymous user sees nothing."""
    model = queryset.model
    org_path = getattr(model, "scope_org", None)
    store_path = getattr(model, "scope_store", None)
    if not user.is_authenticated or user.org_id is None:
        return queryset.none()
    if org_path is None and store_path is None:
        raise TypeError(f"{model.__name__} is not org data and cannot be scoped")
    if org_path is not None:
        queryset = queryset.filter(**{org_path: user.org_id})
    if store_path is not None and not is_org_wide(user):
        lookup = f"{store_path}__in"
        queryset = queryset.filter(**{lookup: store_ids(user)})
        if _crosses_many(model, store_path):
            queryset = queryset.distinct()
    return queryset


def _crosses_many(model, path: str) -> bool:
    """Whether a lookup path goes through a to-many relation (only then can rows repeat and
    need DISTINCT, which otherwise costs a sort over whole rows)."""
    for name in path.split("__"):
        if name == "pk":
            return False
        field = model._meta.get_field(name)
        if field.many_to_many or field.one_to_many:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


def can_see_store(user: User, store_id: int | None) -> bool:
    if store_id is None:
        return is_org_wide(user)
    if is_org_wide(user):
        return Store.objects.filter(pk=store_id, org_id=user.org_id).exists()
    return store_id in store_ids(user)


def require_visible(user: User, obj) -> None:
    """NotFound unless ``obj`` (a row with ``org_id`` and, per its ``scope_store``, a store
    field) is in the user's org and one of the stores they may see."""
    from autocrm.core.errors import NotFound

    store_path = getattr(type(obj), "scope_store", None)
    store_id = getattr(obj, f"{store_path}_id", None) if store_path else None
    if getattr(obj, "org_id", None) != user.org_id:
        raise NotFound()
    if store_path and not can_see_store(user, store_id):
        raise NotFound()


def forget(user: User) -> None:
    """Drop cached scope after the user's stores or roles changed."""
    for attr in ("_scope_cache", "_role_codes"):
        if hasattr(user, attr):
            delattr(user, attr)
