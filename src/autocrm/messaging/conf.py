"""Messaging configuration: Django settings when set (tests override them there), else the
environment. Provider keys come only from the environment (or a settings file outside the
repository); a channel whose provider has no keys is "not configured" and its messages wait in
the outbox for staff to send by hand.

Environment variables:

- ``AUTOCRM_SMS_PROVIDER``: ``aliyun`` or ``tencent`` (empty: SMS by hand)
- ``AUTOCRM_SMS_SIGN``: the SMS signature shown as 【…】 (empty: the store's name)
- Aliyun: ``AUTOCRM_ALIYUN_ACCESS_KEY_ID``, ``AUTOCRM_ALIYUN_ACCESS_KEY_SECRET``,
  ``AUTOCRM_ALIYUN_SMS_ENDPOINT`` (https://dysmsapi.aliyuncs.com), ``AUTOCRM_ALIYUN_REGION``
  (cn-hangzhou), ``AUTOCRM_ALIYUN_SMS_TEMPLATE`` (an approved template ``${content}`` for
  messages that have no template of their own)
- Tencent: ``AUTOCRM_TENCENT_SECRET_ID``, ``AUTOCRM_TENCENT_SECRET_KEY``,
  ``AUTOCRM_TENCENT_SMS_APP_ID``, ``AUTOCRM_TENCENT_SMS_ENDPOINT``
  (https://sms.tencentcloudapi.com), ``AUTOCRM_TENCENT_REGION`` (ap-guangzhou),
  ``AUTOCRM_TENCENT_SMS_TEMPLATE`` (fallback template id with one parameter)
- WeChat official account: ``AUTOCRM_WECHAT_APP_ID``, ``AUTOCRM_WECHAT_APP_SECRET``,
  ``AUTOCRM_WECHAT_ENDPOINT`` (https://api.weixin.qq.com), ``AUTOCRM_WECHAT_TEMPLATE``
  (fallback template id with a ``content`` field)
- Webhook: ``AUTOCRM_WEBHOOK_URL``, ``AUTOCRM_WEBHOOK_SECRET``
- Email: Django's ``EMAIL_HOST`` and friends (settings.py reads them from the environment)
- Inbound SMS (replies such as TD): ``AUTOCRM_SMS_INBOUND_TOKEN``, the secret last part of the
  callback URLs given to the vendors
- Rules: ``AUTOCRM_QUIET_HOURS`` (21:00-08:00, Beijing time), ``AUTOCRM_MARKETING_CAP``
  (4/30: at most 4 marketing messages per customer in 30 days)
- Delivery: ``AUTOCRM_MESSAGE_MAX_ATTEMPTS`` (5), ``AUTOCRM_MESSAGE_RETRY_SECONDS`` (60: the
  first back-off, doubled each time), ``AUTOCRM_MESSAGE_BATCH`` (200),
  ``AUTOCRM_MESSAGE_CONCURRENCY`` (8 sends in flight), ``AUTOCRM_MESSAGE_TIMEOUT`` (10 s)
"""

from __future__ import annotations

import datetime
import os

from django.conf import settings


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _setting(name: str, default):
    return getattr(settings, name, default)


def _dict(name: str, defaults: dict) -> dict:
    return {**defaults, **(_setting(name, None) or {})}


def sms_provider() -> str:
    return (_setting("AUTOCRM_SMS_PROVIDER", None) or _env("AUTOCRM_SMS_PROVIDER")).lower()


def sms_sign() -> str:
    return _setting("AUTOCRM_SMS_SIGN", None) or _env("AUTOCRM_SMS_SIGN")


def aliyun() -> dict:
    return _dict(
        "AUTOCRM_ALIYUN_SMS",
        {
            "access_key_id": _env("AUTOCRM_ALIYUN_ACCESS_KEY_ID"),
            "access_key_secret": _env("AUTOCRM_ALIYUN_ACCESS_KEY_SECRET"),
            "endpoint": _env("AUTOCRM_ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com"),
            "region": _env("AUTOCRM_ALIYUN_REGION", "cn-hangzhou"),
            "fallback_template": _env("AUTOCRM_ALIYUN_SMS_TEMPLATE"),
        },
    )


