"""CF137 safety.char-field: char(n) columns pad with blanks; prefer text."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import TYPED_SUBTYPES, typed_columns


class CharField(LintRule):
    code = "CF137"
    name = "safety.char-field"
    groups = ("safety",)
    severity = "warning"
    squawk = "ban-char-field"
    summary = "char(n)/character columns pad values with blanks; prefer text"
    explanation = (
        "`char(n)` (`character(n)`, and `char` alone, which is `char(1)`) pads every value with spaces to "
        "n characters, ignores trailing spaces when comparing, and is no faster than `text` (Data Types "
        "docs, 8.3 Character Types: \"there is no performance advantage\"); changing n later takes an "
        "ACCESS EXCLUSIVE lock.\n\nInstead: `text` (or `varchar`), with `CHECK (length(col) = n)` when the "
        "length matters."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, _tn, loc, t in typed_columns(statement.node, ctx):
            if t in ("bpchar", "char", "character"):
                yield self.violation(
                    statement, ctx,
                    f"column {col} is char(n): values are blank-padded to the length and changing it locks the "
                    "table; use text (with a CHECK on length if needed)", location=loc)
