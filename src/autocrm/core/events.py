"""Domain events: services publish after their transaction commits; subscribers (the rules
engine, messages, rollups) register a handler per event name. Nothing else reaches across
apps' internals."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger("autocrm.events")
_handlers: dict[str, list[Callable[[dict], None]]] = defaultdict(list)


def subscribe(name: str, handler: Callable[[dict], None]) -> None:
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def unsubscribe(name: str, handler: Callable[[dict], None]) -> None:
    if handler in _handlers[name]:
        _handlers[name].remove(handler)


def _deliver(name: str, payload: dict) -> None:
    for handler in list(_handlers.get(name, ())):
        try:
            handler(payload)
        except Exception:  # one failing subscriber must not undo the committed business action
            log.exception("event handler for %s failed", name)


def publish(name: str, **payload) -> None:
    """Deliver ``name`` once the surrounding transaction commits (at once outside one)."""
    payload["event"] = name
    transaction.on_commit(lambda: _deliver(name, payload))
