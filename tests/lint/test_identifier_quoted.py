"""CF125's pre-filter for quoted identifiers never skips a statement that holds one over 63 bytes."""

from __future__ import annotations

import random

import pytest
from pglast.parser import ParseError, scan

from confiture_plugins.safety.identifier_length import may_hold_long_quoted
from tests.lint.helpers import run


def _long_identifiers(sql: str) -> set[str]:
    """What PostgreSQL's scanner reads as identifiers over 63 bytes (the reference: every token looked at)."""
    found = set()
    for tok in scan(sql):
        if tok.name == "IDENT":
            raw = sql[tok.start:tok.end + 1]
            ident = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
            if len(ident.encode("utf-8")) > 63:
                found.add(ident)
    return found


def _quoted(content: str) -> str:
    return '"' + content.replace('"', '""') + '"'


@pytest.mark.parametrize("content", [
    "x" * 64, '"' + "x" * 63, "x" * 63 + '"', '"' * 64, "é" * 32, 'a"' * 32, "x" * 30 + '""' + "y" * 32,
])
def test_a_long_quoted_identifier_is_found_however_it_is_written(content: str) -> None:
    sql = f"SELECT 'say \"' AS a, {_quoted(content)} FROM t -- \"\nWHERE b = '\"\"'"
    assert _long_identifiers(sql) == {content}
    assert may_hold_long_quoted(sql.encode())
    assert len(run(sql, "CF125")) == 1


def test_quotes_close_together_skip_the_scan() -> None:
    sql = 'CREATE TABLE "user" ("id" bigint, "name" text, "e""mail" text, "x" int) -- ' + "z " * 40
    assert not may_hold_long_quoted(sql.encode())
    assert run(sql, "CF125") == []


def test_the_pre_filter_agrees_with_the_scanner_on_random_statements() -> None:
    rnd = random.Random(125)
    pieces = ['"', '""', "'", "x", "é", " ", "-- c\n", "/* \" */", "'\"'", "ab", "$$\"$$"]
    checked = parsed = 0
    for _ in range(4000):
        parts = [rnd.choice(pieces) for _ in range(rnd.randint(1, 12))]
        if rnd.random() < 0.5:
            content = rnd.choice(["x", '"', "é", 'x"']) * rnd.randint(20, 70)
            parts.insert(rnd.randrange(len(parts) + 1), _quoted(content))
        sql = "SELECT " + "".join(parts)
        try:
            expected = _long_identifiers(sql)
        except ParseError:
            continue
        checked += 1
        # no unquoted identifier here reaches 64 bytes: each long one is quoted, and the pre-filter must see it
        assert not expected or may_hold_long_quoted(sql.encode()), sql
        found = run(sql, "CF125")
        if not any(v.code == "CF000" for v in found):  # SQL the parser takes: the rule finds what the scanner reads
            parsed += 1
            assert len(found) == len(expected), sql
    assert checked > 1000 and parsed > 100
