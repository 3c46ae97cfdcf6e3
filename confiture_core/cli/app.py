"""What every command shares: the configuration, the plugins, the database connection (it prints nothing itself)."""

from __future__ import annotations

import shlex
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click
import pluggy

from ..config import Config, load_config, redact_url, scrub
from ..errors import ConfigError, ConfitureError
from ..hookcaller import Hooks
from ..migrations import discover
from ..paths import shown
from ..plugins import PluginInfo, PluginLoader, PluginOptions, collect_lint_rules
from ..redact import unescaped_in_password
from . import verbosity
from .output import Output
from .progress import RichReporter, StatementEcho

if TYPE_CHECKING:  # imported where used: `confiture lint` needs no psycopg
    import psycopg

    from ..embedded import ServerInfo
    from ..runner import Runner


class App:
    """What every command shares: config, plugins, the database connection.

    Commands reach it with :func:`current_app`. Its messages (plugins skipped, the
    embedded server started, the server's notices) go through :attr:`output`.

    :param output: the command's output object; every database URL the app learns
        is added to its secrets.
    """

    def __init__(self, config_path: Path | None, database_url: str | None, plugin_options: PluginOptions,
                 project: Path | None, output: Output) -> None:
        self._config_path = config_path
        self._database_url = database_url
        self.plugin_options = plugin_options
        self.project = project
        self.output = output
        self._conn: psycopg.Connection[Any] | None = None
        self._url: str | None = None
        #: why the configured database could not be reached (set by :meth:`server_major_version`)
        self.unreachable: str | None = None
        output.add_secret(database_url)

    @cached_property
    def config(self) -> Config:
        """The loaded configuration (:class:`~confiture_core.config.Config`)."""
        config = load_config(self._config_path, cwd=self.project, database_url=self._database_url)
        self.output.add_secret(config.database_url)
        return config

    @cached_property
    def _loader(self) -> PluginLoader:
        loader = PluginLoader(self.config, self.plugin_options, warn=self.output.warn)
        loader.load()
        Hooks(loader.pm).configure(self.config)
        return loader

    @property
    def pm(self) -> pluggy.PluginManager:
        """The loaded plugin manager."""
        return self._loader.pm

    @property
    def plugin_infos(self) -> list[PluginInfo]:
        """What was loaded, skipped or blocked."""
        return self._loader.infos

    @cached_property
    def hooks(self) -> Hooks:
        """The savepoint-isolating hook facade."""
        return Hooks(self.pm, self._loader.non_fatal, warn=self.output.warn)

    def lint_rules(self) -> list[Any]:
        """Every lint rule class every plugin brings."""
        return collect_lint_rules(self.pm)

    def database_url(self) -> str:
        """The database URL, starting the embedded server when none is configured."""
        if self._url is None:
            self._url = self.config.database_url or self._embedded_database_url()
            self.output.add_secret(self._url)
        return self._url

    def _embedded_database_url(self) -> str:
        """The URL of the ``confiture`` database on the project's embedded server, started when none answers.

        Says on stderr which server is used and, when this call started it, that it stays
        running and how to stop it.

        :raises ConfigError: the ``embedded`` extra is not installed.
        :raises EmbeddedServerError: the server does not start or answer.
        """
        from ..embedded import EmbeddedServerError, ensure_server

        say = self.output.info
        say(f"no database URL configured: using the embedded PostgreSQL server in {shown(self.config.embedded_dir)} "
            "(set --database-url or DATABASE_URL to use another)")
        try:
            server, started = ensure_server(self.config.embedded_dir, say=say)
        except KeyboardInterrupt:
            raise EmbeddedServerError("interrupted while getting the embedded PostgreSQL server ready: nothing ran "
                                      "(the next command starts it)") from None
        if started:
            say(self.stays_running(server))
        return server.url()

    def stays_running(self, info: ServerInfo) -> str:
        """The message saying the embedded server ``info`` was started, stays running, and how to stop it."""
        command = ["confiture"] + (["-C", shown(self.project)] if self.project is not None else []) + \
            ["server", "stop"]
        return (f"started the embedded PostgreSQL server (pid {info.pid}); it stays running for the next commands: "
                f"stop it with `{shlex.join(command)}`")

    def connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection (one per command).

        :raises ConfigError: the server cannot be reached (password removed from the message).
        """
        if self._conn is None:
            import psycopg

            url = self.database_url()
            source = self.config.database_url_source if self.config.database_url else "the embedded server"
            self.output.detail(f"config: {self.config.config_file or 'none (defaults)'}; database: "
                               f"{redact_url(url)} (from {source}); migrations: {self.config.migrations_dir}")
            try:
                extra: dict[str, Any] = {}
                if "connect_timeout" not in url:
                    extra["connect_timeout"] = self.config.connect_timeout
                self._conn = psycopg.connect(url, autocommit=True, prepare_threshold=None,
                                             application_name="confiture", **extra)
                self._conn.add_notice_handler(self.output.notice)
            except psycopg.Error as exc:
                msg = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
                unescaped = unescaped_in_password(url)
                scheme = url.split("://", 1)[0] if "://" in url else ""
                if scheme and scheme.lower() not in ("postgresql", "postgres"):
                    msg = (f"not a PostgreSQL URL (it starts with {scheme}://): write "
                           "postgresql://user:password@host:port/database")
                elif unescaped:
                    msg += (f"; the password holds {' and '.join(repr(c) for c in unescaped)}, which a URL must "
                            f"percent-encode: write {' and '.join(quote(c, safe='') for c in unescaped)}")
                raise ConfigError(f"cannot connect to {redact_url(url)} (from {self.config.database_url_source}): "
                                  f"{msg}") from None
        return self._conn

    @property
    def open_connection(self) -> psycopg.Connection[Any] | None:
        """The command's connection when one is open, else ``None`` (never connects)."""
        return self._conn if self._conn is not None and not self._conn.closed else None

    def forget_closed_connection(self) -> None:
        """Drop a connection something else closed (a hook): the next :meth:`connect` opens a fresh one."""
        if self._conn is not None and self._conn.closed:
            self._conn = None

    def server_major_version(self) -> int | None:
        """The connected server's major version, or ``None`` when no database is reachable (then
        :attr:`unreachable` holds the connection error's one-line message, password scrubbed)."""
        try:
            return self.connect().info.server_version // 10000
        except ConfitureError as exc:
            self.unreachable = str(exc)
            return None

    def applied_versions(self) -> set[int]:
        """Versions applied (or covered by a baseline) in the database."""
        return {e.version for e in self.runner().status() if e.applied}

    def runner(self, reporter: Any = None) -> Runner:
        """A :class:`~confiture_core.runner.Runner` on this command's connection.

        :param reporter: the runner's reporter (default: a :class:`~.progress.RichReporter`).
        :raises MigrationFileError: no migrations folder (checked before any server
            is started or connected to).
        """
        found = discover(self.config.migrations_dir)  # fails before any server is started (or psycopg imported)
        from ..runner import Runner
        runner = Runner(self.connect(), self.config, self.hooks, reporter=reporter or RichReporter(self.output),
                        migrations=found, observer=StatementEcho(self.output) if verbosity.verbose() else None)
        runner.apply_timeouts()
        return runner

    def close(self) -> None:
        """Close the connection, if any."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()


def current_app() -> App:
    """The running command's :class:`App` (``click.get_current_context().obj``)."""
    obj = click.get_current_context().obj
    assert isinstance(obj, App)
    return obj
