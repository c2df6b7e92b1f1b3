import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_auditlog_source_portal"),
        ("customers", "0006_platekey_home_store"),
    ]

    # The single-column indexes of these foreign keys duplicate the first column of a composite
    # index; dropped by name (a plain DROP INDEX: SQLite would otherwise copy the whole table).
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="home_store",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="customers",
                        to="core.store",
                        verbose_name="home store",
                    ),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="org",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="customers",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="interaction",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="interactions",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="mileagereading",
                    name="vehicle",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="mileage",
                        to="customers.vehicle",
                    ),
                ),
                migrations.AlterField(
                    model_name="ownership",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ownerships",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="platekey",
                    name="org",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="vehicle",
                    name="org",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vehicles",
                        to="core.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_customer_home_store_id_193d41c2",
                    reverse_sql="CREATE INDEX customers_customer_home_store_id_193d41c2 ON customers_customer (home_store_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_customer_org_id_854f556b",
                    reverse_sql="CREATE INDEX customers_customer_org_id_854f556b ON customers_customer (org_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_interaction_customer_id_3eb30ec4",
                    reverse_sql="CREATE INDEX customers_interaction_customer_id_3eb30ec4 ON customers_interaction (customer_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_mileagereading_vehicle_id_bb8cd112",
                    reverse_sql="CREATE INDEX customers_mileagereading_vehicle_id_bb8cd112 ON customers_mileagereading (vehicle_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_ownership_customer_id_ae342e45",
                    reverse_sql="CREATE INDEX customers_ownership_customer_id_ae342e45 ON customers_ownership (customer_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_platekey_org_id_44018598",
                    reverse_sql="CREATE INDEX customers_platekey_org_id_44018598 ON customers_platekey (org_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS customers_vehicle_org_id_0ac9b2ad",
                    reverse_sql="CREATE INDEX customers_vehicle_org_id_0ac9b2ad ON customers_vehicle (org_id)",
                ),
            ],
        ),
    ]
