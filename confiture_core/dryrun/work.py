"""What work a statement does on a table's rows (rewrite, index build, validation, updates), from its parse tree."""

from __future__ import annotations

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..sql import parse_sql_text

#: work kinds whose duration grows with the table (their durations are predicted)
REWRITE, INDEX, VALIDATE, UPDATE, SCAN = "rewrite", "index", "validate", "update", "scan"

_REWRITE_CMDS = {AlterTableType.AT_AlterColumnType, AlterTableType.AT_SetAccessMethod}
_VALIDATE_CMDS = {AlterTableType.AT_ValidateConstraint, AlterTableType.AT_SetNotNull}
_SCANNING_CONSTRAINTS = {ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK}
_INDEX_CONSTRAINTS = {ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION}


def _name(rel: object) -> str | None:
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return rel.relname if not rel.schemaname or rel.schemaname == "public" else f"{rel.schemaname}.{rel.relname}"
    return None


def _alter_work(node: ast.AlterTableStmt) -> str | None:
    found: list[str] = []
    for cmd in node.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd):
            continue
        if cmd.subtype in _REWRITE_CMDS:
            found.append(REWRITE)
        elif cmd.subtype in _VALIDATE_CMDS:
            found.append(VALIDATE)
        elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            if any(isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_DEFAULT
                   for c in cmd.def_.constraints or ()):
                found.append(REWRITE)  # a volatile default rewrites (measured: the report's "rewritten" says)
        elif cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            c = cmd.def_
            if c.contype in _INDEX_CONSTRAINTS and not c.indexname:
                found.append(INDEX)
            elif c.contype in _SCANNING_CONSTRAINTS and not c.skip_validation:
                found.append(VALIDATE)
    for kind in (REWRITE, INDEX, VALIDATE):
        if kind in found:
            return kind
    return None


def work_of(node: ast.Node) -> tuple[str, str] | None:
    """``(work kind, table)`` for a statement whose duration grows with a table's rows, else ``None``.

    Kinds: ``rewrite`` (ALTER COLUMN TYPE, ADD COLUMN with a default, SET ACCESS METHOD,
    CLUSTER, VACUUM FULL, REFRESH MATERIALIZED VIEW), ``index`` (CREATE INDEX, ADD PRIMARY
    KEY/UNIQUE), ``validate`` (ADD FOREIGN KEY/CHECK without NOT VALID, VALIDATE CONSTRAINT,
    SET NOT NULL), ``update`` (UPDATE, DELETE, INSERT ... SELECT, MERGE). PostgreSQL docs,
    "ALTER TABLE" (Notes: which forms rewrite or scan the table).
    """
    if isinstance(node, ast.AlterTableStmt):
        kind = _alter_work(node)
        table = _name(node.relation)
        return (kind, table) if kind and table else None
    if isinstance(node, ast.IndexStmt):
        table = _name(node.relation)
        return (INDEX, table) if table else None
    if isinstance(node, ast.UpdateStmt | ast.DeleteStmt | ast.MergeStmt):
        table = _name(node.relation)
        return (UPDATE, table) if table else None
    if isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt) \
            and node.selectStmt.fromClause:
        table = _name(node.relation)
        return (UPDATE, table) if table else None
    if isinstance(node, ast.ClusterStmt):
        table = _name(node.relation)
        return (REWRITE, table) if table else None
    if isinstance(node, ast.RefreshMatViewStmt):
        table = _name(node.relation)
        return (REWRITE, table) if table else None
    return None


def first_node(text: str) -> ast.Node | None:
    """The parse tree of the first statement of ``text`` (a statement as a report keeps it); ``None`` when it does
    not parse or holds none."""
    try:
        statements = parse_sql_text(text).statements
    except Exception:
        return None
    return statements[0].node if statements else None


def foreign_key_parent_of(node: ast.Node) -> str | None:
    """The referenced table of the first foreign key ``node`` adds (:func:`added_foreign_keys`), ``None`` when it
    adds none."""
    keys = added_foreign_keys(node)
    return keys[0][2] if keys else None


def added_foreign_keys(node: ast.Node) -> list[tuple[str, list[str], str, list[str]]]:
    """The foreign keys an ``ALTER TABLE ... ADD [CONSTRAINT] FOREIGN KEY`` adds: (table, columns, referenced
    table, referenced columns — empty when the statement names none: the primary key)."""
    out: list[tuple[str, list[str], str, list[str]]] = []
    if not isinstance(node, ast.AlterTableStmt):
        return out
    table = _name(node.relation)
    for cmd in node.cmds or ():
        c = getattr(cmd, "def_", None)
        if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype == AlterTableType.AT_AddConstraint \
                and isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN:
            parent = _name(c.pktable)
            if table and parent:
                out.append((table, [str(a.sval) for a in c.fk_attrs or ()], parent,
                            [str(a.sval) for a in c.pk_attrs or ()]))
    return out
