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

# Just before a statement, from the names it uses: each relation's oid, name and kind (as RESOLVE_SQL),
# then what the statement may touch without naming it: the partitions / inheritance children of
# the named tables, the table of each named index, the indexes of all these tables, their sequences
# (serial / identity, or a column default's nextval), the tables at the other end of their foreign keys
# (and those tables' indexes), whether a user trigger or rule fires on them.
# Catalog reads only (no lock): linear in what the statement names, whatever the run did before.
CONTEXT_SQL = """
WITH RECURSIVE path AS (SELECT p.s, p.i FROM unnest(current_schemas(true)) WITH ORDINALITY AS p(s, i)),
     want AS (SELECT w.sch, w.rel, w.i FROM unnest(%(sch)s::text[], %(rel)s::text[]) WITH ORDINALITY AS w(sch, rel, i)),
     found AS MATERIALIZED (
       SELECT want.i, (SELECT c.oid FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                         LEFT JOIN path ON path.s = ns.nspname
                        WHERE c.relname = want.rel
                          AND (ns.nspname = want.sch OR (want.sch IS NULL AND path.i IS NOT NULL))
                        ORDER BY path.i LIMIT 1) AS oid
         FROM want),
     named AS MATERIALIZED (SELECT ARRAY(SELECT found.oid FROM found WHERE found.oid IS NOT NULL) AS a),
     kids(oid) AS (SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = ANY((SELECT named.a FROM named)::oid[])
                   UNION SELECT i.inhrelid FROM pg_inherits i JOIN kids ON i.inhparent = kids.oid),
     tabs AS MATERIALIZED (
       SELECT ARRAY(SELECT unnest(named.a) FROM named UNION SELECT kids.oid FROM kids
                    UNION SELECT x.indrelid FROM pg_index x
                     WHERE x.indexrelid = ANY((SELECT named.a FROM named)::oid[])) AS a),
     fks AS MATERIALIZED (
       SELECT con.conrelid AS child, con.confrelid AS parent FROM pg_constraint con
        WHERE %(parents)s AND con.contype = 'f' AND con.conrelid = ANY((SELECT tabs.a FROM tabs)::oid[])
       UNION
       SELECT con.conrelid, con.confrelid FROM pg_depend d
         JOIN pg_constraint con ON con.oid = d.objid AND con.contype = 'f'
        WHERE %(referencing)s AND d.classid = 'pg_constraint'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = ANY((SELECT tabs.a FROM tabs)::oid[]) AND con.confrelid = d.refobjid),
     ends AS MATERIALIZED (SELECT ARRAY(SELECT unnest(tabs.a) FROM tabs UNION SELECT fks.child FROM fks
                                        UNION SELECT fks.parent FROM fks) AS a),
     idx AS MATERIALIZED (SELECT x.indexrelid AS oid, x.indrelid AS tab FROM pg_index x
                           WHERE x.indrelid = ANY((SELECT ends.a FROM ends)::oid[])),
     seqs AS MATERIALIZED (
       SELECT d.objid AS oid FROM pg_depend d
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY((SELECT tabs.a FROM tabs)::oid[])
          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       UNION
       SELECT d.refobjid FROM pg_attrdef ad JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
        WHERE ad.adrelid = ANY((SELECT tabs.a FROM tabs)::oid[]) AND d.refclassid = 'pg_class'::regclass),
     rels AS (SELECT ARRAY(SELECT unnest(ends.a) FROM ends UNION SELECT idx.oid FROM idx
                           UNION SELECT seqs.oid FROM seqs) AS a)
SELECT
  coalesce((SELECT array_agg(found.oid::bigint ORDER BY found.i) FROM found), '{}'),
  coalesce((SELECT json_agg(json_build_array(c.oid::bigint, n.nspname, c.relname, c.relkind))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = ANY((SELECT rels.a FROM rels)::oid[])), '[]'),
  coalesce((SELECT json_agg(json_build_array(idx.oid::bigint, idx.tab::bigint)) FROM idx), '[]'),
  coalesce((SELECT json_agg(json_build_array(fks.child::bigint, fks.parent::bigint)) FROM fks), '[]'),
  coalesce((SELECT array_agg(kids.oid::bigint) FROM kids), '{}'),
  EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = ANY(%(funcs)s::text[])
             AND p.pronamespace <> 'pg_catalog'::regnamespace AND p.provolatile = 'v'),
  EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = ANY((SELECT tabs.a FROM tabs)::oid[]) AND NOT t.tgisinternal)
  OR EXISTS (SELECT 1 FROM pg_rewrite r
              WHERE r.ev_class = ANY((SELECT tabs.a FROM tabs)::oid[]) AND r.rulename <> '_RETURN'),
  coalesce((SELECT array_agg(EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = u.s) ORDER BY u.i)
              FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS u(s, i)), '{}')
"""


