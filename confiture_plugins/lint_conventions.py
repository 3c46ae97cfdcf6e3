"""Built-in lint rules, group ``conventions`` (CF2xx): schema naming and hygiene.

Off by default: turn them on with ``--select conventions`` or ``[lint] select =
["safety", "conventions"]``. Everything is read from the AST, so schema-qualified
and quoted names are handled as PostgreSQL handles them (a quoted ``"UserName"``
keeps its capitals, an unquoted ``UserName`` is folded to ``username``).

Settings, in ``[lint.conventions]``:

- ``sensitive_words``: substrings that make a column name look sensitive
  (default: password, passwd, secret, token, api_key, apikey, private_key, ssn,
  credit_card, card_number).
- ``sensitive_allowed_suffixes``: name endings that say the value is already
  protected (default: _hash, _hashed, _digest, _encrypted, _enc, _ciphertext, _id,
  _expires_at, _at).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.astutil import (
    ADDED_COLUMN_SUBTYPES,
    alter_cmds,
    column_constraints,
    defined_columns,
    display,
    strings,
    table_key,
)
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement

from .lint_safety import IDENTIFIER_NODES, IDENTIFIER_SUBTYPES, identifiers

_SNAKE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _same_table(a: TableKey | None, b: TableKey | None) -> bool:
    if a is None or b is None:
        return False
    return a[1] == b[1] and (a[0] is None or b[0] is None or a[0] == b[0])


def _is_plain_table(node: ast.CreateStmt) -> bool:
    """A permanent, non-partition, non-typed table (temporary tables and partitions are skipped)."""
    rel = node.relation
    return rel is not None and rel.relpersistence != "t" and node.partbound is None and node.ofTypename is None


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


def _has_pk(node: ast.CreateStmt) -> bool:
    for el in node.tableElts or ():
        if isinstance(el, ast.Constraint) and el.contype == ConstrType.CONSTR_PRIMARY:
            return True
        if isinstance(el, ast.ColumnDef) and any(
                c.contype == ConstrType.CONSTR_PRIMARY for c in column_constraints(el)):
            return True
    return False


def _pk_added_later(key: TableKey | None, statements: Sequence[Statement], start: int) -> bool:
    for s in statements[start + 1:]:
        node = s.node
        if isinstance(node, ast.AlterTableStmt) and _same_table(table_key(node.relation), key):
            for cmd in alter_cmds(node):
                if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                        and cmd.def_.contype == ConstrType.CONSTR_PRIMARY:
                    return True
                if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef) and any(
                        c.contype == ConstrType.CONSTR_PRIMARY for c in column_constraints(cmd.def_)):
                    return True
    return False


class PrimaryKey(LintRule):
    code = "CF202"
    name = "conventions.primary-key"
    groups = ("conventions",)
    default_enabled = False
    summary = "Every table should have a primary key"
    explanation = (
        "Without a primary key rows cannot be addressed reliably, logical replication cannot replicate "
        "UPDATE and DELETE (Logical Replication docs, 29.1.1 \"Replica Identity\"), and duplicates creep "
        "in.\n\nInstead: declare `PRIMARY KEY` in `CREATE TABLE` (or add one later in the same file). "
        "Temporary tables and partitions (which inherit their parent's key) are not reported."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateStmt)
        if not _is_plain_table(node) or node.inhRelations or _has_pk(node):
            return
        key = table_key(node.relation)
        if _pk_added_later(key, ctx.statements, ctx.index):
            return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no primary key: rows cannot be addressed reliably and logical replication "
            "cannot replicate its UPDATEs and DELETEs; add a PRIMARY KEY (e.g. id bigint GENERATED ALWAYS AS "
            "IDENTITY PRIMARY KEY)")


class TableComment(LintRule):
    code = "CF203"
    name = "conventions.table-comment"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    summary = "Every new table should be described with COMMENT ON TABLE in the same file"
    explanation = (
        "A comment stored in the catalog (COMMENT docs) travels with the schema: `\\d+`, schema "
        "browsers and generated docs show it.\n\nInstead: add `COMMENT ON TABLE t IS '...';` next to "
        "the `CREATE TABLE`."
    )
    node_types = (ast.CreateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.CreateStmt)
        if not _is_plain_table(node):
            return
        key = table_key(node.relation)
        for s in ctx.statements:
            c = s.node
            if isinstance(c, ast.CommentStmt) and c.objtype == ObjectType.OBJECT_TABLE and c.comment:
                parts = strings(c.object)
                if parts and _same_table((parts[-2] if len(parts) > 1 else None, parts[-1]), key):
                    return
        yield self.violation(
            statement, ctx,
            f"table {display(key)} has no COMMENT ON TABLE in this file; describe what a row is with "
            f"COMMENT ON TABLE {display(key)} IS '...'")


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


def _function_options(node: ast.Node) -> list[ast.DefElem]:
    if isinstance(node, ast.CreateFunctionStmt):
        return [o for o in node.options or () if isinstance(o, ast.DefElem)]
    if isinstance(node, ast.AlterFunctionStmt):
        return [o for o in node.actions or () if isinstance(o, ast.DefElem)]
    return []


class SecurityDefinerSearchPath(LintRule):
    code = "CF205"
    name = "conventions.security-definer-search-path"
    groups = ("conventions", "security")
    default_enabled = False
    summary = "SECURITY DEFINER function without a pinned search_path"
    explanation = (
        "A SECURITY DEFINER function runs with its owner's privileges. Unless its `search_path` is fixed, "
        "a caller can create objects in a schema earlier in their path (e.g. `pg_temp` or a writable "
        "schema) and have the function run them as the owner (CREATE FUNCTION docs, \"Writing SECURITY "
        "DEFINER Functions Safely\").\n\nInstead: add `SET search_path = pg_catalog, pg_temp` (and "
        "schema-qualify the objects used), or `SET search_path = ''`."
    )
    node_types = (ast.CreateFunctionStmt, ast.AlterFunctionStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        opts = _function_options(statement.node)
        definer = any(o.defname == "security" and isinstance(o.arg, ast.Boolean) and o.arg.boolval for o in opts)
        if not definer:
            return
        pinned = any(
            o.defname == "set" and isinstance(o.arg, ast.VariableSetStmt)
            and (o.arg.name or "").lower() == "search_path" for o in opts)
        if pinned:
            return
        node = statement.node
        fn = node.funcname if isinstance(node, ast.CreateFunctionStmt) else (
            node.func.objname if isinstance(node, ast.AlterFunctionStmt) and node.func is not None else ())
        yield self.violation(
            statement, ctx,
            f"SECURITY DEFINER function {'.'.join(strings(fn))} has no fixed search_path: a caller can shadow the "
            "objects it uses and run code with its owner's privileges; add SET search_path = pg_catalog, pg_temp")


RULES: Sequence[type[LintRule]] = (SnakeCase, PrimaryKey, TableComment, SensitiveColumn, SecurityDefinerSearchPath)


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The conventions rules (CF201-CF205), off by default."""
    return list(RULES)
