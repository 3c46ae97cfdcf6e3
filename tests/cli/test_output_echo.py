"""``Output.echo``: plain text written as given; ANSI styles stripped when not at a terminal; passwords scrubbed."""

from __future__ import annotations

import pytest

from confiture_core.cli.output import Output


def test_text_without_styles_is_written_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    text = '{\n  "excerpt": "CREATE INDEX i ON t (c)"\n}' * 1000
    Output().echo(text, nl=False)
    assert capsys.readouterr().out == text


def test_styles_are_still_stripped_when_not_at_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    Output().echo("\x1b[1mbold\x1b[0m plain")
    Output().echo("\x1b[31mred\x1b[0m", err=True)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("bold plain\n", "red\n")


def test_passwords_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output()
    out.add_secret("postgresql://u:s3cret@h/db")
    out.echo("failed on postgresql://u:s3cret@h/db: s3cret")
    assert "s3cret" not in capsys.readouterr().out
