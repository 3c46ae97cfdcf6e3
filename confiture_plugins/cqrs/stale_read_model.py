"""CF405 cqrs.stale-read-model: a read model's write table changes and the migration does not refresh it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ObjectType

from confiture_core.lint.astutil import alter_cmds, created_table, table_key
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import SETTINGS, Names, called_functions, names

#: ``ALTER TABLE`` commands that change what a read model computes from the table's rows.
_CHANGING = frozenset({AlterTableType.AT_AddColumn, AlterTableType.AT_DropColumn,
                       AlterTableType.AT_AlterColumnType, AlterTableType.AT_ColumnDefault})
_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.TruncateStmt, ast.CopyStmt)


def _changed_write_tables(node: ast.Node, conv: Names) -> Iterator[tuple[str, str, int | None]]:
    """``(write table, what changes, location)`` for each write table a statement changes."""
    rels: list[tuple[ast.RangeVar, str]] = []
    if isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        if any(c.subtype in _CHANGING for c in alter_cmds(node)):
            rels.append((node.relation, "ALTER TABLE"))
    elif isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_COLUMN and node.relation:
        rels.append((node.relation, "RENAME COLUMN"))
    elif isinstance(node, ast.TruncateStmt):
        rels += [(r, "TRUNCATE") for r in node.relations or () if isinstance(r, ast.RangeVar)]
    elif isinstance(node, ast.CopyStmt):
        if node.is_from and node.relation is not None:
            rels.append((node.relation, "COPY FROM"))
    elif isinstance(node, ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt) \
            and node.relation is not None:
        rels.append((node.relation, type(node).__name__.removesuffix("Stmt").upper()))
    for rv, what in rels:
        key = table_key(rv)
        if key is not None and conv.is_write(key[1]):
            yield key[1], what, rv.location


def _refreshed(statement: Statement, table: str, conv: Names) -> bool:
    """Whether a statement refreshes, (re)creates or drops the read model ``table``."""
    node = statement.node
    if not set(conv.refresh_functions(table)).isdisjoint(called_functions(node)):
        return True
    if isinstance(node, ast.RefreshMatViewStmt):
        key = table_key(node.relation)
        return key is not None and key[1] == table
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
        return any(isinstance(o, tuple) and o and getattr(o[-1], "sval", None) == table for o in node.objects or ())
    key = created_table(node)
    return key is not None and key[1] == table


class StaleReadModel(LintRule):
    code = "CF405"
    settings = SETTINGS
    name = "cqrs.stale-read-model"
    groups = ("cqrs",)
    severity = "warning"
    default_enabled = False
    summary = "A migration changes a write table that a read model is built from without refreshing the read model"
    explanation = (
        "A table-backed read model (`tv_user`) is refreshed when the application's mutations call its refresh "
        "function. A migration is not one of them: a backfill (`UPDATE tb_user ...`), a new default, a column "
        "dropped, retyped or renamed changes what the read model should hold, and until something calls the "
        "refresh, clients read the old shape and the old values.\n\nInstead: call the read model's refresh "
        "function later in the same migration (`SELECT refresh_tv_user();`), or recreate it. The read models "
        "of a write table are the one of the same entity (`tb_user`: `tv_user`) and those listed in "
        "`[lint.cqrs] sources`. A warning: a trigger on the write table may already refresh it (then ignore "
        "the rule for that table with `-- confiture: noqa CF405`)."
    )
    node_types = (ast.AlterTableStmt, ast.RenameStmt, *_DML)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        conv = names(ctx.config, ctx.state)
        reported: set[str] = ctx.state.setdefault("cqrs.stale", set())
        for write_table, what, location in _changed_write_tables(statement.node, conv):
            later = ctx.statements[ctx.index + 1:]
            stale = [m for m in conv.read_tables_of(write_table)
                     if m not in reported and not any(_refreshed(s, m, conv) for s in later)]
            if not stale:
                continue
            reported.update(stale)  # once per read model and file
            calls = ", ".join(f"SELECT {conv.refresh_functions(m)[0]}()" for m in stale)
            yield self.violation(
                statement, ctx,
                f"{what} {write_table} changes what the read model(s) {', '.join(stale)} hold, and nothing later "
                f"in this migration refreshes them; clients read stale rows until then: add {calls} after it",
                location=location)
