from django import template

from autocrm.core.validators import mask_mobile

register = template.Library()


@register.filter
def can(user, capability: str) -> bool:
    """``{% if user|can:"staff.manage" %}``: the same capability check the views use."""
    return bool(getattr(user, "is_authenticated", False) and user.can(capability))


@register.filter
def masked(value: str, show: bool = False) -> str:
    return value if show else mask_mobile(value or "")
