"""Configuration: ``confiture.toml`` or ``[tool.confiture]`` in ``pyproject.toml``.

Precedence for the database URL (first found wins): ``--database-url``,
``CONFITURE_DATABASE_URL``, ``DATABASE_URL``, the config file's ``database_url``.
With none, the CLI runs on an embedded PostgreSQL kept under the project folder.

Example ``confiture.toml``::

    migrations_dir = "migrations"
    tracking_table = "public.confiture_migrations"
    lock_timeout = "5s"          # PostgreSQL's lock_timeout for migrations; every duration has its unit
    statement_timeout = "0"      # 0 = no limit
    advisory_lock_wait = 60      # seconds to wait for another runner (or "1min")
    connect_timeout = 10         # seconds to wait for the server to answer (or "10s")
    out_of_order = "warn"        # a pending migration older than the newest applied one: warn, allow, refuse
    mixed = false                # true: run files mixing autocommit-only and other statements one at a time

    [plugins]
    dir = "confiture_plugins_local"  # in-house plugins folder
    allow = ["audit"]                # allowlist of entry-point names
    non_fatal = ["notify"]           # failures of these become warnings

    [lint]
    select = ["safety"]
    ignore = ["CF104"]

    [apply]                      # how `migrate up` applies statements taking SHARE or stronger
    lock_timeout = "5s"          # their lock_timeout ("0": wait as long as it takes)
    retries = 5                  # attempts after a lock timeout (0: fail at once)
    retry_backoff = "1s"         # first wait between attempts, doubled each time (jittered, capped)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dryrun_settings import check_dry_run_section
from .errors import ConfigError
from .redact import redact_url as redact_url  # re-exported: imported from here by the CLI and plugins
from .redact import scrub as scrub

CONFIG_FILE = "confiture.toml"


#: ``[apply] lock_timeout`` when neither it nor the top-level ``lock_timeout`` is set
DEFAULT_STRONG_LOCK_TIMEOUT = "5s"


@dataclass
class Config:
    """The resolved configuration of one project.

    :ivar project_dir: the folder holding the config file (or the current folder).
    :ivar config_file: the file it was read from, or ``None`` for defaults.
    :ivar migrations_dir: where migrations are discovered (absolute path).
    :ivar tracking_table: the tracking table, optionally schema-qualified
        (``"schema.table"``); always quoted as identifiers in SQL.
    :ivar database_url: the libpq URL or DSN, or ``None`` to use the embedded server.
    :ivar database_url_source: where the URL came from (for messages).
    :ivar lock_timeout: PostgreSQL ``lock_timeout`` set for migrations (e.g. ``"5s"``),
        ``None`` to keep the server's.
    :ivar statement_timeout: PostgreSQL ``statement_timeout``, ``None`` to keep the server's.
    :ivar advisory_lock_wait: seconds (float) to wait for the runners' advisory lock.
    :ivar connect_timeout: seconds (int) to wait for the server to answer a connection
        (libpq ``connect_timeout``; a value in the URL wins).
    :ivar embedded_dir: data folder of the embedded PostgreSQL server.
    :ivar out_of_order: what ``migrate up`` does with pending migrations older than the newest
        applied one: ``"warn"`` (apply them, with a warning), ``"allow"`` (silently) or ``"refuse"``.
    :ivar mixed: run a SQL file that mixes statements needing autocommit (``CREATE INDEX
        CONCURRENTLY``...) with others in autocommit, one statement at a time, as the
        ``-- confiture: no-transaction`` marker does (``False``: refuse such files).
    :ivar callbacks_dir: the folder of SQL callback files (``before_migrate.sql``...), next to the
        config file by default (``callbacks``); see the ``confiture_callbacks`` plugin.
    :ivar raw: the whole config table, for plugins that read their own sections.
    """

    project_dir: Path
    config_file: Path | None = None
    migrations_dir: Path = Path("migrations")
    tracking_table: str = "confiture_migrations"
    database_url: str | None = None
    database_url_source: str = "none"
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    advisory_lock_wait: float = 60.0
    connect_timeout: int = 10
    embedded_dir: Path = Path(".confiture/pgdata")
    out_of_order: str = "warn"
    mixed: bool = False
    callbacks_dir: Path = Path("callbacks")
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A sub-table of the config (``[plugins]``, ``[lint]``, ...), ``{}`` when absent.

        :raises ConfigError: when the key exists but is not a table.
        """
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.config_file}: [{name}] must be a table")
        return value

    def strong_lock_timeout(self) -> str | None:
        """The ``lock_timeout`` that ``migrate up`` puts on statements taking SHARE or stronger on an
        existing table: ``[apply] lock_timeout``, else the top-level ``lock_timeout``, else
        :data:`DEFAULT_STRONG_LOCK_TIMEOUT`; ``None`` when it is ``"0"`` (wait as long as it takes).

        :raises ConfigError: when ``[apply]`` is not a table.
        """
        lock = self.section("apply").get("lock_timeout", self.lock_timeout or DEFAULT_STRONG_LOCK_TIMEOUT)
        return None if duration_ms(str(lock)) == 0 else str(lock).strip()

    @property
    def tracking_table_parts(self) -> tuple[str | None, str]:
        """(schema or ``None``, table) of :attr:`tracking_table`."""
        return split_qualified_name(self.tracking_table)


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED_RE = re.compile(rf"^(?:({_IDENT})\.)?({_IDENT})$")


