"""A migration file name that cannot be used says what to do: the name to rename it to, or the file to add."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.errors import MigrationFileError
from confiture_core.migrations import discover


@pytest.mark.parametrize(("names", "message"), [
    (["7_bad.sql"], "7_bad.sql: cannot parse the file name; expected <version>_<name>.up.sql or "
                    "<version>_<name>.down.sql with a numeric version; rename it to 7_bad.up.sql (or .down.sql if "
                    "it reverts one)"),
    (["foo.up.sql"], "foo.up.sql: cannot parse the file name; expected <version>_<name>.up.sql or "
                     "<version>_<name>.down.sql with a numeric version"),
    (["1_a.up.sql", "6_x.down.sql"], "6_x.down.sql: down migration without an up migration for version 6; add "
                                     "6_x.up.sql, or delete it if it is left over"),
])
def test_the_message_says_what_to_do(tmp_path: Path, names: list[str], message: str) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert str(info.value).endswith(message)
    assert "\n" not in str(info.value)
