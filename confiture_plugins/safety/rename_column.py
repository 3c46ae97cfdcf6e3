"""CF111 safety.rename-column: renaming a column breaks every client still using the old name."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class RenameColumn(LintRule):
    code = "CF111"
    name = "safety.rename-column"
    groups = ("safety",)
    squawk = "renaming-column"
    summary = "Renaming a column breaks every client still using the old name"
    explanation = (
        "The rename itself is quick, but application instances deployed before it still query the old "
        "name and fail until they are replaced.\n\nInstead: add the new column, write both, backfill, "
        "move readers, then drop the old column in a later release (or expose the new name through a "
        "view)."
    )
    node_types = (ast.RenameStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.RenameStmt)
        if node.renameType != ObjectType.OBJECT_COLUMN or node.relationType != ObjectType.OBJECT_TABLE:
            return
        key = table_key(node.relation)
        if key is not None and ctx.table_created_earlier(*key):
            return
        yield self.violation(
            statement, ctx,
            f"rename of column {display(key)}.{node.subname} to {node.newname}: running application code "
            "that uses the old name breaks; add the new column, migrate readers and writers, then drop the old one")
