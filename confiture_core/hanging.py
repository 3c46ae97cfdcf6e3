"""Text printed on a rich console wrapped between words, its lines after the first indented (a hanging indent)."""

from __future__ import annotations

from typing import Any


def print_hanging(console: Any, text: Any, indent: int, width: int, style: str = "") -> None:
    """Print ``text`` on ``console`` wrapped to ``width`` columns, every line after the first indented by ``indent``.

    The text is wrapped ``indent`` columns short of ``width`` (at least 20), so that the continuation lines fit
    once indented; a word longer than that (a path) is folded, as rich folds it.

    :param console: a ``rich.console.Console``.
    :param text: a ``rich.text.Text`` (markup already applied).
    :param indent: the continuation lines' indent, in columns.
    :param width: the width to fit, in columns.
    :param style: a rich style for every line (none by default).
    """
    from rich.text import Text

    for i, line in enumerate(text.wrap(console, max(width - indent, 20))):
        line.rstrip()
        console.print(Text(" " * indent) + line if i else line, style=style, soft_wrap=True)
