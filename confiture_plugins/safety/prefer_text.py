"""CF123 safety.prefer-text: varchar(n) columns: prefer text with a CHECK on length."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import TYPED_SUBTYPES, typed_columns


class PreferText(LintRule):
    code = "CF123"
    name = "safety.prefer-text"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-text-field"
    summary = "varchar(n) columns: prefer text with a CHECK on length"
    explanation = (
        "`varchar(n)` is no faster than `text`, and changing n later needs an ACCESS EXCLUSIVE lock "
        "(and a rewrite when shrinking) (Data Types docs, 8.3 Character Types). `char(n)` is "
        "CF137.\n\nInstead: `text`, with `CHECK (length(col) <= n)` when a limit matters (a constraint "
        "can be replaced NOT VALID without a rewrite)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, tn, loc, t in typed_columns(statement.node, ctx):
            if t == "varchar" and tn.typmods:
                yield self.violation(
                    statement, ctx,
                    f"column {col} is varchar(n): changing n later takes an ACCESS EXCLUSIVE lock; use text "
                    "with CHECK (length(...) <= n)", location=loc)
