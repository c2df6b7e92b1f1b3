from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests import customer_factories as cf
from tests.messaging.standins import Receiver, webhook_valid

WEBHOOK_SECRET = "whsec-test-4f2a"


@pytest.fixture(autouse=True)
def _messaging_defaults(settings):
    """No provider unless a test sets one; quiet hours off unless a test turns them on."""
    settings.AUTOCRM_SMS_PROVIDER = ""
    settings.AUTOCRM_WEBHOOK = {"url": "", "secret": ""}
    settings.AUTOCRM_WECHAT_MP = {"app_id": "", "app_secret": ""}
    settings.AUTOCRM_EMAIL_ENABLED = False
    settings.AUTOCRM_QUIET_HOURS = ""
    settings.AUTOCRM_MESSAGE_RETRY_SECONDS = 60
    settings.AUTOCRM_MESSAGE_TIMEOUT = 2
    settings.AUTOCRM_SMS_SIGN = ""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def make(handler) -> Receiver:
        receiver = Receiver(handler).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def webhook(settings, receivers):
    """A webhook endpoint that checks the signature; ``fail`` maps a message id to the number of
    500 answers it gets before a 200."""
    fail: dict[int, int] = {}
    seen: list[int] = []

    def handle(request):
        if not webhook_valid(request, WEBHOOK_SECRET):
            return 401, {"error": "bad signature"}, {}
        message_id = int(request.headers["x-autocrm-message-id"])
        if fail.get(message_id, 0) > 0:
            fail[message_id] -= 1
            return 500, {"error": "try later"}, {}
        seen.append(message_id)
        return 200, {"id": f"rcv-{message_id}"}, {}

    receiver = receivers(handle)
    settings.AUTOCRM_WEBHOOK = {"url": f"{receiver.url}/hook", "secret": WEBHOOK_SECRET}
    receiver.fail = fail
    receiver.seen = seen
    return receiver


@pytest.fixture
def owner(world):
    return cf.customer(
        world.a1,
        name="李雷",
        mobile="13912345678",
        consent_sms=True,
        consent_sms_at=timezone.now(),
        consent_sms_how="到店登记",
    )
