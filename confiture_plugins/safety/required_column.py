"""CF106 safety.required-column: ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import ADDED_COLUMN_SUBTYPES, added_columns, column_constraints, type_name
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SERIAL_TYPES, existing_table


class AddRequiredColumn(LintRule):
    code = "CF106"
    name = "safety.required-column"
    groups = ("safety",)
    squawk = "adding-required-field"
    summary = "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows"
    explanation = (
        "Existing rows get NULL in a new column, so `NOT NULL` without a `DEFAULT` makes the statement "
        "fail as soon as the table has a row (ALTER TABLE docs, ADD COLUMN).\n\nInstead: add the column "
        "nullable (or with a constant default), backfill it, then make it NOT NULL as CF105 explains."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = ADDED_COLUMN_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for _cmd, col in added_columns(statement.node):
            kinds = {c.contype for c in column_constraints(col)}
            if ConstrType.CONSTR_NOTNULL in kinds or ConstrType.CONSTR_PRIMARY in kinds:
                if kinds & {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}:
                    continue
                if type_name(col.typeName) in SERIAL_TYPES:
                    continue
                yield self.violation(
                    statement, ctx,
                    f"adding {col.colname} NOT NULL without a DEFAULT to {table} fails if the table has any row; "
                    "add it nullable or with a constant DEFAULT, backfill, then set NOT NULL safely")
