"""Each person's GPU time per hour, for fair share (generation/usage.py), kept by the database.

Triggers on generation_renderjob add a job's charge to its owner's hour (the hour it was queued in, UTC) while
the job is not waiting (state <> 'queued'), and take it away again when the charge, the state, the owner or
the hour changes, or the row is deleted: in the same statement as the change, whoever makes it (the quota
module's reserve, refund and settle, a claim, a requeue, a bulk load). Charges are counted in whole
milliseconds (rounded the same way each time) so that adding and taking away leave nothing behind. The
triggers are made before the backfill, in the same transaction, so that no write falls between the two.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

JOBS, HOURS = "generation_renderjob", "generation_usagehour"

POSTGRESQL_HOUR = "date_trunc('hour', {row}.queued_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
POSTGRESQL_MS = "ROUND({row}.charged_seconds * 1000)::bigint"
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {row}.queued_at)"
SQLITE_MS = "CAST(ROUND({row}.charged_seconds * 1000) AS INTEGER)"


def _postgresql(hour, ms):
    old_hour, new_hour, old_ms, new_ms = (
        hour.format(row="OLD"),
        hour.format(row="NEW"),
        ms.format(row="OLD"),
        ms.format(row="NEW"),
    )
    return [
        f"""
        CREATE FUNCTION generation_usage_follow() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            old_ms bigint := 0;
            new_ms bigint := 0;
        BEGIN
            IF TG_OP <> 'INSERT' AND OLD.state <> 'queued' THEN old_ms := {old_ms}; END IF;
            IF TG_OP <> 'DELETE' AND NEW.state <> 'queued' THEN new_ms := {new_ms}; END IF;
            IF TG_OP = 'UPDATE' AND OLD.owner_id = NEW.owner_id AND {old_hour} = {new_hour} THEN
                new_ms := new_ms - old_ms;
                old_ms := 0;
            END IF;
            IF old_ms <> 0 THEN
                UPDATE {HOURS} SET milliseconds = milliseconds - old_ms
                WHERE owner_id = OLD.owner_id AND hour = {old_hour};
            END IF;
            IF new_ms <> 0 THEN
                INSERT INTO {HOURS} (owner_id, hour, milliseconds) VALUES (NEW.owner_id, {new_hour}, new_ms)
                ON CONFLICT (owner_id, hour) DO UPDATE SET milliseconds = {HOURS}.milliseconds + EXCLUDED.milliseconds;
            END IF;
            RETURN NULL;
        END
        $$
        """,
        f"""CREATE TRIGGER generation_usage_insert AFTER INSERT ON {JOBS} FOR EACH ROW
        WHEN (NEW.state <> 'queued') EXECUTE FUNCTION generation_usage_follow()""",
        f"""CREATE TRIGGER generation_usage_update AFTER UPDATE OF state, charged_seconds, queued_at, owner_id
        ON {JOBS} FOR EACH ROW
        WHEN ((OLD.state <> 'queued' OR NEW.state <> 'queued')
              AND (OLD.state, OLD.charged_seconds, OLD.queued_at, OLD.owner_id)
                  IS DISTINCT FROM (NEW.state, NEW.charged_seconds, NEW.queued_at, NEW.owner_id))
        EXECUTE FUNCTION generation_usage_follow()""",
        f"""CREATE TRIGGER generation_usage_delete AFTER DELETE ON {JOBS} FOR EACH ROW
        WHEN (OLD.state <> 'queued') EXECUTE FUNCTION generation_usage_follow()""",
    ]


def _sqlite(hour, ms):
    add = (
        f"INSERT INTO {HOURS} (owner_id, hour, milliseconds) SELECT NEW.owner_id, {hour.format(row='NEW')}, "
        f"{ms.format(row='NEW')} WHERE NEW.state <> 'queued' AND {ms.format(row='NEW')} <> 0 "
        f"ON CONFLICT (owner_id, hour) DO UPDATE SET milliseconds = milliseconds + excluded.milliseconds;"
    )
    take = (
        f"UPDATE {HOURS} SET milliseconds = milliseconds - {ms.format(row='OLD')} "
        f"WHERE OLD.state <> 'queued' AND owner_id = OLD.owner_id AND hour = {hour.format(row='OLD')};"
    )
    return [
        f"""CREATE TRIGGER generation_usage_insert AFTER INSERT ON {JOBS} FOR EACH ROW
        WHEN NEW.state <> 'queued' BEGIN {add} END""",
        f"""CREATE TRIGGER generation_usage_update AFTER UPDATE OF state, charged_seconds, queued_at, owner_id
        ON {JOBS} FOR EACH ROW
        WHEN (OLD.state <> 'queued' OR NEW.state <> 'queued')
             AND (OLD.state IS NOT NEW.state OR OLD.charged_seconds IS NOT NEW.charged_seconds
                  OR OLD.queued_at IS NOT NEW.queued_at OR OLD.owner_id IS NOT NEW.owner_id)
        BEGIN {take} {add} END""",
        f"""CREATE TRIGGER generation_usage_delete AFTER DELETE ON {JOBS} FOR EACH ROW
        WHEN OLD.state <> 'queued' BEGIN {take} END""",
    ]


def _backfill(hour, ms):
    hour, ms = hour.format(row="j"), ms.format(row="j")
    return [
        f"""INSERT INTO {HOURS} (owner_id, hour, milliseconds)
        SELECT j.owner_id, {hour}, SUM({ms}) FROM {JOBS} j WHERE j.state <> 'queued'
        GROUP BY j.owner_id, {hour} HAVING SUM({ms}) <> 0"""
    ]


STATEMENTS = {
    "postgresql": _postgresql(POSTGRESQL_HOUR, POSTGRESQL_MS) + _backfill(POSTGRESQL_HOUR, POSTGRESQL_MS),
    "sqlite": _sqlite(SQLITE_HOUR, SQLITE_MS) + _backfill(SQLITE_HOUR, SQLITE_MS),
}
DROP = {
    "postgresql": [
        f"DROP TRIGGER IF EXISTS generation_usage_{event} ON {JOBS}" for event in ("insert", "update", "delete")
    ]
    + ["DROP FUNCTION IF EXISTS generation_usage_follow()"],
    "sqlite": [f"DROP TRIGGER IF EXISTS generation_usage_{event}" for event in ("insert", "update", "delete")],
}


def triggers_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"Fair share's usage triggers are written for PostgreSQL and SQLite, not {vendor}.")
    for statement in STATEMENTS[vendor]:
        schema_editor.execute(statement, params=None)


def triggers_drop(apps, schema_editor):
    for statement in DROP.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0015_library"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageHour",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hour", models.DateTimeField(help_text="The hour (UTC) the jobs were queued in.")),
                ("milliseconds", models.BigIntegerField(default=0)),
                (
                    "owner",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("owner", "hour"), name="usagehour_owner_hour")],
            },
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
