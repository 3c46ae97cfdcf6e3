"""The shadow preflight: the target's schema and a sample of its rows in a scratch database, measured there."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import psycopg

from ..config import Config, redact_url
from ..errors import ConfitureError
from ..hookcaller import Hooks
from ..migrations import Migration
from ..runner import Reporter, Runner
from .facts import ForeignKey, TargetFacts, read_target_facts
from .measure import measure_alternated, no_plugins
from .predict import Sample, predict, resolved, scales
from .report import DryRunReport
from .run import dry_run, dry_run_lock_timeout
from .sample import SampleSpec, load_sample, match_parallel_degree, sizes, thin, thinned, vacuum
from .shadow import ShadowServer, connect, database_of, dump_schema, find_pg_dump, restore_schema, scratch_database
from .work import added_foreign_keys, work_of

Conn = psycopg.Connection[Any]

#: the smaller samples keep these fractions of the full sample's rows (several sizes fit the model); 0: the
#: sampled tables emptied, whose durations are the statements' fixed costs (catalog work, a parallel worker's
#: start, the commit), measured rather than guessed from the line through the other points
SMALLER_FRACTIONS = (0.5, 0.25, 0.0)
#: timed applies per sample size; each statement's median time is the one fitted (see ``predict.typical``)
REPEATS = 5
#: more rounds, up to this many in all, while a scaled statement's per-row part is not resolved
#: (``predict.resolved``) and the rounds so far took less than :data:`MORE_WITHIN_S`
MAX_REPEATS = 15
#: seconds of timed applies (all sizes) after which no further round is started for resolution
MORE_WITHIN_S = 30.0


class TooLargeForTarget(ConfitureError):
    """A dry run on the target would rewrite or scan a table above ``[dry_run] max_table_size`` (exit 1)."""

    exit_code = 1


def add_migration_foreign_keys(facts: TargetFacts, migrations: Sequence[Migration]) -> None:
    """Add to ``facts.foreign_keys`` those the SQL migrations add between tables of the target, so that the
    sample holds the parents of the sampled rows for them too (an ADD FOREIGN KEY must not fail in the shadow
    where it would succeed on the target). Files that do not parse are left to the dry run to report."""
    for m in migrations:
        if m.kind != "sql":
            continue
        try:
            statements = m.sql("up").statements
        except ConfitureError:
            continue
        for st in statements:
            for child, cols, parent, refs in added_foreign_keys(st.node):
                c, p = facts.by_name(child), facts.by_name(parent)
                refs = refs or (facts.primary_keys.get(p.oid, []) if p else [])
                if c and p and cols and len(cols) == len(refs):
                    facts.foreign_keys.append(ForeignKey(c.oid, p.oid, cols, refs))


def _tracking_oids(facts: TargetFacts, config: Config) -> set[int]:
    schema, name = config.tracking_table_parts
    return {t.oid for t in facts.tables.values() if t.name == name and (schema is None or t.schema == schema)}


def on_a_copy(server: ShadowServer, url: str, run: Callable[[Conn, str], DryRunReport]) -> DryRunReport:
    """``run(connection, url)`` on a fresh copy of the scratch database ``url`` (``CREATE DATABASE ... TEMPLATE``,
    which needs ``url`` to have no connection), dropped afterwards: a dry run that commits each migration
    (:class:`~.policy.CommitOnCopy`) leaves the copy changed, so each run gets its own.

    :raises ConfigError, ShadowError: as :func:`~.shadow.scratch_database`.
    """
    with scratch_database(server, template=database_of(url)) as copy_url, connect(copy_url) as conn:
        return run(conn, copy_url)


def _measured_sizes(server: ShadowServer, big_url: str, big_sizes: Mapping[str, tuple[int, int]],
                    facts: TargetFacts, whole: set[int], config: Config, version: int | None,
                    scaled: Collection[tuple[int, int]] = ()) -> list[Sample]:
    """The full sample ``big_url`` and copies of it thinned to :data:`SMALLER_FRACTIONS`, each measured
    :data:`REPEATS` times, the sizes alternated (:func:`~.measure.measure_alternated`), then more rounds up to
    :data:`MAX_REPEATS` while a statement of ``scaled`` (keys as the timings') has its per-row part unresolved
    (:func:`~.predict.resolved`: the full sample against the emptied copy) and the rounds so far took less
    than :data:`MORE_WITHIN_S`; every copy dropped after. A size whose migrations fail there has no durations
    (the dry run says why)."""
    with ExitStack() as stack:
        urls, found = [big_url], [big_sizes]
        for keep in SMALLER_FRACTIONS:
            small_url = stack.enter_context(scratch_database(server, template=database_of(big_url)))
            with connect(small_url) as small_conn:
                thin(small_conn, facts, keep, whole)
                found.append(sizes(small_conn, facts))
            urls.append(small_url)
        wal: list[dict[tuple[int, int], list[int]]] = []
        commit: list[dict[tuple[int, int], list[float]]] = []
        started = time.perf_counter()

        def more(so_far: list[dict[tuple[int, int], list[float]]]) -> bool:
            if time.perf_counter() - started >= MORE_WITHIN_S:
                return False
            full, empty = so_far[0], so_far[-1]
            return not all(resolved(full.get(k, []), empty.get(k, [])) for k in scaled)

        try:
            timings = measure_alternated(server, urls, config, version, REPEATS, wal, more, MAX_REPEATS, commit)
        except (ConfitureError, psycopg.Error):
            timings, wal, commit = [{} for _ in urls], [], []
    return [Sample(n, ms, wal[i] if i < len(wal) else {}, commit[i] if i < len(commit) else {})
            for i, (n, ms) in enumerate(zip(found, timings, strict=True))]


def scaled_statements(shadow: Conn, config: Config, version: int | None, facts: TargetFacts,
                      whole: set[int], migrations: Sequence[Migration]) -> dict[tuple[int, int], str] | None:
    """The pending SQL statements (read from the shadow's copy of the tracking table) whose
    :func:`~.work.work_of` names a table the sample thins (:func:`~.sample.thinned`): their work kind keyed by
    (migration version, position in its file), the timed applies' keys; ``None`` when a Python migration is
    pending (it may do anything). Only when some are (or ``None``) are the sample sizes measured for
    predictions; otherwise every table the migrations work on is in the shadow at its target size, and the dry
    run's own durations are the ones to expect.

    :param migrations: the project's migrations, already discovered (their parsed files are reused).
    :raises ConfitureError: the pending migrations cannot be read (the dry run then says why).
    """
    keys: dict[tuple[int, int], str] = {}
    for m in Runner(shadow, config, no_plugins(), migrations=list(migrations)).plan_up(version):
        if m.kind != "sql":
            return None
        for i, st in enumerate(m.sql("up").statements):
            work = work_of(st.node)
            table = facts.by_name(work[1]) if work else None
            if work is not None and table is not None and thinned(table, whole):
                keys[(m.version, i)] = work[0]
    return keys


def _rewriting(report: DryRunReport, keys: Mapping[tuple[int, int], str]) -> set[tuple[int, int]]:
    """``keys`` without the statements that have nothing to scale (:func:`~.predict.scales`: a rewrite the dry run
    saw not rewrite): they have no per-row part to resolve, and asking for one would spend every extra round on
    them."""
    out = set(keys)
    for m in report.migrations:
        for i, st in enumerate(m.statements):
            kind = keys.get((m.version, i))
            if kind is not None and not scales(kind, bool(st.rewritten)):
                out.discard((m.version, i))
    return out


def shadow_dry_run(target: Conn, target_conninfo: str, server: ShadowServer, config: Config, hooks: Hooks, *,
                   spec: SampleSpec, spec_text: str, version: int | None = None, reporter: Reporter | None = None,
                   preflight: bool = False, warn: Callable[[str], None] = lambda message: None,
                   migrations: Sequence[Migration] = (),
                   say: Callable[[str], None] = lambda message: None) -> DryRunReport:
    """Measure the pending migrations on shadow databases, never on the target.

    1. reads the target's catalog and size statistics (:func:`~.facts.read_target_facts`);
    2. ``pg_dump --section=pre-data`` of the target restored into a scratch database on ``server``,
       a sample of each table (:func:`~.sample.load_sample`, parents closed over foreign keys, the
       tracking table whole), then ``--section=post-data`` (indexes, constraints), ``VACUUM (FREEZE, ANALYZE)``;
    3. the dry run on the full sample (the report), on a copy of its own (:func:`on_a_copy`), committing
       each migration (exact locks per migration, flat cost per migration); then, only when a pending
       migration works on a table the sample thins (:func:`scaled_statements`), the migrations applied for
       real (committed per migration, as ``migrate up`` does) :data:`REPEATS` times or more (up to
       :data:`MAX_REPEATS`, see :func:`_measured_sizes`) on throwaway copies of it and of copies thinned to
       :data:`SMALLER_FRACTIONS` of the rows, the sizes alternated, each statement timed
       (:func:`~.measure.measure_alternated`);
    4. each statement's duration scaled to the target's size from those points (:func:`~.predict.predict`).

    Every scratch database is dropped whatever happens (Ctrl-C included). The target sees only
    reads taking ACCESS SHARE (catalog queries, pg_dump, ``COPY (SELECT ...) TO STDOUT``).

    :param target: an autocommit connection to the target (only read).
    :param target_conninfo: the target's connection string (for pg_dump; its password goes by environment).
    :param warn: told when the shadow's major version differs from the target's.
    :param migrations: the project's migrations (the foreign keys they add are kept consistent in the sample).
    :param say: told what the preflight does (one line before the copy).
    :returns: the report of the full sample's dry run, ``where = "shadow"``, predictions set.
    :raises ConfigError: no suitable pg_dump, or the shadow server cannot be reached.
    :raises ShadowError: pg_dump failed or the shadow server refused the schema.
    :raises LockBlocked, HistoryError, MigrationFileError, MigrationFailed: as :func:`~.run.dry_run`.
    """
    timeout = dry_run_lock_timeout(config)
    facts = read_target_facts(target, timeout)
    major = facts.server_version // 10000
    pg_dump = find_pg_dump(major)
    pre = dump_schema(target_conninfo, "pre-data", pg_dump, timeout)
    post = dump_schema(target_conninfo, "post-data", pg_dump, timeout)
    add_migration_foreign_keys(facts, migrations)
    whole = _tracking_oids(facts, config)
    say(f"dry run on a shadow database: copying the target's schema and a {spec_text} sample of its rows to "
        f"{server.label} (the target is only read)")
    with scratch_database(server) as big_url:
        with connect(big_url) as shadow:
            shadow_version = shadow.info.server_version
            if shadow_version // 10000 != major:
                warn(f"the shadow server ({server.label}) runs PostgreSQL {shadow_version // 10000}, the target "
                     f"{major}: locks and timings may differ; give a shadow server of version {major} with "
                     "--shadow-url")
            restore_schema(shadow, pre)
            load_sample(target, shadow, facts, spec, whole, timeout)
            restore_schema(shadow, post)
            vacuum(shadow, facts)
            match_parallel_degree(shadow, facts)
            samples = [Sample(sizes(shadow, facts), {})]
            try:
                keys = scaled_statements(shadow, config, version, facts, whole, migrations)
            except ConfitureError:
                keys = {}  # the dry run below says what is wrong
        report = on_a_copy(server, big_url, lambda conn, url: dry_run(
            conn, config, hooks, target=version, reporter=reporter, watch_url=url, preflight=preflight, on_copy=True))
        if keys is None or keys:  # else nothing to scale: no copies measured (a copy costs a CREATE, a DROP)
            samples = _measured_sizes(server, big_url, samples[0].sizes, facts, whole, config, version,
                                      _rewriting(report, keys or {}))
    predict(report, samples, facts)
    report.where = "shadow"
    report.shadow = {"server": server.label, "server_version": shadow_version, "target_server_version":
                     facts.server_version, "sample": spec_text, "target": redact_url(target_conninfo)}
    return report


def refuse_large_on_target(target: Conn, migrations: Sequence[Migration], max_bytes: int, config: Config) -> None:
    """Before a dry run on the target: refuse when a pending SQL migration rewrites, scans, indexes, validates or
    updates a table larger than ``max_bytes`` (heap and TOAST pages in ``pg_class.relpages``), since the dry
    run would hold its lock on the target for as long as the real migration.

    :raises TooLargeForTarget: naming the migration, line, table and size, and what to do.
    """
    facts: TargetFacts | None = None
    for m in migrations:
        if m.kind != "sql":
            continue
        for st in m.sql("up").statements:
            work = work_of(st.node)
            if work is None:
                continue
            facts = facts or read_target_facts(target, dry_run_lock_timeout(config))
            table = facts.by_name(work[1])
            if table is not None and table.bytes > max_bytes:
                raise TooLargeForTarget(
                    f"{m.up_path.name}:{st.line}: the dry run on the target would {work[0]} table {table.display} "
                    f"({table.bytes / 1024**2:.0f} MB, above [dry_run] max_table_size), holding its lock for as "
                    "long as the real migration: dry-run on a shadow database (drop --on-target), or pass "
                    "--allow-large-tables")
