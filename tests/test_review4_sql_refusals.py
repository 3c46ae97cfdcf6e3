"""A SQL syntax error is one line: an unterminated string's "at or near" does not quote the rest of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.errors import MigrationFileError, SqlSyntaxError
from confiture_core.migrations import discover


def refusal(tmp_path: Path, text: str) -> str:
    (tmp_path / "1_a.up.sql").write_text(text)
    (m,) = discover(tmp_path)
    with pytest.raises(MigrationFileError) as info:
        m.is_transactional("up")
    return str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("SELECT 1;\nSELECT $q$ abc\nmore\nlines\n", "1_a.up.sql:2:8: SQL syntax error: unterminated dollar-quoted "
                                                 'string at or near "$q$ abc…"'),
    ("SELECT 'abc\nmore\n", "1_a.up.sql:1:8: SQL syntax error: unterminated quoted string at or near \"'abc…\""),
    ('SELECT "abc\nmore\n', '1_a.up.sql:1:8: SQL syntax error: unterminated quoted identifier at or near ""abc…"'),
    ("SELECT (1;\n", '1_a.up.sql:1:10: SQL syntax error: syntax error at or near ";"'),  # unchanged
])
def test_an_unterminated_string_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    said = refusal(tmp_path, text)
    assert said.endswith(message) and "\n" not in said


def test_a_multi_line_message_keeps_its_first_line() -> None:
    assert str(SqlSyntaxError("f.sql", 3, 1, "first\nsecond")) == "f.sql:3:1: SQL syntax error: first…"
