import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_auditlog_source_portal"),
        ("customers", "0007_covered_fk_indexes"),
        ("service", "0005_reports_period_indexes"),
    ]

    # The single-column indexes of these foreign keys duplicate the first column of a composite
    # index; dropped by name (a plain DROP INDEX: SQLite would otherwise copy the whole table).
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="workorder",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_orders",
                        to="customers.customer",
                        verbose_name="customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="workorder",
                    name="org",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="workorder",
                    name="store",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_orders",
                        to="core.store",
                    ),
                ),
                migrations.AlterField(
                    model_name="workorder",
                    name="vehicle",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_orders",
                        to="customers.vehicle",
                        verbose_name="vehicle",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS service_workorder_customer_id_8d93913a",
                    reverse_sql="CREATE INDEX service_workorder_customer_id_8d93913a ON service_workorder (customer_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS service_workorder_org_id_c06d6bcf",
                    reverse_sql="CREATE INDEX service_workorder_org_id_c06d6bcf ON service_workorder (org_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS service_workorder_store_id_1c79b9c7",
                    reverse_sql="CREATE INDEX service_workorder_store_id_1c79b9c7 ON service_workorder (store_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS service_workorder_vehicle_id_5ff1e53f",
                    reverse_sql="CREATE INDEX service_workorder_vehicle_id_5ff1e53f ON service_workorder (vehicle_id)",
                ),
            ],
        ),
    ]
