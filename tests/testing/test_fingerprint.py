"""The catalog fingerprint: every category read, equal after a revert, each difference named."""

from __future__ import annotations

from typing import Any

import psycopg

from confiture_plugins.testing.fingerprint import CATEGORIES, Difference, fingerprint

SCHEMA = """
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('ok', 'sad');
CREATE DOMAIN shop.cents AS bigint NOT NULL CHECK (VALUE >= 0);
CREATE TYPE shop.pair AS (a int, b text);
CREATE TYPE shop.span AS RANGE (subtype = float8);
CREATE SEQUENCE shop.ticket START 100 INCREMENT 5;
CREATE TABLE shop.item (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text COLLATE "C" NOT NULL DEFAULT 'x',
    price bigint,
    amount shop.cents,
    doubled bigint GENERATED ALWAYS AS (price * 2) STORED,
    mood shop.mood,
    ticket int DEFAULT nextval('shop.ticket'),
    CONSTRAINT positive CHECK (price > 0)
);
ALTER SEQUENCE shop.ticket OWNED BY shop.item.ticket;
CREATE INDEX item_name ON shop.item (lower(name)) WHERE price > 10;
CREATE VIEW shop.cheap AS SELECT id, name FROM shop.item WHERE price < 100;
CREATE MATERIALIZED VIEW shop.counts AS SELECT mood, count(*) FROM shop.item GROUP BY mood;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE PROCEDURE shop.noop() LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE shop.total(bigint) (SFUNC = int8pl, STYPE = bigint);
CREATE TRIGGER item_touch BEFORE UPDATE ON shop.item FOR EACH ROW EXECUTE FUNCTION shop.touch();
ALTER TABLE shop.item ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON shop.item FOR SELECT TO PUBLIC USING (price > 0);
GRANT SELECT ON shop.item TO PUBLIC;
GRANT UPDATE (name) ON shop.item TO PUBLIC;
GRANT USAGE ON SCHEMA shop TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO PUBLIC;
CREATE FUNCTION shop.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER shop_ddl ON ddl_command_end EXECUTE FUNCTION shop.on_ddl();
"""


def _run(db: psycopg.Connection[Any], sql: str) -> None:
    db.execute(sql.encode())  # several statements: the simple query protocol


def test_every_category_is_read(db: psycopg.Connection[Any]) -> None:
    _run(db, SCHEMA)
    fp = fingerprint(db)
    o = fp.objects
    assert set(o) == set(CATEGORIES)
    assert o["schema"]["shop"].startswith("owner ")
    assert o["table"]["shop.item"].startswith("table owner ") and "row level security" in o["table"]["shop.item"]
    assert o["column"]["shop.item.id"] == "bigint NOT NULL GENERATED ALWAYS AS IDENTITY"
    assert o["column"]["shop.item.name"] == "text COLLATE \"C\" NOT NULL DEFAULT 'x'::text"
    assert o["column"]["shop.item.doubled"] == "bigint GENERATED ALWAYS AS ((price * 2)) STORED"
    assert o["column"]["shop.item.amount"] == "shop.cents"
    assert o["column"]["shop.item.mood"] == "shop.mood"
    assert o["constraint"]["shop.item: positive"] == "CHECK ((price > 0))"
    assert o["constraint"]["shop.cents: cents_check"] == "CHECK ((VALUE >= 0))"
    assert o["index"]["shop.item_name"] == ("CREATE INDEX item_name ON shop.item USING btree (lower(name)) "
                                            "WHERE (price > 10)")
    assert o["view"]["shop.cheap"].startswith("view owner ") and "price < 100" in o["view"]["shop.cheap"]
    assert o["view"]["shop.counts"].startswith("materialized view")
    assert "RETURN NEW" in o["function"]["shop.touch()"]
    assert "aggregate returning bigint" in o["function"]["shop.total(bigint)"]
    assert "PROCEDURE shop.noop()" in o["function"]["shop.noop()"]
    assert o["trigger"]["shop.item: item_touch"].startswith("CREATE TRIGGER item_touch BEFORE UPDATE ON shop.item")
    assert o["event trigger"]["shop_ddl"].startswith("on ddl_command_end execute shop.on_ddl")
    assert o["sequence"]["shop.ticket"].startswith("bigint start 100 increment 5 min 1 max 9223372036854775807")
    assert o["sequence"]["shop.ticket"].endswith("owned by shop.item.ticket")
    assert "shop.item_id_seq" not in o["sequence"]  # an identity column's own: the column says it
    assert o["type"]["shop.mood"].endswith("enum ('ok', 'sad')")
    assert o["type"]["shop.cents"].endswith("domain over bigint NOT NULL")
    assert o["type"]["shop.pair"].endswith("composite (a integer, b text)")
    assert o["type"]["shop.span"].endswith("range of double precision")
    assert "shop.item" not in o["type"]  # a table's row type is the table
    assert o["grant"]["on table shop.item to PUBLIC"] == "SELECT"
    assert o["grant"]["on column shop.item.name to PUBLIC"] == "UPDATE"
    assert o["grant"]["on schema shop to PUBLIC"] == "USAGE"
    assert [v for k, v in o["default privilege"].items() if "in schema shop on tables to PUBLIC" in k] == ["SELECT"]
    assert o["policy"]["shop.item: mine"] == "permissive for SELECT to PUBLIC using ((price > 0))"
    assert fingerprint(db).diff(fp) == []


