"""CF102 safety.concurrent-index-drop: DROP INDEX without CONCURRENTLY blocks reads and writes of the table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class ConcurrentIndexDrop(LintRule):
    code = "CF102"
    name = "safety.concurrent-index-drop"
    groups = ("safety",)
    squawk = "require-concurrent-index-deletion"
    summary = "DROP INDEX without CONCURRENTLY blocks reads and writes of the table"
    explanation = (
        "`DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table (PostgreSQL docs, DROP INDEX), "
        "so it waits for every running query on the table and blocks all new ones meanwhile.\n\n"
        "Instead: `DROP INDEX CONCURRENTLY`, alone in its migration (not in a transaction block)."
    )
    node_types = (ast.DropStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropStmt)
        if node.removeType != ObjectType.OBJECT_INDEX or node.concurrent:
            return
        names = ", ".join(".".join(strings(o)) for o in node.objects or ())
        yield self.violation(
            statement, ctx,
            f"DROP INDEX {names} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table, blocking "
            f"reads and writes; use DROP INDEX CONCURRENTLY in a migration of its own",
        )
