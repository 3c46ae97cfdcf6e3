"""``confiture plugins``: what was loaded, skipped or blocked, with each plugin's hooks and lint rules."""

from __future__ import annotations

import click

from ..plugins import lint_rule_codes
from ..words import count
from .app import current_app
from .output import format_option


@click.command("plugins")
@format_option
def plugins_cmd(fmt: str) -> None:
    """List plugins: distribution, version, origin, hooks, lint rules."""
    app = current_app()
    out = app.output
    infos = app.plugin_infos
    for info in infos:
        if info.status == "loaded":
            info.lint_rules = lint_rule_codes(app.pm, info.name)
    if fmt == "json":
        out.emit_json({"plugins": [i.as_json() for i in infos]})
        return
    # one block per plugin (not a table: names must never be cut, at any terminal width)
    loaded = sum(1 for i in infos if not i.error)
    out.say(f"{count(len(infos), 'plugin')}, {loaded} loaded", style="bold")
    for i in infos:
        dist = f"{i.distribution} {i.version}" if i.distribution else "no distribution"
        origin = i.source + (f" {i.location}" if i.location else "")
        status = i.status if not i.error else f"{i.status}: {i.error}"
        out.say_hanging(f"{i.name}  {status}  {dist}  {origin}", 4, style="red" if i.error else None)
        if i.hooks:
            out.say_hanging("    hooks: " + ", ".join(h.removeprefix("confiture_") for h in i.hooks), 11)
        if i.lint_rules:
            out.say_hanging("    lint rules: " + ", ".join(i.lint_rules), 16)
