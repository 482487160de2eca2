"""The newest reading of each device, kept by the database.

A trigger on each readings table upserts its latest table after every insert: on PostgreSQL once
per statement, from the statement's new rows; on SQLite, which has only row triggers, once per
row. A newer reading replaces the kept one; an older one, arriving late, does not. Then the
readings already stored fill the latest tables.
"""

import django.db.models.deletion
from django.db import NotSupportedError, migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# readings table -> (its latest table, the columns naming a latest row, the columns it copies)
KEPT = {
    "observations_attribute": (
        "observations_latestattribute",
        ("device_id", "name"),
        ("value", "units", "valid_at"),
    ),
    "observations_status": (
        "observations_lateststatus",
        ("device_id",),
        ("is_on", "state", "valid_at"),
    ),
}


def upsert(latest: str, key: tuple[str, ...], copied: tuple[str, ...], rows: str) -> str:
    """INSERT `rows` into `latest`, replacing only what is older."""
    columns = ", ".join((*key, *copied))
    updates = ", ".join(f"{column} = excluded.{column}" for column in copied)
    return (
        f"INSERT INTO {latest} ({columns}) {rows} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} "
        f"WHERE {latest}.valid_at < excluded.valid_at"
    )


def newest(readings: str, key: tuple[str, ...], copied: tuple[str, ...]) -> str:
    """SELECT the newest of `readings` for each key, in key order.

    Grouped by hashing, where DISTINCT ON would sort every row; the readings' unique constraint
    leaves one row per key and time. Key order makes concurrent upserts lock rows in the same
    order, so that they wait for each other rather than deadlock.
    """
    columns = ", ".join(f"r.{column}" for column in (*key, *copied))
    matches = " AND ".join(f"r.{column} = newest.{column}" for column in (*key, "valid_at"))
    return (
        f"SELECT {columns} FROM {readings} r "
        f"JOIN (SELECT {', '.join(key)}, MAX(valid_at) AS valid_at FROM {readings} "
        f"GROUP BY {', '.join(key)}) newest ON {matches} "
        f"ORDER BY {', '.join(f'r.{column}' for column in key)}"
    )


def postgresql_trigger(
    readings: str, latest: str, key: tuple[str, ...], copied: tuple[str, ...]
) -> list[str]:
    # Statement-level, reading the transition table: one upsert per INSERT or COPY, however many
    # rows it brought, from those rows only, never from the readings table.
    return [
        f"""
        CREATE FUNCTION {readings}_keep_latest() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {upsert(latest, key, copied, newest("new_readings", key, copied))};
            RETURN NULL;
        END
        $$
        """,
        f"""
        CREATE TRIGGER {readings}_keeps_latest AFTER INSERT ON {readings}
        REFERENCING NEW TABLE AS new_readings
        FOR EACH STATEMENT EXECUTE FUNCTION {readings}_keep_latest()
        """,
    ]


def sqlite_trigger(
    readings: str, latest: str, key: tuple[str, ...], copied: tuple[str, ...]
) -> list[str]:
    # A row trigger: the one new row, by NEW.column.
    new_row = f"VALUES ({', '.join(f'NEW.{column}' for column in (*key, *copied))})"
    return [
        f"""
        CREATE TRIGGER {readings}_keeps_latest AFTER INSERT ON {readings}
        BEGIN
            {upsert(latest, key, copied, new_row)};
        END
        """
    ]


def fill(readings: str, latest: str, key: tuple[str, ...], copied: tuple[str, ...]) -> str:
    """The trigger's upsert over the readings already stored, in SQL both databases run."""
    return upsert(latest, key, copied, newest(readings, key, copied))


def keep_latest(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    triggers = {"postgresql": postgresql_trigger, "sqlite": sqlite_trigger}
    if vendor not in triggers:
        raise NotSupportedError(f"No latest-reading triggers for {vendor}: add them here.")
    for readings, (latest, key, copied) in KEPT.items():
        for statement in triggers[vendor](readings, latest, key, copied):
            schema_editor.execute(statement)
        schema_editor.execute(fill(readings, latest, key, copied))


def stop_keeping_latest(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for readings in KEPT:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER {readings}_keeps_latest ON {readings}")
            schema_editor.execute(f"DROP FUNCTION {readings}_keep_latest()")
        else:
            schema_editor.execute(f"DROP TRIGGER {readings}_keeps_latest")


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0003_device_owner"),
        ("observations", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LatestStatus",
            fields=[
                ("is_on", models.BooleanField()),
                (
                    "state",
                    models.CharField(
                        blank=True, help_text="The vendor's state, e.g. 'standby'.", max_length=50
                    ),
                ),
                (
                    "device",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="latest_status",
                        serialize=False,
                        to="devices.device",
                    ),
                ),
                (
                    "valid_at",
                    models.DateTimeField(
                        help_text="When the reading was taken, by the vendor's clock."
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "latest statuses",
            },
        ),
        migrations.CreateModel(
            name="LatestAttribute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="What was measured, e.g. 'temperature'.", max_length=50
                    ),
                ),
                ("value", models.FloatField()),
                ("units", models.CharField(blank=True, help_text="e.g. '°C', 'W'.", max_length=20)),
                (
                    "valid_at",
                    models.DateTimeField(
                        help_text="When the reading was taken, by the vendor's clock."
                    ),
                ),
                (
                    "device",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="latest_attributes",
                        to="devices.device",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("device", "name"), name="latest_attribute_per_name"
                    )
                ],
            },
        ),
        migrations.RunPython(keep_latest, stop_keeping_latest),
    ]
