"""CF121 safety.prefer-identity: serial columns: prefer GENERATED ... AS IDENTITY."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SERIAL_TYPES, TYPED_SUBTYPES, typed_columns


class PreferIdentity(LintRule):
    code = "CF121"
    name = "safety.prefer-identity"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-identity"
    summary = "serial columns: prefer GENERATED ... AS IDENTITY"
    explanation = (
        "`serial` creates a separately owned sequence with its own permissions and odd behaviour on "
        "copy and dump; identity columns are the SQL-standard replacement (CREATE TABLE docs, "
        "GENERATED ... AS IDENTITY).\n\nInstead: `id bigint GENERATED ALWAYS AS IDENTITY`."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, _tn, loc, t in typed_columns(statement.node, ctx):
            if t in SERIAL_TYPES:
                yield self.violation(
                    statement, ctx,
                    f"column {col} is {t}: serial's sequence has its own owner and permissions; use "
                    f"bigint GENERATED ALWAYS AS IDENTITY instead", location=loc)
