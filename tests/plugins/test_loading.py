"""Where plugins come from and what keeps them out: entry points, -p, the plugins folder,
broken plugins, unknown hooks, the allowlist, autoload off, --no-plugins, --disable-plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import invoke
from .helpers import add_plugin, configure, fake_dist, plugins_json

FIRST_PARTY = {"confiture_callbacks", "confiture_lint_conventions", "confiture_lint_safety", "confiture_lint_tenancy",
               "confiture_lint_cqrs"}

HOOK = """
@hookimpl
def confiture_before_migrate(context):
    pass
"""


def site_with_two(tmp_path: Path) -> dict[str, str]:
    """Two third-party distributions installed in a folder on PYTHONPATH; the env to use it."""
    site = tmp_path / "site"
    fake_dist(site, "acme-audit", "1.4.2", {"acme_audit": "acme_audit_mod"}, {"acme_audit_mod": HOOK})
    fake_dist(site, "other-thing", "0.3", {"other": "other_mod"}, {"other_mod": HOOK})
    return {"PYTHONPATH": str(site)}


@pytest.mark.plugin_autoload
def test_entry_point_plugin_is_found_with_its_distribution(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    r, found = plugins_json(cwd=project, env=env)
    assert r.code == 0, r.stderr
    p = found["acme_audit"]
    assert (p["status"], p["source"], p["distribution"], p["version"]) == ("loaded", "entry point", "acme-audit",
                                                                        "1.4.2")
    assert p["location"] == str(tmp_path / "site" / "acme_audit_mod.py")
    assert p["hooks"] == ["confiture_before_migrate"]
    assert found["other"]["status"] == "loaded"
    assert FIRST_PARTY <= set(found)


def test_dash_p_module_and_plugins_folder(project: Path, tmp_path: Path) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "inhouse.py").write_text("from confiture_core.hookspecs import hookimpl\n" + HOOK)
    configure(project)
    add_plugin(project, "local_one", HOOK)
    add_plugin(project, "_private_helper", "raise RuntimeError('must not be imported')\n")
    r, found = plugins_json("-p", "inhouse", cwd=project, env={"PYTHONPATH": str(mods)})
    assert r.code == 0, r.stderr
    assert (found["inhouse"]["source"], found["inhouse"]["status"]) == ("-p", "loaded")
    assert found["inhouse"]["location"] == str(mods / "inhouse.py")
    assert (found["local_one"]["source"], found["local_one"]["status"]) == ("plugins dir", "loaded")
    assert found["local_one"]["location"] == str(project / "plugins" / "local_one.py")
    assert "_private_helper" not in found and "warning" not in r.stderr


def test_broken_plugin_is_named_and_others_still_load(project: Path) -> None:
    configure(project)
    add_plugin(project, "broken", "import does_not_exist_anywhere\n")
    add_plugin(project, "fine", HOOK)
    r, found = plugins_json(cwd=project)
    assert r.code == 0
    assert "plugin 'broken' (plugins dir): import failed: ModuleNotFoundError" in r.stderr
    assert "skipped" in r.stderr
    assert found["broken"]["status"] == "failed"
    assert found["fine"]["status"] == "loaded"
    # the same under --strict-plugins: exit 2, one line, no traceback
    r = invoke("--strict-plugins", "plugins", cwd=project)
    assert r.code == 2
    assert "plugin 'broken' (plugins dir): import failed" in r.stderr and "--strict-plugins" in r.stderr
    assert "Traceback" not in r.stderr
    # and it stops a migration before anything happens
    r = invoke("--strict-plugins", "migrate", "up", cwd=project)
    assert r.code == 2 and "broken" in r.stderr


def test_syntax_error_in_plugin_is_reported(project: Path) -> None:
    configure(project)
    add_plugin(project, "typo", "def oops(:\n")
    r, found = plugins_json(cwd=project)
    assert r.code == 0
    assert "plugin 'typo' (plugins dir): import failed: SyntaxError" in r.stderr
    assert found["typo"]["status"] == "failed"


def test_unknown_hook_and_bad_signature_are_skipped_with_a_warning(project: Path) -> None:
    configure(project)
    add_plugin(project, "misspelt", """
        @hookimpl
        def confiture_after_migratoin(context):
            pass
        """)
    add_plugin(project, "badargs", """
        @hookimpl
        def confiture_after_migration(context, nonsense):
            pass
        """)
    r, found = plugins_json(cwd=project)
    assert r.code == 0, r.stderr
    assert "plugin 'misspelt' (plugins dir): implements hook(s) the spec does not have: " \
           "confiture_after_migratoin; skipped" in r.stderr
    assert found["misspelt"]["status"] == "failed" and found["misspelt"]["hooks"] == []
    assert "plugin 'badargs' (plugins dir): invalid hook implementation" in r.stderr
    assert "nonsense" in r.stderr
    assert found["badargs"]["status"] == "failed"
    r = invoke("--strict-plugins", "plugins", cwd=project)
    assert r.code == 2


@pytest.mark.plugin_autoload
def test_allowlist_only_admits_listed_entry_points(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    configure(project, 'allow = ["acme_audit"]\n')
    r, found = plugins_json(cwd=project, env=env)
    assert r.code == 0, r.stderr
    assert found["acme_audit"]["status"] == "loaded"
    assert found["other"]["status"] == "not allowed"
    assert found["other"]["hooks"] == []
    # first-party packs are part of Confiture itself: the allowlist does not apply to them
    assert all(found[n]["status"] == "loaded" for n in FIRST_PARTY)


@pytest.mark.plugin_autoload
def test_autoload_off_keeps_entry_points_out(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    configure(project)
    add_plugin(project, "local_one", HOOK)
    r, found = plugins_json(cwd=project, env={**env, "CONFITURE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert r.code == 0, r.stderr
    assert "acme_audit" not in found and "other" not in found
    # explicit sources still load: the project's folder (configured) and first-party packs
    assert found["local_one"]["status"] == "loaded"
    assert all(found[n]["status"] == "loaded" for n in FIRST_PARTY)
    # ... and a first-party pack can still be blocked by name
    r, found = plugins_json("--disable-plugin", "confiture_lint_tenancy", cwd=project,
                            env={**env, "CONFITURE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert found["confiture_lint_tenancy"]["status"] == "blocked"
    # "0" and "" mean autoload on
    r, found = plugins_json(cwd=project, env={**env, "CONFITURE_DISABLE_PLUGIN_AUTOLOAD": "0"})
    assert found["acme_audit"]["status"] == "loaded"


@pytest.mark.plugin_autoload
def test_no_plugins_loads_only_built_ins_and_explicit_dash_p(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    (tmp_path / "site" / "inhouse.py").write_text("from confiture_core.hookspecs import hookimpl\n" + HOOK)
    configure(project)
    add_plugin(project, "local_one", HOOK)
    r, found = plugins_json("--no-plugins", cwd=project, env=env)
    assert r.code == 0, r.stderr
    assert set(found) == FIRST_PARTY
    r, found = plugins_json("--no-plugins", "-p", "inhouse", cwd=project, env=env)
    assert set(found) == FIRST_PARTY | {"inhouse"}


@pytest.mark.plugin_autoload
def test_disable_plugin_blocks_by_name(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    configure(project, 'disable = ["local_two"]\n')
    add_plugin(project, "local_one", HOOK)
    add_plugin(project, "local_two", "raise RuntimeError('blocked plugins are never imported')\n")
    r, found = plugins_json("--disable-plugin", "acme_audit", "--disable-plugin", "local_one", cwd=project, env=env)
    assert r.code == 0, r.stderr
    assert found["acme_audit"]["status"] == "blocked"
    assert found["local_one"]["status"] == "blocked"
    assert found["local_two"]["status"] == "blocked"
    assert found["other"]["status"] == "loaded"
    assert "warning" not in r.stderr


def test_missing_plugins_folder_and_bad_settings(project: Path) -> None:
    cfg = project / "confiture.toml"
    base = cfg.read_text()
    cfg.write_text(base + '[plugins]\ndir = "nowhere"\n')
    r = invoke("plugins", cwd=project)
    assert r.code == 0 and "plugins folder" in r.stderr and "nowhere" in r.stderr and "not found" in r.stderr
    cfg.write_text(base + '[plugins]\nallowed = ["x"]\n')
    r = invoke("plugins", cwd=project)
    assert r.code == 2 and "unknown [plugins] setting(s): allowed" in r.stderr and "Traceback" not in r.stderr
    cfg.write_text(base + '[plugins]\nnon_fatal = "x"\n')
    r = invoke("plugins", cwd=project)
    assert r.code == 2 and "non_fatal" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.plugin_autoload
def test_plugins_text_listing(project: Path, tmp_path: Path) -> None:
    env = site_with_two(tmp_path)
    configure(project)
    add_plugin(project, "broken", "import nope_nope\n")
    r = invoke("plugins", cwd=project, env={**env, "COLUMNS": "300"})
    assert r.code == 0, r.stderr
    assert "acme_audit" in r.stderr and "acme-audit 1.4.2" in r.stderr and "before_migrate" in r.stderr
    assert "CF101" in r.stderr  # a first-party pack's lint rules
    assert "failed: import failed: ModuleNotFoundError" in r.stderr
    assert r.stdout == ""


@pytest.mark.plugin_autoload
def test_module_loaded_by_entry_point_and_dash_p_is_skipped_once(project: Path, tmp_path: Path) -> None:
    """Regression: pluggy's "Plugin already registered under a different name" crashed every command."""
    env = site_with_two(tmp_path)
    r, found = plugins_json("-p", "acme_audit_mod", cwd=project, env=env)
    assert r.code == 0, r.stderr
    assert "plugin 'acme_audit_mod' (-p): the same module is already loaded as plugin 'acme_audit'; skipped" \
        in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1
    assert found["acme_audit"]["status"] == "loaded" and found["acme_audit_mod"]["status"] == "failed"
    r = invoke("-p", "acme_audit_mod", "migrate", "status", cwd=project, env=env)
    assert r.code == 0, r.stderr
    # as for other duplicates, an error under --strict-plugins
    r = invoke("--strict-plugins", "-p", "acme_audit_mod", "plugins", cwd=project, env=env)
    assert r.code == 2 and "already loaded as plugin 'acme_audit'" in r.stderr and "Traceback" not in r.stderr


