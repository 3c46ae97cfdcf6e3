"""``confiture lint`` through the real CLI: formats, exit codes, select/ignore, config."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from confiture_core.cli import cli
from tests.lint.helpers import CORPUS, REPO

SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
GITHUB_LINE = re.compile(r"^::(error|warning) file=[^,]+,line=\d+,col=\d+,title=[A-Z]+\d{3}::.+$")


def lint(project: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project", str(project), "lint", *args], catch_exceptions=False)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "1_create.up.sql").write_text(
        "SET lock_timeout = '2s';\nCREATE TABLE orders (id bigint PRIMARY KEY, c bigint);\n"
        "CREATE INDEX orders_c ON orders (c);\n")
    (mig / "2_index.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX orders_id2 ON orders (id);\n")
    (mig / "2_index.down.sql").write_text("DROP INDEX CONCURRENTLY orders_id2;\n")
    return tmp_path


def test_text_format_and_exit_1(proj: Path) -> None:
    r = lint(proj, "--no-cache")
    assert r.exit_code == 1
    assert "migrations/2_index.up.sql:2:1: CF101 error (safety.concurrent-index)" in r.stdout
    assert "CREATE INDEX orders_id2 ON orders (id)" in r.stdout  # excerpt
    assert "Found 1 error and 0 warnings in 2 files" in r.stdout  # the down file is skipped


def test_clean_tree_exits_0(proj: Path) -> None:
    (proj / "migrations" / "2_index.up.sql").write_text("CREATE INDEX CONCURRENTLY orders_id2 ON orders (id);\n")
    r = lint(proj, "--no-cache")
    assert r.exit_code == 0, r.output
    assert "No findings in 2 files" in r.stdout


def test_fail_level_warning(proj: Path) -> None:
    (proj / "migrations" / "3_types.up.sql").write_text("SET lock_timeout = '1s';\nCREATE TABLE t (n int);\n")
    assert lint(proj, "--no-cache", "--select", "CF122").exit_code == 0
    assert lint(proj, "--no-cache", "--select", "CF122", "--fail-level", "warning").exit_code == 1


def test_json_format(proj: Path) -> None:
    r = lint(proj, "--no-cache", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["pg_version"] == 18
    assert doc["summary"] == {"files": 2, "statements": 5, "errors": 1, "warnings": 0, "cache_hits": 0}
    (v,) = doc["violations"]
    assert v == {**v, "code": "CF101", "path": "migrations/2_index.up.sql", "line": 2, "column": 1,
                 "severity": "error", "name": "safety.concurrent-index"}
    assert {r["code"] for r in doc["rules"]} >= {"CF101", "CF125", "CF000"}


def test_sarif_is_valid_against_the_official_schema(proj: Path) -> None:
    r = lint(proj, "--no-cache", "--format", "sarif")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    run = doc["runs"][0]
    (res,) = run["results"]
    assert res["ruleId"] == "CF101" and res["level"] == "error"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "CF101"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "migrations/2_index.up.sql"
    assert loc["region"]["startLine"] == 2


def test_sarif_of_a_whole_corpus_is_valid(tmp_path: Path) -> None:
    r = lint(tmp_path, "--no-cache", "--format", "sarif", "--select", "ALL", str(CORPUS / "ente" / "migrations"))
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert len(doc["runs"][0]["results"]) > 400


def test_github_format(proj: Path) -> None:
    (proj / "migrations" / "3_x.up.sql").write_text("SET lock_timeout = '1s';\nCREATE TABLE t (a varchar(5));\n")
    r = lint(proj, "--no-cache", "--format", "github")
    lines = r.stdout.splitlines()
    assert lines and all(GITHUB_LINE.match(line) for line in lines), lines
    assert lines[0].startswith("::error file=migrations/2_index.up.sql,line=2,col=1,title=CF101::CF101 ")
    assert any(line.startswith("::warning file=migrations/3_x.up.sql,line=2,") for line in lines)
    # ',' and ':' in properties are escaped; newlines in messages too
    assert all("\n" not in line for line in lines)


def test_select_and_ignore_options_and_config(proj: Path) -> None:
    assert lint(proj, "--no-cache", "--ignore", "CF101").exit_code == 0
    r = lint(proj, "--no-cache", "--format", "json", "--select", "conventions,CF102", "--ignore", "CF207")
    assert r.exit_code == 0  # only a warning: the table has no COMMENT ON TABLE
    assert [v["code"] for v in json.loads(r.stdout)["violations"]] == ["CF203"]
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\nignore = ["safety"]\n')
    assert lint(proj, "--no-cache").exit_code == 0
    r = lint(proj, "--no-cache", "--format", "json", "--select", "CF1")
    assert [v["code"] for v in json.loads(r.stdout)["violations"]] == []  # config ignore still applies


def test_noqa_through_cli(proj: Path) -> None:
    (proj / "migrations" / "2_index.up.sql").write_text(
        "SET lock_timeout = '2s';\n-- confiture: noqa CF101\nCREATE INDEX orders_id2 ON orders (id);\n")
    r = lint(proj, "--no-cache", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["violations"] == []


def test_usage_errors_exit_2(proj: Path) -> None:
    r = lint(proj, "--select", "nosuchrule")
    assert r.exit_code == 2 and "'nosuchrule' matches no rule" in r.output
    assert lint(proj, "--format", "xml").exit_code == 2
    r = lint(proj, str(proj / "missing"))
    assert r.exit_code == 2 and "no such file or folder" in r.output
    (proj / "confiture.toml").write_text('[lint]\nselect = 3\n')
    r = lint(proj)
    assert r.exit_code == 2 and "[lint] select must be a list" in r.output
    assert "Traceback" not in r.output


def test_pg_version_option_and_config(proj: Path) -> None:
    f = proj / "migrations" / "3_default.up.sql"
    f.write_text("SET lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN n bigint DEFAULT 0;\n")
    def codes(*args: str) -> list[Any]:
        return [v["code"] for v in json.loads(lint(proj, "--no-cache", "--format", "json", *args).stdout)["violations"]]
    assert "CF104" not in codes()
    assert "CF104" in codes("--pg-version", "10")
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\npg_version = 10\n')
    assert "CF104" in codes()
    assert "CF104" not in codes("--pg-version", "16")


def test_cache_through_cli(proj: Path) -> None:
    first = json.loads(lint(proj, "--format", "json").stdout)
    second = json.loads(lint(proj, "--format", "json").stdout)
    assert first["summary"]["cache_hits"] == 0 and second["summary"]["cache_hits"] == 2
    assert first["violations"] == second["violations"]
    assert (proj / ".confiture" / "lint-cache").is_dir()


def test_list_rules_and_explain(proj: Path) -> None:
    r = lint(proj, "--list-rules")
    assert r.exit_code == 0
    assert re.search(r"^CF101\s+on\s+error\s+safety.concurrent-index\s+confiture_plugins.safety.concurrent_index",
                     r.stdout, re.M)
    assert re.search(r"^CF301\s+off\s+", r.stdout, re.M)
    r = lint(proj, "--explain", "CF105")
    assert r.exit_code == 0 and "VALIDATE CONSTRAINT" in r.stdout


def test_corpora_all_formats(tmp_path: Path) -> None:
    for corpus in ("ente", "lemmy"):
        for fmt in ("text", "json", "sarif", "github"):
            r = lint(tmp_path, "--no-cache", "--format", fmt, "--select", "ALL", str(CORPUS / corpus / "migrations"))
            assert r.exit_code == 1, (corpus, fmt, r.output[-500:])
            assert "internal error" not in r.stdout
            assert len(r.stdout) > 10_000


def test_down_files_in_folders_are_skipped_unless_asked(proj: Path) -> None:
    """Regression: every down migration was flagged for the DROPs that undo its up (149 of ente's 157 drops)."""
    (proj / "migrations" / "1_create.down.sql").write_text("DROP TABLE orders;\n")
    r = lint(proj, "--no-cache", "--format", "json")
    found = {(f["path"], f["code"]) for f in json.loads(r.stdout)["violations"]}
    assert not any(p.endswith(".down.sql") for p, _ in found) and ("migrations/2_index.up.sql", "CF101") in found
    r = lint(proj, "--no-cache")
    assert "skipped 2 down migration files" in r.stderr and "--include-down" in r.stderr
    for args in (("--include-down",), (str(proj / "migrations" / "1_create.down.sql"),)):
        r = lint(proj, "--no-cache", "--format", "json", *args)
        found = {(f["path"], f["code"]) for f in json.loads(r.stdout)["violations"]}
        assert ("migrations/1_create.down.sql", "CF114") in found, args
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\ninclude_down = true\n')
    r = lint(proj, "--no-cache", "--format", "json")
    found = {(f["path"], f["code"]) for f in json.loads(r.stdout)["violations"]}
    assert ("migrations/1_create.down.sql", "CF114") in found
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\ninclude_down = "yes"\n')
    r = lint(proj, "--no-cache")
    assert r.exit_code == 2 and "[lint] include_down must be true or false" in r.stderr
