"""PlateKey.home_store: a copy of the vehicle's home store with an index (home_store, key), so a
store-scoped plate search reads one index range instead of joining keys to vehicles.

The column is added nullable, filled from the vehicles with one set-based UPDATE, then made
NOT NULL and indexed."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = (
    "UPDATE customers_platekey SET home_store_id = ("
    "SELECT v.home_store_id FROM customers_vehicle v "
    "WHERE v.id = customers_platekey.vehicle_id)"
)


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            # Check the new foreign key now: deferred checks still pending would forbid the
            # ALTER TABLE (SET NOT NULL) that follows in this transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(BACKFILL)
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_auditlog_source_portal"),
        ("customers", "0005_maintenance_prediction"),
    ]

    operations = [
        migrations.AddField(
            model_name="platekey",
            name="home_store",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="core.store",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="platekey",
            name="home_store",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="core.store",
            ),
        ),
        migrations.AddIndex(
            model_name="platekey",
            index=models.Index(
                fields=["home_store", "key"],
                name="platekey_store_lookup",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
    ]
