"""``[dry_run]`` sample, where, max_table_size and shadow_url are checked when the configuration is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.config import load_config
from confiture_core.dryrun.place import Place, max_table_size, sample, shadow_url
from confiture_core.dryrun_settings import parse_sample, parse_size, parse_where
from confiture_core.errors import ConfigError
from tests.conftest import invoke

BAD = [
    ('sample = "lots"', "[dry_run] sample = 'lots'; expected a percentage"),
    ('sample = "150%"', "[dry_run] sample = '150%'"),
    ("sample = true", "[dry_run] sample = True"),
    ('where = "nowhere"', "[dry_run] where = 'nowhere'; expected \"auto\", \"shadow\" or \"target\""),
    ('max_table_size = "1 GiB"', "[dry_run] max_table_size = '1 GiB'; expected a size"),
    ("max_table_size = false", "[dry_run] max_table_size = False"),
    ("shadow_url = 5", "[dry_run] shadow_url must be a database URL"),
    ('shadow_url = " "', "[dry_run] shadow_url must be a database URL"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_a_wrong_dry_run_setting_is_refused_at_load(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "confiture.toml"
    config.write_text(f"[dry_run]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, env={})
    assert str(info.value).startswith(f"{config}: {message}")


@pytest.mark.parametrize(("line", "message"), BAD[:1] + BAD[3:5])
def test_a_command_that_runs_no_dry_run_names_the_wrong_setting(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "confiture.toml").write_text(f"[dry_run]\n{line}\n")
    (tmp_path / "migrations").mkdir()
    result = invoke("-C", str(tmp_path), "lint", "--no-cache", "--pg-version", "16")
    assert result.code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_good_dry_run_settings_load_and_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "confiture.toml").write_text(
        '[dry_run]\nsample = "2.5%"\nwhere = "shadow"\nmax_table_size = "500MB"\n'
        'shadow_url = "postgresql://shadow@127.0.0.1/x"\n')
    cfg = load_config(cwd=tmp_path, env={})
    assert sample(cfg) == (parse_sample("2.5%", "x"), "2.5%") and sample(cfg)[0].percent == 2.5
    assert max_table_size(cfg) == parse_size("500MB", "x") == 500 * 1024**2
    assert shadow_url(cfg, Place()) == "postgresql://shadow@127.0.0.1/x"
    assert parse_where("shadow", "x") == "shadow"


def test_the_parsers_name_where_the_value_came_from() -> None:
    with pytest.raises(ConfigError, match=r"^CONFITURE_DRY_RUN_WHERE = 'x'"):
        parse_where("x", "CONFITURE_DRY_RUN_WHERE")
    assert parse_size(" 64 kB ", "x") == 64 * 1024 and parse_size(2048, "x") == 2048
    assert parse_sample(10000, "x").rows == 10000 and parse_sample("10000", "x").rows == 10000
