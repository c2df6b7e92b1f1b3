"""Channel providers behind one interface: ``send(outgoing) -> provider message id``.

- SMS: Aliyun (dysmsapi ``SendSms``, RPC signature HMAC-SHA1 v1.0) or Tencent Cloud
  (``SendSms`` 2021-01-11, TC3-HMAC-SHA256), chosen by ``AUTOCRM_SMS_PROVIDER``;
- WeChat official-account template messages (``/cgi-bin/message/template/send`` with an
  ``access_token`` from ``/cgi-bin/token``, cached until shortly before it expires);
- email over SMTP through Django's email backend;
- webhook: an HTTPS POST of the message as JSON, signed with HMAC-SHA256 over
  ``"<timestamp>.<body>"`` (header ``X-AutoCRM-Signature: sha256=<hex>``).

A provider raises ``SendError`` with ``transient=True`` for what a later try may fix (timeouts,
connection errors, 5xx, throttling) and ``transient=False`` for refusals (bad number, unknown
template, wrong keys). Providers never touch the database: the delivery run gives them an
``Outgoing`` snapshot and records the outcome itself, so sends can run in threads."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import re
import smtplib
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from email.utils import make_msgid

import httpx
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection

from autocrm.messaging import conf

USER_AGENT = "AutoCRM/1 (+messaging)"
URL_RE = re.compile(r"https?://\S+")


class SendError(Exception):
    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Outgoing:
    """What a provider needs of a message (read in the delivery run's thread)."""

    id: int
    channel: str
    kind: str
    purpose: str
    to: str
    body: str
    subject: str = ""
    sign: str = ""
    provider_template: str = ""
    params: list = field(default_factory=list)  # [[placeholder, value], ...] in text order
    store_id: int | None = None
    customer_id: int | None = None
    org_id: int | None = None

    @property
    def values(self) -> dict[str, str]:
        return {name: value for name, value in self.params}

    def body_without_sign(self) -> str:
        """The text after a leading 【signature】: SMS gateways add the signature themselves."""
        text = self.body
        if text.startswith("【") and "】" in text:
            text = text[text.index("】") + 1 :]
        return text.strip()

    def link(self) -> str:
        values = self.values
        if values.get("booking_link"):
            return values["booking_link"]
        match = URL_RE.search(self.body)
        return match.group(0) if match else ""


class Provider:
    name = ""
    channel = ""

    def send(self, out: Outgoing) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- HTTP providers -----------------------------------------------------------------------


class HttpProvider(Provider):
    def __init__(self, config: dict, timeout: float):
        self.config = config
        self.client = httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """The response, or a transient ``SendError`` for timeouts, connection failures,
        throttling (429) and server errors (5xx)."""
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SendError(f"timeout: {type(exc).__name__}", transient=True) from exc
        except httpx.TransportError as exc:
            raise SendError(f"connection failed: {exc}", transient=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise SendError(f"HTTP {response.status_code}: {response.text[:200]}", transient=True)
        return response

    @staticmethod
    def json_of(response: httpx.Response) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise SendError(
                f"HTTP {response.status_code}: not JSON: {response.text[:200]}",
                transient=False,
            ) from None
        if not isinstance(data, dict):
            raise SendError(f"HTTP {response.status_code}: unexpected answer", transient=False)
        return data


def aliyun_percent(value: str) -> str:
    """RFC 3986 encoding as Aliyun's signature wants it: A-Z a-z 0-9 - _ . ~ kept, space as
    %20 (not +), ``*`` as %2A."""
    return urllib.parse.quote(str(value), safe="~")


def aliyun_signature(params: dict, secret: str, method: str = "POST") -> str:
    """Signature of an RPC request (SignatureMethod HMAC-SHA1, SignatureVersion 1.0):
    Base64(HMAC-SHA1(secret + "&", method & %2F & percent(canonicalized query)))."""
    canonical = "&".join(
        f"{aliyun_percent(k)}={aliyun_percent(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    string_to_sign = f"{method}&{aliyun_percent('/')}&{aliyun_percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def approved_template(out: Outgoing, config: dict, vendor: str, setting: str) -> tuple[str, bool]:
    """The vendor's approved SMS template for the message: its own code, else the configured
    fallback that carries the whole text (then True); neither is a refusal."""
    if out.provider_template:
        return out.provider_template, False
    if config.get("fallback_template"):
        return config["fallback_template"], True
    raise SendError(
        f"no approved {vendor} SMS template for this message "
        f"(set {setting} or the template's provider code)",
        transient=False,
    )


# Aliyun codes worth another try (throttling and their own faults); others are refusals.
ALIYUN_TRANSIENT = {
    "isp.SYSTEM_ERROR",
    "isp.RAM_PERMISSION_DENY_TEMP",
    "isv.BUSINESS_LIMIT_CONTROL",
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
}


class AliyunSms(HttpProvider):
    name = "aliyun"
    channel = "sms"
    version = "2017-05-25"

    def params_for(self, out: Outgoing) -> dict:
        cfg = self.config
        template, fallback = approved_template(out, cfg, "Aliyun", "AUTOCRM_ALIYUN_SMS_TEMPLATE")
        values = {"content": out.body_without_sign()} if fallback else out.values
        return {
            "AccessKeyId": cfg["access_key_id"],
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": cfg.get("region") or "cn-hangzhou",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": self.version,
            "PhoneNumbers": out.to,
            "SignName": out.sign,
            "TemplateCode": template,
            "TemplateParam": json.dumps(values, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(out.id),
        }

    def send(self, out: Outgoing) -> str:
        params = self.params_for(out)
        params["Signature"] = aliyun_signature(params, self.config["access_key_secret"], "POST")
        endpoint = self.config["endpoint"].rstrip("/") + "/"
        response = self.request(
            "POST",
            endpoint,
            content=urllib.parse.urlencode(params, quote_via=urllib.parse.quote).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        data = self.json_of(response)
        code = str(data.get("Code", ""))
        if code == "OK":
            return str(data.get("BizId", ""))
        message = f"{code or response.status_code}: {data.get('Message', '')}"
        raise SendError(message, transient=code in ALIYUN_TRANSIENT or code.startswith("isp."))


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    payload: bytes,
    timestamp: int,
    service: str = "sms",
    content_type: str = "application/json; charset=utf-8",
) -> str:
    """The ``Authorization`` header of a TencentCloud API v3 POST (TC3-HMAC-SHA256)."""
    date = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")
    signed_headers = "content-type;host"
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    secret_date = mac(f"TC3{secret_key}".encode(), date)
    secret_service = mac(secret_date, service)
    secret_signing = mac(secret_service, "tc3_request")
    signature = hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


TENCENT_TRANSIENT = {
    "RequestLimitExceeded",
    "ResourceUnavailable",
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "FailedOperation.InsufficientBalanceInSmsPackage",
}


class TencentSms(HttpProvider):
    name = "tencent"
    channel = "sms"
    version = "2021-01-11"

    def body_for(self, out: Outgoing) -> dict:
        cfg = self.config
        template, fallback = approved_template(out, cfg, "Tencent", "AUTOCRM_TENCENT_SMS_TEMPLATE")
        values = [out.body_without_sign()] if fallback else [value for _n, value in out.params]
        number = out.to if out.to.startswith("+") else f"+86{out.to}"
        return {
            "PhoneNumberSet": [number],
            "SmsSdkAppId": cfg["sdk_app_id"],
            "SignName": out.sign,
            "TemplateId": template,
            "TemplateParamSet": values,
            "SessionContext": str(out.id),
        }

    def send(self, out: Outgoing) -> str:
        cfg = self.config
        endpoint = cfg["endpoint"].rstrip("/") + "/"
        host = urllib.parse.urlsplit(endpoint).netloc
        payload = json.dumps(self.body_for(out), ensure_ascii=False).encode()
        timestamp = int(time.time())
        content_type = "application/json; charset=utf-8"
        headers = {
            "Authorization": tc3_authorization(
                secret_id=cfg["secret_id"],
                secret_key=cfg["secret_key"],
                host=host,
                payload=payload,
                timestamp=timestamp,
                content_type=content_type,
            ),
            "Content-Type": content_type,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": self.version,
            "X-TC-Region": cfg.get("region") or "ap-guangzhou",
        }
        response = self.request("POST", endpoint, content=payload, headers=headers)
        data = self.json_of(response).get("Response") or {}
        error = data.get("Error")
        if error:
            code = str(error.get("Code", ""))
            transient = code.startswith("InternalError") or code in TENCENT_TRANSIENT
            raise SendError(f"{code}: {error.get('Message', '')}", transient=transient)
        statuses = data.get("SendStatusSet") or []
        if not statuses:
            raise SendError("no SendStatusSet in the answer", transient=True)
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return str(status.get("SerialNo", ""))
        transient = code.startswith("InternalError") or code in TENCENT_TRANSIENT
        raise SendError(f"{code}: {status.get('Message', '')}", transient=transient)


# WeChat error codes: an invalid or expired token is fetched again once; -1 (busy) and
# 45009 (over the call quota) are worth a later try; anything else is a refusal.
WECHAT_TOKEN_ERRORS = {40001, 40014, 42001}
WECHAT_TRANSIENT = {-1, 45009, 45011}


class WeChatTemplate(HttpProvider):
    name = "wechat"
    channel = "wechat"
    _lock = threading.Lock()

    @property
    def _base(self) -> str:
        return self.config["endpoint"].rstrip("/")

    @property
    def _cache_key(self) -> str:
        digest = hashlib.sha256(f"{self._base}|{self.config['app_id']}".encode()).hexdigest()
        return f"autocrm:wechat-token:{digest[:24]}"

    def access_token(self, *, fresh: bool = False) -> str:
        """The account's access_token, fetched from /cgi-bin/token once and kept (in Django's
        cache, shared by the worker's threads) until 5 minutes before it expires."""
        if not fresh:
            token = cache.get(self._cache_key)
            if token:
                return token
        with self._lock:
            if not fresh:
                token = cache.get(self._cache_key)
                if token:
                    return token
            response = self.request(
                "GET",
                f"{self._base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.config["app_id"],
                    "secret": self.config["app_secret"],
                },
            )
            data = self.json_of(response)
            token = data.get("access_token")
            if not token:
                code = data.get("errcode")
                raise SendError(
                    f"token {code}: {data.get('errmsg', '')}", transient=code in WECHAT_TRANSIENT
                )
            expires_in = int(data.get("expires_in") or 7200)
            cache.set(self._cache_key, token, max(60, expires_in - 300))
            return token

    def forget_token(self) -> None:
        cache.delete(self._cache_key)

    def payload_for(self, out: Outgoing) -> dict:
        if out.provider_template:
            template = out.provider_template
            data = {name: {"value": value} for name, value in out.params}
        elif self.config.get("fallback_template"):
            template = self.config["fallback_template"]
            data = {"content": {"value": out.body}}
        else:
            raise SendError(
                "no WeChat template id for this message (set AUTOCRM_WECHAT_TEMPLATE or the "
                "template's provider code)",
                transient=False,
            )
        payload = {"touser": out.to, "template_id": template, "data": data}
        link = out.link()
        if link:
            payload["url"] = link
        return payload

    def send(self, out: Outgoing) -> str:
        payload = json.dumps(self.payload_for(out), ensure_ascii=False).encode()
        for attempt in (1, 2):
            token = self.access_token(fresh=attempt == 2)
            response = self.request(
                "POST",
                f"{self._base}/cgi-bin/message/template/send",
                params={"access_token": token},
                content=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            data = self.json_of(response)
            code = int(data.get("errcode") or 0)
            if code == 0:
                return str(data.get("msgid", ""))
            if code in WECHAT_TOKEN_ERRORS and attempt == 1:
                self.forget_token()
                continue
            raise SendError(
                f"{code}: {data.get('errmsg', '')}",
                transient=code in WECHAT_TRANSIENT or code in WECHAT_TOKEN_ERRORS,
            )
        raise SendError("token refused twice", transient=True)  # pragma: no cover


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body): receivers recompute it
    and refuse stale timestamps (replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


class Webhook(HttpProvider):
    name = "webhook"
    channel = "webhook"

    def send(self, out: Outgoing) -> str:
        body = json.dumps(
            {
                "id": out.id,
                "channel": out.channel,
                "kind": out.kind,
                "purpose": out.purpose,
                "to": out.to,
                "subject": out.subject,
                "body": out.body,
                "params": out.values,
                "org_id": out.org_id,
                "store_id": out.store_id,
                "customer_id": out.customer_id,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(time.time()))
        response = self.request(
            "POST",
            self.config["url"],
            content=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-AutoCRM-Message-Id": str(out.id),
                "X-AutoCRM-Timestamp": timestamp,
                "X-AutoCRM-Signature": webhook_signature(self.config["secret"], timestamp, body),
            },
        )
        if not 200 <= response.status_code < 300:
            raise SendError(f"HTTP {response.status_code}: {response.text[:200]}", transient=False)
        try:
            data = response.json()
        except ValueError:
            data = {}
        if isinstance(data, dict) and data.get("id"):
            return str(data["id"])[:100]
        return response.headers.get("X-Request-Id", "")[:100]


# --- email --------------------------------------------------------------------------------


class Email(Provider):
    name = "smtp"
    channel = "email"

    def __init__(self, timeout: float):
        self.connection = get_connection(conf.email_backend(), fail_silently=False)
        if hasattr(self.connection, "timeout") and self.connection.timeout is None:
            self.connection.timeout = timeout
        self._lock = threading.Lock()

    def close(self) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self.connection.close()

    def send(self, out: Outgoing) -> str:
        from django.conf import settings

        message_id = make_msgid(domain="autocrm")
        email = EmailMessage(
            subject=out.subject or out.purpose,
            body=out.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[out.to],
            headers={"Message-ID": message_id, "X-AutoCRM-Message-Id": str(out.id)},
            connection=self.connection,
        )
        with self._lock:  # one SMTP conversation at a time on the shared connection
            try:
                sent = email.send()
            except smtplib.SMTPRecipientsRefused as exc:
                raise SendError(f"recipient refused: {exc.recipients}", transient=False) from exc
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise SendError(
                    f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                    transient=400 <= exc.smtp_code < 500,
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                raise SendError(f"SMTP: {type(exc).__name__}: {exc}", transient=True) from exc
        if not sent:
            raise SendError("SMTP: not sent", transient=True)
        return message_id


# --- which providers are configured -------------------------------------------------------


def _has(config: dict, *keys: str) -> bool:
    return all(config.get(k) for k in keys)


def configured_channels() -> set[str]:
    channels = set()
    sms = conf.sms_provider()
    if (sms == "aliyun" and _has(conf.aliyun(), "access_key_id", "access_key_secret")) or (
        sms == "tencent" and _has(conf.tencent(), "secret_id", "secret_key", "sdk_app_id")
    ):
        channels.add("sms")
    if _has(conf.wechat(), "app_id", "app_secret"):
        channels.add("wechat")
    hook = conf.webhook()
    if _has(hook, "url", "secret") and (
        hook["url"].startswith("https://") or _is_loopback(hook["url"])
    ):
        channels.add("webhook")
    if conf.email_enabled():
        channels.add("email")
    return channels


def provider_name(channel: str) -> str:
    """The provider a configured channel sends through (for display)."""
    if channel == "sms":
        return conf.sms_provider()
    return {"wechat": "wechat", "webhook": "webhook", "email": "smtp"}.get(channel, "")


def build(channel: str) -> Provider | None:
    """A new provider for ``channel``, or None when it is not configured."""
    if channel not in configured_channels():
        return None
    timeout = conf.timeout()
    if channel == "sms":
        if conf.sms_provider() == "aliyun":
            return AliyunSms(conf.aliyun(), timeout)
        return TencentSms(conf.tencent(), timeout)
    if channel == "wechat":
        return WeChatTemplate(conf.wechat(), timeout)
    if channel == "webhook":
        return Webhook(conf.webhook(), timeout)
    return Email(timeout)
