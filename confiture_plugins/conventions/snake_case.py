"""CF201 conventions.snake-case: names should be lower-case snake_case."""

from __future__ import annotations

import re
from collections.abc import Iterator

from confiture_core.lint.astutil import IDENTIFIER_NODES, IDENTIFIER_SUBTYPES, identifiers
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

_SNAKE = re.compile(r"^[a-z_][a-z0-9_]*$")


class SnakeCase(LintRule):
    code = "CF201"
    name = "conventions.snake-case"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    summary = "Names should be lower-case snake_case"
    explanation = (
        "A name with capitals or other characters must be double-quoted in every query forever "
        "(`\"UserId\"`), and unquoted uses silently refer to another (folded) name (SQL Syntax docs, "
        "4.1.1).\n\nInstead: lower-case letters, digits and underscores, starting with a letter or "
        "underscore."
    )
    node_types = IDENTIFIER_NODES
    alter_subtypes = IDENTIFIER_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for kind, ident, loc in identifiers(statement.node):
            if ident and not _SNAKE.match(ident):
                suggestion = re.sub(r"[^a-z0-9_]+", "_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", ident).lower())
                yield self.violation(
                    statement, ctx,
                    f"{kind} name {ident!r} is not snake_case, so it must be double-quoted in every query; "
                    f"rename it, e.g. {suggestion.strip('_') or 'snake_case'}", location=loc)
