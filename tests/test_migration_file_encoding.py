"""A migration file that is not UTF-8 is refused naming the line of the bad byte (CRLF and a BOM counted out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.errors import MigrationFileError
from confiture_core.migrations import read_text


@pytest.mark.parametrize(("data", "line", "byte"), [
    (b"SELECT 1;\nSELECT caf\xe9;\n", 2, 20),
    (b"\xef\xbb\xbfSELECT 1;\r\n\r\nSELECT caf\xe9;\r\n", 3, 21),  # offsets after the BOM and CRLF
    (b"\xe9", 1, 0),
])
def test_the_bad_byte_s_line_is_named(tmp_path: Path, data: bytes, line: int, byte: int) -> None:
    path = tmp_path / "2_x.up.sql"
    path.write_bytes(data)
    with pytest.raises(MigrationFileError) as exc:
        read_text(path)
    assert str(exc.value).endswith(f"2_x.up.sql:{line}: not valid UTF-8 at byte {byte}; save the file as UTF-8")
