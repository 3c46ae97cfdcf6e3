"""CF403 cqrs.read-model-key: a table-backed read model has no primary key."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from confiture_core.lint.astutil import alter_cmds, column_constraints, created_table, same_table, table_key
from confiture_core.lint.rule import LintContext, LintRule, TableKey, Violation
from confiture_core.sql import Statement

from ._shared import SETTINGS, names


def _primary_keys(node: ast.Node, key: TableKey) -> bool:
    """Whether ``node`` gives the table ``key`` a primary key (in its CREATE TABLE or an ALTER TABLE)."""
    constraints: list[ast.Constraint] = []
    if isinstance(node, ast.CreateStmt) and same_table(table_key(node.relation), key):
        for el in node.tableElts or ():
            if isinstance(el, ast.Constraint):
                constraints.append(el)
            elif isinstance(el, ast.ColumnDef):
                constraints.extend(column_constraints(el))
    elif isinstance(node, ast.AlterTableStmt) and same_table(table_key(node.relation), key):
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                constraints.append(cmd.def_)
            elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                constraints.extend(column_constraints(cmd.def_))
    return any(c.contype == ConstrType.CONSTR_PRIMARY for c in constraints)


class ReadModelKey(LintRule):
    code = "CF403"
    settings = SETTINGS
    name = "cqrs.read-model-key"
    groups = ("cqrs",)
    default_enabled = False
    summary = "A table-backed read model has no primary key"
    explanation = (
        "A refresh that updates the read model row by row (`INSERT ... ON CONFLICT (id) DO UPDATE`, or "
        "`DELETE ... WHERE id = ...` then `INSERT`) needs a key to find the row of each entity: without one "
        "`ON CONFLICT` has no arbiter (PostgreSQL docs, INSERT, \"ON CONFLICT Clause\") and a refresh run twice "
        "leaves duplicates that clients read as two entities. `CREATE TABLE tv_x AS SELECT` never creates "
        "one.\n\nInstead: declare the entity's key as the primary key, in `CREATE TABLE` or with `ALTER TABLE "
        "tv_x ADD PRIMARY KEY (id)` in the same migration."
    )
    node_types = (ast.CreateStmt, ast.CreateTableAsStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        key = created_table(node)
        if key is None or not names(ctx.config, ctx.state).is_read_table(key[1]):
            return
        if isinstance(node, ast.CreateStmt) and (node.relation is None or node.relation.relpersistence == "t"
                                                 or node.partbound is not None):
            return
        if isinstance(node, ast.CreateTableAsStmt) and node.objtype != ObjectType.OBJECT_TABLE:
            return  # a materialized view: REFRESH MATERIALIZED VIEW rebuilds it whole
        if any(_primary_keys(s.node, key) for s in ctx.statements[ctx.index:]):
            return
        yield self.violation(
            statement, ctx,
            f"read model {key[1]} has no primary key: its refresh cannot upsert one row per entity and a refresh "
            f"run twice leaves duplicates; add PRIMARY KEY on the entity's key (ALTER TABLE {key[1]} ADD PRIMARY "
            "KEY (id) after CREATE TABLE ... AS)")
