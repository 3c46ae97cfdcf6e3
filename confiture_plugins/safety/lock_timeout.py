"""CF120 safety.lock-timeout: a statement takes a strong lock with no lock_timeout set before it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import option_enabled, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table

#: The statement classes :func:`_strong_lock` may find a lock for.
_LOCKING_NODES: tuple[type[ast.Node], ...] = (
    ast.AlterTableStmt, ast.IndexStmt, ast.DropStmt, ast.TruncateStmt, ast.ClusterStmt, ast.RenameStmt,
    ast.CreateTrigStmt, ast.ReindexStmt, ast.VacuumStmt, ast.LockStmt, ast.RefreshMatViewStmt,
)

#: ``LOCK TABLE`` modes by number (PostgreSQL's ``lockdefs.h``).
_LOCK_MODES = {1: "ACCESS SHARE", 2: "ROW SHARE", 3: "ROW EXCLUSIVE", 4: "SHARE UPDATE EXCLUSIVE", 5: "SHARE",
               6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE"}


def _strong_lock(node: ast.Node, ctx: LintContext) -> str | None:
    """The lock a statement takes on an existing table, when it blocks writes (or reads)."""
    if isinstance(node, ast.AlterTableStmt):
        if node.objtype == ObjectType.OBJECT_TABLE and existing_table(node, ctx) is None:
            return None
        return "an ACCESS EXCLUSIVE lock (most ALTER TABLE forms)"
    if isinstance(node, ast.IndexStmt) and not node.concurrent:
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "a SHARE lock"
    if isinstance(node, ast.DropStmt) and not node.concurrent and node.removeType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW,
            ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_TRIGGER):
        return "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.TruncateStmt | ast.ClusterStmt):
        return "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.RenameStmt) and node.relation is not None:
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.CreateTrigStmt):
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "a SHARE ROW EXCLUSIVE lock"
    if isinstance(node, ast.ReindexStmt) and not option_enabled(node.params, "concurrently"):
        return "a SHARE lock and ACCESS EXCLUSIVE locks on the indexes"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and option_enabled(node.options, "full"):
        return "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.LockStmt):
        mode = _LOCK_MODES.get(node.mode or 8)
        keys = [k for k in map(table_key, node.relations or ()) if k is not None]
        if mode is None or (keys and all(ctx.table_created_earlier(*k) for k in keys)):
            return None
        return f"an explicit {mode} lock (LOCK TABLE)"
    if isinstance(node, ast.RefreshMatViewStmt) and not node.concurrent:
        return "an ACCESS EXCLUSIVE lock (REFRESH MATERIALIZED VIEW without CONCURRENTLY)"
    return None


class LockTimeout(LintRule):
    code = "CF120"
    name = "safety.lock-timeout"
    groups = ("safety",)
    severity = "warning"
    squawk = "require-lock-timeout, require-timeout-settings"
    summary = "A statement takes a strong lock with no lock_timeout set before it"
    explanation = (
        "A statement waiting for a lock holds its own place in the lock queue: while an `ALTER TABLE` "
        "waits behind a long-running query, every later query on that table waits behind the ALTER "
        "(PostgreSQL docs 13.3, \"Explicit Locking\"; `lock_timeout` in 20.11, \"Client Connection "
        "Defaults\"). Without `lock_timeout` that can stall the application for as long as the slowest "
        "transaction runs.\n\nInstead: `SET lock_timeout = '2s';` at the top of the migration (or "
        "`lock_timeout` in `confiture.toml`, which the runner sets before every migration) and retry on "
        "timeout. Reported once per file, on the first such statement. `LOCK TABLE` counts in every mode: "
        "it exists to wait for a lock, and in a migration's transaction it waits while holding the locks "
        "of the statements before it. `VACUUM (FULL false)` and `REINDEX (CONCURRENTLY true)` do not count "
        "(PostgreSQL reads the option's value; squawk reports any VACUUM)."
    )
    node_types = _LOCKING_NODES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if ctx.lock_timeout_set or ctx.state.get("reported"):
            return
        lock = _strong_lock(statement.node, ctx)
        if lock is None:
            return
        ctx.state["reported"] = True
        yield self.violation(
            statement, ctx,
            f"this statement takes {lock} with no lock_timeout set: while it waits behind a long query, all "
            "other queries on the table queue behind it; start the file with SET lock_timeout = '2s' (or set "
            "lock_timeout in confiture.toml) and retry on timeout")
