"""INVALID indexes a CREATE INDEX CONCURRENTLY of ours left behind: found, named, dropped.

A failed, cancelled or killed ``CREATE INDEX CONCURRENTLY`` leaves the index in the
catalog, marked invalid (``pg_index.indisvalid`` false): it is still maintained on every
write but never used, and re-running the statement fails with "relation ... already
exists" (PostgreSQL docs, CREATE INDEX, "Building Indexes Concurrently"). The fix the
documentation gives is to drop it (``DROP INDEX CONCURRENTLY``) and build it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from pglast import ast
from pglast.stream import maybe_double_quote_name as q
from psycopg import pq, sql

from ..errors import MigrationFileError
from ..migrations import Migration
from ..sql import Statement

Conn = psycopg.Connection[Any]

#: a (schema or ``None``, index name) pair named by a CREATE INDEX CONCURRENTLY
Wanted = tuple[str | None, str]

_INVALID_SQL = ("SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT i.indisvalid AND c.relname = ANY(%s) ORDER BY 1, 2")


def concurrent_index(st: Statement) -> Wanted | None:
    """(schema, name) of the index a ``CREATE INDEX CONCURRENTLY`` statement builds; ``None`` for other
    statements and unnamed indexes."""
    node = st.node
    if isinstance(node, ast.IndexStmt) and node.concurrent and node.idxname:
        return (node.relation.schemaname if node.relation else None, node.idxname)
    return None


def named_by(m: Migration) -> list[Wanted]:
    """The indexes ``m``'s ``up`` builds with CREATE INDEX CONCURRENTLY (``[]`` for Python or unparsable files)."""
    if m.kind != "sql":
        return []
    try:
        statements = m.sql("up").statements
    except MigrationFileError:
        return []
    return [w for st in statements if (w := concurrent_index(st)) is not None]


def find_invalid(conn: Conn, wanted: Sequence[Wanted]) -> list[str]:
    """The INVALID ones of ``wanted``, as ``schema.name`` (quoted where needed); a catalog read (pg_index).

    An index named without a schema matches that name in any schema.

    :returns: ``[]`` when ``wanted`` is empty or ``conn`` is in an aborted transaction.
    """
    if not wanted or conn.info.transaction_status == pq.TransactionStatus.INERROR:
        return []
    rows = conn.execute(_INVALID_SQL, [[name for _, name in wanted]]).fetchall()
    return [f"{q(schema)}.{q(name)}" for schema, name in rows
            if any(name == n and (s is None or s == schema) for s, n in wanted)]


def drop_sql(names: Iterable[str]) -> str:
    """``DROP INDEX CONCURRENTLY IF EXISTS a.b; ...`` for ``names`` (as :func:`find_invalid` gives them)."""
    return " ".join(f"DROP INDEX CONCURRENTLY IF EXISTS {n};" for n in names)


def drop(conn: Conn, names: Iterable[str]) -> None:
    """Drop each index of ``names`` with ``DROP INDEX CONCURRENTLY IF EXISTS``, one statement at a time
    (it cannot run in a transaction block: ``conn`` must be in autocommit and idle).

    :raises psycopg.Error: a drop failed.
    """
    for n in names:
        schema, _, name = n.rpartition(".")
        ident = sql.Identifier(schema.strip('"'), name.strip('"')) if schema else sql.Identifier(name.strip('"'))
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(ident))


def exists_valid(conn: Conn, wanted: Sequence[Wanted]) -> list[str]:
    """The ones of ``wanted`` that exist and are valid (a catalog read)."""
    if not wanted:
        return []
    rows = conn.execute(_INVALID_SQL.replace("NOT i.indisvalid", "i.indisvalid"),
                        [[name for _, name in wanted]]).fetchall()
    return [f"{q(schema)}.{q(name)}" for schema, name in rows
            if any(name == n and (s is None or s == schema) for s, n in wanted)]


def only_concurrent_indexes(m: Migration, mixed: bool) -> bool:
    """Whether ``m`` is a non-transactional SQL migration whose ``up`` only builds named indexes
    concurrently (SET/RESET allowed): re-running it is safe once its INVALID indexes are dropped."""
    if m.kind != "sql":
        return False
    try:
        if m.is_transactional("up", mixed=mixed):
            return False
        statements = m.sql("up").statements
    except MigrationFileError:
        return False
    built = [st for st in statements if not isinstance(st.node, ast.VariableSetStmt)]
    return bool(built) and all(concurrent_index(st) is not None for st in built)


def invalid_left(conn: Conn, migrations: Sequence[Migration]) -> list[tuple[Migration, list[str]]]:
    """Each of ``migrations`` whose CREATE INDEX CONCURRENTLY left an INVALID index, with those indexes.

    One catalog read when the database has no invalid index at all (the usual case); the files
    are parsed only when it has some.
    """
    if conn.info.transaction_status == pq.TransactionStatus.INERROR:
        return []
    row = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
    if not row or not row[0]:
        return []
    out: list[tuple[Migration, list[str]]] = []
    for m in migrations:
        found = find_invalid(conn, named_by(m))
        if found:
            out.append((m, found))
    return out


def restart_interrupted(conn: Conn, failed: Sequence[tuple[int, Migration | None]], mixed: bool,
                        forget: Any, say: Any) -> list[int]:
    """Make the failed migrations that only build indexes concurrently pending again, after dropping the
    INVALID indexes they left (the next ``up`` then builds them afresh).

    Only a migration whose every index is INVALID or absent qualifies (one already built and valid
    would fail a re-run: that migration keeps its failed row and the hint to repair it by hand).

    :param failed: (version, migration file or ``None``) of each failed tracking row.
    :param forget: called with a version to delete its failed row (committed by the caller's policy).
    :param say: called with one line per migration made pending again.
    :returns: the versions made pending again.
    :raises psycopg.Error: a drop failed.
    """
    done: list[int] = []
    for version, m in failed:
        if m is None or not only_concurrent_indexes(m, mixed):
            continue
        wanted = named_by(m)
        if exists_valid(conn, wanted):
            continue
        invalid = find_invalid(conn, wanted)
        drop(conn, invalid)
        forget(version)
        left = (f"dropped the INVALID index(es) it left ({drop_sql(invalid)}) and " if invalid else "")
        say(f"migration {version} ({m.name}) was interrupted while building an index concurrently: {left}"
            "it runs again")
        done.append(version)
    return done