def split_qualified_name(name: str) -> tuple[str | None, str]:
    """Split ``schema.table`` into its parts, as PostgreSQL reads them.

    Unquoted parts are folded to lower case; double-quoted parts keep their case
    and may hold any character (``""`` for a quote).

    :raises ConfigError: empty parts, stray quotes or dots, more than two parts,
        or a ``pg_`` schema (reserved by PostgreSQL).
    """
    m = _QUALIFIED_RE.match(name) if isinstance(name, str) else None
    if m is None:
        raise ConfigError(f"tracking_table {name!r}: expected table or schema.table (an identifier, or a "
                          '"double-quoted" one, for each part)')

    def unquote(part: str) -> str:
        return part[1:-1].replace('""', '"') if part.startswith('"') else part.lower()

    schema = unquote(m.group(1)) if m.group(1) else None
    table = unquote(m.group(2))
    if schema is not None and schema.startswith("pg_"):
        raise ConfigError(f"tracking_table {name!r}: schema names starting with pg_ are reserved by PostgreSQL")
    return schema, table


def _refuse_not_a_file(path: Path) -> None:
    """Refuse a config file path that exists but is no file (a folder, a dangling symbolic
    link, a symbolic link loop...): skipping it would silently run without the project's settings.

    :raises ConfigError: naming the path and what to do.
    """
    if path.is_file() or not (path.exists() or path.is_symlink()):
        return
    what = "a folder" if path.is_dir() else "a symbolic link to nothing" if path.is_symlink() else "not a file"
    raise ConfigError(f"{path}: is {what}, not a config file; remove or rename it (the configuration must be a "
                      "TOML file)")


def _find_config(start: Path) -> tuple[Path | None, dict[str, Any]]:
    for folder in (start, *start.parents):
        f = folder / CONFIG_FILE
        _refuse_not_a_file(f)
        if f.is_file():
            return f, _read_toml(f)
        p = folder / "pyproject.toml"
        if p.is_file():
            tool = _confiture_table(p, _read_toml(p))
            if tool is not None:
                return p, tool
    return None, {}


