"""`confiture lint` of the migrations folder refuses what `migrate up` would refuse by file name (two files of one
version), instead of passing a folder that cannot be applied."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import invoke


def test_two_files_of_one_version_are_refused_naming_both(tmp_path: Path) -> None:
    m = tmp_path / "migrations"
    m.mkdir()
    (m / "1_a.up.sql").write_text("CREATE TABLE a (id bigint);\n")
    (m / "1_b.up.sql").write_text("CREATE TABLE b (id bigint);\n")
    for fmt in ("text", "json"):
        r = invoke("lint", "--no-cache", "--pg-version", "16", "--format", fmt, cwd=tmp_path)
        assert r.code == 2, r.stdout + r.stderr
        assert r.stderr.strip() == ("error: migrations/1_b.up.sql: duplicate version 1 (also 1_a.up.sql); give one "
                                    "of them a new version")
        assert ("duplicate version 1" in r.stdout) == (fmt == "json")  # the JSON error document


def test_named_files_are_linted_as_given(tmp_path: Path) -> None:
    m = tmp_path / "migrations"
    m.mkdir()
    (m / "1_a.up.sql").write_text("CREATE TABLE a (id bigint);\n")
    (m / "1_b.up.sql").write_text("CREATE TABLE b (id bigint);\n")
    r = invoke("-C", str(tmp_path), "lint", "--no-cache", "--pg-version", "16", "migrations/1_a.up.sql",
               "migrations/1_b.up.sql")
    assert r.code == 0, r.stderr
    assert "No findings in 2 files" in r.stdout
