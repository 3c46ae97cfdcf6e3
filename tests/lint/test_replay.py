"""The run memo (``confiture_core.lint.replay``): an unchanged lint run is replayed, any changed input is not.

Each test runs the console script's entry point in-process and counts how often
the real CLI ran: a replayed run does not reach it. Stamps are only trusted for
inputs that settled before the run; the tests shorten that delay (and wait it
out after each change) instead of waiting the default two seconds.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from confiture_core import cli, entry
from confiture_core.lint import memo, replay

SETTLE_NS = 50_000_000


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Shortens the settle delay; yields the argument lists the real CLI was called with."""
    monkeypatch.setattr(memo, "SETTLE_NS", SETTLE_NS)
    calls: list[list[str]] = []
    real = cli.main

    def counting(argv: list[str] | None = None) -> None:
        calls.append(list(argv or []))
        real(argv)

    monkeypatch.setattr(cli, "main", counting)
    yield calls


def settle() -> None:
    """Wait until every file written so far counts as settled (see the module docstring)."""
    time.sleep(3 * SETTLE_NS / 1e9)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    mig = tmp_path / "migrations"
    (mig / "sub").mkdir(parents=True)
    (mig / "1_create.up.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY, c bigint);\n")
    (mig / "sub" / "2_index.up.sql").write_text("SET lock_timeout = '2s';\nCREATE INDEX orders_c ON orders (c);\n")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], proj: Path, *args: str, pre: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """``confiture PRE --project PROJ lint ARGS`` through the console script's entry point."""
    with pytest.raises(SystemExit) as exc:
        entry.main([*pre, "--project", str(proj), "lint", "--format", "json", *args])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def memos(proj: Path) -> list[Path]:
    return sorted((proj / ".confiture" / "lint-cache").glob("run-*.memo"))


def warm(capsys: pytest.CaptureFixture[str], proj: Path, calls: list[list[str]], *args: str,
         pre: tuple[str, ...] = ()) -> str:
    """Fill the cache, run once fully cached (which leaves the memo), check the next run is replayed."""
    settle()
    run(capsys, proj, *args, pre=pre)
    settle()  # the first run created the cache folder (a change to the project folder's stamp)
    code, out, _ = run(capsys, proj, *args, pre=pre)
    assert json.loads(out)["summary"]["cache_hits"] == json.loads(out)["summary"]["files"]
    assert len(memos(proj)) == 1
    before = len(calls)
    again = run(capsys, proj, *args, pre=pre)
    assert len(calls) == before, "an unchanged run must be replayed"
    assert again == (code, out, "")
    return out


def replayed(capsys: pytest.CaptureFixture[str], proj: Path, calls: list[list[str]], *args: str,
             pre: tuple[str, ...] = ()) -> bool:
    before = len(calls)
    run(capsys, proj, *args, pre=pre)
    return len(calls) == before


