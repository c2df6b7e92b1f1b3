"""The demo's derived figures are built once its rows are committed, not inside their
transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from autocrm.core import demo
from autocrm.core.models import Organization


@pytest.mark.django_db(transaction=True)
def test_after_commit_loaders_run_once_the_rows_are_committed(monkeypatch):
    seen: list[str] = []

    def rows(org, stores, rng, scale):
        transaction.on_commit(lambda: seen.append("rows committed"))
        seen.append("rows")
        return {"rows": len(stores)}

    def derived(org, stores, rng, scale):
        assert Organization.objects.filter(pk=org.pk).exists()
        seen.append("derived")
        return {"derived": 1}

    monkeypatch.setattr(demo, "EXTENSIONS", [rows])
    monkeypatch.setattr(demo, "AFTER_COMMIT", [derived])
    result = demo.load_demo("small")
    assert seen == ["rows", "rows committed", "derived"]
    assert result.created and result.counts["rows"] == 1 and result.counts["derived"] == 1
    # A second call finds the demo there: nothing is loaded or derived again.
    again = demo.load_demo("small")
    assert not again.created and seen == ["rows", "rows committed", "derived"]
