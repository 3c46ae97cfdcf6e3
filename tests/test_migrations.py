"""Discovery, versions and checksums."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from confiture_core.errors import MigrationFileError
from confiture_core.migrations import checksum_bytes, discover

from .conftest import write


def test_versions_sort_as_numbers(tmp_path: Path) -> None:
    for v in ("10", "2", "1", "0009"):
        write(tmp_path, f"{v}_m.up.sql", "SELECT 1;")
    assert [m.version for m in discover(tmp_path)] == [1, 2, 9, 10]


def test_down_paired_by_version_even_with_another_name(tmp_path: Path) -> None:
    write(tmp_path, "30_add_x.up.sql", "SELECT 1;")
    write(tmp_path, "30_drop_x.down.sql", "SELECT 2;")
    (m,) = discover(tmp_path)
    assert m.down_path is not None and m.down_path.name == "30_drop_x.down.sql"


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        (["1_a.up.sql", "01_b.up.sql"], "duplicate version 1"),
        (["2_a.down.sql"], "down migration without an up migration for version 2"),
        (["x_a.up.sql"], "x_a.up.sql: cannot parse the file name"),
        (["3_a.sql"], "3_a.sql: cannot parse the file name"),
        (["4-a.py"], "4-a.py: cannot parse the file name"),
    ],
)
def test_bad_folders_name_the_file(tmp_path: Path, files: list[str], fragment: str) -> None:
    for f in files:
        write(tmp_path, f, "SELECT 1;")
    with pytest.raises(MigrationFileError) as e:
        discover(tmp_path)
    assert fragment in str(e.value)


def test_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "hi")
    write(tmp_path, ".hidden.sql", "x")
    write(tmp_path, "__init__.py", "")
    write(tmp_path, "1_a.up.sql", "SELECT 1;")
    assert [m.name for m in discover(tmp_path)] == ["a"]


def test_checksum_ignores_crlf_and_bom_but_not_edits() -> None:
    base = checksum_bytes(b"SELECT 1;\nSELECT 2;\n")
    assert checksum_bytes(b"SELECT 1;\r\nSELECT 2;\r\n") == base
    assert checksum_bytes(b"\xef\xbb\xbfSELECT 1;\nSELECT 2;\n") == base
    assert checksum_bytes(b"SELECT 1;\nSELECT 3;\n") != base


def test_mixed_file_is_refused_with_explanation(tmp_path: Path) -> None:
    write(tmp_path, "1_a.up.sql", "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
    (m,) = discover(tmp_path)
    with pytest.raises(MigrationFileError) as e:
        m.is_transactional("up")
    assert "1_a.up.sql:2: CREATE INDEX CONCURRENTLY cannot run in a transaction block" in str(e.value)
    assert "confiture: no-transaction" in str(e.value)


def test_directive_allows_mixed_file(tmp_path: Path) -> None:
    write(tmp_path, "1_a.up.sql", "-- confiture: no-transaction\nCREATE TABLE t (a int);\n"
                                 "CREATE INDEX CONCURRENTLY i ON t (a);\n")
    (m,) = discover(tmp_path)
    assert m.is_transactional("up") is False


def test_upper_case_extensions_are_refused_not_ignored(tmp_path: Path) -> None:
    """Regression: 6_x.UP.SQL was silently ignored ("nothing to migrate") and 7_y.Up.sql was a vague error."""
    for name, fixed in (("6_x.UP.SQL", "6_x.up.sql"), ("7_y.Up.sql", "7_y.up.sql"), ("8_z.PY", "8_z.py")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).write_text("SELECT 1;\n")
        with pytest.raises(MigrationFileError, match=rf"must be lower case .*rename it to {re.escape(fixed)}"):
            discover(folder)
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "1_Mixed_Name.up.sql").write_text("SELECT 1;\n")
    (ok / "notes.TXT").write_text("")
    assert [m.name for m in discover(ok)] == ["Mixed_Name"]
