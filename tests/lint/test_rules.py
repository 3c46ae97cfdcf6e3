"""Every built-in rule: SQL it must flag and SQL it must accept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lint.helpers import ALL_RULES, BY_CODE, codes, run

# (code, failing SQL, passing SQL, keyword arguments for both runs)
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("CF101", "CREATE INDEX i ON orders (customer_id);",
     "CREATE INDEX CONCURRENTLY i ON orders (customer_id);", {}),
    ("CF101", 'CREATE UNIQUE INDEX i ON "Sales".orders (lower(email));',
     "CREATE TABLE sales.orders (id bigint); CREATE INDEX i ON orders (id);", {}),
    ("CF102", "DROP INDEX i;", "DROP INDEX CONCURRENTLY IF EXISTS i;", {}),
    ("CF103", "REINDEX INDEX i;", "REINDEX INDEX CONCURRENTLY i;", {}),
    ("CF104", "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
     "ALTER TABLE t ADD COLUMN created timestamptz DEFAULT now();", {}),
    ("CF104", "ALTER TABLE t ADD COLUMN n int DEFAULT 0;",
     "ALTER TABLE t ADD COLUMN n int;", {"pg": 10}),
    ("CF104", "ALTER TABLE t ADD COLUMN d int GENERATED ALWAYS AS (a * 2) STORED;",
     "ALTER TABLE t ADD COLUMN n int DEFAULT 0;", {}),
    ("CF105", "ALTER TABLE t ALTER COLUMN c SET NOT NULL;",
     "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE t VALIDATE CONSTRAINT c_nn;\n"
     "ALTER TABLE t ALTER COLUMN c SET NOT NULL;", {"rules": ["CF105"]}),
    ("CF106", "ALTER TABLE t ADD COLUMN c text NOT NULL;",
     "ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT '';", {}),
    ("CF107", "ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);",
     "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX t_email_idx;", {}),
    ("CF107", "ALTER TABLE t ADD PRIMARY KEY (id);",
     "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX t_id_idx;", {}),
    ("CF108", "ALTER TABLE o ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES c (id);",
     "ALTER TABLE o ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES c (id) NOT VALID;", {}),
    ("CF108", "ALTER TABLE o ADD COLUMN c bigint REFERENCES c (id);",
     "CREATE TABLE o (id bigint, c bigint REFERENCES c (id));", {}),
    ("CF109", "ALTER TABLE t ADD CONSTRAINT pos CHECK (n > 0);",
     "ALTER TABLE t ADD CONSTRAINT pos CHECK (n > 0) NOT VALID;", {}),
    ("CF110", "ALTER TABLE t ALTER COLUMN n TYPE bigint;",
     "ALTER TABLE t ALTER COLUMN n SET DEFAULT 1;", {}),
    ("CF111", "ALTER TABLE t RENAME COLUMN a TO b;", "ALTER TABLE t RENAME CONSTRAINT a TO b;", {}),
    ("CF112", "ALTER TABLE t RENAME TO u;", "CREATE TABLE t (id bigint); ALTER TABLE t RENAME TO u;", {}),
    ("CF113", "ALTER TABLE t DROP COLUMN c;", "ALTER TABLE t DROP CONSTRAINT c;", {}),
    ("CF114", "DROP TABLE IF EXISTS public.t;", "CREATE TABLE tmp (id bigint); DROP TABLE tmp;", {}),
    ("CF115", "DROP DATABASE prod;", "DROP SCHEMA IF EXISTS s;", {}),
    ("CF116", "TRUNCATE a, b CASCADE;", "TRUNCATE a, b;", {}),
    ("CF117", "VACUUM (FULL, ANALYZE) t;", "VACUUM (ANALYZE) t;", {}),
    ("CF118", "CLUSTER t USING t_pkey;", "ANALYZE t;", {}),
    ("CF119", "BEGIN; CREATE TABLE t (id bigint); COMMIT;",
     "-- confiture: no-transaction\nBEGIN; CREATE TABLE t (id bigint); COMMIT;", {}),
    ("CF120", "ALTER TABLE t ADD COLUMN c text;",
     "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c text;", {}),
    ("CF121", "CREATE TABLE t (id serial PRIMARY KEY);",
     "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);", {}),
    ("CF122", "CREATE TABLE t (n integer);", "CREATE TABLE t (n bigint);", {}),
    ("CF122", "ALTER TABLE t ADD COLUMN n smallint;", "ALTER TABLE t ADD COLUMN n int8;", {}),
    ("CF123", "CREATE TABLE t (name varchar(100));", "CREATE TABLE t (name text, v varchar);", {}),
    ("CF123", "CREATE TABLE t (code char(3));", "CREATE TABLE t (code text CHECK (length(code) = 3));", {}),
    ("CF124", "CREATE TABLE t (at timestamp);", "CREATE TABLE t (at timestamptz);", {}),
    ("CF124", "ALTER TABLE t ALTER COLUMN at TYPE timestamp without time zone;",
     "ALTER TABLE t ALTER COLUMN at TYPE timestamp with time zone;", {"rules": ["CF124"]}),
    ("CF125", f"CREATE TABLE t (id bigint, {'x' * 64} text);", f"CREATE TABLE t (id bigint, {'x' * 63} text);", {}),
    ("CF125", f"CREATE INDEX CONCURRENTLY {'é' * 32} ON t (id);",
     f"CREATE INDEX CONCURRENTLY {'é' * 31} ON t (id);", {}),
    ("CF126", "REINDEX INDEX CONCURRENTLY i;", "REINDEX INDEX i;", {"pg": 11}),
    ("CF126", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE;",
     "DELETE FROM t USING s WHERE t.id = s.id;", {"pg": 14}),
    ("CF201", 'CREATE TABLE "UserAccounts" (id bigint);', "CREATE TABLE UserAccounts (id bigint);", {}),
    ("CF201", 'ALTER TABLE t ADD COLUMN "firstName" text;', "ALTER TABLE t ADD COLUMN first_name text;", {}),
    ("CF202", "CREATE TABLE t (id bigint, n text);", "CREATE TABLE s.t (id bigint, n text, PRIMARY KEY (id));", {}),
    ("CF202", "CREATE TABLE t (id bigint);",
     "CREATE TABLE t (id bigint); ALTER TABLE t ADD PRIMARY KEY (id);", {}),
    ("CF203", "CREATE TABLE t (id bigint); COMMENT ON TABLE other IS 'x';",
     "CREATE TABLE s.t (id bigint); COMMENT ON TABLE s.t IS 'One row per order.';", {}),
    ("CF204", "CREATE TABLE users (id bigint, password text, api_key text);",
     "CREATE TABLE users (id bigint, password_hash text, api_key_id bigint);", {}),
    ("CF205", "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'select 1';",
     "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
     "AS 'select 1';", {}),
    ("CF205", "ALTER FUNCTION f() SECURITY DEFINER;",
     "ALTER FUNCTION f() SECURITY DEFINER SET search_path = '';", {}),
    ("CF301", "CREATE TABLE orders (id bigint PRIMARY KEY);",
     "CREATE TABLE orders (tenant_id bigint NOT NULL, id bigint, PRIMARY KEY (tenant_id, id));", {}),
    ("CF302", "CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id bigint NOT NULL);",
     "CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id bigint NOT NULL);\n"
     "CREATE INDEX CONCURRENTLY orders_tenant ON orders (tenant_id, id);", {}),
]


@pytest.mark.parametrize(("code", "bad", "good", "kw"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_flags_bad_and_accepts_good(code: str, bad: str, good: str, kw: dict[str, Any]) -> None:
    kw = dict(kw)
    rules = [BY_CODE[c] for c in kw.pop("rules", [code])]
    bad_found = [v for v in run(bad, rules, **kw) if v.code == code]
    assert len(bad_found) >= 1, f"{code} did not flag: {bad}"
    v = bad_found[0]
    assert v.name == BY_CODE[code].name
    assert v.severity == BY_CODE[code].severity
    assert v.line >= 1 and v.column >= 1
    assert len(v.message) > 40  # says why and what to do
    assert [v.code for v in run(good, rules, **kw) if v.code == code] == []


def test_every_rule_has_a_failing_and_a_passing_case() -> None:
    assert {c[0] for c in CASES} == {r.code for r in ALL_RULES}


def test_every_rule_is_documented() -> None:
    for r in ALL_RULES:
        r.validate_class()
        assert r.explanation and "Instead" in r.explanation, r.code


def test_messages_name_the_objects() -> None:
    (v,) = run('CREATE INDEX idx ON "Sales".orders (c);', "CF101")
    assert "idx" in v.message and "Sales.orders" in v.message and "CONCURRENTLY" in v.message
    (v,) = run("ALTER TABLE accounts RENAME COLUMN name TO full_name;", "CF111")
    assert v.message.startswith("rename of column accounts.name to full_name")


def test_index_on_table_created_in_same_file_is_not_reported() -> None:
    sql = "CREATE TABLE public.t (id bigint);\nCREATE INDEX t_id ON t (id);\nCREATE INDEX o_id ON other (id);\n"
    found = run(sql, "CF101")
    assert [(v.code, v.line) for v in found] == [("CF101", 3)]


def test_set_not_null_check_route_needs_pg12_and_validation() -> None:
    route = ("ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n"
             "ALTER TABLE t VALIDATE CONSTRAINT c_nn;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;\n")
    assert codes(route, "CF105", pg=12) == []
    assert codes(route, "CF105", pg=11) == ["CF105"]
    not_validated = ("ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n"
                     "ALTER TABLE t ALTER COLUMN c SET NOT NULL;\n")
    assert codes(not_validated, "CF105") == ["CF105"]
    other_column = route.replace("COLUMN c SET", "COLUMN d SET")
    assert codes(other_column, "CF105") == ["CF105"]


def test_newer_syntax_depends_on_the_target_version() -> None:
    # regression: REINDEX CONCURRENTLY passed silently with --pg-version 10 (it needs 12)
    reindex = "REINDEX INDEX CONCURRENTLY i;"
    (v,) = run(reindex, "CF126", pg=10)
    assert v.message.startswith("REINDEX ... CONCURRENTLY needs PostgreSQL 12 or later; the target is PostgreSQL 10")
    assert codes(reindex, "CF126", pg=12) == []
    table = ("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY, g int GENERATED ALWAYS AS (id * 2) STORED, "
             "UNIQUE NULLS NOT DISTINCT (g)) PARTITION BY RANGE (id);")
    assert sorted(v.message.split(" needs")[0] for v in run(table, "CF126", pg=9)) == [
        "CREATE TABLE ... PARTITION BY", "GENERATED ... AS IDENTITY", "NULLS NOT DISTINCT",
        "generated columns (GENERATED ALWAYS AS (...) STORED)"]
    assert codes(table, "CF126", pg=11) == ["CF126", "CF126"]  # generated column, NULLS NOT DISTINCT
    assert codes(table, "CF126", pg=15) == []
    detach = "ALTER TABLE p DETACH PARTITION c CONCURRENTLY;"
    assert (codes(detach, "CF126", pg=13), codes(detach, "CF126", pg=14)) == (["CF126"], [])
    add_value = "ALTER TYPE mood ADD VALUE 'meh';"
    assert codes(add_value, "CF126", pg=11) == ["CF126"]
    assert codes("-- confiture: no-transaction\n" + add_value, "CF126", pg=11) == []
    assert codes("CREATE INDEX i ON t (a) INCLUDE (b);", "CF126", pg=10) == ["CF126"]
    assert codes("CREATE PROCEDURE p() LANGUAGE sql AS 'select 1';", "CF126", pg=10) == ["CF126"]


def test_volatile_default_messages_depend_on_version() -> None:
    (v,) = run("ALTER TABLE t ADD COLUMN n int DEFAULT 0;", "CF104", pg=10)
    assert "before PostgreSQL 11" in v.message
    (v,) = run("ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();", "CF104", pg=16)
    assert "gen_random_uuid() which is volatile" in v.message.replace(",", "")


def test_lock_timeout_from_config_counts_and_reported_once() -> None:
    sql = "ALTER TABLE a ADD COLUMN c text;\nALTER TABLE b ADD COLUMN c text;\n"
    assert [(v.code, v.line) for v in run(sql, "CF120")] == [("CF120", 1)]
    assert codes(sql, "CF120", lock_timeout="5s") == []


def test_transaction_nesting_only_when_runner_wraps() -> None:
    # a file holding only CREATE INDEX CONCURRENTLY runs in autocommit: no nesting
    assert codes("CREATE INDEX CONCURRENTLY i ON t (c);", "CF119") == []
    assert codes("START TRANSACTION;\nSELECT 1;\nROLLBACK;", "CF119") == ["CF119", "CF119"]


def test_tenancy_settings() -> None:
    cfg = {"tenancy": {"column": "org_id", "exempt": ["countries", "ref.currencies"]}}
    assert codes("CREATE TABLE countries (code text PRIMARY KEY);", "CF301", config=cfg) == []
    assert codes("CREATE TABLE ref.currencies (code text PRIMARY KEY);", "CF301", config=cfg) == []
    assert codes("CREATE TABLE other.currencies (code text PRIMARY KEY);", "CF301", config=cfg) == ["CF301"]
    found = run("CREATE TABLE orders (id bigint PRIMARY KEY);", "CF301", config=cfg)
    assert "org_id" in found[0].message
    assert codes("CREATE TABLE o (org_id bigint, id bigint, PRIMARY KEY (org_id, id));", "CF302", config=cfg) == []
    assert codes("CREATE TABLE o (org_id bigint, id bigint, PRIMARY KEY (id, org_id));", "CF302", config=cfg) \
        == ["CF302"]


def test_sensitive_words_are_configurable() -> None:
    cfg = {"conventions": {"sensitive_words": ["pin"]}}
    assert codes("CREATE TABLE t (id bigint, pin text, password text);", "CF204", config=cfg) == ["CF204"]


def test_pg_version_bounds_filter_rules() -> None:
    from confiture_core.lint.engine import Linter, LintOptions
    from confiture_core.lint.rule import LintRule

    class Old(LintRule):
        code, name, groups, summary = "XX001", "x.old", ("x",), "only before 12"
        max_pg_version = 11

    assert [r.code for r in Linter([Old], LintOptions(pg_version=11), jobs=1).rules] == ["XX001"]
    assert Linter([Old], LintOptions(pg_version=12), jobs=1).rules == []