def test_names_that_match_no_plugin_name_their_source(project: Path) -> None:
    configure(project, 'disable = ["zzz"]\nnon_fatal = ["yyy", "fine"]\n')
    add_plugin(project, "fine", HOOK)
    r, found = plugins_json(cwd=project)
    assert found["fine"]["status"] == "loaded"
    assert r.code == 0, r.stderr
    assert "confiture.toml: [plugins] disable = ['zzz']: no plugin of that name was found" in r.stderr
    assert "confiture.toml: [plugins] non_fatal = ['yyy']: no plugin of that name was found" in r.stderr
    assert "--disable-plugin zzz" not in r.stderr and "['fine']" not in r.stderr
    r = invoke("--strict-plugins", "--disable-plugin", "no_such", "plugins", cwd=project)
    assert r.code == 2
    assert "--disable-plugin no_such: no plugin of that name was found" in r.stderr
    assert "[plugins] disable = ['zzz']" in r.stderr and "[plugins] non_fatal = ['yyy']" in r.stderr


def test_hook_named_function_without_hookimpl_is_a_warning(project: Path) -> None:
    configure(project)
    add_plugin(project, "unmarked", """
        def confiture_after_migration(context):
            pass

        @hookimpl
        def confiture_before_migrate(context):
            pass
        """)
    r, found = plugins_json(cwd=project)
    assert r.code == 0, r.stderr
    assert "plugin 'unmarked' (plugins dir): defines confiture_after_migration without @hookimpl" in r.stderr
    assert found["unmarked"]["status"] == "loaded" and found["unmarked"]["hooks"] == ["confiture_before_migrate"]
    r = invoke("--strict-plugins", "plugins", cwd=project)
    assert r.code == 2 and "without @hookimpl" in r.stderr


