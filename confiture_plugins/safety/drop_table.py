"""CF114 safety.drop-table: dropping a table loses its data and breaks clients that still use it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class DropTable(LintRule):
    code = "CF114"
    name = "safety.drop-table"
    groups = ("safety",)
    squawk = "ban-drop-table"
    summary = "Dropping a table loses its data and breaks clients that still use it"
    explanation = (
        "`DROP TABLE` deletes the data and fails every query still using the table.\n\nInstead: stop "
        "using the table in a release first (or rename it aside and keep it for a while), then drop it."
    )
    node_types = (ast.DropStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropStmt)
        if node.removeType != ObjectType.OBJECT_TABLE:
            return
        for obj in node.objects or ():
            parts = strings(obj)
            if not parts:
                continue
            schema, table = (parts[-2] if len(parts) > 1 else None), parts[-1]
            if ctx.table_created_earlier(schema, table):
                continue
            yield self.violation(
                statement, ctx,
                f"dropping table {'.'.join(parts)} deletes its data and breaks code that still uses it; stop "
                "using it in an earlier release, then drop it (noqa CF114 once reviewed)")
