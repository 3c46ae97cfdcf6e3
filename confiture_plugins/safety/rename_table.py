"""CF112 safety.rename-table: renaming a table breaks every client still using the old name."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class RenameTable(LintRule):
    code = "CF112"
    name = "safety.rename-table"
    groups = ("safety",)
    squawk = "renaming-table"
    summary = "Renaming a table breaks every client still using the old name"
    explanation = (
        "Queries from application instances deployed before the rename fail until they are replaced.\n\n"
        "Instead: create the table under its new name (or rename it and leave a view with the old name), "
        "move the application over, then drop the old name."
    )
    node_types = (ast.RenameStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.RenameStmt)
        if node.renameType != ObjectType.OBJECT_TABLE:
            return
        key = table_key(node.relation)
        if key is not None and ctx.table_created_earlier(*key):
            return
        yield self.violation(
            statement, ctx,
            f"rename of table {display(key)} to {node.newname}: running application code that uses the old name "
            "breaks; rename in steps (new table or compatibility view, move the application, drop the old name)")
