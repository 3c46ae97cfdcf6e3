"""CF105 safety.set-not-null: SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, NullTestType

from confiture_core.lint.astutil import alter_cmds, strings, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


def _is_not_null_check(expr: ast.Node | None) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``, else ``None``."""
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == NullTestType.IS_NOT_NULL \
            and isinstance(expr.arg, ast.ColumnRef):
        parts = strings(expr.arg.fields)
        return parts[-1] if parts else None
    return None


class SetNotNull(LintRule):
    code = "CF105"
    name = "safety.set-not-null"
    groups = ("safety",)
    squawk = "adding-not-nullable-field"
    summary = "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ALTER COLUMN ... SET NOT NULL` checks every row while holding an ACCESS EXCLUSIVE lock. Since "
        "PostgreSQL 12 the scan is skipped when a valid CHECK constraint proves the column has no NULLs "
        "(ALTER TABLE docs, SET/DROP NOT NULL).\n\nInstead (PostgreSQL 12+): "
        "`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`; `VALIDATE CONSTRAINT c` (a weaker SHARE "
        "UPDATE EXCLUSIVE lock); then `SET NOT NULL`; then `DROP CONSTRAINT c`. No finding is reported "
        "when such a validated check precedes SET NOT NULL in the same file. PostgreSQL 18 can also "
        "add `NOT NULL ... NOT VALID` constraints directly."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_AddConstraint, AlterTableType.AT_ValidateConstraint,
                                AlterTableType.AT_SetNotNull})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        key = table_key(node.relation)
        pending: dict[str, tuple[object, str]] = ctx.state.setdefault("pending", {})
        validated: set[tuple[object, str]] = ctx.state.setdefault("validated", set())
        tkey = key[1] if key else None
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype == ConstrType.CONSTR_CHECK:
                col = _is_not_null_check(cmd.def_.raw_expr)
                if col is not None:
                    if cmd.def_.skip_validation:
                        if cmd.def_.conname:
                            pending[cmd.def_.conname] = (tkey, col)
                    else:
                        validated.add((tkey, col))
            elif cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name in pending:
                validated.add(pending[cmd.name])
        table = existing_table(node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(node):
            if cmd.subtype != AlterTableType.AT_SetNotNull or cmd.name is None:
                continue
            if ctx.pg_version >= 12 and (tkey, cmd.name) in validated:
                continue
            if ctx.pg_version >= 12:
                fix = (f"first ADD CONSTRAINT ... CHECK ({cmd.name} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, "
                       "then SET NOT NULL (no scan on PostgreSQL 12+) and drop the check")
            else:
                fix = ("before PostgreSQL 12 no constraint avoids the scan: keep a validated "
                       f"CHECK ({cmd.name} IS NOT NULL) NOT VALID constraint instead of NOT NULL")
            yield self.violation(
                statement, ctx,
                f"SET NOT NULL on {table}.{cmd.name} scans every row under an ACCESS EXCLUSIVE lock that blocks "
                f"reads and writes; {fix}")
