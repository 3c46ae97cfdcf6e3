"""CF128 safety.drop-not-null: DROP NOT NULL lets NULLs in that clients may not expect."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.lint.astutil import alter_cmds
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class DropNotNull(LintRule):
    code = "CF128"
    name = "safety.drop-not-null"
    groups = ("safety",)
    severity = "warning"
    squawk = "ban-drop-not-null"
    summary = "DROP NOT NULL lets NULLs into a column that running clients read as never NULL"
    explanation = (
        "`ALTER COLUMN ... DROP NOT NULL` is quick (a catalog change under an ACCESS EXCLUSIVE lock, ALTER "
        "TABLE docs), but from then on the column may hold NULLs, and application code written when it "
        "could not (models with non-optional fields, `WHERE col = x` that silently skips NULLs, `NOT IN` "
        "subqueries) breaks on the first one. Putting the constraint back later scans the table (CF105).\n\n"
        "Instead: deploy code that copes with NULLs first, then drop the constraint in a later migration "
        "and mark it reviewed with `-- confiture: noqa CF128`."
        " Columns of a table created in the same file are not reported (nobody can rely on them yet), "
        "where squawk reports every DROP NOT NULL."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DropNotNull})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(statement.node):
            if cmd.subtype == AlterTableType.AT_DropNotNull:
                yield self.violation(
                    statement, ctx,
                    f"DROP NOT NULL on {table}.{cmd.name} lets NULLs in that running clients do not expect; deploy "
                    "code that handles NULLs first, then drop it (noqa CF128 once reviewed)")
