"""A bad COPY FROM stdin row is reported at its own line of the file, not the COPY statement's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ..conftest import invoke, write


def test_the_bad_row_is_named_by_its_file_line(project: Path, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "8_h.up.sql",
          "CREATE TABLE h (id int, v text);\nCOPY h (id, v)\n  FROM stdin;\n1\ta\n2\tb\nx\tc\n\\.\nSELECT 1;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 1
    assert 'migrations/8_h.up.sql:6: invalid input syntax for type integer: "x" [22P02] (COPY h, line 3, ' \
           'column id: "x")' in r.stderr, r.stderr
    assert db.execute("SELECT to_regclass('h')").fetchone() == (None,)  # rolled back
