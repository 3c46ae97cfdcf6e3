"""CF203 conventions.table-comment: every new table gets a COMMENT ON TABLE in the same file."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import display, is_plain_table, same_table, strings, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class TableComment(LintRule):
    code = "CF203"
    name = "conventions.table-comment"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    summary = "Every new table should be described with COMMENT ON TABLE in the same file"
    explanation = (
        "A comment stored in the catalog (COMMENT docs) travels with the schema: `\\d+`, schema "
        "browsers and generated docs show it.\n\nInstead: add `COMMENT ON TABLE t IS '...';` next to "
        "the `CREATE TABLE`."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateStmt)
        if not is_plain_table(node):
            return
        key = table_key(node.relation)
        for s in ctx.statements:
            c = s.node
            if isinstance(c, ast.CommentStmt) and c.objtype == ObjectType.OBJECT_TABLE and c.comment:
                parts = strings(c.object)
                if parts and same_table((parts[-2] if len(parts) > 1 else None, parts[-1]), key):
                    return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no COMMENT ON TABLE in this file; describe what a row is with "
            f"COMMENT ON TABLE {display(key)} IS '...'")
