"""Outbox and template pages, the owner's unsubscribe page and the SMS vendors' reply
callbacks. Thin: parse input, call a selector or service, render."""

from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from autocrm.core.errors import ServiceError
from autocrm.core.forms import StyledMixin, apply_service_error
from autocrm.core.pagination import page_for_request
from autocrm.core.selectors import visible_stores
from autocrm.core.views import capability_required
from autocrm.messaging import conf, delivery, selectors, services, templating
from autocrm.messaging.models import Channel, Kind, OutboxMessage

log = logging.getLogger("autocrm.messaging")
PAGE_SIZE = 50


# --- outbox -------------------------------------------------------------------------------


def _int_or_none(value):
    return int(value) if value and str(value).isdigit() else None


@capability_required("messages.view")
def message_list(request):
    user = request.user
    f = selectors.MessageFilter(
        status=request.GET.get("status", ""),
        channel=request.GET.get("channel", ""),
        purpose=request.GET.get("purpose", ""),
        kind=request.GET.get("kind", ""),
        store_id=_int_or_none(request.GET.get("store")),
    )
    page = page_for_request(request, selectors.messages(user, f), PAGE_SIZE)
    for message in page["items"]:
        message.shown_to = selectors.shown_recipient(user, message)
    context = {
        **page,
        "rows": page["items"],
        "f": f,
        "statuses": OutboxMessage.Status.choices,
        "channels": Channel.choices,
        "kinds": Kind.choices,
        "purposes": selectors.purposes(user),
        "stores": list(visible_stores(user)),
        "store": request.GET.get("store", ""),
        "by_hand": {
            Channel(ch).label: n
            for ch, n in delivery.waiting_by_hand(selectors.messages(user)).items()
            if ch in Channel.values
        },
        "can_templates": user.can("templates.manage"),
    }
    return render(request, "messaging/message_list.html", context)


@capability_required("messages.view")
def message_detail(request, pk):
    user = request.user
    message = selectors.get_message(user, pk)
    context = {
        "m": message,
        "shown_to": selectors.shown_recipient(user, message),
        "attempts": list(selectors.attempts(message)),
        "can_send": user.can("messages.send"),
        "can_by_hand": user.can("messages.send")
        and (user.can("customer.phone") or message.channel not in (Channel.SMS, Channel.WEBHOOK)),
    }
    return render(request, "messaging/message_detail.html", context)


def _act(request, pk, action, done: str):
    message = selectors.get_message(request.user, pk)
    try:
        action(message)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.display_text)
    else:
        messages.success(request, done)
    return redirect("message_detail", pk=message.pk)


@capability_required("messages.send")
@require_POST
def message_send_by_hand(request, pk):
    return _act(
        request,
        pk,
        lambda m: services.send_by_hand(request.user, m, note=request.POST.get("note", "")),
        _("Marked as sent by hand."),
    )


@capability_required("messages.send")
@require_POST
def message_resend(request, pk):
    return _act(
        request, pk, lambda m: services.resend(request.user, m), _("Queued to be sent again.")
    )


@capability_required("messages.send")
@require_POST
def message_cancel(request, pk):
    return _act(request, pk, lambda m: services.cancel(request.user, m), _("Message withdrawn."))


# --- templates ----------------------------------------------------------------------------


class TemplateForm(StyledMixin, forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=Channel.choices)
    kind = forms.ChoiceField(label=gettext_lazy("Type"), choices=Kind.choices)
    purpose = forms.CharField(
        label=gettext_lazy("Purpose"),
        max_length=40,
        help_text=gettext_lazy("A code the rules use, e.g. maintenance_due."),
    )
    subject = forms.CharField(label=gettext_lazy("Subject (email)"), max_length=120, required=False)
    body = forms.CharField(
        label=gettext_lazy("Text"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "Placeholders: {customer_name} {plate} {due_date} {store_name} {store_phone} "
            "{booking_link} {unsubscribe_link}. SMS get the 【signature】 and, for marketing, "
            "回TD退订 added."
        ),
    )
    provider_template = forms.CharField(
        label=gettext_lazy("Provider template code"),
        max_length=60,
        required=False,
        help_text=gettext_lazy(
            "The template approved at the SMS vendor or the WeChat template id."
        ),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)


