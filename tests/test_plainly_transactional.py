"""sql.plainly_transactional: the pre-flight's answer without pglast's AST agrees with the full parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.migrations import sql_transaction_mode
from confiture_core.sql import parse_sql_text, plainly_transactional

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


def agrees(text: str) -> None:
    """``plainly_transactional(text)`` is only true when the full parse runs the file in one transaction."""
    if not plainly_transactional(text):
        return
    parsed = parse_sql_text(text)
    assert sql_transaction_mode(parsed) == (True, None), text[:200]
    assert sql_transaction_mode(parsed, mixed=True) == (True, None), text[:200]
    assert any(not st.is_transaction_control for st in parsed.statements), text[:200]


@pytest.mark.parametrize("corpus", ["lemmy", "ente"])
def test_agrees_with_the_full_parse_on_every_corpus_file(corpus: str) -> None:
    files = sorted((CORPUS / corpus / "migrations").glob("*.sql"))
    if not files:
        pytest.skip(f"corpus {corpus} not present")
    plain = 0
    for f in files:
        text = f.read_text()
        agrees(text)
        plain += plainly_transactional(text)
    assert plain > len(files) // 2  # most files skip the AST in the pre-flight


@pytest.mark.parametrize("text", [
    "CREATE INDEX CONCURRENTLY i ON t (a)",
    "CREATE TABLE t (a int); CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)",
    "DROP INDEX CONCURRENTLY i",
    "REINDEX (CONCURRENTLY) TABLE t",
    "REINDEX SYSTEM d",
    "REINDEX DATABASE d",
    "VACUUM t",
    "VACUUM (FULL) t",
    "ALTER SYSTEM SET work_mem = '1MB'",
    "CREATE DATABASE d",
    "DROP DATABASE d",
    "CREATE TABLESPACE s LOCATION '/x'",
    "DROP TABLESPACE s",
    "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p",
    "DROP SUBSCRIPTION s",
    "ALTER TABLE t DETACH PARTITION p CONCURRENTLY",
    "CREATE TABLE t (a int); ROLLBACK",
    "CREATE TABLE t (a int); ABORT",
    "CREATE TABLE t (a int); PREPARE TRANSACTION 'x'",
    "COMMIT PREPARED 'x'",
    "ROLLBACK PREPARED 'x'",
    "BEGIN; COMMIT",
    "",
    "-- only a comment\n",
    "-- confiture: no-transaction\nCREATE TABLE t (a int)",
    "COPY t (a) FROM stdin;\n1\n\\.\n",
    "CREATE TABLE t (a int",
    "CREATE TABLE t (a int); \\i other.sql",
])
def test_says_nothing_where_the_full_parse_must_look(text: str) -> None:
    assert not plainly_transactional(text)


@pytest.mark.parametrize("text", [
    "CREATE TABLE t (a int)",
    "CREATE INDEX i ON t (a); DROP INDEX j; ALTER TABLE t ADD COLUMN b int",
    "SELECT '{\"VacuumStmt\":', '\"concurrent\":true' -- VACUUM CONCURRENTLY in a comment",
    "REFRESH MATERIALIZED VIEW v",
])
def test_plain_files(text: str) -> None:
    assert plainly_transactional(text)
    agrees(text)


@pytest.mark.parametrize("text", [
    "BEGIN; CREATE TABLE t (a int); SAVEPOINT s; ROLLBACK TO s; COMMIT",  # transaction control
    "ANALYZE t",  # a VacuumStmt, which VACUUM is too
])
def test_files_it_leaves_to_the_full_parse_though_they_run_in_a_transaction(text: str) -> None:
    assert not plainly_transactional(text)
    assert sql_transaction_mode(parse_sql_text(text)) == (True, None)
