"""``confiture lint``: check migration files against the lint rules of every plugin.

The command reads its environment from ``click.get_current_context().obj``
(the main CLI's app object), which must provide:

- ``.config``: the :class:`~confiture_core.config.Config`;
- ``.lint_rules()``: every :class:`~confiture_core.lint.rule.LintRule` class
  that the plugins' ``confiture_lint_rules`` hooks return;
- ``.server_major_version()``: the server's major version, ``None`` when no
  database is reachable;
- ``.applied_versions()``: versions applied in the database (for ``--pending``).

Output: findings go to **stdout** in every format (``text`` included, so
``confiture lint > report.txt`` works as with other linters); notes such as
"target PostgreSQL 16 (from the server)" go to stderr (hidden by ``-q``). Exit codes: 0 no
finding at or above ``--fail-on`` (``--fail-level``, its old name, still works), 1 findings at
or above it, 2 usage or config error. Relative PATHS are read from ``-C DIR`` when given.

Settings in ``[lint]``::

    [lint]
    select = ["safety", "conventions"]   # default: the safety group
    ignore = ["CF120"]
    pg_version = 15                      # when no server is reachable
    cache = true                         # results cached in .confiture/lint-cache
    [lint.tenancy]
    column = "tenant_id"
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError, ConfitureError
from ..lint.codes import META_CODES
from ..lint.engine import Linter
from ..lint.gctune import relaxed_gc, settle
from ..lint.options import LintOptions, check_rule_settings, unused_rule_tables
from ..lint.reporters import FORMATS, RENDERERS, prepare_json, render_text
from ..lint.results import LintReport
from ..lint.rule import NEWEST_PG_VERSION, LintRule
from ..lint.selection import check_items, check_rule_classes, select_rules, split_items
from ..migrations import discover
from ..words import count
from . import verbosity
from .output import Output

if TYPE_CHECKING:
    from ..config import Config
    from ..lint.memo import Recorder

FAIL_LEVELS = ("error", "warning")


class LintUsageError(click.ClickException):
    """A usage or configuration problem found by ``lint`` (exit 2, one line, ``error: ...`` as every
    other command prints a configuration error)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _config_list(lint_cfg: dict[str, Any], key: str, where: str, available: Sequence[type[LintRule]]) -> list[str]:
    """``[lint] select`` or ``ignore`` as a flat list, each item checked against the ``available`` rules.

    :raises ConfigError: not a list of strings; an item matching no rule, naming the file and the setting.
    """
    value = lint_cfg.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: [lint] {key} must be a list of rule codes, groups or names")
    items = split_items(value)
    check_items(available, items, f"{where}: [lint] {key}")
    return items


def _listable(folder: Path) -> bool:
    """Whether ``folder``'s entries can be listed (one that cannot is reported by the lint run itself, with what
    to do about its permissions)."""
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError:
        return False
    return True


def resolve_pg_version(explicit: int | None, app: Any, lint_cfg: dict[str, Any], where: str) -> tuple[int, str]:
    """The target PostgreSQL major version and where it came from.

    Order: ``--pg-version``; the connected server (only asked when a database URL
    is configured, so that linting never starts the embedded server); ``[lint]
    pg_version``; the newest version the parser knows (18).

    :raises ConfigError: ``[lint] pg_version`` is not an integer.
    """
    if explicit is not None:
        return explicit, "--pg-version"
    config = app.config
    unreached = ""
    if getattr(config, "database_url", None):
        major = app.server_major_version()
        if major is not None:
            return int(major), "the connected server"
        unreached = "; the configured database was not reached: " + str(getattr(app, "unreachable", None) or
                                                                       "no connection")
    if "pg_version" in lint_cfg:
        value = lint_cfg["pg_version"]
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() \
                or not 9 <= int(value) <= 99:  # the range --pg-version takes (9: any 9.x)
            raise ConfigError(f"{where}: [lint] pg_version must be a major version number such as 16 "
                              "(9 to 99, as --pg-version)")
        return int(value), "[lint] pg_version" + unreached
    return NEWEST_PG_VERSION, "the default: the newest supported" + unreached


