"""CF116 safety.truncate-cascade: TRUNCATE ... CASCADE empties every referencing table too."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import DropBehavior

from confiture_core.lint.astutil import display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class TruncateCascade(LintRule):
    code = "CF116"
    name = "safety.truncate-cascade"
    groups = ("safety",)
    squawk = "ban-truncate-cascade"
    summary = "TRUNCATE ... CASCADE also empties every table that references these, recursively"
    explanation = (
        "`CASCADE` truncates all tables with foreign keys to the named ones, and theirs in turn (TRUNCATE "
        "docs), taking ACCESS EXCLUSIVE locks on all of them.\n\nInstead: name every table to empty "
        "explicitly, without CASCADE."
    )
    node_types = (ast.TruncateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.TruncateStmt)
        if node.behavior == DropBehavior.DROP_CASCADE:
            names = ", ".join(display(table_key(r)) for r in node.relations or () if isinstance(r, ast.RangeVar))
            yield self.violation(
                statement, ctx,
                f"TRUNCATE {names} CASCADE also empties every table referencing them, recursively; list the "
                "tables to truncate explicitly and drop CASCADE")
