"""The example third-party package (examples/audit-plugin) pip-installed into a fresh venv
and found through its entry point: `confiture plugins` lists it, `migrate up` fires its hooks."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import CORPUS, REPO, write

pytestmark = pytest.mark.plugin_autoload  # confiture-audit is found through its entry point


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding confiture and confiture-audit (both built and installed by pip,
    offline: dependencies come from the test venv through a path file)."""
    root = tmp_path_factory.mktemp("audit-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # third-party dependencies (psycopg, pluggy, ...) from the test venv, after the new venv's own
    deps = [p for p in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (Path(purelib) / "zz_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    build = root.parent / "build"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", f"--cache-dir={build}", str(REPO),
                    str(REPO / "examples" / "audit-plugin")], check=True, capture_output=True, text=True)
    return root


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL", "PYTHONPATH")}
    return subprocess.run([str(venv / "bin" / "confiture"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_console_script_and_plugin_come_from_the_new_venv(venv: Path, project: Path) -> None:
    r = run(venv, "plugins", "--format", "json", cwd=project)
    assert r.returncode == 0, r.stderr
    found = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    audit = found["audit"]
    assert (audit["status"], audit["source"], audit["distribution"], audit["version"]) == (
        "loaded", "entry point", "confiture-audit", "0.2.0")
    assert audit["location"].startswith(str(venv)) and audit["location"].endswith("confiture_audit/plugin.py")
    assert audit["hooks"] == ["confiture_after_migration", "confiture_backfill", "confiture_before_migrate",
                              "confiture_configure"]
    assert found["confiture_lint_safety"]["location"].startswith(str(venv))


def test_audit_rows_for_the_ente_corpus(venv: Path, tmp_path: Path, database_url: str,
                                        db: psycopg.Connection[Any]) -> None:
    src = CORPUS / "ente" / "migrations"
    (tmp_path / "confiture.toml").write_text(f'database_url = "{database_url}"\nmigrations_dir = "{src}"\n')
    r = run(venv, "migrate", "up", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    versions = [int(f.split("_", 1)[0]) for f in (CORPUS / "ente" / "order-up.txt").read_text().split()]
    got = db.execute("SELECT version, direction FROM confiture_audit ORDER BY id").fetchall()
    assert [int(v) for v, _ in got] == versions and len(got) == 124
    assert {d for _, d in got} == {"up"}
    applied = db.execute("SELECT count(*) FROM confiture_migrations WHERE success").fetchone()
    assert applied == (124,)


def test_audit_backfill_in_batches(venv: Path, project: Path, db: psycopg.Connection[Any]) -> None:
    cfg = project / "confiture.toml"
    cfg.write_text(cfg.read_text() + '[plugins.audit]\nbatch_size = 7\nbackfill = [{ version = 2, table = "users", '
                   'column = "email_lower", expression = "lower(email)" }]\n')
    m = project / "migrations"
    write(m, "1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n"
          "INSERT INTO users SELECT g, 'User' || g || '@Example.COM' FROM generate_series(1, 50) g;\n")
    write(m, "2_email_lower.up.sql", "ALTER TABLE users ADD COLUMN email_lower text;\n")
    r = run(venv, "migrate", "up", cwd=project)
    assert r.returncode == 0, r.stderr
    assert db.execute("SELECT count(*) FROM users WHERE email_lower = lower(email)").fetchone() == (50,)
    assert db.execute("SELECT plugin, name, rows, batches, done FROM confiture_migrations_backfills").fetchone() == (
        "audit", "users.email_lower", 50, 9, True)  # 8 batches of up to 7 rows, then an empty one
    assert [tuple(r) for r in db.execute("SELECT version FROM confiture_audit ORDER BY id")] == [(1,), (2,)]
    # a bad setting is one line, exit 2
    cfg.write_text(cfg.read_text().replace('column = "email_lower", ', ""))
    r = run(venv, "migrate", "status", cwd=project)
    assert r.returncode == 2 and "lacks column" in r.stderr and "Traceback" not in r.stderr
