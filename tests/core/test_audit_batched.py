"""``audit.batched()``: the entries of a block in one INSERT at its end, inside the transaction;
none for changes that were rolled back."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from autocrm.core import audit
from autocrm.core.models import AuditLog, Region

pytestmark = pytest.mark.django_db


def entries(*codes: str) -> list[str]:
    ids = {str(pk) for pk in Region.objects.filter(code__in=codes).values_list("pk", flat=True)}
    rows = AuditLog.objects.filter(object_type="core.Region", object_id__in=ids)
    return sorted(f"{row.action} {row.object_repr}" for row in rows)


def audit_inserts(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if 'INSERT INTO "core_auditlog"' in q["sql"]]


def test_entries_of_a_block_are_inserted_together_at_its_end(world):
    before = AuditLog.objects.count()
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        with audit.batched():
            east = Region.objects.create(org=world.org, name="华东区", code="east")
            Region.objects.create(org=world.org, name="西南区", code="west")
            east.name = "华东大区"
            east.save()
            assert AuditLog.objects.count() == before  # waiting for the block's end
        assert AuditLog.objects.count() == before + 3
    assert len(audit_inserts(ctx)) == 1
    assert entries("east", "west") == ["create 华东区", "create 西南区", "update 华东大区"]
    update = AuditLog.objects.get(action="update", object_type="core.Region")
    assert update.changes["name"] == ["华东区", "华东大区"]


def test_a_failing_block_writes_no_entry_and_its_changes_roll_back(world):
    before = AuditLog.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic(), audit.batched():
        Region.objects.create(org=world.org, name="华东区", code="east")
        raise RuntimeError("refused")
    assert AuditLog.objects.count() == before
    assert not Region.objects.filter(code="east").exists()


def test_an_entry_inside_a_rolled_back_savepoint_goes_with_it(world):
    with transaction.atomic(), audit.batched():
        Region.objects.create(org=world.org, name="华东区", code="east")
        with transaction.atomic():
            Region.objects.create(org=world.org, name="西南区", code="west")
        try:
            with transaction.atomic():
                Region.objects.create(org=world.org, name="西北区", code="northwest")
                Region.objects.create(org=world.org, name="重复", code="east")  # unique code
        except IntegrityError:
            pass
    assert not Region.objects.filter(code="northwest").exists()
    assert entries("east", "west", "northwest") == ["create 华东区", "create 西南区"]
    assert not AuditLog.objects.filter(object_type="core.Region", object_repr="西北区").exists()


def test_nested_blocks_insert_once_at_the_outer_end(world):
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx, audit.batched():
        Region.objects.create(org=world.org, name="华东区", code="east")
        with audit.batched():
            Region.objects.create(org=world.org, name="西南区", code="west")
        assert entries("east", "west") == []
    assert len(audit_inserts(ctx)) == 1
    assert entries("east", "west") == ["create 华东区", "create 西南区"]
