"""Statement splitting on pglast: the hard cases, checked against exact values."""

from __future__ import annotations

import enum

import pytest

from confiture_core.errors import SqlSyntaxError
from confiture_core.sql import parse_sql_text, redact_secrets


def kinds(text: str) -> list[str]:
    return [s.kind for s in parse_sql_text(text).statements]


def test_dollar_quotes_with_nested_tags_keep_inner_semicolons() -> None:
    text = (
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $outer$\n"
        "BEGIN EXECUTE $inner$ SELECT ';'; SELECT 2 $inner$; END;\n"
        "$outer$;\nSELECT 1;"
    )
    f = parse_sql_text(text)
    assert [s.kind for s in f.statements] == ["CreateFunctionStmt", "SelectStmt"]
    assert f.statements[0].sql.endswith("$outer$")
    assert f.statements[1].line == 4


def test_e_strings_and_comments_with_semicolons() -> None:
    text = "-- a; comment\nSELECT E'it\\'s; fine';\n/* x; /* nested; */ y; */ SELECT 2;"
    f = parse_sql_text(text)
    assert [s.sql for s in f.statements] == ["SELECT E'it\\'s; fine'", "SELECT 2"]
    assert [s.line for s in f.statements] == [2, 3]


def test_begin_atomic_body_is_one_statement() -> None:
    text = ("CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\n"
            "CREATE TABLE t (a int);")
    assert kinds(text) == ["CreateFunctionStmt", "CreateStmt"]


def test_copy_from_stdin_data_rows_up_to_backslash_dot() -> None:
    text = "CREATE TABLE t (a int, b text);\nCOPY t (a, b) FROM stdin;\n1\tx;y\n2\tit's\n\\.\nSELECT 3;\n"
    f = parse_sql_text(text)
    assert [s.kind for s in f.statements] == ["CreateStmt", "CopyStmt", "SelectStmt"]
    assert f.statements[1].copy_data == "1\tx;y\n2\tit's\n"
    assert f.statements[2].sql == "SELECT 3"
    assert f.statements[2].line == 6


def test_copy_without_terminator_is_an_error_naming_the_line() -> None:
    with pytest.raises(SqlSyntaxError) as e:
        parse_sql_text("SELECT 1;\nCOPY t FROM stdin;\n1\t2\n", "m.sql")
    assert "m.sql:2:1" in str(e.value)


def test_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(SqlSyntaxError) as e:
        parse_sql_text("SELECT 1;\nSELEC 2;", "1_x.up.sql")
    assert str(e.value).startswith("1_x.up.sql:2:1: SQL syntax error")


def test_unterminated_last_statement_and_empty_files() -> None:
    assert kinds("SELECT 1;\nSELECT 2") == ["SelectStmt", "SelectStmt"]
    assert kinds("-- only a comment\n") == []
    assert kinds("") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"),
        ("REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY"),
        ("VACUUM t", "VACUUM"),
        ("ALTER SYSTEM SET work_mem = '8MB'", "ALTER SYSTEM"),
        ("CREATE DATABASE x", "CREATE DATABASE"),
        ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "ALTER TABLE ... DETACH PARTITION CONCURRENTLY"),
        ("CREATE INDEX i ON t (a)", None),
        ("ANALYZE t", None),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", None),
    ],
)
def test_no_transaction_detection(text: str, reason: str | None) -> None:
    assert parse_sql_text(text).statements[0].no_transaction_reason == reason


def test_no_transaction_directive_only_in_header() -> None:
    assert parse_sql_text("-- confiture: no-transaction\nSELECT 1;").no_transaction is True
    assert parse_sql_text("SELECT 1;\n-- confiture: no-transaction\nSELECT 2;").no_transaction is False


def test_bom_and_non_ascii_offsets() -> None:
    f = parse_sql_text("\ufeffSELECT 'é';\nSELECT 'ü';")
    assert [s.sql for s in f.statements] == ["SELECT 'é'", "SELECT 'ü'"]


