"""The CLI's one output object: every printer (warnings, notices, errors, JSON) scrubs the database password,
and nothing of one in-process run leaks into the next (issue 11, point 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import conninfo_to_dict

from confiture_core.cli import cli, main
from confiture_core.cli.output import Output

from ..conftest import write
from ..plugins.helpers import add_plugin, applied, configure

SECRET = "s3cretFAKEpw"
REFUSED = f"postgresql://app:{SECRET}@127.0.0.1:1/prod"  # port 1: the connection is refused


def invoke(project: Path, url: str, *args: str) -> Result:
    """``confiture -C PROJECT --database-url URL ARGS`` in process."""
    return CliRunner().invoke(cli, ["-C", str(project), "--database-url", url, *args])


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The console script's ``main(ARGS)`` in process (its error handling included): exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def with_password(url: str) -> tuple[str, str]:
    """``url`` with a password (the test server trusts local connections, so any password works) and that password."""
    if "password" not in conninfo_to_dict(url):
        url += f" password={SECRET}"
    return url, str(conninfo_to_dict(url)["password"])


def test_every_warning_and_notice_printer_hides_the_password(project: Path, database_url: str,
                                                             db: psycopg.Connection[Any]) -> None:
    url, secret = with_password(database_url)
    configure(project, 'non_fatal = ["flaky"]\n')
    # the plugin loader's warning: a plugin that does not import
    add_plugin(project, "broken", f"raise ImportError({'cannot reach ' + url!r})\n")
    # the hook caller's warning: a non-fatal plugin that fails
    add_plugin(project, "flaky", f"""
        @hookimpl
        def confiture_before_migration(context):
            raise ValueError({'flaky on ' + url!r})
        """)
    # the runner's reporter's warning: confiture_after_migrate fails once the migrations are committed
    add_plugin(project, "late", f"""
        @hookimpl
        def confiture_after_migrate(context, results):
            raise RuntimeError({'late on ' + url!r})
        """)
    # the server's notice
    write(project / "migrations", "1_a.up.sql",
          f"DO $$ BEGIN RAISE NOTICE 'connected with {secret}'; END $$;\nCREATE TABLE a (id int);\n")
    r = invoke(project, url, "-v", "migrate", "up", "--yes")
    assert r.exit_code == 0, r.output
    assert applied(db) == [1]
    assert secret not in r.output
    err = r.stderr
    for shown in ("warning: plugin 'broken'", "cannot reach", "warning: plugin 'flaky' failed", "flaky on",
                  "late on", "notice: connected with ***", "password=***"):
        assert shown in err, (shown, err)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_refused_connection_hides_the_password(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "migrations").mkdir()
    code, out, err = run_main(capsys, "-C", str(tmp_path), "--database-url", REFUSED, "-v", "migrate", "status",
                              "--format", fmt)
    assert code == 2
    assert SECRET not in out + err
    assert "error: cannot connect to postgresql://app:***@127.0.0.1:1/prod (from --database-url)" in err
    assert "database: postgresql://app:***@127.0.0.1:1/prod" in err  # -v
    if fmt == "json":
        doc = json.loads(out)
        assert doc["ok"] is False and doc["exit_code"] == 2 and "app:***@" in doc["error"]
    else:
        assert out == ""


def test_json_document_is_scrubbed_before_json_escapes_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    password = 'pa"ss\\word'  # json.dumps would write pa\"ss\\word: a scrub of the text would miss it
    output = Output()
    output.add_secret(f"host=db dbname=prod password='{password}'")
    output.emit_json({"error": f"failed with {password}", "list": [password, 3], password: None})
    text = capsys.readouterr().out
    assert json.loads(text) == {"error": "failed with ***", "list": ["***", 3], "***": None}


def test_nothing_leaks_from_one_in_process_run_into_the_next(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "migrations").mkdir()
    args = ("-C", str(tmp_path), "--database-url", REFUSED, "migrate", "status")
    code, out, _ = run_main(capsys, *args, "--format", "json")
    assert code == 2 and json.loads(out)["ok"] is False
    code, out, _ = run_main(capsys, *args)
    assert code == 2 and out == ""  # no JSON error document: this run asked for text
    result = CliRunner().invoke(cli, [*args, "--format", "json"])  # click's own run: the error is left raised
    assert result.exit_code == 1 and result.stdout == ""
    assert Output.current() is not Output.current()  # outside a command nothing is kept
