"""Helpers for plugin tests: plugin files in a project, installed-looking distributions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import psycopg

from ..conftest import CliResult, invoke

HEADER = "from confiture_core.hookspecs import hookimpl, Finding, Backfill\n"


def configure(project: Path, settings: str = "") -> None:
    """Append a ``[plugins]`` table (``dir = "plugins"`` plus ``settings``) to confiture.toml."""
    cfg = project / "confiture.toml"
    cfg.write_text(cfg.read_text() + '\n[plugins]\ndir = "plugins"\n' + textwrap.dedent(settings))
    (project / "plugins").mkdir(exist_ok=True)


def add_plugin(project: Path, name: str, code: str) -> Path:
    """Write ``plugins/<name>.py`` (the hookimpl import is added on top)."""
    folder = project / "plugins"
    folder.mkdir(exist_ok=True)
    p = folder / f"{name}.py"
    p.write_text(HEADER + textwrap.dedent(code))
    return p


def fake_dist(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Lay out a distribution in ``site`` as pip would: modules plus a ``.dist-info``
    with ``METADATA`` and ``entry_points.txt`` (group ``confiture``)."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[confiture]\n{eps}")
    for mod, code in modules.items():
        (site / f"{mod}.py").write_text(HEADER + textwrap.dedent(code))


def plugins_json(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[CliResult, dict[str, Any]]:
    """Run ``confiture [args] plugins --format json``; returns the result and {name: info}."""
    r = invoke(*args, "plugins", "--format", "json", cwd=cwd, env=env)
    doc = json.loads(r.stdout) if r.code == 0 else {"plugins": []}
    return r, {p["name"]: p for p in doc["plugins"]}


def rows(db: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    """All rows of ``query`` as tuples."""
    return [tuple(r) for r in db.execute(query).fetchall()]


def tables(db: psycopg.Connection[Any]) -> list[str]:
    """Tables in schema public, sorted."""
    return [r[0] for r in db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]


def applied(db: psycopg.Connection[Any]) -> list[int]:
    """Versions recorded as successfully applied."""
    exists = db.execute("SELECT to_regclass('confiture_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [int(r[0]) for r in db.execute(
        "SELECT version FROM confiture_migrations WHERE success ORDER BY version").fetchall()]
