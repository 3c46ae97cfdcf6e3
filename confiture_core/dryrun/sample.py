"""A sample of the target's rows in the shadow database, foreign keys kept consistent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from ..dryrun_settings import SampleSpec as SampleSpec  # re-exported: the preflight and benches import it here
from .facts import ForeignKey, TableFacts, TargetFacts

Conn = psycopg.Connection[Any]

#: tables with at most this many rows (``reltuples``) are copied whole (lookup tables, the tracking table...)
SMALL_TABLE_ROWS = 1000
#: from this many 8 kB pages on, the sample reads chosen pages only (TABLESAMPLE SYSTEM), not every row (BERNOULLI)
SYSTEM_FROM_PAGES = 10_000
#: keys sent per query when fetching the parents that sampled rows reference
KEY_BATCH = 5_000
#: rounds of fetching missing parents (a chain parent -> child -> grandchild needs one per level)
MAX_ROUNDS = 20

def _select(table: TableFacts, spec: SampleSpec, whole: bool) -> tuple[sql.Composable, float]:
    cols = table.copy_columns()
    if whole or (0 <= table.rows <= SMALL_TABLE_ROWS):
        return sql.SQL("SELECT {} FROM ONLY {}").format(cols, table.ident), 1.0
    if table.rows < 0 and spec.rows is not None:  # never analyzed: the first rows
        return sql.SQL("SELECT {} FROM ONLY {} LIMIT {}").format(cols, table.ident, sql.Literal(spec.rows)), 0.0
    fraction = spec.fraction_of(table)
    if fraction >= 1:
        return sql.SQL("SELECT {} FROM ONLY {}").format(cols, table.ident), 1.0
    method = sql.SQL("SYSTEM" if table.pages >= SYSTEM_FROM_PAGES else "BERNOULLI")
    return (sql.SQL("SELECT {} FROM ONLY {} TABLESAMPLE {} ({}) REPEATABLE (42)").format(
        cols, table.ident, method, sql.Literal(round(fraction * 100, 6))), fraction)


def _copy(source: Conn, query: sql.Composable, dest: Conn, table: TableFacts, params: Iterable[Any] = ()) -> None:
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(table.ident, table.copy_columns())
    out_sql = sql.SQL("COPY ({}) TO STDOUT").format(query)
    with source.cursor() as cur, dest.cursor().copy(into) as inp:
        with cur.copy(out_sql, list(params) or None) as out:
            for chunk in out:
                inp.write(chunk)


def load_sample(target: Conn, shadow: Conn, facts: TargetFacts, spec: SampleSpec, whole: set[int],
                lock_timeout: str = "2s") -> None:
    """Copy a sample of every table of the target into the shadow (tables already created, no constraints
    yet), then the parents the sampled rows reference, then the sequences' positions.

    The target is read in one REPEATABLE READ, READ ONLY transaction (one snapshot: the parents
    fetched are those the sampled children saw) with ``lock_timeout``; ``SELECT``/``COPY TO`` take
    ACCESS SHARE only (PostgreSQL docs, "Explicit Locking"). Samples use ``TABLESAMPLE``
    (BERNOULLI, or SYSTEM from :data:`SYSTEM_FROM_PAGES` pages on, which reads only the chosen
    pages); tables of at most :data:`SMALL_TABLE_ROWS` rows and those in ``whole`` are copied whole.

    :param whole: oids of tables copied in full (the tracking table).
    :raises psycopg.Error: a read or a copy failed.
    """
    with target.transaction():
        target.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        target.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_timeout)))
        for table in facts.tables.values():
            if table.kind != "r" or not table.columns:
                continue
            query, _fraction = _select(table, spec, table.oid in whole)
            _copy(target, query, shadow, table)
        _close_foreign_keys(target, shadow, facts)
        for seq in facts.sequences:
            if seq.last_value is not None:
                shadow.execute("SELECT setval(%s::regclass, %s, true)",
                               [sql.Identifier(seq.schema, seq.name).as_string(shadow), seq.last_value])


def _tuple(names: list[str], alias: str) -> sql.Composable:
    return sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(alias, n) for n in names))


def _orphans(fk: ForeignKey, facts: TargetFacts) -> sql.Composable:
    """``FROM child c WHERE <all key columns set> AND NOT EXISTS (the parent row)``."""
    child, parent = facts.tables[fk.child], facts.tables[fk.parent]
    set_ = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier("c", n)) for n in fk.columns)
    return sql.SQL("FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {} = {})").format(
        child.ident, set_, parent.ident, _tuple(fk.ref_columns, "p"), _tuple(fk.columns, "c"))


def _close_foreign_keys(target: Conn, shadow: Conn, facts: TargetFacts) -> None:
    """Fetch from the target, by key (a unique index: PostgreSQL requires one on referenced columns), every
    parent row a row of the shadow references and the shadow lacks, until none is missing."""
    types = {t.oid: {c.name: c.type for c in t.columns} for t in facts.tables.values()}
    for _round in range(MAX_ROUNDS):
        added = 0
        for fk in facts.foreign_keys:
            parent = facts.tables[fk.parent]
            keys = shadow.execute(sql.SQL("SELECT DISTINCT {} {}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier("c", n)) for n in fk.columns),
                _orphans(fk, facts))).fetchall()
            for start in range(0, len(keys), KEY_BATCH):
                batch = keys[start:start + KEY_BATCH]
                arrays = [[row[i] for row in batch] for i in range(len(fk.columns))]
                wanted = sql.SQL("SELECT {} FROM unnest({}) AS u({})").format(
                    sql.SQL(", ").join(sql.SQL("u.{}::{}").format(sql.Identifier(f"k{i}"),
                                                                    sql.SQL(types[fk.parent][n]))
                                       for i, n in enumerate(fk.ref_columns)),
                    sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in fk.columns),
                    sql.SQL(", ").join(sql.Identifier(f"k{i}") for i in range(len(fk.columns))))
                query = sql.SQL("SELECT {} FROM {} p WHERE {} IN ({})").format(
                    parent.copy_columns(), parent.ident, _tuple(fk.ref_columns, "p"), wanted)
                before = _count(shadow, parent)
                _copy(target, query, shadow, parent, arrays)
                added += _count(shadow, parent) - before
        if not added:
            return


def _count(conn: Conn, table: TableFacts) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.ident)).fetchone()
    return int(row[0]) if row else 0


def thinned(table: TableFacts, whole: set[int]) -> bool:
    """Whether :func:`thin` keeps only part of ``table``'s rows: a table sampled by fraction (more than
    :data:`SMALL_TABLE_ROWS` rows, not in ``whole``). Only such a table has a different size in each
    sample, from which a statement's duration on it is scaled to the target."""
    return table.kind == "r" and table.oid not in whole and table.rows > SMALL_TABLE_ROWS


