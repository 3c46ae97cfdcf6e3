"""``confiture lint --write-baseline`` / ``--baseline``: only new findings fail, matched by rule, file and statement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from confiture_core.cli import cli
from confiture_core.lint.baseline import fingerprint


def lint(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project", str(project), "lint", "--no-cache", *args], catch_exceptions=False)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "1_index.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX orders_c ON orders (c);\n")
    return tmp_path


def test_fingerprint_ignores_layout_comments_and_keyword_case() -> None:
    a = fingerprint("CREATE INDEX orders_c ON orders (c)")
    assert fingerprint("create   index -- why\n Orders_C on ORDERS (c);") == a
    assert fingerprint("CREATE INDEX orders_c /* x */ ON orders (c)") == a
    assert fingerprint('CREATE INDEX orders_c ON "Orders" (c)') != a  # a quoted name keeps its case
    assert fingerprint("CREATE INDEX orders_d ON orders (c)") != a
    assert fingerprint("CREATE INDEX x ON t (a) WHERE b = 'A'") != fingerprint("CREATE INDEX x ON t (a) WHERE b = 'a'")
    assert len(a) == 16 and int(a, 16) >= 0
    assert fingerprint("$$ unterminated") == fingerprint("$$   unterminated")  # the scanner's refusal: whitespace


def test_write_then_only_new_findings_fail(proj: Path) -> None:
    first = lint(proj, "--write-baseline", "lint-baseline.json")
    assert first.exit_code == 0, first.output  # recorded: accepted
    assert "wrote 1 finding to the baseline" in first.stderr
    doc = json.loads((proj / "lint-baseline.json").read_text())
    assert doc["version"] == 1 and doc["tool"] == "confiture lint"
    [entry] = doc["findings"]
    assert entry == {"code": "CF101", "path": "migrations/1_index.up.sql",
                     "statement": fingerprint("CREATE INDEX orders_c ON orders (c)"), "count": 1, "line": 2,
                     "excerpt": "CREATE INDEX orders_c ON orders (c)"}
    same = lint(proj, "--baseline", "lint-baseline.json")
    assert same.exit_code == 0, same.output
    assert "No findings" in same.stdout and "1 finding left out" in same.stderr
    # lines added above: the old finding is still recognised; a new statement's finding is not
    (proj / "migrations" / "1_index.up.sql").write_text(
        "-- a comment\nSET lock_timeout = '2s';\n\n\ncreate index orders_c\n  on orders (c);\n"
        "CREATE INDEX orders_d ON orders (d);\n")
    (proj / "migrations" / "2_more.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX o_e ON orders (e);\n")
    r = lint(proj, "--baseline", "lint-baseline.json", "--format", "json")
    assert r.exit_code == 1
    found = [(v["path"], v["line"], v["code"]) for v in json.loads(r.stdout)["violations"]]
    assert found == [("migrations/1_index.up.sql", 7, "CF101"), ("migrations/2_more.up.sql", 2, "CF101")]
    assert json.loads(r.stdout)["summary"]["errors"] == 2


def test_the_same_statement_twice_counts(proj: Path) -> None:
    lint(proj, "--write-baseline", "b.json")
    (proj / "migrations" / "1_index.up.sql").write_text(
        "SET lock_timeout = '2s';\nCREATE INDEX orders_c ON orders (c);\nCREATE INDEX orders_c ON orders (c);\n")
    r = lint(proj, "--baseline", "b.json", "--format", "github")
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        "::error file=migrations/1_index.up.sql,line=3,col=1,title=CF101::CF101 (safety.concurrent-index): "
        + r.stdout.split("::CF101 (safety.concurrent-index): ", 1)[1].splitlines()[0]]


def test_another_file_or_rule_is_new(proj: Path) -> None:
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[apply]\nlock_timeout = "0"\n')  # CF120 asks
    lint(proj, "--write-baseline", "b.json")
    (proj / "migrations" / "1_index.up.sql").rename(proj / "migrations" / "1_renamed.up.sql")
    assert lint(proj, "--baseline", "b.json").exit_code == 1
    (proj / "migrations" / "1_renamed.up.sql").write_text("CREATE INDEX orders_c ON orders (c);\n")  # no SET
    (proj / "migrations" / "1_renamed.up.sql").rename(proj / "migrations" / "1_index.up.sql")
    r = lint(proj, "--baseline", "b.json", "--fail-on", "warning", "--format", "json")
    assert r.exit_code == 1  # the same statement, flagged by another rule (CF120: no lock_timeout)
    assert [v["code"] for v in json.loads(r.stdout)["violations"]] == ["CF120"]


def test_rewriting_a_baseline_keeps_its_old_findings(proj: Path) -> None:
    lint(proj, "--write-baseline", "b.json")
    (proj / "migrations" / "2_more.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX o_e ON orders (e);\n")
    r = lint(proj, "--baseline", "b.json", "--write-baseline", "b.json")
    assert r.exit_code == 0
    assert len(json.loads((proj / "b.json").read_text())["findings"]) == 2
    assert lint(proj, "--baseline", "b.json").exit_code == 0


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file; create it with --write-baseline"),
    ("{not json", "not a baseline file (not JSON"),
    ('{"version": 7, "findings": []}', "not a version 1 baseline file"),
    ('{"version": 1, "findings": [{"code": "CF101"}]}', "finding 1 needs code, path, statement"),
    ('{"version": 1, "findings": [{"code": "CF101", "path": "p", "statement": "s", "count": 0}]}',
     "finding 1 needs code, path, statement"),
])
def test_bad_baseline_is_a_one_line_usage_error(proj: Path, content: str | None, message: str) -> None:
    if content is not None:
        (proj / "b.json").write_text(content)
    r = lint(proj, "--baseline", "b.json")
    assert r.exit_code == 2
    assert r.stdout == ""
    [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert f"--baseline {proj / 'b.json'}: " in line and message in line
    assert "Traceback" not in r.stderr


def test_unwritable_baseline_is_a_usage_error(proj: Path) -> None:
    r = lint(proj, "--write-baseline", "no/such/dir/b.json")
    assert r.exit_code == 2
    assert "cannot write it" in r.stderr and "Traceback" not in r.stderr


def test_write_baseline_with_diff_is_refused(proj: Path) -> None:
    lint(proj, "--write-baseline", "b.json")
    before = (proj / "b.json").read_text()
    r = lint(proj, "--diff", "HEAD", "--baseline", "b.json", "--write-baseline", "b.json")
    assert r.exit_code == 2
    assert "forgetting those recorded for the others" in r.stderr
    assert (proj / "b.json").read_text() == before  # the recorded findings of other files are kept
