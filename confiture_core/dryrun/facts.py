"""What a shadow preflight reads from the target: catalog rows and size statistics (ACCESS SHARE at most)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]


@dataclass
class Column:
    """A column of a table (``generated``: a stored generated column, which COPY cannot write)."""

    name: str
    type: str
    generated: bool = False


@dataclass
class TableFacts:
    """One table of the target.

    :ivar schema: its schema; :ivar name: its name.
    :ivar kind: ``pg_class.relkind`` (``r`` table, ``p`` partitioned table, ``m`` materialized view).
    :ivar rows: ``pg_class.reltuples`` (an estimate kept by VACUUM/ANALYZE); for a table never vacuumed
        nor analyzed (``-1``; ``0`` with no pages before PostgreSQL 14), the planner's estimate from its
        size on disk (see :func:`_never_analyzed`), ``-1`` only when that could not be read.
    :ivar pages: ``pg_class.relpages`` (pages of ``block_size``, 8 kB by default).
    :ivar bytes: heap and TOAST pages (``relpages``) times ``block_size``: the size as of the last
        VACUUM/ANALYZE, read from the catalog without locking the table (``pg_table_size`` would take
        ACCESS SHARE and wait behind another session's ACCESS EXCLUSIVE); for a table never vacuumed, its
        size on disk (``pg_table_size``, ACCESS SHARE under the preflight's lock_timeout).
    :ivar index_bytes: the same for its indexes.
    """

    oid: int
    schema: str
    name: str
    kind: str
    rows: float
    pages: int
    bytes: int
    index_bytes: int
    columns: list[Column] = field(default_factory=list)

    @property
    def display(self) -> str:
        """``schema.name``, ``public`` omitted (the dry-run report's spelling)."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Composable:
        """The quoted qualified name for SQL."""
        return sql.Identifier(self.schema, self.name)

    def copy_columns(self) -> sql.Composable:
        """The comma-separated quoted names of the columns COPY can write (stored generated ones left out)."""
        return sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns if not c.generated)


@dataclass
class ForeignKey:
    """A foreign key: ``child(columns)`` references ``parent(ref_columns)``."""

    child: int
    parent: int
    columns: list[str]
    ref_columns: list[str]


@dataclass
class Sequence:
    """A sequence's state (``last_value`` ``None``: never used)."""

    schema: str
    name: str
    last_value: int | None


@dataclass
class TargetFacts:
    """Everything a shadow preflight knows about the target (see :func:`read_target_facts`)."""

    server_version: int
    tables: dict[int, TableFacts]
    foreign_keys: list[ForeignKey]
    sequences: list[Sequence]
    primary_keys: dict[int, list[str]] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)

    def setting(self, name: str, default: float) -> float:
        """The target's setting ``name`` (:data:`SETTINGS`) in bytes for a size, as a number otherwise;
        ``default`` when it could not be read."""
        return self.settings.get(name, default)

    def by_name(self, name: str) -> TableFacts | None:
        """The table whose report spelling (``schema.name``, ``public`` omitted) is ``name``."""
        return next((t for t in self.tables.values() if t.display == name), None)


#: the target's settings a prediction depends on (see :func:`read_settings`)
SETTINGS = ("max_wal_size", "checkpoint_completion_target", "maintenance_work_mem", "work_mem",
            "hash_mem_multiplier", "shared_buffers")
#: ``pg_settings.unit`` of a size, in bytes (PostgreSQL docs, "Setting Parameters": memory units)
_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "16MB": 16 * 1024**2, "GB": 1024**3}


def read_settings(conn: Conn) -> dict[str, float]:
    """The target's :data:`SETTINGS` from ``pg_settings`` (ACCESS SHARE on that view, no table), sizes in
    bytes (``setting`` times ``unit``), others as numbers; a setting this server does not have
    (``hash_mem_multiplier`` before PostgreSQL 13) is left out.

    :raises psycopg.Error: ``pg_settings`` cannot be read.
    """
    out: dict[str, float] = {}
    for name, value, unit in conn.execute("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)",
                                          [list(SETTINGS)]).fetchall():
        try:
            out[name] = float(value) * _UNITS.get(unit or "", 1)
        except ValueError:
            continue
    return out


