"""CF122 safety.prefer-bigint: integer columns can run out of values; prefer bigint."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import TYPED_SUBTYPES, typed_columns


class PreferBigint(LintRule):
    code = "CF122"
    name = "safety.prefer-bigint"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-bigint-over-int, prefer-big-int"
    summary = "integer columns can run out of values; prefer bigint"
    explanation = (
        "An `integer` key runs out at 2,147,483,647 (Data Types docs, 8.1 Numeric Types), and widening "
        "it later is a full table rewrite (CF110). Arrays (`integer[]`) hold elements of the same type and "
        "overflow at the same bound. `smallint` is CF136.\n\nInstead: `bigint` (8 bytes instead of 4)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES
    _SMALL = {"int4": "integer", "integer": "integer", "int": "integer", "serial": "serial", "serial4": "serial"}

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, tn, loc, t in typed_columns(statement.node, ctx):
            if t in self._SMALL:
                kind = self._SMALL[t] + ("[]" if tn.arrayBounds else "")
                yield self.violation(
                    statement, ctx,
                    f"column {col} is {kind} (32 bits per value): it can run out of values and widening "
                    "it later rewrites the table; use bigint", location=loc)
