"""CF204 conventions.sensitive-column: a column name suggests a secret stored in clear text."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import ADDED_COLUMN_SUBTYPES, defined_columns, display, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

DEFAULT_SENSITIVE = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "ssn",
                     "credit_card", "card_number")


DEFAULT_ALLOWED_SUFFIXES = ("_hash", "_hashed", "_digest", "_encrypted", "_enc", "_ciphertext", "_id",
                            "_expires_at", "_at")


class SensitiveColumn(LintRule):
    code = "CF204"
    name = "conventions.sensitive-column"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    summary = "A column name suggests it stores a secret in clear text"
    explanation = (
        "Columns named like `password`, `api_key` or `token` tend to hold secrets that then appear in "
        "backups, replicas, logs and exports.\n\nInstead: store a hash (`password_hash`, with bcrypt/"
        "argon2 computed by the application) or an encrypted value (`..._encrypted`), or keep the "
        "secret out of the database. Words and allowed suffixes are set in `[lint.conventions]` "
        "(`sensitive_words`, `sensitive_allowed_suffixes`)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = ADDED_COLUMN_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        words = tuple(str(w).lower() for w in ctx.config.get("sensitive_words", DEFAULT_SENSITIVE))
        allowed = tuple(str(w).lower() for w in ctx.config.get("sensitive_allowed_suffixes",
                                                                 DEFAULT_ALLOWED_SUFFIXES))
        node = statement.node
        table = display(table_key(node.relation)) if isinstance(node, ast.CreateStmt | ast.AlterTableStmt) else "?"
        for col in defined_columns(node):
            name = (col.colname or "").lower()
            hit = next((w for w in words if w in name), None)
            if hit is None or name.endswith(allowed):
                continue
            yield self.violation(
                statement, ctx,
                f"column {table}.{col.colname} looks like it stores a {hit} in clear text, which then leaks into "
                "backups, replicas and logs; store a hash or an encrypted value (and name the column "
                "..._hash / ..._encrypted)",
                location=col.location if col.location is not None else None)
