"""Durations in confiture.toml carry their unit: a bare number other than 0 is refused, never read as ms."""

from __future__ import annotations

from pathlib import Path

import pytest

from confiture_core.config import check_duration, duration_ms, load_config
from confiture_core.errors import ConfigError
from tests.conftest import invoke


@pytest.mark.parametrize(("section", "key"), [
    ("[apply]\n", "lock_timeout"), ("[apply]\n", "retry_backoff"), ("", "lock_timeout"), ("", "statement_timeout"),
    ("[dry_run]\n", "lock_timeout"), ("[dry_run]\n", "statement_timeout"),
])
@pytest.mark.parametrize("value", ["5", '"5"', "5.5"])
def test_a_duration_without_its_unit_is_refused_at_load(tmp_path: Path, section: str, key: str, value: str) -> None:
    (tmp_path / "confiture.toml").write_text(f"{section}{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'confiture.toml'}: ")
    assert key in message
    if value != "5.5":  # a float is no duration at all
        assert 'has no unit: write "5s" (seconds) or "5ms" (milliseconds)' in message


@pytest.mark.parametrize(("written", "ms"), [('"5s"', 5000.0), ('"500ms"', 500.0), ('"1min"', 60_000.0),
                                             ('"0"', 0.0), ("0", 0.0), ('" 2 s "', 2000.0)])
def test_a_duration_with_its_unit_or_zero_loads(tmp_path: Path, written: str, ms: float) -> None:
    (tmp_path / "confiture.toml").write_text(f"lock_timeout = {written}\n[apply]\nlock_timeout = {written}\n")
    cfg = load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")
    assert cfg.lock_timeout is not None and duration_ms(cfg.lock_timeout) == ms
    assert cfg.strong_lock_timeout() == (None if ms == 0 else written.strip('"').strip())


def test_check_duration_names_the_setting_and_both_readings() -> None:
    with pytest.raises(ConfigError) as info:
        check_duration(5, "confiture.toml: [apply] lock_timeout")
    assert str(info.value).startswith('confiture.toml: [apply] lock_timeout = 5 has no unit: write "5s" (seconds) '
                                      'or "5ms" (milliseconds)')
    assert check_duration(" 500ms ", "x") == "500ms"


@pytest.mark.parametrize(("toml", "wait", "connect"), [
    ("advisory_lock_wait = 90\nconnect_timeout = 7\n", 90.0, 7),
    ('advisory_lock_wait = "2min"\nconnect_timeout = "7s"\n', 120.0, 7),
    ('advisory_lock_wait = "1500ms"\n', 1.5, 10),
])
def test_settings_counting_seconds_take_a_number_or_a_unit(tmp_path: Path, toml: str, wait: float,
                                                           connect: int) -> None:
    (tmp_path / "confiture.toml").write_text(toml)
    cfg = load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")
    assert (cfg.advisory_lock_wait, cfg.connect_timeout) == (wait, connect)


@pytest.mark.parametrize("toml", ['advisory_lock_wait = "60"\n', 'connect_timeout = "1500ms"\n',
                                  "connect_timeout = 2.5\n", 'advisory_lock_wait = "2d"\n'])
def test_settings_counting_seconds_refuse_the_rest(tmp_path: Path, toml: str) -> None:
    (tmp_path / "confiture.toml").write_text(toml)
    with pytest.raises(ConfigError, match=r"must be a (whole )?number of seconds between .* or a duration with "
                                          r"its unit"):
        load_config(cwd=tmp_path, database_url="postgresql://elsewhere/db")


def test_the_cli_refuses_apply_lock_timeout_5_in_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n[apply]\nlock_timeout = 5\n')
    r = invoke("migrate", "status", cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f'error: {tmp_path / "confiture.toml"}: [apply] lock_timeout = 5 has no unit: write "5s" (seconds) or '
        '"5ms" (milliseconds); a bare number is refused, as it would be milliseconds here but seconds in '
        "advisory_lock_wait"]
    assert not (tmp_path / ".confiture").exists()  # refused before any server was started