def _confiture_table(path: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The ``[tool.confiture]`` table of a ``pyproject.toml``, ``None`` when it has none.

    :raises ConfigError: ``tool`` or ``tool.confiture`` is there but is not a table.
    """
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: tool must be a table ([tool]), not {type(tool).__name__}; fix the file")
    table = tool.get("confiture")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.confiture must be a table ([tool.confiture]), not {type(table).__name__}; "
                          "fix the file")
    return table


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a configuration file exists (~15 ms to import)

    bom = b"\xef\xbb\xbf"  # a UTF-8 BOM (Windows editors write one) is dropped, as in migration files
    try:
        data = path.read_bytes()
        return tomllib.loads(data.removeprefix(bom).decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}; fix the file") from None
    except UnicodeDecodeError as exc:
        at = exc.start + (len(bom) if data.startswith(bom) else 0)
        raise ConfigError(f"{path}: not valid UTF-8 at byte {at}; TOML files are UTF-8: save it as UTF-8") \
            from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


_KNOWN = {
    "migrations_dir", "tracking_table", "database_url", "lock_timeout", "statement_timeout",
    "advisory_lock_wait", "connect_timeout", "embedded_dir", "plugins", "lint", "dry_run", "review",
    "out_of_order", "mixed", "apply", "callbacks_dir",
}

OUT_OF_ORDER = ("warn", "allow", "refuse")


#: the settings of the sections checked here ([plugins] is checked by :func:`check_plugins_section`)
_KNOWN_IN_SECTION = {"dry_run": {"lock_timeout", "where", "shadow_url", "sample", "statement_timeout",
                                 "max_table_size"}, "review": {"confirm_level"},
                     "apply": {"lock_timeout", "retries", "retry_backoff"}}

#: the [lint] settings that are not tables (tables, ``[lint.<group or rule>]``, hold rules' options)
_LINT_SETTINGS = {"select", "ignore", "pg_version", "include_down", "cache"}

#: the [plugins] settings
_PLUGINS_SETTINGS = {"allow", "non_fatal", "disable", "dir"}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")


def check_duration(value: Any, where: str) -> str:
    """Validate a duration setting written with its unit, such as ``"5s"``, ``"500ms"`` or ``"1min"``, or zero.

    Units as in the PostgreSQL docs, 20.1.1 "Parameter Names and Values" (us, ms, s, min, h, d). A number
    without a unit is refused unless it is 0: PostgreSQL would read it as milliseconds while Confiture's
    ``advisory_lock_wait`` and ``connect_timeout`` count seconds, so ``lock_timeout = 5`` was ambiguous.

    :param value: the setting's value (``str``, or ``int`` 0).
    :param where: the file and the setting, e.g. ``"confiture.toml: [dry_run] lock_timeout"``.
    :returns: the duration as text, without surrounding spaces.
    :raises ConfigError: not a duration, or a number without its unit, naming ``where`` and what to write.
    """
    m = None if isinstance(value, bool) or not isinstance(value, str | int) else _DURATION_RE.match(str(value))
    if m is None:
        raise ConfigError(f"{where} = {value!r} is not a duration; use e.g. \"5s\", \"500ms\" or \"0\"")
    if m.group(2) is None and float(m.group(1)) != 0:
        n = m.group(1)
        raise ConfigError(f"{where} = {value!r} has no unit: write \"{n}s\" (seconds) or \"{n}ms\" "
                          "(milliseconds); a bare number is refused, as it would be milliseconds here but seconds "
                          "in advisory_lock_wait")
    return str(value).strip()


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def duration_ms(value: str) -> float:
    """Milliseconds in a duration :func:`check_duration` accepted (``"1s"`` -> 1000.0, ``"0"`` -> 0.0).

    :raises ConfigError: not a duration, or no unit.
    """
    m = _DURATION_RE.match(check_duration(value, "duration"))
    assert m is not None  # checked just above
    return float(m.group(1)) * _UNIT_MS[m.group(2) or "ms"]


def _seconds(value: Any) -> float | None:
    """Seconds in a setting that counts seconds: a number (seconds), or a duration written with its unit
    (``"90s"``, ``"2min"``); ``None`` for anything else (a unit-less string, a boolean)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return duration_ms(value) / 1000 if isinstance(value, str) else None
    except ConfigError:
        return None


def check_plugins_section(path: Path | None, settings: dict[str, Any]) -> None:
    """Check ``[plugins]``: ``allow``, ``non_fatal`` and ``disable`` lists of names, ``dir`` a string.

    Sub-tables are plugins' own settings.

    :raises ConfigError: a wrong type or an unknown setting.
    """
    for key in ("allow", "non_fatal", "disable"):
        value = settings.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [plugins] {key} must be a list of plugin names")
    if not isinstance(settings.get("dir", ""), str):
        raise ConfigError(f"{path}: [plugins] dir must be a folder name (a string)")
    unknown = {k for k, v in settings.items() if k not in _PLUGINS_SETTINGS and not isinstance(v, dict)}
    if unknown:
        raise ConfigError(f"{path}: unknown [plugins] setting(s): {', '.join(sorted(unknown))}")


def _check_sections(path: Path | None, data: dict[str, Any]) -> None:
    """Check the settings of ``[review]``, ``[dry_run]``, ``[lint]`` and ``[plugins]`` at load, whatever the
    command (the command that uses one would otherwise be the first to say it is wrong).

    :raises ConfigError: naming the file and the setting.
    """
    from .risk import Risk

    review = data.get("review", {})
    if "confirm_level" in review:
        value = review["confirm_level"]
        where = f"{path}: [review] confirm_level"
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a risk level (a string), not {type(value).__name__}")
        Risk.parse(value, where)
    check_dry_run_section(path, data.get("dry_run", {}))
    for key in ("lock_timeout", "statement_timeout"):
        if key in data.get("dry_run", {}):
            check_duration(data["dry_run"][key], f"{path}: [dry_run] {key}")
    apply = data.get("apply", {})
    for key in ("lock_timeout", "retry_backoff"):
        if key in apply:
            check_duration(apply[key], f"{path}: [apply] {key}")
    retries = apply.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise ConfigError(f"{path}: [apply] retries = {retries!r}; expected a whole number from 0 to 100")
    lint = data.get("lint", {})
    for key in ("select", "ignore"):
        value = lint.get(key, [])
        if not isinstance(value, str) and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{path}: [lint] {key} must be a list of rule codes, groups or names")
    if "pg_version" in lint:
        value = lint["pg_version"]
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise ConfigError(f"{path}: [lint] pg_version must be a major version number such as 16")
    for key in ("include_down", "cache"):
        if not isinstance(lint.get(key, False), bool):
            raise ConfigError(f"{path}: [lint] {key} must be true or false")
    unknown = sorted(k for k, v in lint.items() if k not in _LINT_SETTINGS and not isinstance(v, dict))
    if unknown:
        raise ConfigError(f"{path}: unknown [lint] setting(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(_LINT_SETTINGS))} (and [lint.<group or rule>] tables)")
    check_plugins_section(path, data.get("plugins", {}))


def load_config(
    config_file: Path | None = None,
    *,
    cwd: Path | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Read the configuration and apply the environment and command-line overrides.

    :param config_file: an explicit config file (``--config``); else ``confiture.toml``
        or ``pyproject.toml`` with ``[tool.confiture]`` is searched from ``cwd`` upwards.
    :param cwd: where to start looking (default: the current folder).
    :param database_url: ``--database-url``, which beats everything else.
    :param env: the environment (default ``os.environ``).
    :raises ConfigError: unreadable or invalid file, unknown keys, wrong types.
    """
    env = dict(os.environ) if env is None else env
    cwd = (cwd or Path.cwd()).resolve()
    if config_file is not None:
        config_file = config_file.absolute()
        _refuse_not_a_file(config_file)
        config_file = config_file.resolve()
        if not config_file.is_file():
            raise ConfigError(f"{config_file}: config file not found")
        data = _read_toml(config_file)
        if config_file.name == "pyproject.toml":
            table = _confiture_table(config_file, data)
            if table is None:
                raise ConfigError(f"{config_file}: has no [tool.confiture] table; add one (even empty) or give "
                                  "--config a confiture.toml")
            data = table
        path: Path | None = config_file
    else:
        path, data = _find_config(cwd)
    project_dir = path.parent if path else cwd
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}")

    def get_str(key: str, default: str | None) -> str | None:
        value = data.get(key, default)
        if key in ("lock_timeout", "statement_timeout") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            return check_duration(value, f"{path}: {key}")  # 0, or a refusal saying to write the unit
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{path}: {key} must be a non-empty string")
        return value

    for key in ("plugins", "lint", "dry_run", "review", "apply"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"{path}: {key} must be a table ([{key}]), not {type(data[key]).__name__}")
    for key, known in _KNOWN_IN_SECTION.items():
        extra = sorted(set(data.get(key, {})) - known)
        if extra:
            raise ConfigError(f"{path}: unknown setting(s) in [{key}]: {', '.join(extra)}; known: "
                              f"{', '.join(sorted(known))}")

    _check_sections(path, data)
    get_str("database_url", None)  # checked even when a URL from elsewhere wins

    cfg = Config(project_dir=project_dir, config_file=path, raw=data)
    cfg.migrations_dir = project_dir / (get_str("migrations_dir", "migrations") or "migrations")
    cfg.tracking_table = get_str("tracking_table", "confiture_migrations") or "confiture_migrations"
    try:
        cfg.tracking_table_parts  # noqa: B018  (checked at load, naming the file)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    split_qualified_name(cfg.tracking_table)
    lock_timeout, statement_timeout = get_str("lock_timeout", None), get_str("statement_timeout", None)
    cfg.lock_timeout = None if lock_timeout is None else check_duration(lock_timeout, f"{path}: lock_timeout")
    cfg.statement_timeout = (None if statement_timeout is None
                             else check_duration(statement_timeout, f"{path}: statement_timeout"))
    cfg.embedded_dir = project_dir / (get_str("embedded_dir", ".confiture/pgdata") or ".confiture/pgdata")
    cfg.callbacks_dir = project_dir / (get_str("callbacks_dir", "callbacks") or "callbacks")
    wait = _seconds(data.get("advisory_lock_wait", 60))
    if wait is None or not 0 <= wait <= 86400:
        raise ConfigError(f"{path}: advisory_lock_wait must be a number of seconds between 0 and 86400, or a "
                          "duration with its unit such as \"90s\" or \"2min\"")
    cfg.advisory_lock_wait = wait
    ct = data.get("connect_timeout", 10)
    seconds = None if isinstance(ct, float) else _seconds(ct)
    if seconds is None or not seconds.is_integer() or not 1 <= seconds <= 3600:
        raise ConfigError(f"{path}: connect_timeout must be a whole number of seconds between 1 and 3600, or a "
                          "duration with its unit such as \"10s\"")
    cfg.connect_timeout = int(seconds)
    order = data.get("out_of_order", "warn")
    if order not in OUT_OF_ORDER:
        raise ConfigError(f"{path}: out_of_order = {order!r}; expected \"warn\" (apply with a warning), "
                          "\"allow\" or \"refuse\"")
    cfg.out_of_order = order
    mixed = data.get("mixed", False)
    if not isinstance(mixed, bool):
        raise ConfigError(f"{path}: mixed = {mixed!r}; expected true or false")
    cfg.mixed = mixed
    for source, value in (
        ("--database-url", database_url),
        ("CONFITURE_DATABASE_URL", env.get("CONFITURE_DATABASE_URL")),
        ("DATABASE_URL", env.get("DATABASE_URL")),
        (str(path), get_str("database_url", None)),
    ):
        if value:
            cfg.database_url, cfg.database_url_source = value, source
            break
    return cfg
