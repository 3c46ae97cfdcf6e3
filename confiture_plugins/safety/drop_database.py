"""CF115 safety.drop-database: DROP DATABASE in a migration destroys a whole database."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class DropDatabase(LintRule):
    code = "CF115"
    name = "safety.drop-database"
    groups = ("safety",)
    squawk = "ban-drop-database"
    summary = "DROP DATABASE in a migration destroys a whole database"
    explanation = (
        "`DROP DATABASE` removes the database and everything in it, irrecoverably (DROP DATABASE docs).\n\n"
        "Instead: remove the statement; dropping a database is an operations task done by hand."
    )
    node_types = (ast.DropdbStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropdbStmt)
        yield self.violation(
            statement, ctx,
            f"DROP DATABASE {node.dbname} destroys every table and row in it; do this by hand, not in a migration")
