"""How much the CLI says on stderr: ``-q/--quiet`` and ``-v/--verbose``, on the group and on every command.

``-q`` hides notices and progress (the dim lines, progress bars, per-migration
lines, run summaries) and keeps warnings, errors and what the command is for
(tables, reports, findings, JSON). ``-v`` adds detail: the configuration file
and database used, each statement of a real run with its duration and rows,
lint's cache use. The level lives in the click context's ``meta`` (shared by the
whole command tree), so in-process runs (click's ``CliRunner``) never leak it.
"""

from __future__ import annotations

from typing import Any

import click

QUIET, NORMAL, VERBOSE = -1, 0, 1
_KEY = "confiture.verbosity"


def level() -> int:
    """The current level: :data:`QUIET`, :data:`NORMAL` or :data:`VERBOSE` (``NORMAL`` outside a command)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return NORMAL
    value = ctx.meta.get(_KEY, NORMAL)
    return int(value)


def quiet() -> bool:
    """Whether ``-q`` was given: notices and progress are not shown."""
    return level() == QUIET


def verbose() -> bool:
    """Whether ``-v`` was given: more detail is shown."""
    return level() == VERBOSE


def _set(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if not value:
        return value
    wanted = QUIET if param.name == "quiet" else VERBOSE
    current = ctx.meta.get(_KEY, NORMAL)
    if current not in (NORMAL, wanted):
        raise click.UsageError("-q/--quiet and -v/--verbose do not go together; give one of them", ctx)
    ctx.meta[_KEY] = wanted
    return value


def _options() -> list[click.Option]:
    return [
        click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, callback=_set,
                     help="More detail on stderr: config and database used, each statement with its duration."),
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set,
                     help="Only warnings, errors and the command's own output (no notices or progress)."),
    ]


def add_options(command: click.Command) -> None:
    """Give ``command`` and every command below it ``-v/--verbose`` and ``-q/--quiet`` (once each)."""
    names = {n for p in command.params for n in getattr(p, "opts", ())}
    if "--verbose" not in names and "-v" not in names:
        command.params.extend(_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_options(sub)