def tencent() -> dict:
    return _dict(
        "AUTOCRM_TENCENT_SMS",
        {
            "secret_id": _env("AUTOCRM_TENCENT_SECRET_ID"),
            "secret_key": _env("AUTOCRM_TENCENT_SECRET_KEY"),
            "sdk_app_id": _env("AUTOCRM_TENCENT_SMS_APP_ID"),
            "endpoint": _env("AUTOCRM_TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com"),
            "region": _env("AUTOCRM_TENCENT_REGION", "ap-guangzhou"),
            "fallback_template": _env("AUTOCRM_TENCENT_SMS_TEMPLATE"),
        },
    )


def wechat() -> dict:
    return _dict(
        "AUTOCRM_WECHAT_MP",
        {
            "app_id": _env("AUTOCRM_WECHAT_APP_ID"),
            "app_secret": _env("AUTOCRM_WECHAT_APP_SECRET"),
            "endpoint": _env("AUTOCRM_WECHAT_ENDPOINT", "https://api.weixin.qq.com"),
            "fallback_template": _env("AUTOCRM_WECHAT_TEMPLATE"),
        },
    )


def webhook() -> dict:
    return _dict(
        "AUTOCRM_WEBHOOK",
        {"url": _env("AUTOCRM_WEBHOOK_URL"), "secret": _env("AUTOCRM_WEBHOOK_SECRET")},
    )


def email_enabled() -> bool:
    return bool(_setting("AUTOCRM_EMAIL_ENABLED", False))


def email_backend() -> str:
    return _setting("AUTOCRM_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")


def inbound_token() -> str:
    return _setting("AUTOCRM_SMS_INBOUND_TOKEN", None) or _env("AUTOCRM_SMS_INBOUND_TOKEN")


def _hhmm(text: str) -> datetime.time:
    hours, minutes = text.strip().split(":")
    return datetime.time(int(hours), int(minutes))


def quiet_hours() -> tuple[datetime.time, datetime.time] | None:
    """(start, end) in local time, e.g. 21:00 → 08:00; None when switched off ("")."""
    value = _setting("AUTOCRM_QUIET_HOURS", None)
    if value is None:
        value = _env("AUTOCRM_QUIET_HOURS", "21:00-08:00")
    if not value:
        return None
    start, end = value.split("-")
    return _hhmm(start), _hhmm(end)


def marketing_cap() -> tuple[int, int]:
    """(messages, days): at most this many marketing messages per customer in the window."""
    value = _setting("AUTOCRM_MARKETING_CAP", None) or _env("AUTOCRM_MARKETING_CAP", "4/30")
    count, days = str(value).split("/")
    return int(count), int(days)


def _int(name: str, default: int) -> int:
    value = _setting(name, None)
    if value is None:
        value = _env(name, str(default))
    return int(value)


def _float(name: str, default: float) -> float:
    value = _setting(name, None)
    if value is None:
        value = _env(name, str(default))
    return float(value)


def max_attempts() -> int:
    return max(1, _int("AUTOCRM_MESSAGE_MAX_ATTEMPTS", 5))


def retry_seconds() -> float:
    return _float("AUTOCRM_MESSAGE_RETRY_SECONDS", 60)


def batch_size() -> int:
    return max(1, _int("AUTOCRM_MESSAGE_BATCH", 200))


def concurrency() -> int:
    return max(1, _int("AUTOCRM_MESSAGE_CONCURRENCY", 8))


def timeout() -> float:
    return _float("AUTOCRM_MESSAGE_TIMEOUT", 10)


def lease_seconds() -> int:
    """How long a delivery run owns the rows it claimed (longer than a batch ever takes)."""
    return _int("AUTOCRM_MESSAGE_LEASE_SECONDS", 300)
