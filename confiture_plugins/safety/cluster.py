"""CF118 safety.cluster: CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class Cluster(LintRule):
    code = "CF118"
    name = "safety.cluster"
    groups = ("safety",)
    summary = "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`CLUSTER` rewrites the table in index order while holding an ACCESS EXCLUSIVE lock (CLUSTER "
        "docs).\n\nInstead: pg_repack (`--order-by`) outside migrations."
    )
    node_types = (ast.ClusterStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        yield self.violation(
            statement, ctx,
            "CLUSTER rewrites the whole table under an ACCESS EXCLUSIVE lock that blocks reads and writes; "
            "use pg_repack --order-by outside the migration")
