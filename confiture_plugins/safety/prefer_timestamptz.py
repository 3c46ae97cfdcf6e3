"""CF124 safety.prefer-timestamptz: timestamp (without time zone) columns: prefer timestamptz."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import TYPED_SUBTYPES, typed_columns


class PreferTimestamptz(LintRule):
    code = "CF124"
    name = "safety.prefer-timestamptz"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-timestamp-tz"
    summary = "timestamp (without time zone) columns: prefer timestamptz"
    explanation = (
        "`timestamp` stores wall-clock time without a zone, so values from sessions with different "
        "TimeZone settings cannot be compared (Data Types docs, 8.5.1.3 Time Stamps).\n\nInstead: "
        "`timestamptz`, which stores an absolute instant."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, _tn, loc, t in typed_columns(statement.node, ctx):
            if t == "timestamp":
                yield self.violation(
                    statement, ctx,
                    f"column {col} is timestamp without time zone: instants from different time zones get "
                    "mixed up; use timestamptz", location=loc)