def test_unchanged_run_is_replayed_with_the_same_output_and_exit_code(
        proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    out = warm(capsys, proj, runs)
    doc = json.loads(out)
    assert [v["code"] for v in doc["violations"]] == ["CF101"]
    assert all(f["cached"] for f in doc["files"])


def test_text_format_replays_stderr_too(proj: Path, runs: list[list[str]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    settle()
    args = ["--project", str(proj), "lint", "--format", "text"]
    results = []
    for _ in range(3):
        with pytest.raises(SystemExit) as exc:
            entry.main(args)
        results.append((exc.value.code, *capsys.readouterr()))
        settle()  # the cache manifest the first run wrote is stamped too
    assert len(runs) == 2
    assert results[1] == results[2]
    assert "linting for PostgreSQL 18" in results[2][2] and "CF101" in results[2][1]


def test_edited_file_invalidates(proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    warm(capsys, proj, runs)
    (proj / "migrations" / "sub" / "2_index.up.sql").write_text(
        "CREATE INDEX CONCURRENTLY orders_c ON orders (c);\n")
    assert not replayed(capsys, proj, runs)
    settle()
    _, out, _ = run(capsys, proj)
    assert json.loads(out)["violations"] == []


def test_file_added_in_a_subfolder_invalidates(proj: Path, runs: list[list[str]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    warm(capsys, proj, runs)
    (proj / "migrations" / "sub" / "3_drop.up.sql").write_text("DROP TABLE orders;\n")
    assert not replayed(capsys, proj, runs)


def test_select_on_the_command_line_or_in_config_invalidates(
        proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    warm(capsys, proj, runs)
    assert not replayed(capsys, proj, runs, "--select", "CF120")
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\nselect = ["conventions"]\n')
    assert not replayed(capsys, proj, runs)
    settle()
    _, out, _ = run(capsys, proj)
    assert "CF101" not in {v["code"] for v in json.loads(out)["violations"]}


def test_pg_version_change_invalidates(proj: Path, runs: list[list[str]],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    warm(capsys, proj, runs, "--pg-version", "16")
    assert not replayed(capsys, proj, runs, "--pg-version", "15")
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\npg_version = 10\n')
    assert json.loads(run(capsys, proj)[1])["pg_version"] == 10


def test_config_file_appearing_nearer_invalidates(tmp_path: Path, runs: list[list[str]],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "a" / "b"
    proj.mkdir(parents=True)
    (proj / "x.up.sql").write_text("CREATE INDEX i ON t (c);\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    warm(capsys, proj, runs, str(proj))
    (tmp_path / "a" / "confiture.toml").write_text('[lint]\nselect = ["CF120"]\n')
    assert not replayed(capsys, proj, runs, str(proj))


def write_pack(site: Path, module: str, version: str) -> Path:
    """A third-party rule pack distribution (dist-info with a ``confiture`` entry point) in ``site``."""
    (site / f"{module}.py").write_text(
        "from confiture_core.hookspecs import hookimpl\n"
        "from confiture_core.lint.rule import LintRule\n\n"
        "class NoDrop(LintRule):\n"
        "    code = 'FK001'\n    name = 'fake.no-drop'\n    groups = ('fake',)\n"
        "    summary = 'no DROP'\n\n"
        "    def check(self, statement, ctx):\n"
        "        if statement.kind == 'DropStmt':\n"
        "            yield self.violation(statement, ctx)\n\n"
        "@hookimpl\ndef confiture_lint_rules():\n    return [NoDrop]\n")
    dist = site / f"{module}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[confiture]\n{module} = {module}\n")
    return dist


@pytest.mark.plugin_autoload
def test_rule_pack_install_upgrade_and_edit_invalidate(
        proj: Path, tmp_path: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = f"fakepack_{tmp_path.name.replace('-', '_')}"
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module, raising=False)
    warm(capsys, proj, runs)
    dist = write_pack(site, module, "1.0")  # installed
    assert not replayed(capsys, proj, runs)
    warm(capsys, proj, runs)
    dist.rename(site / f"{module}-1.1.dist-info")  # upgraded (only the version changes)
    assert not replayed(capsys, proj, runs)
    warm(capsys, proj, runs)
    (site / f"{module}-1.1.dist-info" / "entry_points.txt").write_text("[confiture]\n")  # edited in place
    assert not replayed(capsys, proj, runs)
    monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.mark.plugin_autoload
def test_rule_module_edit_invalidates(proj: Path, tmp_path: Path, runs: list[list[str]],
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = f"fakepack_{tmp_path.name.replace('-', '_')}"
    monkeypatch.syspath_prepend(str(site))
    write_pack(site, module, "1.0")
    (proj / "migrations" / "3_drop.up.sql").write_text("DROP TABLE orders;\n")
    warm(capsys, proj, runs, "--select", "FK001")
    with (site / f"{module}.py").open("a") as fh:
        fh.write("# edited\n")
    assert not replayed(capsys, proj, runs, "--select", "FK001")
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_p_module_and_plugins_dir_changes_invalidate(
        proj: Path, tmp_path: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[plugins]\ndir = "local"\n')
    local = proj / "local"
    local.mkdir()
    (local / "audit.py").write_text("X = 1\n")
    warm(capsys, proj, runs)
    (local / "audit.py").write_text("X = 22\n")  # a plugins-dir file edited
    assert not replayed(capsys, proj, runs)
    warm(capsys, proj, runs)
    (local / "more.py").write_text("Y = 1\n")  # a plugins-dir file added
    assert not replayed(capsys, proj, runs)
    for name in ("confiture_local_plugins.audit", "confiture_local_plugins.more"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_no_memo_when_the_version_may_come_from_a_server(proj: Path, runs: list[list[str]],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (proj / "confiture.toml").write_text(
        'migrations_dir = "migrations"\ndatabase_url = "postgresql://nobody@127.0.0.1:1/none"\nconnect_timeout = 1\n')
    settle()
    for _ in range(3):
        run(capsys, proj)
    assert memos(proj) == [] and len(runs) == 3
    settle()
    warm(capsys, proj, runs, "--pg-version", "17")  # an explicit version needs no server


def test_no_memo_when_a_plugin_failed_to_load(proj: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(memo, "SETTLE_NS", SETTLE_NS)
    settle()
    for _ in range(3):
        with pytest.raises(SystemExit):
            entry.main(["-p", "no_such_module_for_confiture_tests", "--project", str(proj), "lint"])
        assert "no_such_module_for_confiture_tests" in capsys.readouterr().err
    assert memos(proj) == []


def test_no_memo_for_inputs_changed_just_before_the_run(proj: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(memo, "SETTLE_NS", 3600 * 10**9)
    for _ in range(3):
        run(capsys, proj)
    assert memos(proj) == []


def test_no_memo_without_the_cache(proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    settle()
    for _ in range(3):
        run(capsys, proj, "--no-cache")
    assert memos(proj) == [] and len(runs) == 3


@pytest.mark.parametrize("argv", [
    ["migrate", "up"],
    ["lint", "--no-cache"],
    ["lint", "--pending"],
    ["lint", "--list-rules"],
    ["lint", "--explain=CF101"],
    ["--project", "lint", "migrate"],
    ["plugins"],
    [],
])
def test_commands_never_replayed(argv: list[str]) -> None:
    assert replay.parse_invocation(argv) is None


def test_invocation_key_covers_arguments_the_whole_environment_and_folders(tmp_path: Path) -> None:
    base = replay.parse_invocation(["-C", str(tmp_path), "lint", "x"], env={"HOME": "/h"})
    assert base is not None and base.start == str(tmp_path.resolve())
    same = replay.parse_invocation(["-C", str(tmp_path), "lint", "x"], env={"HOME": "/h"})
    assert same is not None and same.digest == base.digest
    for argv, env in (
        (["-C", str(tmp_path), "lint", "y"], {"HOME": "/h"}),
        (["-C", str(tmp_path), "lint", "x", "--select", "ALL"], {"HOME": "/h"}),
        (["-C", str(tmp_path), "lint", "x"], {"HOME": "/h", "CONFITURE_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        (["-C", str(tmp_path), "lint", "x"], {"HOME": "/h", "DATABASE_URL": "postgresql://db/x"}),
        (["-C", str(tmp_path), "lint", "x"], {"HOME": "/other"}),  # any variable: a plugin may read it
        (["-C", str(tmp_path), "lint", "x"], {"HOME": "/h", "ACME_LINT_STRICT": "1"}),
        (["-C", str(tmp_path), "-p", "mod", "lint", "x"], {"HOME": "/h"}),
        (["lint", "x"], {"HOME": "/h"}),
    ):
        other = replay.parse_invocation(argv, env=env)
        assert other is not None and other.digest != base.digest, (argv, env)


def test_no_memo_when_output_went_around_the_tap(proj: Path, runs: list[list[str]],
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from confiture_core.cli import lint as command

    real = command.exit_code

    def writes_to_the_descriptor(*args: object, **kwargs: object) -> int:
        try:
            sys.stdout.fileno()
        except Exception:  # capsys's stream has no descriptor: the tee has noted the hand-out anyway
            pass
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "exit_code", writes_to_the_descriptor)
    settle()
    for _ in range(3):
        run(capsys, proj)
    assert memos(proj) == [] and len(runs) == 3


# ------------------------------------------------------------------ reviewed defects


def test_no_secret_reaches_the_cache_folder(proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import stat

    monkeypatch.setenv("PGPASSWORD", "s3cretFAKE")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bob:s3cretFAKE@127.0.0.1:1/env_db")
    args = ["--database-url", "postgresql://alice:s3cretFAKE@127.0.0.1:1/arg_db", "--project", str(proj), "lint",
            "--format", "json", "--pg-version", "16"]
    legacy = proj / ".confiture" / "lint-cache" / "run-0123456789abcdef.memo"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"{'env': (('PGPASSWORD', 's3cretFAKE'),)}")
    settle()
    for _ in range(3):
        with pytest.raises(SystemExit):
            entry.main(args)
        capsys.readouterr()
        settle()
    before = len(runs)
    with pytest.raises(SystemExit):
        entry.main(args)
    assert len(runs) == before, "the run with a password in the environment is replayed"
    assert len(memos(proj)) == 1
    assert not legacy.exists()  # a memo of the old format (it held the environment) was deleted
    found = [p for p in (proj / ".confiture").rglob("*")
             if b"s3cretFAKE" in p.name.encode() or (p.is_file() and b"s3cretFAKE" in p.read_bytes())]
    assert found == []
    assert stat.S_IMODE(memos(proj)[0].stat().st_mode) == 0o600


def _fresh_import(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    import importlib

    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.invalidate_caches()


RULE_SOURCE = (
    "from confiture_core.lint.rule import LintRule\n\n"
    "class NoDrop(LintRule):\n"
    "    code = '{code}'\n    name = 'acme.no-drop-{lower}'\n    groups = ('acme',)\n"
    "    summary = 'no DROP'\n\n"
    "    def check(self, statement, ctx):\n"
    "        if statement.kind == 'DropStmt':\n"
    "            yield self.violation(statement, ctx)\n"
)


def test_a_plugin_reading_any_environment_variable_is_not_replayed_stale(
        proj: Path, tmp_path: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = f"acme_env_{tmp_path.name.replace('-', '_')}"
    (site / f"{module}.py").write_text(
        "import os\nfrom confiture_core.hookspecs import hookimpl\n" + RULE_SOURCE.format(code="AC001", lower="ac001")
        + "\n@hookimpl\ndef confiture_lint_rules():\n"
          "    return [NoDrop] if os.environ.get('ACME_LINT_STRICT') == '1' else []\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("ACME_LINT_STRICT", raising=False)
    (proj / "migrations" / "3_drop.up.sql").write_text("DROP TABLE orders;\n")
    _fresh_import(monkeypatch, module)
    pre = ("-p", module)
    warm(capsys, proj, runs, "--select", "ALL", pre=pre)
    monkeypatch.setenv("ACME_LINT_STRICT", "1")
    assert not replayed(capsys, proj, runs, "--select", "ALL", pre=pre)
    settle()
    _, out, err = run(capsys, proj, "--select", "ALL", pre=pre)
    assert out, err
    assert "AC001" in {v["code"] for v in json.loads(out)["violations"]}
    _fresh_import(monkeypatch, module)


def test_a_new_module_in_a_package_that_discovers_its_rule_modules_invalidates(
        proj: Path, tmp_path: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    pkg_name = f"acme_pkg_{tmp_path.name.replace('-', '_')}"
    pkg = site / pkg_name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import importlib, pkgutil\nfrom confiture_core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef confiture_lint_rules():\n"
        "    out = []\n"
        "    for m in pkgutil.iter_modules(__path__):\n"
        "        out += importlib.import_module(__name__ + '.' + m.name).RULES\n"
        "    return out\n")
    (pkg / "first.py").write_text("RULES = []\n")
    monkeypatch.syspath_prepend(str(site))
    (proj / "migrations" / "3_drop.up.sql").write_text("DROP TABLE orders;\n")
    _fresh_import(monkeypatch, pkg_name)
    pre = ("-p", pkg_name)
    warm(capsys, proj, runs, "--select", "ALL", pre=pre)
    (pkg / "second.py").write_text(RULE_SOURCE.format(code="AC002", lower="ac002") + "\nRULES = [NoDrop]\n")
    _fresh_import(monkeypatch, pkg_name)
    assert not replayed(capsys, proj, runs, "--select", "ALL", pre=pre)
    settle()
    _fresh_import(monkeypatch, pkg_name)
    _, out, err = run(capsys, proj, "--select", "ALL", pre=pre)
    assert out, err
    assert "AC002" in {v["code"] for v in json.loads(out)["violations"]}
    _fresh_import(monkeypatch, pkg_name)


def test_no_memo_when_the_config_file_vanished_during_the_run(
        proj: Path, tmp_path: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = f"acme_rm_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "delete-now"
    (site / f"{module}.py").write_text(
        "import os\nfrom confiture_core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef confiture_lint_rules():\n"
        f"    if os.path.exists({str(marker)!r}):\n"
        f"        os.unlink({str(marker)!r})\n"
        f"        os.unlink({str(proj / 'confiture.toml')!r})\n"
        "    return []\n")
    monkeypatch.syspath_prepend(str(site))
    (proj / "confiture.toml").write_text('migrations_dir = "migrations"\n[lint]\nignore = ["CF101"]\n')
    _fresh_import(monkeypatch, module)
    settle()
    with pytest.raises(SystemExit):
        entry.main(["-p", module, "--project", str(proj), "lint", "--format", "json", str(proj / "migrations")])
    capsys.readouterr()
    settle()
    marker.write_text("")
    with pytest.raises(SystemExit):  # fully cached, and the config file is deleted while it runs
        entry.main(["-p", module, "--project", str(proj), "lint", "--format", "json", str(proj / "migrations")])
    assert not (proj / "confiture.toml").exists()
    out, err = capsys.readouterr()
    assert out, err
    assert json.loads(out)["summary"]["cache_hits"] == 2
    assert memos(proj) == []
    settle()
    before = len(runs)
    with pytest.raises(SystemExit):
        entry.main(["-p", module, "--project", str(proj), "lint", "--format", "json", str(proj / "migrations")])
    assert len(runs) == before + 1
    out = capsys.readouterr().out
    assert "CF101" in {v["code"] for v in json.loads(out)["violations"]}, out
    _fresh_import(monkeypatch, module)


def test_a_damaged_memo_is_ignored_and_deleted(proj: Path, runs: list[list[str]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    full = warm(capsys, proj, runs)
    good = memos(proj)[0].read_bytes()
    for damaged in (good[:-10],  # truncated payload
                    good[:-5] + b"\xff" + good[-4:],  # one invalid UTF-8 byte
                    good[:40],  # truncated header
                    b"garbage"):
        memos(proj)[0].write_bytes(damaged)
        before = len(runs)
        code, out, _ = run(capsys, proj)
        assert len(runs) == before + 1, "a damaged memo must not be replayed"
        assert (code, out) == (1, full)
        settle()
        assert replayed(capsys, proj, runs)  # a good memo was written again


def test_deleting_the_cache_manifest_forces_a_fresh_lint(proj: Path, runs: list[list[str]],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    warm(capsys, proj, runs)
    for manifest in (proj / ".confiture" / "lint-cache").glob("*.json"):
        manifest.unlink()
    assert not replayed(capsys, proj, runs)
    _, out, _ = run(capsys, proj)
    assert json.loads(out)["summary"]["cache_hits"] == 2  # the manifest was written again


def test_project_relative_paths_config_and_fail_on_replay_as_run(
        proj: Path, runs: list[list[str]], capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """-C DIR applies to PATHS and --config in the replay as in the CLI; --fail-on and --fail-level both replay."""
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    (proj / "alt.toml").write_text('migrations_dir = "migrations"\n')
    args = ("--fail-on", "warning", "--select", "CF122", "migrations/1_create.up.sql")
    (proj / "migrations" / "1_create.up.sql").write_text("SET lock_timeout = '1s';\nCREATE TABLE t (n int);\n")
    out = warm(capsys, proj, runs, *args, pre=("--config", "alt.toml"))
    assert [v["code"] for v in json.loads(out)["violations"]] == ["CF122"]
    assert run(capsys, proj, *args, pre=("--config", "alt.toml"))[0] == 1  # replayed: same exit code
    old = ("--fail-level", "warning", *args[2:])
    assert run(capsys, proj, *old, pre=("--config", "alt.toml"))[0] == 1
    settle()
    (proj / "alt.toml").write_text('migrations_dir = "migrations"\n[lint]\nignore = ["CF122"]\n')
    settle()
    assert not replayed(capsys, proj, runs, *args, pre=("--config", "alt.toml"))  # DIR/alt.toml is stamped
    code, out, _ = run(capsys, proj, *args, pre=("--config", "alt.toml"))
    assert code == 0 and json.loads(out)["violations"] == []
