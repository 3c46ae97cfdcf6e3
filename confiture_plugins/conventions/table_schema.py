"""CF207 conventions.table-schema: table names in DDL should be schema-qualified."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


def _unqualified(node: ast.Node) -> list[tuple[str, int | None]]:
    """(name, location) of each table a CREATE/ALTER/DROP TABLE names without a schema (temporary tables
    excepted)."""
    if isinstance(node, ast.DropStmt):
        if node.removeType != ObjectType.OBJECT_TABLE:
            return []
        return [(strings(o)[-1], None) for o in node.objects or ()
                if isinstance(o, tuple | list) and len(strings(o)) == 1]
    rel: ast.RangeVar | None = None
    if isinstance(node, ast.CreateStmt):
        rel = node.relation
    elif isinstance(node, ast.CreateTableAsStmt) and node.objtype == ObjectType.OBJECT_TABLE and node.into:
        rel = node.into.rel
    elif isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        rel = node.relation
    if rel is None or rel.schemaname is not None or rel.relpersistence == "t":
        return []
    return [(rel.relname or "?", rel.location)]


class TableSchema(LintRule):
    code = "CF207"
    name = "conventions.table-schema"
    groups = ("conventions",)
    severity = "warning"
    default_enabled = False
    squawk = "require-table-schema"
    summary = "CREATE/ALTER/DROP TABLE names the table without its schema"
    explanation = (
        "An unqualified name is looked up in `search_path` (DDL docs, 5.10.3 \"The Schema Search Path\"): "
        "the same migration creates or alters a table in a different schema depending on the role's or "
        "database's setting, or on a schema that a later migration adds first in the path. Off by default: "
        "projects with one schema and a fixed search_path lose nothing.\n\nInstead: `public.my_table` "
        "(or the schema meant). Temporary tables are not reported (they live in pg_temp)."
    )
    node_types = (ast.CreateStmt, ast.CreateTableAsStmt, ast.AlterTableStmt, ast.DropStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for name, location in _unqualified(statement.node):
            yield self.violation(
                statement, ctx,
                f"{name} is not schema-qualified, so search_path decides which schema it lands in; write "
                "schema.table (e.g. public.my_table)", location=location)