@capability_required("templates.manage", "messages.view")
def template_list(request):
    rows = list(selectors.templates(request.user))
    for t in rows:
        t.figures = services.preview(channel=t.channel, kind=t.kind, body=t.body)
    return render(
        request,
        "messaging/template_list.html",
        {"templates": rows, "can_manage": request.user.can("templates.manage")},
    )


def _preview_for(data) -> dict:
    return services.preview(
        channel=data.get("channel") or Channel.SMS,
        kind=data.get("kind") or Kind.MARKETING,
        body=data.get("body", ""),
        subject=data.get("subject", ""),
    )


@capability_required("templates.manage")
def template_edit(request, pk=None):
    user = request.user
    template = selectors.get_template(user, pk) if pk else None
    initial = {}
    if template is not None:
        initial = {name: getattr(template, name) for name in TemplateForm.base_fields}
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if template is None:
                template = services.create_template(user, **form.cleaned_data)
            else:
                services.update_template(user, template, **form.cleaned_data)
            messages.success(request, _("Template %(name)s saved.") % {"name": template.name})
            return redirect("message_template_list")
        except ServiceError as exc:
            apply_service_error(form, exc)
    data = request.POST if request.method == "POST" else initial
    context = {
        "form": form,
        "template": template,
        "preview": _preview_for(data),
        "placeholders": [(f"{{{k}}}", v) for k, v in templating.PLACEHOLDERS.items()],
    }
    return render(request, "messaging/template_form.html", context)


@capability_required("templates.manage")
@require_POST
def template_preview(request):
    return render(
        request, "messaging/_template_preview.html", {"preview": _preview_for(request.POST)}
    )


# --- the owner's side: unsubscribe link and SMS replies -----------------------------------


def unsubscribe(request, token):
    customer, channel = services.resolve_unsubscribe(token)
    store = customer.home_store
    done = False
    if request.method == "POST":
        from autocrm.core import audit

        with audit.audit_context(source="portal", ip=request.META.get("REMOTE_ADDR")):
            services.withdraw_consent(customer, channel, _("Unsubscribe link"))
        done = True
    return render(
        request,
        "messaging/unsubscribe.html",
        {"store": store, "done": done, "channel_label": Channel(channel).label},
    )


def _inbound_allowed(token: str) -> bool:
    expected = conf.inbound_token()
    return bool(expected) and constant_time_compare(token, expected)


def _json_body(request):
    try:
        return json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        return None


@csrf_exempt
@require_POST
def inbound_aliyun(request, token):
    """Aliyun SmsUp HTTP batch push: a JSON array of replies; answer {"code": 0}."""
    if not _inbound_allowed(token):
        return HttpResponse(status=404)
    items = _json_body(request)
    if not isinstance(items, list):
        return JsonResponse({"code": 1, "msg": "expected a JSON array"}, status=400)
    for item in items:
        if isinstance(item, dict):
            services.opt_out_by_reply(
                str(item.get("phone_number", "")), str(item.get("content", "")), "aliyun"
            )
    return JsonResponse({"code": 0, "msg": "接收成功"})


@csrf_exempt
@require_POST
def inbound_tencent(request, token):
    """Tencent Cloud SMS reply callback: one JSON object; answer {"result": 0}."""
    if not _inbound_allowed(token):
        return HttpResponse(status=404)
    item = _json_body(request)
    if not isinstance(item, dict):
        return JsonResponse({"result": 1, "errmsg": "expected a JSON object"}, status=400)
    if str(item.get("nationcode", "86")) in ("86", "+86", ""):
        services.opt_out_by_reply(str(item.get("mobile", "")), str(item.get("text", "")), "tencent")
    return JsonResponse({"result": 0, "errmsg": "OK"})
