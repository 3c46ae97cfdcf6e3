"""Projects for the pytest plugin's tests: a good one, and ones whose down forgets a column, an index or a grant."""

from __future__ import annotations

from pathlib import Path

#: version -> (name, up, down): every down reverts its up exactly
GOOD: dict[int, tuple[str, str, str]] = {
    1: ("customers", "CREATE TABLE customer (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);",
        "DROP TABLE customer;"),
    2: ("contact_columns", "ALTER TABLE customer ADD COLUMN note text;\nALTER TABLE customer ADD COLUMN phone text;",
        "ALTER TABLE customer DROP COLUMN phone;\nALTER TABLE customer DROP COLUMN note;"),
    3: ("email_index", "CREATE INDEX CONCURRENTLY customer_email_idx ON customer (email);",
        "DROP INDEX CONCURRENTLY customer_email_idx;"),
    4: ("public_read", "GRANT SELECT, INSERT ON customer TO PUBLIC;",
        "REVOKE SELECT, INSERT ON customer FROM PUBLIC;"),
}

#: the broken downs: what each forgets
FORGETS_COLUMN = {2: "ALTER TABLE customer DROP COLUMN note;"}
FORGETS_INDEX = {3: "DROP INDEX CONCURRENTLY IF EXISTS customer_email_index;  -- a typo, hidden by IF EXISTS"}
FORGETS_GRANT = {4: "REVOKE INSERT ON customer FROM PUBLIC;"}

IMPORT_ALL = ("from confiture_plugins.testing import (  # noqa: F401\n"
              "    test_down_reverts_exactly, test_hooks_load, test_lint_clean, test_stairway, test_upgrade)\n")


def write_project(root: Path, downs: dict[int, str] | None = None, ups: dict[int, str] | None = None,
                  config: str = "", tests: str = IMPORT_ALL) -> Path:
    """Write a Confiture project with a pytest test module into ``root`` (pytester's folder).

    :param downs: replacement down files, by version.
    :param ups: replacement up files, by version.
    :param config: more lines for ``confiture.toml``.
    :param tests: the test module ``tests/test_migrations.py``.
    """
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for version, (name, up, down) in GOOD.items():
        (folder / f"{version}_{name}.up.sql").write_text((ups or {}).get(version, up) + "\n")
        (folder / f"{version}_{name}.down.sql").write_text((downs or {}).get(version, down) + "\n")
    (root / "confiture.toml").write_text('migrations_dir = "migrations"\n' + config)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_migrations.py").write_text(tests)
    return root
