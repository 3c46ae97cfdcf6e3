"""The ``confiture`` group: its global options, ``init``, and every command group registered under it."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from .. import __version__
from ..config import CONFIG_FILE
from ..errors import ConfigError
from ..paths import shown
from ..plugins import PluginOptions
from . import verbosity
from .app import App, current_app
from .migrate import migrate
from .output import Output, format_option
from .plugins import plugins_cmd
from .server import server


class _RootGroup(click.Group):
    """The root command group; ``lint`` is imported when it is asked for, so that other commands
    (``migrate up --yes``) do not load the lint engine (click's lazily loaded subcommands)."""

    _lazy = {"lint": ("confiture_core.cli.lint", "lint_command")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name]
            try:  # optional: lint needs the lint engine (pglast)
                module = importlib.import_module(module_name)
            except ImportError:
                return None
            command = getattr(module, attr)
            verbosity.add_options(command)
            self.add_command(command)
        return command


@click.group(cls=_RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="confiture")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help=f"Config file ({CONFIG_FILE} or pyproject.toml). Default: searched upwards from the project.")
@click.option("--project", "-C", type=click.Path(path_type=Path, file_okay=False),
              help="Run as if started in this folder (relative paths, --config and lint's PATHS included).")
@click.option("--database-url", envvar=None,
              help="libpq URL. Default: CONFITURE_DATABASE_URL, DATABASE_URL, the config file, else embedded.")
@click.option("-p", "plugin_modules", multiple=True, metavar="MODULE", help="Load an in-house plugin module.")
@click.option("--no-plugins", is_flag=True,
              help="Load no entry-point plugins and no plugins folder (built-ins and -p modules still load).")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME", help="Block one plugin by name.")
@click.option("--strict-plugins", is_flag=True, help="A plugin that fails to load is an error (exit 2).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, project: Path | None, database_url: str | None,
        plugin_modules: tuple[str, ...], no_plugins: bool, disabled: tuple[str, ...],
        strict_plugins: bool) -> None:
    """Confiture: PostgreSQL migrations driven by plugins."""
    if project is not None:
        if not project.is_dir():
            raise click.BadParameter(f"{project}: no such folder", param_hint="--project")
        project = project.resolve()
        if config_path is not None and not config_path.is_absolute():
            config_path = project / config_path
    app = App(config_path, database_url, PluginOptions(plugin_modules, no_plugins, disabled, strict_plugins),
              project, Output.current())
    ctx.obj = app
    ctx.call_on_close(app.close)


@cli.command()
@click.option("--migrations-dir", default="migrations", show_default=True)
@format_option
def init(migrations_dir: str, fmt: str) -> None:
    """Create confiture.toml and the migrations folder here."""
    app = current_app()
    base = app.project or Path.cwd()
    cfg = base / CONFIG_FILE
    if cfg.exists():
        raise ConfigError(f"{shown(cfg)} already exists; edit it instead")
    cfg.write_text(
        "# Confiture configuration; see README.md\n"
        f'migrations_dir = "{migrations_dir}"\n'
        'tracking_table = "confiture_migrations"\n'
        '# database_url = "postgresql://user@host/db"   # or set DATABASE_URL\n'
        '# lock_timeout = "5s"\n'
    )
    (base / migrations_dir).mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        app.output.emit_json({"ok": True, "config_file": str(cfg), "migrations_dir": str(base / migrations_dir)})
        return
    app.output.info(f"created {cfg.name} and {migrations_dir}/; next: confiture migrate new <name>")


def _register_commands() -> None:
    for command in (migrate, plugins_cmd, server):
        cli.add_command(command)


_register_commands()
verbosity.add_options(cli)  # last: every command registered above gets -v/-q
