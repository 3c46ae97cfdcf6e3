"""CF113 safety.drop-column: dropping a column loses its data and breaks clients that still read it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType

from confiture_core.lint.astutil import alter_cmds
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table


class DropColumn(LintRule):
    code = "CF113"
    name = "safety.drop-column"
    groups = ("safety",)
    squawk = "ban-drop-column"
    summary = "Dropping a column loses its data and breaks clients that still read it"
    explanation = (
        "The data is gone for good and application code still selecting the column fails.\n\nInstead: "
        "stop reading and writing the column in a release first, then drop it in a later migration and "
        "mark the statement with `-- confiture: noqa CF113` once reviewed."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DropColumn})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(statement.node):
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield self.violation(
                    statement, ctx,
                    f"dropping column {table}.{cmd.name} deletes its data and breaks code that still uses it; "
                    "remove all uses in an earlier release, then drop it (noqa CF113 once reviewed)")
