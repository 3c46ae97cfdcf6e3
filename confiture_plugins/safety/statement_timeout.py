"""CF133 safety.statement-timeout: schema changes with no statement_timeout set before them."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

#: Statements that are not schema changes (no lock on shared objects worth bounding), by class name.
_QUICK = frozenset({
    "TransactionStmt", "VariableSetStmt", "VariableShowStmt", "SelectStmt", "InsertStmt", "UpdateStmt",
    "DeleteStmt", "MergeStmt", "CopyStmt", "ExplainStmt", "DoStmt", "CallStmt", "GrantStmt", "GrantRoleStmt",
    "PrepareStmt", "ExecuteStmt", "DeallocateStmt", "DeclareCursorStmt", "FetchStmt", "ClosePortalStmt",
    "ListenStmt", "UnlistenStmt", "NotifyStmt", "DiscardStmt", "CheckPointStmt", "ConstraintsSetStmt",
    "ReassignOwnedStmt", "SecLabelStmt", "PLAssignStmt", "ReturnStmt",
})


def _sets_timeout(node: ast.Node) -> bool | None:
    """``True``/``False`` when ``node`` sets ``statement_timeout`` to a limit / to none (0, DEFAULT,
    RESET), ``None`` when it does not touch it."""
    if not isinstance(node, ast.VariableSetStmt) or (node.name or "").lower() != "statement_timeout":
        return None
    args = node.args or ()
    if not args:
        return False  # RESET / SET ... TO DEFAULT
    val = getattr(args[0], "val", None)
    text = str(getattr(val, "sval", getattr(val, "ival", ""))).strip().lower()
    return text not in ("0", "0ms", "0s", "")


class StatementTimeout(LintRule):
    code = "CF133"
    name = "safety.statement-timeout"
    groups = ("safety",)
    severity = "warning"
    default_enabled = False
    squawk = "require-statement-timeout, require-timeout-settings"
    summary = "A schema change runs with no statement_timeout set before it"
    explanation = (
        "`statement_timeout` aborts any statement that runs longer than the limit, time waiting for locks "
        "included (PostgreSQL docs 20.11, \"Client Connection Defaults\"). Without it a migration whose DDL "
        "turns out slow - an index build, a rewrite, a validation scan, a lock that never comes - holds its "
        "locks for as long as it takes, with the application queued behind it. A value of 0 disables the "
        "limit, so `SET statement_timeout = 0` does not count.\n\n"
        "Instead: `SET statement_timeout = '5min';` (or the time the migration may take) at the top of the "
        "migration, or `statement_timeout` in `confiture.toml`, which the runner sets before every "
        "migration. Reported once per file, on the first schema change. Off by default because the linter "
        "cannot see the project's `statement_timeout` setting: select it (`--select CF133`) in projects "
        "that set the timeout in each migration."
    )

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        state = ctx.state
        if state.get("done"):
            return
        node = statement.node
        sets = _sets_timeout(node)
        if sets is not None:
            state["set"] = sets
            return
        if state.get("set") or type(node).__name__ in _QUICK:
            return
        if isinstance(node, ast.VacuumStmt) and not node.is_vacuumcmd:
            return  # ANALYZE
        state["done"] = True
        yield self.violation(
            statement, ctx,
            "this schema change runs with no statement_timeout: if it turns out slow or waits on a lock it holds "
            "the table for as long as it takes; start the file with SET statement_timeout = '5min' (or set "
            "statement_timeout in confiture.toml)")
