"""CF105 safety.set-not-null: SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, NullTestType

from confiture_core.lint.astutil import alter_cmds, same_transaction, strings, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


def _column_of_helper(table: str, constraint: str) -> str | None:
    """The column a ``<column>_not_null`` or ``<table>_<column>_not_null`` constraint is named after."""
    stem = constraint[: -len("_not_null")] if constraint.endswith("_not_null") else ""
    if not stem:
        return None
    if stem.startswith(table + "_") and len(stem) > len(table) + 1:
        return stem[len(table) + 1:]
    return None if stem == table else stem


def _external_validates(ctx: LintContext, known: set[str]) -> tuple[set[tuple[str, str]], dict[str, list[int]]]:
    """VALIDATE CONSTRAINT of constraints not added in this file (added by an earlier migration).

    Returns the ``(table, column)`` pairs a ``<column>_not_null`` name points at, and, per table, the
    statement indexes of the others that the file later drops (the validate-then-drop helper pattern).
    """
    named: set[tuple[str, str]] = set()
    generic: dict[str, list[int]] = {}
    validates: list[tuple[str, str, int]] = []
    dropped: set[tuple[str, str]] = set()
    for st in ctx.statements:
        if not isinstance(st.node, ast.AlterTableStmt) or st.node.relation is None:
            continue
        table = st.node.relation.relname or ""
        for cmd in alter_cmds(st.node):
            if cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name and cmd.name not in known:
                validates.append((table, cmd.name, st.index))
            elif cmd.subtype == AlterTableType.AT_DropConstraint and cmd.name:
                dropped.add((table, cmd.name))
    for table, con, index in validates:
        column = _column_of_helper(table, con)
        if column is not None:
            named.add((table, column))
        elif (table, con) in dropped:
            generic.setdefault(table, []).append(index)
    return named, generic


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
        "(ALTER TABLE docs, SET/DROP NOT NULL).\n\nInstead (PostgreSQL 12+): in one migration "
        "`ADD CONSTRAINT c_not_null CHECK (c IS NOT NULL) NOT VALID`; in the next, `VALIDATE CONSTRAINT "
        "c_not_null` (a SHARE UPDATE EXCLUSIVE lock: reads and writes go on), `SET NOT NULL` (no scan) and "
        "`DROP CONSTRAINT c_not_null`. No finding is reported for that second migration: a SET NOT NULL "
        "after a VALIDATE CONSTRAINT of a constraint named `<column>_not_null` or `<table>_<column>_not_null`, "
        "or of one the file then drops, added by an earlier migration. Adding and validating the check in "
        "the same transaction does not help (the ADD's lock is held during the scan, see CF127), so that "
        "route only counts when a COMMIT separates them or the file runs without a transaction. Where "
        "squawk also asks for the DROP of a `<column>_not_null` check, this rule does not: PostgreSQL skips "
        "the scan whenever the validated check proves the column is not null. Before PostgreSQL 12 no "
        "constraint avoids the scan. PostgreSQL 18 adds named NOT NULL constraints: `ADD CONSTRAINT c NOT NULL col` "
        "scans like SET NOT NULL and is reported too; `ADD CONSTRAINT c NOT NULL col NOT VALID`, then "
        "`VALIDATE CONSTRAINT c` in a later migration, avoids the long lock."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_AddConstraint, AlterTableType.AT_ValidateConstraint,
                                AlterTableType.AT_SetNotNull})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        key = table_key(node.relation)
        state = ctx.state
        pending: dict[str, tuple[object, str, int]] = state.setdefault("pending", {})
        validated: set[tuple[object, str]] = state.setdefault("validated", set())
        tkey = key[1] if key else None
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype == ConstrType.CONSTR_CHECK and cmd.def_.conname:
                col = _is_not_null_check(cmd.def_.raw_expr)
                if col is not None and cmd.def_.skip_validation:
                    pending[cmd.def_.conname] = (tkey, col, ctx.index)
            elif cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name in pending:
                where, col, added_at = pending[cmd.name]
                if not same_transaction(ctx, added_at, ctx.index):
                    validated.add((where, col))
        table = existing_table(node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(node):
            d = cmd.def_
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(d, ast.Constraint) \
                    and d.contype == ConstrType.CONSTR_NOTNULL and not d.skip_validation:
                cols = ", ".join(strings(d.keys)) or "?"
                yield self.violation(
                    statement, ctx,
                    f"ADD CONSTRAINT ... NOT NULL {cols} on {table} scans every row under an ACCESS EXCLUSIVE lock "
                    "that blocks reads and writes; add it NOT VALID and VALIDATE CONSTRAINT it in a later migration "
                    "(PostgreSQL 18+)", location=d.location)
                continue
            if cmd.subtype != AlterTableType.AT_SetNotNull or cmd.name is None:
                continue
            if ctx.pg_version >= 12 and ((tkey, cmd.name) in validated or self._validated_before(ctx, tkey, cmd.name)):
                continue
            if ctx.pg_version >= 12:
                fix = (f"first ADD CONSTRAINT ... CHECK ({cmd.name} IS NOT NULL) NOT VALID, and in a later migration "
                       "VALIDATE CONSTRAINT it, then SET NOT NULL (no scan on PostgreSQL 12+) and drop the check")
            else:
                fix = ("before PostgreSQL 12 no constraint avoids the scan: keep a validated "
                       f"CHECK ({cmd.name} IS NOT NULL) NOT VALID constraint instead of NOT NULL")
            yield self.violation(
                statement, ctx,
                f"SET NOT NULL on {table}.{cmd.name} scans every row under an ACCESS EXCLUSIVE lock that blocks "
                f"reads and writes; {fix}")

    @staticmethod
    def _validated_before(ctx: LintContext, table: str | None, column: str) -> bool:
        """Whether an earlier statement validated a check added by an earlier migration for this column."""
        if table is None:
            return False
        state = ctx.state
        if "external" not in state:
            state["external"] = _external_validates(ctx, set(state.get("pending", {})))
        named, generic = state["external"]
        if (table, column) in named:
            return True
        earlier = [i for i in generic.get(table, []) if i < ctx.index]
        if earlier:  # one generic validate-then-drop covers one SET NOT NULL
            generic[table].remove(earlier[0])
            return True
        return False
