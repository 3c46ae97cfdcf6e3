"""CF136 safety.prefer-bigint-over-smallint: smallint columns run out of values quickly; prefer bigint."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import TYPED_SUBTYPES, typed_columns

_SMALL = {"int2": "smallint", "smallint": "smallint", "smallserial": "smallserial", "serial2": "smallserial"}


class PreferBigintOverSmallint(LintRule):
    code = "CF136"
    name = "safety.prefer-bigint-over-smallint"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-bigint-over-smallint, prefer-big-int"
    summary = "smallint columns run out of values at 32,767; prefer bigint"
    explanation = (
        "A `smallint` (or `smallserial`) holds at most 32,767 (Data Types docs, 8.1 Numeric Types), and "
        "widening it later rewrites the table under an ACCESS EXCLUSIVE lock (CF110). Arrays "
        "(`smallint[]`) overflow at the same bound.\n\nInstead: `bigint` (or `integer` where 2 bytes per "
        "row matter and the range is known to stay small)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, tn, loc, t in typed_columns(statement.node, ctx):
            if t in _SMALL:
                kind = _SMALL[t] + ("[]" if tn.arrayBounds else "")
                yield self.violation(
                    statement, ctx,
                    f"column {col} is {kind} (16 bits per value): it runs out at 32,767 and widening it later "
                    "rewrites the table; use bigint", location=loc)
