"""SQL callback files checked at load with a message saying what to do: a placeholder written inside a quoted
string (``'${version}'``, Flyway's habit) and a file that is not UTF-8 (read as a migration file is)."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.errors import ConfigError
from confiture_plugins.callbacks.files import load

from ..conftest import invoke, write


@pytest.mark.parametrize("text, line, placeholder", [
    ("INSERT INTO audit (v) VALUES ('${version}');\n", 1, "${version}"),
    ("SELECT 1;\n-- é\nSELECT 'v${name}!', E'${direction}';\n", 3, "${name}"),
])
def test_a_placeholder_inside_quotes_is_refused_naming_file_and_line(tmp_path: Path, text: str, line: int,
                                                                     placeholder: str) -> None:
    (tmp_path / "migrations").mkdir()
    write(tmp_path / "callbacks", "after_migrate.sql", text)
    r = invoke("plugins", cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert f"error: callbacks/after_migrate.sql:{line}: {placeholder} is inside a quoted string" in r.stderr
    assert "write it without the quotes" in r.stderr and "Traceback" not in r.stderr


def test_placeholders_outside_single_quotes_still_load(tmp_path: Path) -> None:
    path = write(tmp_path, "after_migrate.sql",
                 "DO $$ BEGIN RAISE NOTICE '%', ${version}; END $$;\n"
                 "SELECT 'v' || ${version}, $q$ '${name}' $q$; -- ran ${direction}\n")
    cb = load(path, "after_migrate", None)
    rendered = [text for _, text in cb.rendered({"version": "'7'", "name": "'n'", "direction": "'up'"})]
    assert rendered[0] == "DO $$ BEGIN RAISE NOTICE '%', '7'; END $$"
    assert rendered[1].startswith("SELECT 'v' || '7'")


def test_a_callback_file_that_is_not_utf8_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "on_error.sql"
    path.write_bytes(b"SELECT 1;\n\xff\n")
    with pytest.raises(ConfigError) as exc:
        load(path, "on_error", None)
    assert "not valid UTF-8 at byte 10; save the file as UTF-8 (callback file)" in str(exc.value)
    assert "codec" not in str(exc.value)
