"""CF110 safety.column-type-change: ALTER COLUMN TYPE usually rewrites the table and its indexes."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import CHANGED_TYPE_SUBTYPES, changed_column_types, type_name
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class ColumnTypeChange(LintRule):
    code = "CF110"
    name = "safety.column-type-change"
    groups = ("safety",)
    squawk = "changing-column-type"
    summary = "ALTER COLUMN TYPE usually rewrites the table and its indexes under an ACCESS EXCLUSIVE lock"
    explanation = (
        "Changing a column's type rewrites the table and rebuilds its indexes while holding an ACCESS "
        "EXCLUSIVE lock, unless the old type is binary-coercible to the new one (e.g. `varchar(n)` to "
        "`text` or a larger `varchar`) (ALTER TABLE docs, SET DATA TYPE and \"Notes\").\n\nInstead: add "
        "a new column, write both from the application, backfill in batches, then switch reads and drop "
        "the old column."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = CHANGED_TYPE_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd, col in changed_column_types(statement.node):
            yield self.violation(
                statement, ctx,
                f"changing the type of {table}.{cmd.name} to {type_name(col.typeName)} rewrites the table and "
                "its indexes under an ACCESS EXCLUSIVE lock (unless binary-coercible); add a new column, "
                "backfill it in batches and switch over instead")
