"""What a statement names (relations, functions, schemas), from its parse tree, and whether it destroys data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ObjectType
from pglast.visitors import Visitor

from ..sql import Statement


def destructive(node: ast.Node) -> str | None:
    """Why a statement removes data, judged from its parse tree, or ``None``."""
    if isinstance(node, ast.DropStmt) and node.removeType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_SCHEMA, ObjectType.OBJECT_MATVIEW):
        return "DROP " + {ObjectType.OBJECT_TABLE: "TABLE", ObjectType.OBJECT_SCHEMA: "SCHEMA",
                          ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW"}[node.removeType]
    if isinstance(node, ast.TruncateStmt):
        return "TRUNCATE"
    if isinstance(node, ast.DeleteStmt) and node.whereClause is None:
        return "DELETE without WHERE"
    if isinstance(node, ast.UpdateStmt) and node.whereClause is None:
        return "UPDATE without WHERE"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype == AlterTableType.AT_DropColumn:
                return "DROP COLUMN"
    return None


# Just before a statement: the oid of each relation it names (aligned with the input; an unqualified
# name is looked up along current_schemas(true), as PostgreSQL does), the tables of the named indexes,
# whether it calls a function defined outside pg_catalog, and which named schemas exist. Catalog reads
# only: no lock, no privilege check, so it cannot fail (and abort the dry run's transaction).
RESOLVE_SQL = """
WITH path AS (SELECT p.s, p.i FROM unnest(current_schemas(true)) WITH ORDINALITY AS p(s, i)),
     want AS (SELECT w.sch, w.rel, w.i FROM unnest(%(sch)s::text[], %(rel)s::text[]) WITH ORDINALITY AS w(sch, rel, i)),
     found AS (
       SELECT want.i, (SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                         LEFT JOIN path ON path.s = ns.nspname
                        WHERE c.relname = want.rel
                          AND (ns.nspname = want.sch OR (want.sch IS NULL AND path.i IS NOT NULL))
                        ORDER BY path.i LIMIT 1) AS oid
         FROM want)
SELECT
  coalesce((SELECT array_agg(found.oid ORDER BY found.i) FROM found), '{}'),
  coalesce((SELECT array_agg(x.indrelid::bigint) FROM pg_index x
             WHERE x.indexrelid::bigint IN (SELECT found.oid FROM found)), '{}'),
  EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = ANY(%(funcs)s::text[])
             AND p.pronamespace <> 'pg_catalog'::regnamespace),
  coalesce((SELECT array_agg(EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = u.s) ORDER BY u.i)
              FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS u(s, i)), '{}')
"""

_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                      ObjectType.OBJECT_INDEX, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE)


@dataclass
class Refs:
    """What a statement names, from its parse tree (see :func:`references`)."""

    relations: list[tuple[str, ...]] = field(default_factory=list)
    targets: list[tuple[str, ...]] = field(default_factory=list)  # what a destructive statement removes data from
    functions: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    opaque: bool = False  # runs code we cannot see (DO, CALL, EXECUTE, a Python migration)


class _RefVisitor(Visitor):
    def __init__(self, refs: Refs) -> None:
        super().__init__()
        self.refs = refs

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        rel = _range_var(node)
        if rel:
            self.refs.relations.append(rel)

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        parts = [getattr(p, "sval", None) for p in node.funcname or ()]
        if parts and parts[-1] and not (len(parts) > 1 and parts[0] == "pg_catalog"):
            self.refs.functions.append(str(parts[-1]))


def _name_parts(obj: Any) -> tuple[str, ...]:
    parts = obj if isinstance(obj, tuple | list) else (obj,)
    return tuple(str(p.sval) for p in parts if getattr(p, "sval", None))[-2:]


def _range_var(rel: Any) -> tuple[str, ...] | None:
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return (rel.schemaname, rel.relname) if rel.schemaname else (rel.relname,)
    return None


def references(statement: Statement) -> Refs:
    """The relations, functions and schemas a statement names (its parse tree; no database access)."""
    node = statement.node
    refs = Refs()
    if statement.sql.startswith("-- python migration") or isinstance(node, ast.DoStmt | ast.CallStmt
                                                                       | ast.ExecuteStmt):
        refs.opaque = True
        return refs
    _RefVisitor(refs)(node)
    if isinstance(node, ast.DropStmt):
        names = [_name_parts(o) for o in node.objects or ()]
        if node.removeType in _DROPPED_RELATIONS:
            refs.relations.extend(n for n in names if n)
            if node.removeType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW):
                refs.targets.extend(n for n in names if n)
        elif node.removeType == ObjectType.OBJECT_SCHEMA:
            refs.schemas.extend(n[-1] for n in names if n)
    elif isinstance(node, ast.TruncateStmt):
        refs.targets.extend(t for t in (_range_var(r) for r in node.relations or ()) if t)
    elif isinstance(node, ast.DeleteStmt | ast.UpdateStmt | ast.AlterTableStmt):
        t = _range_var(node.relation)
        if t and destructive(node):
            refs.targets.append(t)
    return refs


def target_of(node: ast.Node) -> str | None:
    """The relation a non-transactional statement names (for its "would take" lock)."""
    rel = getattr(node, "relation", None)
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return rel.relname if not rel.schemaname else f"{rel.schemaname}.{rel.relname}"
    if isinstance(node, ast.DropStmt) and node.objects:
        obj = node.objects[0]
        parts = [getattr(p, "sval", None) for p in (obj if isinstance(obj, tuple) else ())]
        return ".".join(p for p in parts if p) or None
    if isinstance(node, ast.VacuumStmt) and node.rels:
        vr = node.rels[0]
        if isinstance(vr, ast.VacuumRelation) and isinstance(vr.relation, ast.RangeVar):
            return vr.relation.relname
    return None