def thin(shadow: Conn, facts: TargetFacts, keep: float, whole: set[int]) -> None:
    """Keep about ``keep`` of the rows of each sampled table of a shadow database (its copy, for the second
    sample size), then delete the rows left without their parent, then ``VACUUM (FULL, FREEZE, ANALYZE)``
    so that the tables are as compact as freshly loaded ones.

    Runs with ``session_replication_role = replica`` (foreign-key triggers off) on the shadow only.
    """
    shadow.execute("SET session_replication_role = replica")
    for table in facts.tables.values():
        if thinned(table, whole):
            shadow.execute(sql.SQL("DELETE FROM ONLY {} WHERE random() >= %s").format(table.ident), [keep])
    for _round in range(MAX_ROUNDS):
        deleted = 0
        for fk in facts.foreign_keys:
            child = facts.tables[fk.child]
            cur = shadow.execute(sql.SQL("DELETE FROM {} d WHERE d.ctid IN (SELECT c.ctid {})").format(
                child.ident, _orphans(fk, facts)))
            deleted += max(cur.rowcount, 0)
        if not deleted:
            break
    shadow.execute("RESET session_replication_role")
    vacuum(shadow, facts, full=True)


def vacuum(shadow: Conn, facts: TargetFacts, *, full: bool = False) -> None:
    """``VACUUM (FREEZE, ANALYZE)`` (with ``FULL``: compacted) of the tables of a shadow database (not its
    catalogs): hint bits set, statistics fresh, so that no statement of the dry run pays for them."""
    tables = [t.ident for t in facts.tables.values() if t.kind in ("r", "m")]
    if tables:
        shadow.execute(sql.SQL("VACUUM ({}FREEZE, ANALYZE) {}").format(sql.SQL("FULL, " if full else ""),
                                                                        sql.SQL(", ").join(tables)))


def sizes(shadow: Conn, facts: TargetFacts) -> dict[str, tuple[int, int]]:
    """Rows (counted) and bytes (``pg_table_size``) of every table of a shadow database, by report name."""
    out: dict[str, tuple[int, int]] = {}
    for table in facts.tables.values():
        if table.kind in ("r", "p"):
            row = shadow.execute(sql.SQL("SELECT count(*), pg_table_size({}::regclass) FROM {}").format(
                sql.Literal(table.ident.as_string(shadow)), table.ident)).fetchone()
            out[table.display] = (int(row[0]), int(row[1])) if row else (0, 0)
    return out


