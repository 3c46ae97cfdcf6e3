"""The names read before a statement that may drop relations (batched.NAMES_SQL) finds what it names and all that
may be dropped with it, at every level of partitions and inheritance, on a real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from confiture_core.dryrun import batched

SCHEMA = '''
CREATE SCHEMA s;
CREATE TABLE s."Odd ""Name""" (id serial PRIMARY KEY, v text UNIQUE);
CREATE TABLE plain (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
CREATE INDEX plain_n ON plain (n);
CREATE TABLE parted (id int, n int) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (10) TO (20);
CREATE INDEX parted_n ON parted (n);
CREATE TABLE deep (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE deep_1 PARTITION OF deep FOR VALUES FROM (0) TO (10) PARTITION BY LIST (k);
CREATE TABLE deep_1_a PARTITION OF deep_1 FOR VALUES IN (1);
CREATE INDEX deep_k ON deep (k);
CREATE TABLE parent (id int);
CREATE TABLE child (extra int) INHERITS (parent);
CREATE SEQUENCE free_seq;
CREATE VIEW v AS SELECT id FROM plain;
'''


def _names(conn: psycopg.Connection[Any], rels: list[tuple[str | None, str]], schemas: list[str]) -> list[Any]:
    """NAMES_SQL as the dry run runs it: what the statement names in ``confiture.names``, then the prepared read."""
    given = json.dumps({"sch": [s for s, _ in rels], "rel": [r for _, r in rels], "schemas": schemas})
    with conn.transaction():
        conn.execute("SELECT set_config('confiture.names', %s, true)", [given])
        conn.execute(f"PREPARE names_read AS {batched.NAMES_SQL}")
        try:
            row = conn.execute("EXECUTE names_read").fetchone()
        finally:
            conn.execute("DEALLOCATE names_read")
    assert row is not None
    doc = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return list(doc)


def _expected(conn: psycopg.Connection[Any], tables: list[str]) -> set[tuple[str, str, str]]:
    """What may go with ``tables``, read independently: themselves, their children at every level (partitions,
    inheritors; followed level by level here), the indexes of all of these, the sequences they own (serial,
    identity)."""
    every = [int(r[0]) for r in conn.execute("SELECT unnest(%s::regclass[])::oid", [tables])]
    level = every
    while level:
        level = [int(r[0]) for r in conn.execute("SELECT inhrelid FROM pg_inherits WHERE inhparent = ANY(%s::oid[])",
                                                 [level])]
        every += level
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = ANY(%(t)s::oid[]) "
        "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%(t)s::oid[])) "
        "OR c.oid IN (SELECT objid FROM pg_depend WHERE classid = 'pg_class'::regclass "
        "AND refclassid = 'pg_class'::regclass AND refobjid = ANY(%(t)s::oid[]) AND deptype IN ('a', 'i'))",
        {"t": every}).fetchall()
    return {(str(s), str(n), str(k)) for s, n, k in rows}


def test_names_read_finds_what_is_named_and_what_goes_with_it(db: psycopg.Connection[Any]) -> None:
    db.execute(SCHEMA)
    named: list[tuple[str | None, str]] = [(None, "plain"), ("s", 'Odd "Name"'), (None, "nope"), ("public", "parted"),
                                           (None, "parent"), (None, "free_seq"), (None, "v"), (None, "deep")]
    oids, rels, schemas, clock = _names(db, named, ["s", "public", "absent"])
    found = db.execute("SELECT to_regclass(x)::oid FROM unnest(%s::text[]) WITH ORDINALITY u(x, i) ORDER BY i",
                       [["plain", 's."Odd ""Name"""', "nope", "public.parted", "parent", "free_seq", "v",
                         "deep"]]).fetchall()
    want = [None if r[0] is None else int(r[0]) for r in found]
    assert oids == want and oids[2] is None
    got = {(s, n, k) for _o, s, n, k in rels}
    assert got == _expected(db, ["plain", 's."Odd ""Name"""', "parted", "parent", "free_seq", "v", "deep"])
    # the owned sequences and the indexes hanging off the tables, the partitions and the inheriting table
    for item in [("s", 'Odd "Name"_id_seq', "S"), ("s", 'Odd "Name"_v_key', "i"), ("public", "plain_id_seq", "S"),
                 ("public", "plain_n", "i"), ("public", "parted_1", "r"), ("public", "parted_n", "I"),
                 ("public", "child", "r"), ("public", "free_seq", "S"), ("public", "v", "v"),
                 # regression: a sub-partition's own partition and its index (DROP TABLE deep drops them too)
                 ("public", "deep_1_a", "r"), ("public", "deep_1_a_k_idx", "i")]:
        assert item in got
    assert schemas == [True, True, False]
    assert isinstance(clock, float)


def test_names_read_with_nothing_found(db: psycopg.Connection[Any]) -> None:
    oids, rels, schemas, _clock = _names(db, [(None, "nothing_here"), ("no_schema", "t")], ["no_schema"])
    assert oids == [None, None] and rels == [] and schemas == [False]
