"""Every write to org structure, staff and tokens. Each function checks permission and scope,
runs in one transaction and is audited (through the model signals)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from autocrm.core import audit, scoping
from autocrm.core.errors import Conflict, Forbidden, Invalid, NotFound
from autocrm.core.models import ApiToken, Organization, Region, Role, Store, User
from autocrm.core.roles import HQ_ADMIN, grantable_roles
from autocrm.core.validators import normalize_mobile, normalize_text, validate_code, validate_mobile

TOKEN_PREFIX = "acrm_"
MAX_ACTIVE_TOKENS = 20


def require(user: User, *capabilities: str) -> None:
    """Refuse unless the user holds at least one of ``capabilities``."""
    if not (user.is_authenticated and user.is_active):
        raise Forbidden()
    if not any(user.can(capability) for capability in capabilities):
        raise Forbidden()


def check_errors(fields: dict) -> None:
    """Raise ``Invalid`` with the fields that have a message (empty ones are fine)."""
    errors = {name: msg for name, msg in fields.items() if msg}
    if errors:
        raise Invalid(fields=errors)


_check = check_errors


def _validation_message(fn, value) -> str | None:
    try:
        fn(value)
    except ValidationError as exc:
        return " ".join(str(m) for m in exc.messages)
    return None


# --- regions and stores -------------------------------------------------------------------


@audit.by_actor
@transaction.atomic
def create_region(actor: User, *, name: str, code: str) -> Region:
    require(actor, "region.manage")
    name, code = normalize_text(name), normalize_text(code).lower()
    _check(
        {
            "name": None if name else _("Enter a name."),
            "code": _validation_message(validate_code, code),
        }
    )
    if Region.objects.filter(org_id=actor.org_id, code=code).exists():
        raise Conflict(
            _("A region with this code already exists."), fields={"code": _("Already used.")}
        )
    if Region.objects.filter(org_id=actor.org_id, name=name).exists():
        raise Conflict(
            _("A region with this name already exists."), fields={"name": _("Already used.")}
        )
    return Region.objects.create(org_id=actor.org_id, name=name, code=code)


def _region_for(actor: User, region_id: int | None) -> Region | None:
    if region_id in (None, ""):
        return None
    region = Region.objects.filter(org_id=actor.org_id, pk=region_id).first()
    if region is None:
        raise Invalid(fields={"region": _("Choose a region of your organization.")})
    return region


STORE_FIELDS = ("name", "code", "kind", "city", "address", "phone", "region_id", "is_active")


def _clean_store(actor: User, data: dict, *, store: Store | None) -> dict:
    clean = {k: data[k] for k in STORE_FIELDS if k in data}
    for key in ("name", "city", "address", "phone"):
        if key in clean:
            clean[key] = normalize_text(clean[key])
    if "code" in clean:
        clean["code"] = normalize_text(clean["code"]).lower()
    errors = {}
    if store is None or "name" in clean:
        errors["name"] = None if clean.get("name") else _("Enter the store name.")
    if store is None or "code" in clean:
        errors["code"] = _validation_message(validate_code, clean.get("code", ""))
    if "kind" in clean and clean["kind"] not in Store.Kind.values:
        errors["kind"] = _("Choose a store type.")
    _check(errors)
    if "region_id" in clean:
        region = _region_for(actor, clean.pop("region_id"))
        clean["region"] = region
    if "code" in clean:
        dupes = Store.objects.filter(org_id=actor.org_id, code=clean["code"])
        if store is not None:
            dupes = dupes.exclude(pk=store.pk)
        if dupes.exists():
            raise Conflict(
                _("A store with this code already exists."), fields={"code": _("Already used.")}
            )
    return clean


@audit.by_actor
@transaction.atomic
def create_store(actor: User, **data) -> Store:
    require(actor, "store.manage")
    clean = _clean_store(actor, data, store=None)
    return Store.objects.create(org_id=actor.org_id, **clean)


@audit.by_actor
@transaction.atomic
def update_store(actor: User, store: Store, **data) -> Store:
    require(actor, "store.manage")
    if store.org_id != actor.org_id or not scoping.can_see_store(actor, store.pk):
        raise NotFound()
    clean = _clean_store(actor, data, store=store)
    for key, value in clean.items():
        setattr(store, key, value)
    store.save()
    return store


# --- staff --------------------------------------------------------------------------------


def _check_grant(actor: User, roles: Iterable[str], scope: str, store_ids, region_ids) -> tuple:
    roles = sorted(set(roles))
    allowed = set(grantable_roles(actor.role_codes()))
    errors: dict[str, str] = {}
    if not roles:
        errors["roles"] = _("Give at least one role.")
    elif not set(roles) <= allowed:
        errors["roles"] = _("You cannot give these roles: %(roles)s.") % {
            "roles": ", ".join(sorted(set(roles) - allowed))
        }
    store_ids = {int(s) for s in store_ids or []}
    region_ids = {int(r) for r in region_ids or []}
    if scope == User.Scope.ORG:
        if not scoping.is_org_wide(actor):
            errors["scope"] = _("Only headquarters can give access to the whole organization.")
        store_ids, region_ids = set(), set()
    elif scope == User.Scope.REGION:
        if not region_ids:
            errors["regions"] = _("Choose at least one region.")
        if scoping.is_org_wide(actor):
            mine = set(Region.objects.filter(org_id=actor.org_id).values_list("pk", flat=True))
        elif actor.scope == User.Scope.REGION:
            mine = set(actor.regions.values_list("pk", flat=True))
        else:
            mine = set()
        if not region_ids <= mine:
            errors["regions"] = _("Choose regions within your own area.")
    elif scope == User.Scope.STORE:
        if not store_ids:
            errors["stores"] = _("Choose at least one store.")
        elif not store_ids <= set(scoping.store_ids(actor)):
            errors["stores"] = _("Choose stores within your own area.")
    else:
        errors["scope"] = _("Choose where this person works.")
    if scope != User.Scope.REGION:
        region_ids = set()
    _check(errors)
    return roles, store_ids, region_ids


def _apply_links(staff: User, roles, store_ids, region_ids) -> None:
    staff.roles.set(Role.objects.ensure(roles))
    staff.stores.set(store_ids)
    staff.regions.set(region_ids)
    scoping.forget(staff)


@audit.by_actor
@transaction.atomic
def create_staff(
    actor: User,
    *,
    username: str,
    password: str,
    full_name: str = "",
    phone: str = "",
    roles: Iterable[str] = (),
    scope: str = User.Scope.STORE,
    store_ids: Iterable[int] = (),
    region_ids: Iterable[int] = (),
) -> User:
    require(actor, "staff.manage")
    username = normalize_text(username).lower()
    full_name = normalize_text(full_name)
    phone = normalize_mobile(phone)
    errors = {
        "username": None if username else _("Enter a login name."),
        "full_name": None if full_name else _("Enter the person's name."),
        "phone": _validation_message(validate_mobile, phone),
    }
    probe = User(username=username, full_name=full_name)
    errors["password"] = _validation_message(lambda p: validate_password(p, probe), password)
    _check(errors)
    roles, store_ids, region_ids = _check_grant(actor, roles, scope, store_ids, region_ids)
    if User.objects.filter(username=username).exists():
        raise Conflict(_("This login name is taken."), fields={"username": _("Already used.")})
    try:
        with transaction.atomic():
            staff = User(
                username=username,
                full_name=full_name,
                phone=phone,
                scope=scope,
                org_id=actor.org_id,
            )
            staff.set_password(password)
            staff.save()
    except IntegrityError as exc:
        raise Conflict(
            _("This login name is taken."), fields={"username": _("Already used.")}
        ) from exc
    _apply_links(staff, roles, store_ids, region_ids)
    return staff


def _check_can_manage(actor: User, staff: User) -> None:
    from autocrm.core.selectors import get_staff

    get_staff(actor, staff.pk)  # 404 outside the actor's scope
    require(actor, "staff.manage")
    if staff.has_role(HQ_ADMIN) and not actor.has_role(HQ_ADMIN):
        raise Forbidden(_("Only an HQ administrator can change an HQ administrator."))
    outranked = set(staff.role_codes()) - set(grantable_roles(actor.role_codes()))
    if outranked:
        raise Forbidden(_("You cannot change someone whose role is at or above your own."))


@audit.by_actor
@transaction.atomic
def update_staff(
    actor: User,
    staff: User,
    *,
    full_name: str | None = None,
    phone: str | None = None,
    roles: Iterable[str] | None = None,
    scope: str | None = None,
    store_ids: Iterable[int] | None = None,
    region_ids: Iterable[int] | None = None,
) -> User:
    if staff.pk == actor.pk and (roles is not None or scope is not None or store_ids is not None):
        raise Forbidden(_("You cannot change your own roles or stores; ask another manager."))
    if staff.pk != actor.pk:
        _check_can_manage(actor, staff)
    errors = {}
    if full_name is not None:
        full_name = normalize_text(full_name)
        errors["full_name"] = None if full_name else _("Enter the person's name.")
        staff.full_name = full_name
    if phone is not None:
        phone = normalize_mobile(phone)
        errors["phone"] = _validation_message(validate_mobile, phone)
        staff.phone = phone
    _check(errors)
    if roles is not None or scope is not None or store_ids is not None or region_ids is not None:
        new_roles = list(roles) if roles is not None else list(staff.role_codes())
        new_scope = scope or staff.scope
        new_stores = (
            store_ids if store_ids is not None else staff.stores.values_list("pk", flat=True)
        )
        new_regions = (
            region_ids if region_ids is not None else staff.regions.values_list("pk", flat=True)
        )
        new_roles, new_stores, new_regions = _check_grant(
            actor, new_roles, new_scope, new_stores, new_regions
        )
        staff.scope = new_scope
        staff.save()
        _apply_links(staff, new_roles, new_stores, new_regions)
    else:
        staff.save()
    return staff


@audit.by_actor
@transaction.atomic
def set_staff_active(actor: User, staff: User, active: bool) -> User:
    """Deactivated staff can no longer sign in or use tokens; their history stays."""
    if staff.pk == actor.pk:
        raise Forbidden(_("You cannot deactivate yourself."))
    _check_can_manage(actor, staff)
    if staff.is_active == active:
        return staff
    staff.is_active = active
    staff.deactivated_at = None if active else timezone.now()
    staff.save()
    if not active:
        for token in staff.api_tokens.filter(revoked_at__isnull=True):
            token.revoked_at = timezone.now()
            token.save()
    return staff


@audit.by_actor
@transaction.atomic
def set_language(user: User, language: str) -> None:
    if user.is_authenticated and user.language != language:
        user.language = language
        user.save()


# --- API tokens ---------------------------------------------------------------------------


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@audit.by_actor
@transaction.atomic
def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is shown once and never stored."""
    if not (user.is_authenticated and user.is_active):
        raise Forbidden()
    name = normalize_text(name)[:60] or _("API token")
    if user.api_tokens.filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            _("You already have %(limit)d active tokens; revoke one first.")
            % {"limit": MAX_ACTIVE_TOKENS}
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], key_hash=hash_token(raw)
    )
    return token, raw


@audit.by_actor
@transaction.atomic
def revoke_api_token(user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save()
    return token


# --- first start --------------------------------------------------------------------------


@transaction.atomic
def create_admin(
    *, org_name: str, org_code: str, username: str, password: str, full_name: str = ""
) -> User:
    """The first HQ administrator (and the organization, when there is none)."""
    org = Organization.objects.filter(code=org_code).first()
    if org is None:
        org = Organization.objects.create(name=normalize_text(org_name), code=org_code)
    username = normalize_text(username).lower()
    if User.objects.filter(username=username).exists():
        raise Conflict(_("This login name is taken."), fields={"username": _("Already used.")})
    user = User(
        username=username,
        full_name=normalize_text(full_name) or username,
        org=org,
        scope=User.Scope.ORG,
    )
    validate_password(password, user)
    user.set_password(password)
    user.save()
    user.roles.set(Role.objects.ensure([HQ_ADMIN]))
    return user