def parallel_workers_for(pages: int, min_scan_pages: int) -> int:
    """The parallel workers PostgreSQL plans for a scan of a table of ``pages`` pages, before the caps of
    ``max_parallel_workers_per_gather`` / ``max_parallel_maintenance_workers`` and of
    ``maintenance_work_mem`` (32 MB per participant of an index build): none below
    ``min_parallel_table_scan_size`` (``min_scan_pages``), then one, and one more for each tripling of the
    size. The source's ``compute_parallel_worker`` (optimizer/path/allpaths.c); PostgreSQL docs,
    "Parallel Query" and "CREATE INDEX" (Building Indexes in Parallel).
    """
    if pages < min_scan_pages:
        return 0
    workers, threshold = 1, max(min_scan_pages, 1)
    while pages >= threshold * 3:
        workers += 1
        threshold *= 3
    return workers


#: memory each participant of a parallel index build needs (kB): PostgreSQL lowers the workers planned until
#: ``maintenance_work_mem / (workers + 1)`` is at least this (the source's ``plan_create_index_workers``)
INDEX_BUILD_KB_PER_PARTICIPANT = 32 * 1024


def index_build_workers_cap(maintenance_work_mem_kb: int, max_maintenance_workers: int) -> int:
    """The most parallel workers PostgreSQL plans for an index build from its table's size: at most
    ``max_parallel_maintenance_workers``, and fewer while ``maintenance_work_mem`` gives a participant (each
    worker and the leader) less than 32 MB (:data:`INDEX_BUILD_KB_PER_PARTICIPANT`). A table's own
    ``parallel_workers`` storage parameter skips the memory rule (the source's ``plan_create_index_workers``;
    PostgreSQL docs, "CREATE INDEX", Building Indexes in Parallel).

    :param maintenance_work_mem_kb: the setting in kB; :param max_maintenance_workers: the setting.
    """
    workers = max(max_maintenance_workers, 0)
    while workers > 0 and maintenance_work_mem_kb / (workers + 1) < INDEX_BUILD_KB_PER_PARTICIPANT:
        workers -= 1
    return workers


def match_index_build_workers(conn: Conn) -> int:
    """Lower ``max_parallel_maintenance_workers`` for this session (``SET``, on a shadow database's copy only) to
    :func:`index_build_workers_cap` of its ``maintenance_work_mem``, so that an index build on a table given the
    target's degree by :func:`match_parallel_degree` (a storage parameter, which PostgreSQL obeys without its
    memory rule) runs with as many workers as the target's build will, not more (with 64 MB, one worker where
    the table's degree says two or three: a sample's build then paid a worker's start the target does not).

    :returns: the workers an index build may now use.
    :raises psycopg.Error: the settings cannot be read or set.
    """
    row = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem')) / 1024, "
                       "current_setting('max_parallel_maintenance_workers')::int").fetchone()
    assert row is not None
    cap = index_build_workers_cap(int(row[0]), int(row[1]))
    conn.execute(sql.SQL("SET max_parallel_maintenance_workers = {}").format(sql.Literal(cap)))
    return cap


def match_parallel_degree(shadow: Conn, facts: TargetFacts) -> None:
    """Give each sampled table of a shadow database the parallel degree the target's table gets from its size
    (storage parameter ``parallel_workers``, see :func:`parallel_workers_for`), so that an index build or a
    scan there runs with as many workers as on the target, not as few as the sample's size would get (a 1%
    sample below ``min_parallel_table_scan_size`` builds its index alone: its cost per row is then up to
    twice the target's). A table whose ``parallel_workers`` the target sets itself (copied with the schema)
    keeps it. Only the shadow is changed (``ALTER TABLE ... SET``). PostgreSQL obeys the storage parameter
    without its rule on ``maintenance_work_mem``: each timed apply also runs :func:`match_index_build_workers`.
    """
    row = shadow.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'min_parallel_table_scan_size'"
                         ).fetchone()
    min_pages = int(row[0]) if row else 1024
    for table in facts.tables.values():
        workers = parallel_workers_for(table.pages, min_pages)
        if table.kind != "r" or workers <= 0:
            continue
        own = shadow.execute("SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class "
                             "WHERE oid = %s::regclass", [table.ident.as_string(shadow)]).fetchone()
        if own and "parallel_workers=" in own[0]:
            continue
        shadow.execute(sql.SQL("ALTER TABLE {} SET (parallel_workers = {})").format(table.ident,
                                                                                  sql.Literal(workers)))
