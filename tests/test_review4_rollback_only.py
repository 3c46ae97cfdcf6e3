"""A SQL file holding only ROLLBACK is refused for its ROLLBACK (as README says), not as an empty file."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_review4_sql_refusals import refusal


@pytest.mark.parametrize("text", ["ROLLBACK;\n", "-- undo everything\nROLLBACK;\n", "BEGIN;\nROLLBACK;\n"])
def test_a_file_of_only_rollback_is_refused_for_it(tmp_path: Path, text: str) -> None:
    said = refusal(tmp_path, text)
    assert "ROLLBACK is not allowed in a migration that runs in a transaction" in said
    assert "has no SQL statement yet" not in said


@pytest.mark.parametrize("text", ["", "-- todo\n", "BEGIN;\nCOMMIT;\n"])
def test_a_file_without_statements_is_still_said_empty(tmp_path: Path, text: str) -> None:
    assert "has no SQL statement yet" in refusal(tmp_path, text)
