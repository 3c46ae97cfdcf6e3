"""migrate status's last line: changed and missing migrations are counted within the applied ones."""

from __future__ import annotations

from pathlib import Path

from ..conftest import invoke, write


def test_changed_and_missing_are_said_within_applied(project: Path) -> None:
    m = project / "migrations"
    for v, t in ((1, "a"), (2, "b"), (3, "c")):
        write(m, f"{v}_{t}.up.sql", f"CREATE TABLE {t} (id int);\n")
    assert invoke("migrate", "up", cwd=project).code == 0
    write(m, "2_b.up.sql", "CREATE TABLE b (id bigint);\n")  # edited after it was applied
    (m / "3_c.up.sql").unlink()  # deleted after it was applied
    write(m, "4_d.up.sql", "CREATE TABLE d (id int);\n")
    r = invoke("migrate", "status", cwd=project)
    assert "3 applied (1 changed since applied, 1 file missing), 1 pending" in r.stderr, r.stderr
    assert "failed" not in r.stderr.splitlines()[-1]