_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::float8, c.relpages,
       (c.relpages::bigint + coalesce(t.relpages, 0)) * current_setting('block_size')::bigint,
       (SELECT coalesce(sum(i.relpages::bigint), 0) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = c.oid) * current_setting('block_size')::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND n.nspname NOT LIKE 'pg\\_temp%%' AND c.relpersistence <> 't'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
FROM pg_attribute a WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum
"""

_FKS = """
SELECT c.conrelid, c.confrelid,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = ANY(%s) AND c.confrelid = ANY(%s)
"""

_PKS = """
SELECT c.conrelid, ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint c WHERE c.contype = 'p' AND c.conrelid = ANY(%s)
"""

_SEQUENCES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relpersistence <> 't'
  AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT') ELSE false END
"""


def read_target_facts(conn: Conn, lock_timeout: str = "2s") -> TargetFacts:
    """Read the tables, their size statistics, columns, foreign keys, sequences and settings of the target.

    One READ ONLY transaction of catalog queries (no table lock); reading a sequence's
    ``last_value`` takes ACCESS SHARE on it (PostgreSQL docs, "Explicit Locking"), bounded by
    ``lock_timeout``. Rows and sizes are the statistics VACUUM and ANALYZE keep
    (``pg_class.reltuples``/``relpages``, docs "Statistics Used by the Planner"): no table is scanned.

    :param conn: an autocommit connection to the target.
    :raises psycopg.Error: the catalog cannot be read (for instance a lock wait longer than ``lock_timeout``).
    """
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
        tables = {int(r[0]): TableFacts(int(r[0]), r[1], r[2], r[3], float(r[4]), int(r[5]), int(r[6]), int(r[7]))
                  for r in conn.execute(_TABLES).fetchall()}
        for table in tables.values():
            if table.kind in ("r", "m") and (table.rows < 0 or (table.rows == 0 and table.pages == 0)):
                _never_analyzed(conn, table)
        oids = list(tables)
        for relid, name, typ, generated in conn.execute(_COLUMNS, [oids]).fetchall():
            tables[int(relid)].columns.append(Column(name, typ, bool(generated)))
        fks = [ForeignKey(int(r[0]), int(r[1]), list(r[2]), list(r[3]))
               for r in conn.execute(_FKS, [oids, oids]).fetchall()]
        pks = {int(r[0]): list(r[1]) for r in conn.execute(_PKS, [oids]).fetchall()}
        settings = read_settings(conn)
        seqs: list[Sequence] = []
        for schema, name in conn.execute(_SEQUENCES).fetchall():
            row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(schema, name))).fetchone()
            seqs.append(Sequence(schema, name, int(row[0]) if row and row[1] else None))
    return TargetFacts(conn.info.server_version, tables, fks, seqs, pks, settings)


def _never_analyzed(conn: Conn, table: TableFacts) -> None:
    """Fill ``table``'s rows, pages and sizes when the catalog has none (never vacuumed nor analyzed, as right
    after a bulk load): sizes on disk (``pg_table_size``, ``pg_indexes_size``) and the rows the planner
    estimates from them (``EXPLAIN`` of a scan: docs "Statistics Used by the Planner", "the planner ... scales
    the reltuples by the current number of pages"; a never-analyzed table's density comes from its column
    types). Both take ACCESS SHARE on the table, bounded by the transaction's ``lock_timeout``; on any error
    (another session holds ACCESS EXCLUSIVE...) the catalog's figures stay, in a savepoint of their own.
    """
    try:
        with conn.transaction():
            row = conn.execute("SELECT pg_relation_size(%s), pg_table_size(%s), pg_indexes_size(%s), "
                               "current_setting('block_size')::int", [table.oid] * 3).fetchone()
            assert row is not None
            heap, total, indexes, block = (int(v) for v in row)
            rows = 0.0
            if heap:
                plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY {}").format(
                    table.ident)).fetchone()
                rows = float(plan[0][0]["Plan"]["Plan Rows"]) if plan else -1.0
    except psycopg.Error:
        return
    table.rows, table.pages, table.bytes, table.index_bytes = rows, heap // block, total, indexes
