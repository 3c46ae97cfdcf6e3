"""The ``audit`` plugin: an audit trail of migrations and batched backfills.

Loaded through the entry point ``audit`` in group ``confiture``.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from confiture_core.errors import ConfigError
from confiture_core.hookspecs import Backfill, BackfillBatch, HookContext, hookimpl


def _settings(context_config: Any) -> dict[str, Any]:
    section: dict[str, Any] = context_config.section("plugins").get("audit", {})
    return section


@hookimpl
def confiture_configure(config: Any) -> None:
    """Check ``[plugins.audit]`` once, before anything touches the database."""
    s = _settings(config)
    for entry in s.get("backfill", []):
        missing = {"version", "table", "column", "expression"} - set(entry)
        if missing:
            raise ConfigError(f"[plugins.audit] backfill entry {entry!r} lacks {', '.join(sorted(missing))}")


@hookimpl
def confiture_before_migrate(context: HookContext) -> None:
    """Create the audit table (committed with the run's first short transaction)."""
    table = sql.Identifier(_settings(context.config).get("table", "confiture_audit"))
    context.connection.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, version numeric NOT NULL, name text NOT NULL, "
        "direction text NOT NULL, applied_by text NOT NULL DEFAULT current_user, "
        "applied_at timestamptz NOT NULL DEFAULT now())").format(table))


@hookimpl
def confiture_after_migration(context: HookContext) -> None:
    """One audit row per migration, in the migration's transaction."""
    m = context.migration
    assert m is not None
    table = sql.Identifier(_settings(context.config).get("table", "confiture_audit"))
    context.connection.execute(sql.SQL("INSERT INTO {} (version, name, direction) VALUES (%s, %s, %s)").format(table),
                               [m.version, m.name, context.direction])


@hookimpl
def confiture_backfill(context: HookContext) -> list[Backfill]:
    """Batched backfills configured for this migration (keyset on ``ctid``-free primary key ``id``)."""
    m = context.migration
    assert m is not None
    s = _settings(context.config)
    size = int(s.get("batch_size", 500))
    out: list[Backfill] = []
    for entry in s.get("backfill", []):
        if int(entry["version"]) != m.version:
            continue
        table, column = sql.Identifier(entry["table"]), sql.Identifier(entry["column"])
        expression = sql.SQL(entry["expression"])

        def batch(b: BackfillBatch, table: Any = table, column: Any = column, expression: Any = expression) -> int:
            last = b.state.get("last_id", 0)
            got = b.connection.execute(sql.SQL(
                "WITH picked AS (SELECT id FROM {t} WHERE id > %s ORDER BY id LIMIT %s) "
                "UPDATE {t} SET {c} = {e} FROM picked WHERE {t}.id = picked.id RETURNING {t}.id").format(
                t=table, c=column, e=expression), [last, size]).fetchall()
            if got:
                b.state["last_id"] = max(r[0] for r in got)
            return len(got)

        out.append(Backfill(f"{entry['table']}.{entry['column']}", batch))
    return out