def _explain(rules: Sequence[type[LintRule]], code: str) -> str:
    for r in rules:
        if code.upper() == r.code or code == r.name:
            versions = ""
            if r.min_pg_version or r.max_pg_version:
                versions = f"\nPostgreSQL versions: {r.min_pg_version or 'any'} to {r.max_pg_version or 'newest'}"
            return (f"{r.code} {r.name} ({', '.join(r.groups)}; {r.severity}; "
                    f"{'on' if r.default_enabled else 'off'} by default; from {r.__module__})\n"
                    f"{r.summary}{versions}\n\n{r.explanation}\n")
    if code.upper() in META_CODES:
        name, sev, summary = META_CODES[code.upper()]
        return f"{code.upper()} {name} (core; {sev})\n{summary}\n"
    raise ConfigError(f"--explain {code}: no such rule code or name")


def _list_rules(rules: Sequence[type[LintRule]], selected: Sequence[type[LintRule]]) -> str:
    chosen = set(selected)
    lines = []
    for r in sorted(rules, key=lambda r: r.code):
        mark = "on " if r in chosen else "off"
        lines.append(f"{r.code}  {mark}  {r.severity:<7}  {r.name:<42}  {r.__module__}  {r.summary}")
    for code, (name, sev, summary) in META_CODES.items():
        lines.append(f"{code}  on   {sev:<7}  {name:<42}  confiture_core.lint  {summary}")
    return "\n".join(lines) + "\n"


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--pending", is_flag=True, help="Lint only migrations not yet applied (needs the database).")
@click.option("--select", multiple=True, metavar="CODES",
              help="Rules to run: codes (CF101), prefixes (CF1), groups (safety), names, or ALL. Comma-separated, "
                   "repeatable. Default: [lint] select, else the safety group. A rule off by default in a group "
                   "that is on (CF133) runs only when named.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules not to run (same forms); adds to [lint] ignore.")
@click.option("--pg-version", type=click.IntRange(9, 99), metavar="MAJOR",
              help="Target PostgreSQL major version. Default: the connected server's, else [lint] pg_version, "
                   f"else {NEWEST_PG_VERSION}.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format (all go to stdout).")
@click.option("--fail-on", "fail_level", type=click.Choice(FAIL_LEVELS), default=None,
              help="Exit 1 when a finding has this severity or a higher one.  [default: error]")
@click.option("--fail-level", "fail_level_alias", type=click.Choice(FAIL_LEVELS), default=None, hidden=True,
              help="Old name of --fail-on.")
@click.option("--include-down", is_flag=True,
              help="Also lint *.down.sql files found in folders (skipped by default: reverting drops what the up "
                   "created). Files given by name are always linted. Config: [lint] include_down.")
@click.option("--no-cache", is_flag=True, help="Do not read or write .confiture/lint-cache.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: the CPUs available that the load average leaves idle).")
@click.option("--diff", "diff_base", metavar="BASE",
              help="Lint only the files added or changed since the git revision BASE (from its merge base with "
                   "HEAD: commits, staged and unstaged edits, untracked files).")
