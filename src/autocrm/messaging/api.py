"""Messages API: the outbox (read, resend, sent by hand) and the message templates."""

from __future__ import annotations

import datetime

from ninja import Field, Router, Schema, Status

from autocrm.core.api import page_of
from autocrm.core.pagination import paginate
from autocrm.core.services import require
from autocrm.messaging import selectors, services

router = Router(tags=["messages"])


class MessageOut(Schema):
    id: int
    store_id: int
    customer_id: int | None
    template_id: int | None
    channel: str
    kind: str
    purpose: str
    to: str
    subject: str
    body: str
    status: str
    send_after: datetime.datetime
    attempts: int
    provider: str
    provider_message_id: str
    last_error: str
    suppressed_reason: str
    sent_at: datetime.datetime | None
    sent_by_id: int | None
    related: str
    created_at: datetime.datetime


class AttemptOut(Schema):
    at: datetime.datetime
    provider: str
    ok: bool
    retry: bool
    error: str
    provider_message_id: str
    duration_ms: int


class MessageDetailOut(MessageOut):
    tries: list[AttemptOut]


class ByHandIn(Schema):
    note: str = Field("", max_length=200)


class TemplateOut(Schema):
    id: int
    name: str
    channel: str
    kind: str
    purpose: str
    subject: str
    body: str
    provider_template: str
    is_active: bool
    preview: str
    chars: int
    sms_segments: int | None


class TemplateIn(Schema):
    name: str = Field(..., max_length=60)
    channel: str = "sms"
    kind: str = "marketing"
    purpose: str = Field(..., max_length=40)
    subject: str = Field("", max_length=120)
    body: str = Field(..., max_length=2000)
    provider_template: str = Field("", max_length=60)
    is_active: bool = True


class TemplatePatch(Schema):
    name: str | None = Field(None, max_length=60)
    channel: str | None = None
    kind: str | None = None
    purpose: str | None = Field(None, max_length=40)
    subject: str | None = Field(None, max_length=120)
    body: str | None = Field(None, max_length=2000)
    provider_template: str | None = Field(None, max_length=60)
    is_active: bool | None = None


MessagePage, TemplatePage = page_of(MessageOut), page_of(TemplateOut)


def message_out(user, message) -> dict:
    data = {name: getattr(message, name) for name in MessageOut.model_fields}
    data["to"] = selectors.shown_recipient(user, message)
    return data


def template_out(template) -> dict:
    figures = services.preview(channel=template.channel, kind=template.kind, body=template.body)
    data = {name: getattr(template, name) for name in TemplateIn.model_fields}
    data.update(
        id=template.pk,
        preview=figures["text"],
        chars=figures["chars"],
        sms_segments=figures["segments"],
    )
    return data


@router.get("/messages", response=MessagePage)
def list_messages(
    request,
    cursor: str | None = None,
    limit: int = 50,
    status: str = "",
    channel: str = "",
    purpose: str = "",
    kind: str = "",
    store_id: int | None = None,
):
    """The outbox, newest first; mobiles masked for roles without customer.phone."""
    require(request.user, "messages.view")
    f = selectors.MessageFilter(
        status=status, channel=channel, purpose=purpose, kind=kind, store_id=store_id
    )
    page = paginate(selectors.messages(request.user, f), cursor, limit, descending=True)
    page["items"] = [message_out(request.user, m) for m in page["items"]]
    return page


@router.get("/messages/{message_id}", response=MessageDetailOut)
def get_message(request, message_id: int):
    require(request.user, "messages.view")
    message = selectors.get_message(request.user, message_id)
    data = message_out(request.user, message)
    data["tries"] = list(selectors.attempts(message))
    return data


@router.post("/messages/{message_id}/resend", response=MessageOut)
def resend_message(request, message_id: int):
    """Queue a failed message again (a fresh set of attempts)."""
    require(request.user, "messages.send")
    message = selectors.get_message(request.user, message_id)
    return message_out(request.user, services.resend(request.user, message))


@router.post("/messages/{message_id}/sent-by-hand", response=MessageOut)
def message_sent_by_hand(request, message_id: int, payload: ByHandIn):
    """Record that staff sent a queued or failed message themselves."""
    require(request.user, "messages.send")
    message = selectors.get_message(request.user, message_id)
    return message_out(request.user, services.send_by_hand(request.user, message, payload.note))


def _require_templates_view(user) -> None:
    require(user, "templates.manage", "messages.view")


@router.get("/message-templates", response=TemplatePage)
def list_templates(request, cursor: str | None = None, limit: int = 50, channel: str = ""):
    _require_templates_view(request.user)
    page = paginate(selectors.templates(request.user, channel=channel), cursor, limit)
    page["items"] = [template_out(t) for t in page["items"]]
    return page


@router.get("/message-templates/{template_id}", response=TemplateOut)
def get_template(request, template_id: int):
    _require_templates_view(request.user)
    return template_out(selectors.get_template(request.user, template_id))


@router.post("/message-templates", response={201: TemplateOut})
def create_template(request, payload: TemplateIn):
    template = services.create_template(request.user, **payload.dict())
    return Status(201, template_out(template))


@router.patch("/message-templates/{template_id}", response=TemplateOut)
def update_template(request, template_id: int, payload: TemplatePatch):
    require(request.user, "templates.manage")
    template = selectors.get_template(request.user, template_id)
    template = services.update_template(request.user, template, **payload.dict(exclude_unset=True))
    return template_out(template)