def test_grant_then_revoke_is_never_granted(db: psycopg.Connection[Any]) -> None:
    _run(db, "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';")
    before = fingerprint(db)
    _run(db, "GRANT SELECT ON t TO PUBLIC; REVOKE SELECT ON t FROM PUBLIC; "
             "REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC; GRANT EXECUTE ON FUNCTION f() TO PUBLIC;")
    assert before.diff(fingerprint(db)) == []  # explicit ACLs equal to the defaults compare equal


def test_the_tracking_table_and_extension_members_are_left_out(db: psycopg.Connection[Any]) -> None:
    before = fingerprint(db, ("public", "confiture_migrations"))
    _run(db, "CREATE TABLE confiture_migrations (version numeric PRIMARY KEY, name text);"
             "GRANT SELECT ON confiture_migrations TO PUBLIC;")
    assert before.diff(fingerprint(db, ("public", "confiture_migrations"))) == []
    assert fingerprint(db).objects["table"]["public.confiture_migrations"]  # named only when asked
    available = db.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citext'").fetchone()
    if available:  # the server's contrib modules (Debian's have them)
        _run(db, "CREATE EXTENSION citext")
        after = fingerprint(db, ("public", "confiture_migrations"))
        assert [(d.category, d.name) for d in before.diff(after)] == [("extension", "citext")]


def test_differences_name_the_object_and_what_changed(db: psycopg.Connection[Any]) -> None:
    _run(db, "CREATE TABLE t (a int, b text); CREATE TYPE e AS ENUM ('x');")
    before = fingerprint(db)
    _run(db, "ALTER TABLE t ALTER COLUMN b SET DEFAULT 'n'; ALTER TABLE t DROP COLUMN a; "
             "CREATE INDEX t_b ON t (b); ALTER TYPE e ADD VALUE 'y';")
    diff = before.diff(fingerprint(db))
    assert diff == [
        Difference("column", "public.t.a", "integer", None),
        Difference("column", "public.t.b", "text", "text DEFAULT 'n'::text"),
        Difference("index", "public.t_b", None, "CREATE INDEX t_b ON public.t USING btree (b)"),
        Difference("type", "public.e", diff[3].before, diff[3].after),
    ]
    assert diff[3].after is not None and diff[3].after.endswith("enum ('x', 'y')")
    assert diff[0].describe("before up", "after down") == \
        "column public.t.a: there before up, gone after down: integer"
    assert diff[1].describe() == ("column public.t.b: changed\n      before: text\n"
                                  "      after: text DEFAULT 'n'::text")