@click.option("--baseline", "baseline_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Leave out the findings recorded in FILE (by --write-baseline): fail only on new ones.")
@click.option("--write-baseline", "write_baseline", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE", help="Record every finding of this run in FILE (JSON) and exit 0.")
@click.option("--list-rules", is_flag=True, help="List every rule from every plugin, with on/off state, and exit.")
@click.option("--explain", metavar="CODE", help="Print a rule's explanation and exit.")
def lint_command(paths: tuple[Path, ...], pending: bool, select: tuple[str, ...], ignore: tuple[str, ...],
                 pg_version: int | None, fmt: str, fail_level: str | None, fail_level_alias: str | None,
                 include_down: bool, no_cache: bool, jobs: int | None, diff_base: str | None,
                 baseline_file: Path | None, write_baseline: Path | None, list_rules: bool,
                 explain: str | None) -> None:
    """Check migration files for dangerous or non-conforming SQL.

    PATHS are files or folders (every *.sql below a folder), relative to -C DIR
    when given; default: the migrations folder.
    """
    if fail_level is not None and fail_level_alias is not None and fail_level != fail_level_alias:
        raise click.UsageError(f"--fail-on {fail_level} and --fail-level {fail_level_alias} disagree; "
                               "give only --fail-on (--fail-level is its old name)")
    fail_level = fail_level or fail_level_alias or "error"
    try:
        code = _run(paths, pending, select, ignore, pg_version, fmt, fail_level, include_down, no_cache, jobs,
                    list_rules, explain, Gate(diff_base, baseline_file, write_baseline))
    except ConfitureError as exc:
        if exc.exit_code == 2:
            raise LintUsageError(str(exc)) from None
        raise
    if sys.stdout is not None:  # None: stdout was closed (``confiture lint >&-``)
        sys.stdout.flush()
    click.get_current_context().exit(code)


def _run(paths: tuple[Path, ...], pending: bool, select: tuple[str, ...], ignore: tuple[str, ...],
         pg_version: int | None, fmt: str, fail_level: str, include_down: bool, no_cache: bool, jobs: int | None,
         list_rules: bool, explain: str | None, gate: Gate | None = None) -> int:
    app = click.get_current_context().obj
    gate = gate or Gate()
    if app is None or not hasattr(app, "config"):
        raise click.UsageError("confiture lint must run under the confiture command")
    out = Output.current()
    config = app.config
    where = str(config.config_file or "configuration")
    lint_cfg = config.section("lint")
    available = check_rule_classes(list(app.lint_rules()))
    check_rule_settings(lint_cfg, available, where)
    for table in unused_rule_tables(lint_cfg, available):
        out.warn(f"{where}: [lint.{table}] names no rule, group or code of the loaded rule packs (a typo, or its "
                 "pack is not loaded: `confiture plugins` lists them); its settings are not used")
    sel = split_items(select) or _config_list(lint_cfg, "select", where, available)
    ign = [*_config_list(lint_cfg, "ignore", where, available), *split_items(ignore)]
    chosen = select_rules(available, sel, ign)
    if explain:
        out.echo(_explain(available, explain), nl=False)
        return 0
    if list_rules:
        out.echo(_list_rules(available, chosen), nl=False)
        return 0
    if pending and paths:
        raise click.UsageError("--pending lints the pending migrations; do not also give PATHS")
    keep = gate.chooser(config.project_dir)  # before anything is printed: a bad revision is one error line
    if pending:
        applied = set(app.applied_versions())
        targets = [m.up_path for m in discover(config.migrations_dir) if m.kind == "sql" and m.version not in applied]
    else:
        project = getattr(app, "project", None)  # -C DIR: relative PATHS are read from there
        targets = [project / p if project is not None and not p.is_absolute() else p for p in paths] or \
            [config.migrations_dir]
        if not paths and not config.migrations_dir.is_dir():
            raise ConfigError(f"{config.migrations_dir}: migrations folder not found; give PATHS or set "
                              "migrations_dir in confiture.toml")
        if not paths and _listable(config.migrations_dir):  # the migrations folder as `migrate up` reads it: two
            discover(config.migrations_dir)  # files of one version, a name it cannot parse... refused here too
        from ..lint.files import check_exist
        check_exist(targets)  # a mistyped path is said before the database is asked for its version
    version, source = resolve_pg_version(pg_version, app, lint_cfg, where)
    if fmt == "text" and not verbosity.quiet():
        out.echo(f"linting for PostgreSQL {version} (from {source})", err=True)
    down_cfg = lint_cfg.get("include_down", False)
    if not isinstance(down_cfg, bool):
        raise ConfigError(f"{where}: [lint] include_down must be true or false")
    ignore_meta = frozenset(i.upper() for i in ign if i.upper() in META_CODES)
    options = LintOptions(pg_version=version, lint_config=lint_cfg,
                          runner_lock_timeout=_runner_lock_timeout(config),
                          runner_statement_timeout=_runner_statement_timeout(config),
                          ignore_meta=ignore_meta, mixed=getattr(config, "mixed", False))
    use_cache = not no_cache and lint_cfg.get("cache", True) is not False
    cache_dir = config.project_dir / ".confiture" / "lint-cache" if use_cache else None
    base = config.project_dir
    linter = Linter(chosen, options, cache_dir=cache_dir, jobs=jobs, known_codes=[r.code for r in available],
                    prepare=prepare_json(base) if fmt == "json" else None)
    settle()  # a console-script run: what start-up made is left out of the collector's work from here on
    with relaxed_gc():
        skipped: list[Path] = []
        folders: list[str] = []  # walked, for the run memo's stamps
        report = linter.lint_paths(targets, skip_down=not (include_down or down_cfg), skipped=skipped,
                                   folders=folders, keep=keep)
        if keep is not None:  # --diff: only the down files that changed were left out of what it lints
            skipped = keep(skipped)
        report = gate.apply(report, base, out, quiet=verbosity.quiet())
        if fmt == "text":
            terminal = sys.stdout is not None and sys.stdout.isatty()
            width = None
            if terminal:
                import shutil  # only for a terminal: it imports zlib, bz2 and lzma

                width = shutil.get_terminal_size().columns
            text = render_text(report, base, color=terminal and not os.environ.get("NO_COLOR"), width=width)
        else:
            text = RENDERERS[fmt](report, base)
    out.echo(text, nl=False)
    if verbosity.verbose():
        out.echo(f"{count(len(report.files), 'file')} linted, {report.cache_hits} answered from the cache", err=True)
    if skipped and fmt == "text" and not verbosity.quiet():
        # under 80 columns up to 9,999 files: a note must not wrap at a terminal
        out.echo(f"skipped {count(len(skipped), 'down migration file')} (*.down.sql); --include-down lints them",
                 err=True)
    code = 0 if gate.write_baseline is not None else exit_code(report, fail_level)
    recorder = _recorder()
    # replayable: every file came from the cache, the version came from no server, and every plugin
    # loaded (one that failed to import left no module file to stamp: its fix could go unseen)
    if (recorder is not None and cache_dir is not None and report.cache_hits == len(report.files) and gate.idle()
            and (source == "--pg-version" or not config.database_url)
            and not any(getattr(i, "status", None) == "failed" for i in getattr(app, "plugin_infos", ()))):
        # the folders as given: stamped; the manifest too (deleting it must force a fresh lint)
        manifest = linter.cache.file if linter.cache is not None else None
        _leave_memo(recorder, config, targets, folders, report, cache_dir, code, manifest)
    return code


class Gate:
    """The pull-request gate's options: ``--diff BASE``, ``--baseline FILE``, ``--write-baseline FILE``
    (relative files are read from ``-C DIR`` when given, as PATHS are)."""

    def __init__(self, diff_base: str | None = None, baseline_file: Path | None = None,
                 write_baseline: Path | None = None) -> None:
        project = _project()
        self.diff_base = diff_base
        self.baseline_file = _under(project, baseline_file)
        self.write_baseline = _under(project, write_baseline)
        if diff_base is not None and self.write_baseline is not None and self.write_baseline.exists():
            raise LintUsageError(f"--write-baseline with --diff would replace {self.write_baseline} with the findings "
                                 "of the changed files alone, forgetting those recorded for the others; write it "
                                 "without --diff")

    def idle(self) -> bool:
        """Whether no gate option was given (the run may then be replayed: :mod:`..lint.replay`)."""
        return self.diff_base is None and self.baseline_file is None and self.write_baseline is None

    def chooser(self, base: Path) -> Callable[[list[Path]], list[Path]] | None:
        """For ``--diff``: the files changed since the revision among those found, else ``None``.

        :raises DiffError: git cannot answer (exit 2).
        """
        if self.diff_base is None:
            return None
        from ..lint import diff

        changed = diff.changed_files(self.diff_base, base)
        return lambda files: diff.only_changed(files, changed)

    def apply(self, report: LintReport, base: Path, out: Output, *, quiet: bool) -> LintReport:
        """Write the baseline, or leave out the findings it accepts; a note on stderr says what it did."""
        if self.baseline_file is None and self.write_baseline is None:
            return report
        from ..lint import baseline

        accepted = baseline.load(self.baseline_file) if self.baseline_file is not None else None
        if self.write_baseline is not None:  # every finding, those of an older baseline too
            n = baseline.write(self.write_baseline, report.violations, base)
            if not quiet:
                out.echo(f"wrote {count(n, 'finding')} to the baseline {self.write_baseline}; lint with --baseline "
                         f"{self.write_baseline} to fail only on new ones", err=True)
        if accepted is not None:
            report, dropped = baseline.subtract(report, accepted, base)
            if dropped and not quiet:
                out.echo(f"{count(dropped, 'finding')} left out: recorded in the baseline {self.baseline_file}",
                         err=True)
        return report


def _project() -> Path | None:
    ctx = click.get_current_context(silent=True)
    return getattr(ctx.obj, "project", None) if ctx is not None else None


def _under(project: Path | None, path: Path | None) -> Path | None:
    return project / path if path is not None and project is not None and not path.is_absolute() else path


def _recorder() -> Recorder | None:
    """The run's memo recorder: only the console script starts one (importing :mod:`.memo` to do so)."""
    memo = sys.modules.get("confiture_core.lint.memo")  # the console script imports it to record
    return None if memo is None else memo.current()


def _leave_memo(recorder: Recorder, config: Any, targets: Sequence[Path], folders: list[str], report: LintReport,
                cache_dir: Path, code: int, manifest: Path | None) -> None:
    """Let the next identical run replay this one (see :mod:`confiture_core.lint.replay`); ``folders``:
    those the run walked (see :func:`~confiture_core.lint.files.collect_files`)."""
    from ..lint import memo

    plugins_dir = config.section("plugins").get("dir")
    deps = memo.input_dependencies(
        start=recorder.invocation.start,
        config_file=str(config.config_file) if config.config_file else None,
        explicit_config=recorder.invocation.config,
        plugins_dir=str((config.project_dir / plugins_dir).resolve()) if isinstance(plugins_dir, str) else None,
        roots=[str(t) for t in targets],
        folders=folders,
        files=[f.path for f in report.files],
        read=[str(manifest)] if manifest is not None else [],
    )
    if deps is not None:  # None: a file the run read has gone (see memo.input_dependencies)
        recorder.finish(str(cache_dir), deps, code)


def exit_code(report: LintReport, fail_level: str) -> int:
    """1 when a finding is at or above ``fail_level`` (``"error"`` or ``"warning"``), else 0."""
    if report.count("error"):
        return 1
    return 1 if fail_level == "warning" and report.count("warning") else 0


def lint_for_review(app: Any, files: Sequence[Path]) -> LintReport:
    """Lint ``files`` with the project's configured rule selection (``[lint] select/ignore``).

    Used by ``confiture migrate up --interactive`` to show lint findings next to
    the dry-run report. No cache, one process (a handful of pending files).

    :param app: the CLI's app object (``config``, ``lint_rules()``, ``server_major_version()``).
    :param files: the migration files to lint.
    :raises ConfigError: invalid ``[lint]`` settings.
    """
    config = app.config
    where = str(config.config_file or "configuration")
    lint_cfg = config.section("lint")
    available = check_rule_classes(list(app.lint_rules()))
    check_rule_settings(lint_cfg, available, where)
    ign = _config_list(lint_cfg, "ignore", where, available)
    chosen = select_rules(available, _config_list(lint_cfg, "select", where, available), ign)
    version, _ = resolve_pg_version(None, app, lint_cfg, where)
    options = LintOptions(pg_version=version, lint_config=lint_cfg,
                          runner_lock_timeout=_runner_lock_timeout(config),
                          runner_statement_timeout=_runner_statement_timeout(config),
                          ignore_meta=frozenset(i.upper() for i in ign if i.upper() in META_CODES),
                          mixed=getattr(config, "mixed", False))
    return Linter(chosen, options, cache_dir=None, jobs=1, known_codes=[r.code for r in available]).lint_paths(
        list(files))


def _runner_lock_timeout(config: Config) -> str | None:
    """The lock_timeout the runner puts on strong statements, when the files belong to a Confiture project
    (a ``confiture.toml``): CF120 has nothing to ask for then. Files linted without a project may be applied
    by any tool, so only a ``lock_timeout`` they are given counts."""
    return config.strong_lock_timeout() if config.config_file is not None else config.lock_timeout


def _runner_statement_timeout(config: Config) -> str | None:
    """The project's ``statement_timeout``, which the runner sets before every migration (``None``: unset or 0)."""
    from ..config import duration_ms

    value = config.statement_timeout
    return None if value is None or duration_ms(str(value)) == 0 else value
