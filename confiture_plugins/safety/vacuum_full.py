"""CF117 safety.vacuum-full: VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import option_enabled
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class VacuumFull(LintRule):
    code = "CF117"
    name = "safety.vacuum-full"
    groups = ("safety",)
    summary = "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`VACUUM FULL` copies the whole table and its indexes while holding an ACCESS EXCLUSIVE lock "
        "(VACUUM docs), blocking reads and writes for the duration.\n\nInstead: plain `VACUUM` (no "
        "blocking), or an online tool such as pg_repack / pg_squeeze outside migrations."
    )
    node_types = (ast.VacuumStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.VacuumStmt)
        if node.is_vacuumcmd and option_enabled(node.options, "full"):
            yield self.violation(
                statement, ctx,
                "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock that blocks reads and writes; "
                "use plain VACUUM, or pg_repack outside the migration")
