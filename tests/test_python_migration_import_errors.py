"""A Python migration that cannot be imported is named at its own file and line, in one line, and nothing runs."""

from __future__ import annotations

from pathlib import Path

import psycopg

from .conftest import invoke


def _tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT relname FROM pg_class WHERE relname IN ('a', 'b') ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_a_syntax_error_names_the_file_and_line(project: Path, database_url: str) -> None:
    (project / "migrations" / "1_a.up.sql").write_text("CREATE TABLE a (id int);\n")
    (project / "migrations" / "2_boom.py").write_text("def up(conn):\n    pass\n\nif True\n    pass\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 2, r.stderr
    line = next(line for line in r.stderr.splitlines() if "2_boom.py" in line)
    assert "import failed: SyntaxError: expected ':' (at " in line and line.endswith("2_boom.py:4)"), line
    assert "Traceback" not in r.stderr and "line 4)" not in line.replace("py:4)", "")
    assert _tables(database_url) == []  # refused before anything ran


def test_an_exception_at_import_names_the_line_that_raised(project: Path, database_url: str) -> None:
    (project / "migrations" / "1_raises.py").write_text("import os\nVALUE = int('x')\n\ndef up(conn):\n    pass\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 2, r.stderr
    assert "1_raises.py: import failed: ValueError: invalid literal for int() with base 10: 'x' (at " in r.stderr
    assert "1_raises.py:2)" in r.stderr and "Traceback" not in r.stderr