@dataclass
class Context:
    """What a statement names and may touch, resolved just before it runs (see :func:`resolve`).

    :ivar oids: per name given, its relation's oid (``None``: no such relation yet).
    :ivar relations: oid -> (schema, name, relkind) of every relation found: those named, the
        children of named tables, the table of a named index, the indexes and sequences of these tables.
    :ivar indexes: table oid -> its indexes' oids.
    :ivar index_table: index oid -> its table's oid.
    :ivar children: partitions / inheritance children of the named tables.
    :ivar parents: table oid -> the tables its foreign keys reference.
    :ivar referencing: table oid -> the tables whose foreign keys reference it.
    :ivar sequences: the sequences named, and those of the named tables (serial, identity, column defaults).
    :ivar calls: a VOLATILE function defined outside pg_catalog is called (code we cannot see). A STABLE
        or IMMUTABLE one cannot modify the database nor lock rows (``SELECT FOR UPDATE`` and data
        changes are refused in it: "Function Volatility Categories"), so it takes ACCESS SHARE at most.
    :ivar fires: a user trigger or rule fires on a named table (it may touch other relations).
    :ivar schemas: per schema name given, whether it exists.
    """

    oids: list[int | None] = field(default_factory=list)
    relations: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    indexes: dict[int, list[int]] = field(default_factory=dict)
    index_table: dict[int, int] = field(default_factory=dict)
    children: set[int] = field(default_factory=set)
    parents: dict[int, set[int]] = field(default_factory=dict)
    referencing: dict[int, set[int]] = field(default_factory=dict)
    sequences: set[int] = field(default_factory=set)
    calls: bool = False
    fires: bool = False
    schemas: list[bool] = field(default_factory=list)


def resolve(conn: Any, names: list[tuple[str, ...]], functions: list[str], schemas: list[str], *,
            parents: bool = False, referencing: bool = False) -> Context:
    """Resolve, on the runner's connection, the relations a statement names and what hangs off them.

    :param conn: the runner's connection (catalog reads only: no lock is taken, nothing can fail
        for lack of privilege).
    :param names: relation names as written, ``(name,)`` or ``(schema, name)``; an unqualified
        name is looked up along ``current_schemas(true)``, as PostgreSQL does.
    :param functions: names of the functions the statement calls.
    :param schemas: schema names it drops.
    :param parents: also the tables the named tables' foreign keys reference (and their indexes).
    :param referencing: also the tables whose foreign keys reference the named tables (and their
        indexes): a table many others reference makes this read as large as their number.
    :raises psycopg.Error: the catalog cannot be read (aborted transaction).
    """
    if not names and not functions and not schemas:
        return Context()
    row = conn.execute(CONTEXT_SQL, {"sch": [n[0] if len(n) > 1 else None for n in names],
                                     "rel": [n[-1] for n in names], "funcs": functions,
                                     "schemas": schemas, "parents": parents, "referencing": referencing},
                       prepare=True).fetchone()
    ctx = Context(oids=[None if o is None else int(o) for o in row[0]], calls=bool(row[5]), fires=bool(row[6]),
                  schemas=[bool(b) for b in row[7]], children={int(o) for o in row[4]})
    ctx.relations = {int(o): (str(s), str(n), str(k)) for o, s, n, k in row[1]}
    for i, t in row[2]:
        ctx.indexes.setdefault(int(t), []).append(int(i))
        ctx.index_table[int(i)] = int(t)
    for child, parent in row[3]:
        ctx.parents.setdefault(int(child), set()).add(int(parent))
        ctx.referencing.setdefault(int(parent), set()).add(int(child))
    ctx.sequences = {o for o, (_s, _n, k) in ctx.relations.items() if k == "S"}
    return ctx


def sequence_names(node: ast.Node) -> list[tuple[str, ...]]:
    """The sequences named by ``nextval('…')`` / ``setval('…', …)`` string arguments."""
    found: list[tuple[str, ...]] = []

    class _Seq(Visitor):
        def visit_FuncCall(self, ancestors: Any, call: ast.FuncCall) -> None:
            parts = [getattr(p, "sval", None) for p in call.funcname or ()]
            if parts and parts[-1] in ("nextval", "setval", "currval") and call.args:
                arg = call.args[0]
                while isinstance(arg, ast.TypeCast):
                    arg = arg.arg
                val = getattr(getattr(arg, "val", None), "sval", None)
                if isinstance(val, str) and val:
                    found.append(tuple(p.strip('"') for p in val.split("."))[-2:])

    _Seq()(node)
    return found


_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW, ObjectType.OBJECT_MATVIEW,
                      ObjectType.OBJECT_INDEX, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_FOREIGN_TABLE)


#: statements that store expressions without evaluating them (a new table has no rows to compute a
#: default, check or generated column for; a view, function, trigger, rule or policy is only defined)
_STORES_EXPRESSIONS = (ast.CreateStmt, ast.ViewStmt, ast.CreateFunctionStmt, ast.CreateTrigStmt, ast.RuleStmt,
                       ast.CreatePolicyStmt, ast.AlterPolicyStmt, ast.CreateDomainStmt, ast.CommentStmt)


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
    if isinstance(node, _STORES_EXPRESSIONS):
        refs.functions = []  # a default, check, view or body is stored, not evaluated: no function is called
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


def target_parts(node: ast.Node) -> tuple[str, ...] | None:
    """The relation a non-transactional statement names, ``(name,)`` or ``(schema, name)``."""
    rel = getattr(node, "relation", None)
    if isinstance(rel, ast.RangeVar) and rel.relname:
        return _range_var(rel)
    if isinstance(node, ast.DropStmt) and node.objects:
        obj = node.objects[0]
        parts = tuple(str(p.sval) for p in (obj if isinstance(obj, tuple) else ()) if getattr(p, "sval", None))
        return parts[-2:] or None
    if isinstance(node, ast.VacuumStmt) and node.rels:
        vr = node.rels[0]
        if isinstance(vr, ast.VacuumRelation) and isinstance(vr.relation, ast.RangeVar):
            return _range_var(vr.relation)
    return None


def target_of(node: ast.Node) -> str | None:
    """The relation a non-transactional statement names, as written (for its "would take" lock)."""
    parts = target_parts(node)
    return ".".join(parts) if parts else None


