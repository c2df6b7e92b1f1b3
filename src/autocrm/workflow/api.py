"""API for the workflow app."""

from __future__ import annotations

from ninja import Router

router = Router()
