"""A command imports only what it uses: what `--version`, a configuration error and `migrate up --yes` leave out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..conftest import write

_SHOW_MODULES = """
import sys
from confiture_core.entry import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)))
"""

#: what `migrate up --yes` never needs: the dry run, the review gate, the wizard, the lint engine, rich's console
NOT_FOR_APPLY = ("rich.console", "rich.progress", "rich.table", "confiture_core.dryrun", "confiture_core.review",
                 "confiture_core.wizard", "confiture_core.lint.engine", "confiture_core.cli.dryrun",
                 "confiture_core.cli.wizard")


def imported(*args: str, cwd: Path) -> tuple[set[str], str]:
    """The modules loaded once ``confiture ARGS`` ran (in a fresh interpreter), and its stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    proc = subprocess.run([sys.executable, "-c", _SHOW_MODULES, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split()), proc.stderr


def loaded(modules: set[str], *packages: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_version_imports_no_database_or_parser(tmp_path: Path) -> None:
    modules, _ = imported("--version", cwd=tmp_path)
    assert loaded(modules, "psycopg", "pglast", "rich", *NOT_FOR_APPLY) == []


def test_a_configuration_error_is_said_before_psycopg_or_pglast_is_imported(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text('database_url = "postgresql://localhost/x"\nmigrations_dir = "nope"\n')
    modules, err = imported("--no-plugins", "migrate", "up", "--yes", cwd=tmp_path)
    assert "migrations folder not found" in err
    assert loaded(modules, "psycopg", "pglast", "rich", *NOT_FOR_APPLY) == []


def test_migrate_up_yes_imports_no_dry_run_review_or_rich(project: Path) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    # its notices name file and line (b.up.sql:1: skipped BEGIN...), which may look like an emoji code to rich
    write(project / "migrations", "2_b.up.sql", "BEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n")
    modules, err = imported("--no-plugins", "migrate", "up", "--yes", cwd=project)
    assert "applied 2 migration" in err and "2_b.up.sql:1: skipped BEGIN" in err
    assert loaded(modules, *NOT_FOR_APPLY) == []
    modules, err = imported("--no-plugins", "migrate", "up", "--yes", cwd=project)  # nothing to do
    assert "nothing to migrate" in err
    assert loaded(modules, *NOT_FOR_APPLY) == []
