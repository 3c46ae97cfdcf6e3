"""CF206 conventions.robust-statements: outside a transaction, DDL that cannot be re-run after a failure."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ObjectType, OnCommitAction

from confiture_core.lint.astutil import alter_cmds, transactions
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

_IF_EXISTS = "add IF EXISTS"
_IF_NOT_EXISTS = "add IF NOT EXISTS"
_DROPS_CHECKED = frozenset({ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_TYPE})


class RobustStatements(LintRule):
    code = "CF206"
    name = "conventions.robust-statements"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    squawk = "prefer-robust-stmts"
    summary = "A statement outside a transaction fails when the migration is run again after a partial failure"
    explanation = (
        "A migration that fails half-way is fixed and run again. Inside a transaction that is safe: "
        "PostgreSQL rolls the whole transaction back (Tutorial 3.4, \"Transactions\"), so Confiture, which "
        "wraps each migration in one, reports nothing in such files - squawk reports them unless told the "
        "file runs in a transaction. In a `-- confiture: no-transaction` migration (or after a COMMIT) "
        "each statement commits on its own, and a re-run stops at the first one that already happened: "
        "`CREATE TABLE`/`CREATE INDEX` of an existing object, `DROP` of a missing one, `ADD COLUMN` of an "
        "existing column, `ADD CONSTRAINT` of an existing name, `RENAME` of a name already renamed. "
        "`CREATE INDEX CONCURRENTLY` always runs "
        "outside a transaction and, when interrupted, leaves an INVALID index behind. Off by default.\n\n"
        "Instead: `CREATE TABLE IF NOT EXISTS`, `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, `DROP ... IF "
        "EXISTS`, `ADD COLUMN IF NOT EXISTS`, `DROP COLUMN/CONSTRAINT IF EXISTS`, and `DROP CONSTRAINT IF "
        "EXISTS` before an `ADD CONSTRAINT` of the same name; or keep the migration in one transaction."
    )
    node_types = (ast.AlterTableStmt, ast.IndexStmt, ast.CreateStmt, ast.DropStmt, ast.RenameStmt)
    _RENAMES = frozenset({ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABCONSTRAINT,
                          ObjectType.OBJECT_INDEX})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        outside = transactions(ctx)[statement.index] is None
        dropped: set[str] = ctx.state.setdefault("dropped", set())
        if isinstance(node, ast.IndexStmt):
            if node.idxname and not node.if_not_exists and (node.concurrent or outside):
                yield self._finding(statement, ctx, f"CREATE INDEX {node.idxname}", _IF_NOT_EXISTS)
            return
        if isinstance(node, ast.AlterTableStmt):
            for cmd in alter_cmds(node):
                fix = self._alter_fix(cmd, dropped)
                if fix and outside:
                    yield self._finding(statement, ctx, "ALTER TABLE", fix)
            return
        if not outside:
            return
        if isinstance(node, ast.RenameStmt):
            # IF EXISTS names the relation: it makes a table or index rename re-runnable, not a column's
            whole = node.renameType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX)
            if node.renameType in self._RENAMES and not (whole and node.missing_ok):
                yield self._finding(statement, ctx, "RENAME", "the old name is gone after it; check that it "
                                    "still exists first (a DO block on the catalog), or run it in a transaction")
            return
        if isinstance(node, ast.CreateStmt) and not node.if_not_exists and node.relation is not None:
            if node.relation.relpersistence == "t" and node.oncommit == OnCommitAction.ONCOMMIT_DROP:
                return
            yield self._finding(statement, ctx, f"CREATE TABLE {node.relation.relname}", _IF_NOT_EXISTS)
        elif isinstance(node, ast.DropStmt) and not node.missing_ok and node.removeType in _DROPS_CHECKED:
            yield self._finding(statement, ctx, "DROP", _IF_EXISTS)

    @staticmethod
    def _alter_fix(cmd: ast.AlterTableCmd, dropped: set[str]) -> str | None:
        """What makes one ``ALTER TABLE`` command re-runnable, or ``None`` when it already is."""
        subtype = cmd.subtype
        if subtype == AlterTableType.AT_DropConstraint:
            if cmd.name:
                dropped.add(cmd.name)
            return None if cmd.missing_ok else _IF_EXISTS
        if subtype == AlterTableType.AT_AddColumn:
            return None if cmd.missing_ok else _IF_NOT_EXISTS
        if subtype == AlterTableType.AT_DropColumn:
            return None if cmd.missing_ok else _IF_EXISTS
        if subtype == AlterTableType.AT_AddConstraint:
            name = cmd.def_.conname if isinstance(cmd.def_, ast.Constraint) else None
            if name and name in dropped:
                return None
            return "drop the constraint IF EXISTS first, or run it in a transaction"
        return None

    def _finding(self, statement: Statement, ctx: LintContext, what: str, fix: str) -> Violation:
        return self.violation(
            statement, ctx,
            f"{what} runs outside a transaction: if the migration fails after it, running it again fails here; "
            f"{fix}")
