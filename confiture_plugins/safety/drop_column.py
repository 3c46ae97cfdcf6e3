"""CF113 safety.drop-column: dropping a column loses its data and breaks clients that still read it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from confiture_core.lint.astutil import alter_cmds, display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table

_OTHER_KINDS = {ObjectType.OBJECT_FOREIGN_TABLE: "foreign table", ObjectType.OBJECT_TYPE: "type"}


class DropColumn(LintRule):
    code = "CF113"
    name = "safety.drop-column"
    groups = ("safety",)
    squawk = "ban-drop-column"
    summary = "Dropping a column loses its data and breaks clients that still read it"
    explanation = (
        "The data is gone for good and application code still selecting the column fails.\n\nInstead: "
        "stop reading and writing the column in a release first, then drop it in a later migration and "
        "mark the statement with `-- confiture: noqa CF113` once reviewed. `ALTER FOREIGN TABLE ... DROP "
        "COLUMN` and `ALTER TYPE ... DROP ATTRIBUTE` (a composite type's field) are reported too."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DropColumn})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        if node.objtype in _OTHER_KINDS:  # a foreign table's column, a composite type's attribute
            table: str | None = f"{_OTHER_KINDS[node.objtype]} {display(table_key(node.relation))}"
        else:
            table = existing_table(node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(statement.node):
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield self.violation(
                    statement, ctx,
                    f"dropping column {table}.{cmd.name} deletes its data and breaks code that still uses it; "
                    "remove all uses in an earlier release, then drop it (noqa CF113 once reviewed)")
