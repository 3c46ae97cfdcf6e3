"""``Output.say`` off a terminal: a line rich would write unchanged skips rich; an emoji code still becomes one."""

from __future__ import annotations

import pytest

from confiture_core.cli.output import Output


@pytest.mark.parametrize(("text", "shown"), [
    ("12_a.up.sql:34: skipped BEGIN: the migration already runs in its own transaction",
     "12_a.up.sql:34: skipped BEGIN: the migration already runs in its own transaction"),
    ("done :smile: and :100:", "done 😄 and 💯"),  # as rich writes them
    ("a:b:c", "a🅱c"),  # :b: is one too, for rich
])
def test_lines_read_as_rich_writes_them(text: str, shown: str, capsys: pytest.CaptureFixture[str]) -> None:
    Output().say(text)
    assert capsys.readouterr().err == shown + "\n"