def test_strict_plugins_reports_every_failing_plugin(project: Path) -> None:
    configure(project)
    add_plugin(project, "broken_a", "import nope_a\n")
    add_plugin(project, "broken_b", "import nope_b\n")
    add_plugin(project, "fine", HOOK)
    r = invoke("--strict-plugins", "plugins", cwd=project)
    assert r.code == 2
    assert "plugin 'broken_a' (plugins dir): import failed" in r.stderr
    assert "plugin 'broken_b' (plugins dir): import failed" in r.stderr
    assert r.stderr.count("error:") == 1 and "Traceback" not in r.stderr


def test_a_p_module_that_does_not_exist_is_an_error(project: Path) -> None:
    """Regression: `-p confiture_audit_typo` only warned and the run went ahead without the plugin the user
    asked for by name (pytest's -p refuses the same way)."""
    (project / "migrations" / "1_a.up.sql").write_text("CREATE TABLE a (id int);\n")
    r = invoke("-p", "confiture_audit_typo", "migrate", "up", "--yes", cwd=project)
    assert r.code == 2 and "-p confiture_audit_typo: no module named 'confiture_audit_typo'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "applied" not in r.stderr
    # a -p module that exists but fails inside still only warns (as every plugin does without --strict-plugins)
    (project / "half.py").write_text("import nope_nope\n")
    r = invoke("-p", "half", "migrate", "status", cwd=project, env={"PYTHONPATH": str(project)})
    assert r.code == 0 and "plugin 'half' (-p): import failed: ModuleNotFoundError" in r.stderr
