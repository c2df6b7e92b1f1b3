"""Seed the fixed roles and make the audit log append-only in the database itself.

UPDATE is refused on every backend. DELETE is refused on PostgreSQL (a row-level trigger, which
TRUNCATE used by test teardown does not fire); on SQLite, Django's test flush deletes rows, so
there only the model guards against deletes."""

from django.db import migrations

ROLES = [
    "hq_admin",
    "region_manager",
    "store_manager",
    "service_advisor",
    "technician",
    "front_desk",
    "finance",
    "sales",
    "marketing",
]

SQLITE_UP = """
CREATE TRIGGER core_auditlog_no_update BEFORE UPDATE ON core_auditlog
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS core_auditlog_no_update;"

PG_UP = """
CREATE OR REPLACE FUNCTION core_auditlog_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditlog_no_change BEFORE UPDATE OR DELETE ON core_auditlog
FOR EACH ROW EXECUTE FUNCTION core_auditlog_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS core_auditlog_no_change ON core_auditlog;
DROP FUNCTION IF EXISTS core_auditlog_append_only();
"""


def seed_roles(apps, schema_editor):
    Role = apps.get_model("core", "Role")
    for code in ROLES:
        Role.objects.get_or_create(code=code)


def append_only(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)
    elif vendor == "postgresql":
        schema_editor.execute(PG_UP)


def drop_append_only(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)
    elif vendor == "postgresql":
        schema_editor.execute(PG_DOWN)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunPython(seed_roles, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