def test_trusted_parsing_gives_the_same_tree_and_restores_validation() -> None:
    from pglast import ast

    from confiture_core import sql

    texts = [
        sql._FAST_SAMPLE,
        "CREATE TABLE t (a int DEFAULT true, b text NOT NULL);\nCOPY t FROM stdin;\n1\tx\n\\.\nSELECT 'é', false;",
    ]
    expected = [parse_sql_text(t) for t in texts]
    with sql.trusted_parsing() as fast:
        got = [parse_sql_text(t) for t in texts]
    assert fast is True
    for e, g in zip(expected, got, strict=True):
        assert [(s.sql, s.offset, s.line, s.column, s.copy_data) for s in e.statements] == \
            [(s.sql, s.offset, s.line, s.column, s.copy_data) for s in g.statements]
        assert all(sql._same_tree(a.node, b.node) for a, b in zip(e.statements, g.statements, strict=True))
    assert ast.Node.__setattr__ is sql._node_setattr and "__setattr__" not in vars(ast.Boolean)
    with pytest.raises(ValueError):
        ast.Integer(ival="not an int")  # pglast's validation is back
    from pglast import enums

    assert isinstance(enums.ConstrType, enum.EnumMeta)  # the enum classes are back in pglast.enums


def test_trusted_parsing_enum_lookups_behave_as_the_enum_classes() -> None:
    from pglast import enums

    from confiture_core import sql

    with sql.trusted_parsing() as fast:
        assert fast is True
        constr, like = enums.ConstrType, enums.TableLikeOption
        assert not isinstance(constr, enum.EnumMeta)  # the dictionary look-up is in place
        assert constr(1) is sql._enum_classes["ConstrType"](1)
        combined = like(6)  # a combination of flags: not in the map, made by the IntFlag class
        assert combined == 6 and type(combined) is sql._enum_classes["TableLikeOption"]
        with pytest.raises(ValueError):
            constr(999)  # not a member: the class's own error
    assert enums.ConstrType is sql._enum_classes["ConstrType"]


@pytest.mark.parametrize("sql", [
    "CREATE ROLE app LOGIN PASSWORD 'hunter2'",
    "alter user app with password E'hun''ter2'",
    "ALTER ROLE app PA\u017f\u017fWORD 'hunter2'",  # LATIN SMALL LETTER LONG S matches s case-insensitively
    "CREATE ROLE r5 PASSWORD $p$hunter2$p$",  # regression: dollar quotes were shown
    "CREATE ROLE r5 PASSWORD $$hun'ter2$$",
    "DO $$ BEGIN EXECUTE 'CREATE ROLE r2 PASSWORD ''hunter2'''",  # regression: doubled quotes in a DO block
    "CREATE USER u PASSWORD\n  'hunter2'",
])
def test_redact_secrets_hides_every_password_literal(sql: str) -> None:
    out = redact_secrets(sql)
    assert "hunter2" not in out and "hun''ter2" not in out and out.endswith("'***'")


def test_redact_secrets_leaves_other_text_alone() -> None:
    assert redact_secrets("CREATE TABLE passwords (hash text)") == "CREATE TABLE passwords (hash text)"
    kept = "CREATE ROLE a PASSWORD 'x' VALID UNTIL '2030-01-01';\n-- users change their password 'often'"
    assert redact_secrets(kept) == ("CREATE ROLE a PASSWORD '***' VALID UNTIL '2030-01-01';\n"
                                    "-- users change their password '***'")
    assert redact_secrets("DO $$ BEGIN EXECUTE 'ALTER ROLE r PASSWORD ''x'''; END $$;\nSELECT 1") == (
        "DO $$ BEGIN EXECUTE 'ALTER ROLE r PASSWORD '***'\nSELECT 1")


def test_statement_positions_match_the_line_table_on_the_corpora() -> None:
    from confiture_core.migrations import read_text
    from confiture_core.sql import _Lines
    from tests.conftest import CORPUS

    checked = 0
    for path in sorted(CORPUS.glob("*/migrations/**/*.sql")):
        try:
            parsed = parse_sql_text(read_text(path), str(path))
        except SqlSyntaxError:
            continue
        text = read_text(path)
        lines = _Lines(text)
        for s in parsed.statements:
            assert (s.line, s.column) == lines(s.offset), (path, s.index)
            checked += 1
    assert checked > 5000


def test_trusted_parsing_interrupted_while_installing_restores_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal (KeyboardInterrupt) arriving while the fast path is being installed leaves nothing behind."""
    from pglast import ast, enums

    from confiture_core import sql

    real_install = sql._install

    def interrupted() -> None:
        real_install()
        raise KeyboardInterrupt

    assert sql._fast_path_ok()
    monkeypatch.setattr(sql, "_install", interrupted)
    with pytest.raises(KeyboardInterrupt), sql.trusted_parsing():
        pass
    assert ast.Node.__setattr__ is sql._node_setattr and "__setattr__" not in vars(ast.Boolean)
    assert isinstance(enums.ConstrType, enum.EnumMeta)
    assert sql._fast_active is False
