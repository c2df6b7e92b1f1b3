"""Messages to the owner about a visit, queued in the outbox with a signed link."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from autocrm.messaging import services as outbox
from autocrm.portal import services as links
from autocrm.portal.models import PortalLink


def _send_link(wo, purpose: str, text: str) -> str:
    """Queue the message with the link; returns the link's path on this site."""
    _link, token = links.issue_link(wo, purpose)
    path = links.link_path(purpose, token)
    outbox.queue(
        org_id=wo.org_id,
        store_id=wo.store_id,
        customer=wo.customer,
        to=wo.customer.mobile,
        purpose=f"work_order.{purpose}",
        body=f"{text} {settings.AUTOCRM_PUBLIC_URL}{path}",  # a text message needs the full URL
        related=f"work_order:{wo.pk}",
    )
    return path


def estimate_link(wo) -> str:
    """A new approval link (earlier ones stop working) and its message; returns the path."""
    links.revoke_links(wo, PortalLink.Purpose.ESTIMATE)
    return _send_link(
        wo,
        PortalLink.Purpose.ESTIMATE,
        _("[%(store)s] Your car %(plate)s: please review the items we propose:")
        % {"store": wo.store.name, "plate": wo.vehicle.plate},
    )


def progress_link(wo) -> str:
    return _send_link(
        wo,
        PortalLink.Purpose.PROGRESS,
        _("[%(store)s] Follow the work on your car %(plate)s:")
        % {"store": wo.store.name, "plate": wo.vehicle.plate},
    )


def survey_invitation(wo) -> str:
    return _send_link(
        wo,
        PortalLink.Purpose.SURVEY,
        _("[%(store)s] Thank you for your visit. How did we do?") % {"store": wo.store.name},
    )
