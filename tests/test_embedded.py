"""The embedded development server: started once, reused, shared, recovered, stopped (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import psutil
import pytest

from confiture_core.embedded import lock_path, record_path, stop_server

from .cli.terminal import strip_escapes
from .conftest import invoke


@pytest.fixture
def dev_project(tmp_path: Path) -> Iterator[Path]:
    """A project with no database URL: its commands use the embedded dev server, stopped afterwards."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "confiture.toml").write_text('migrations_dir = "migrations"\n')
    yield tmp_path
    data_dir = tmp_path / ".confiture" / "pgdata"
    try:
        stop_server(data_dir)
    finally:  # whatever a test did to it, leave no postgres process behind
        for proc in _processes_in(data_dir):
            proc.kill()


def _processes_in(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cwd"]):
        if proc.info.get("cwd") and os.path.realpath(proc.info["cwd"]) == os.path.realpath(data_dir):
            found.append(proc)
    return found


def _postmaster_pid(project: Path) -> int:
    return int((project / ".confiture" / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def _status(project: Path) -> tuple[int, dict[str, object]]:
    r = invoke("server", "status", "--format", "json", cwd=project)
    return r.code, json.loads(r.stdout)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


def test_second_command_reuses_the_running_server(dev_project: Path) -> None:
    first = invoke("migrate", "status", cwd=dev_project)
    assert first.code == 0, first.stderr
    assert "using the embedded PostgreSQL server in .confiture/pgdata" in first.stderr
    pid = _postmaster_pid(dev_project)
    assert f"started the embedded PostgreSQL server (pid {pid}); it stays running" in first.stderr
    assert "stop it with `confiture server stop`" in first.stderr
    recorded = json.loads(record_path(dev_project / ".confiture" / "pgdata").read_text())
    assert recorded["pid"] == pid

    second = invoke("migrate", "status", "--format", "json", cwd=dev_project)
    assert second.code == 0, second.stderr
    assert "using the embedded PostgreSQL server" in second.stderr and "started" not in second.stderr
    assert _postmaster_pid(dev_project) == pid
    assert json.loads(second.stdout)["database"].startswith("postgresql://postgres@/confiture?host=")


def test_start_status_stop_status(dev_project: Path) -> None:
    code, doc = _status(dev_project)
    assert code == 1 and doc["state"] == "stopped" and doc["running"] is False and doc["pid"] is None

    r = invoke("server", "start", "--format", "json", cwd=dev_project)
    assert r.code == 0, r.stderr
    started = json.loads(r.stdout)
    assert started["ok"] is True and started["started"] is True and started["pid"] == _postmaster_pid(dev_project)
    assert started["socket"].endswith(".s.PGSQL.5432") and started["url"].startswith("postgresql://postgres@/")

    again = invoke("server", "start", "--format", "json", cwd=dev_project)
    assert again.code == 0 and json.loads(again.stdout)["started"] is False
    assert json.loads(again.stdout)["pid"] == started["pid"]

    code, doc = _status(dev_project)
    assert code == 0, doc
    assert doc["state"] == "running" and doc["pid"] == started["pid"] and str(doc["version"]).split(".")[0] == "18"
    text = invoke("server", "status", cwd=dev_project)
    assert text.code == 0 and f"is running: pid {started['pid']}, PostgreSQL" in text.stderr

    r = invoke("server", "stop", "--format", "json", cwd=dev_project)
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"ok": True, "state": "stopped", "stopped": True, "pid": started["pid"],
                                    "data_dir": str(dev_project / ".confiture" / "pgdata")}
    _wait_gone(started["pid"])
    assert not record_path(dev_project / ".confiture" / "pgdata").exists()

    code, doc = _status(dev_project)
    assert code == 1 and doc["state"] == "stopped" and doc["ok"] is False
    text = invoke("server", "status", cwd=dev_project)
    assert text.code == 1 and "is not running" in text.stderr

    r = invoke("server", "stop", cwd=dev_project)  # stopping a stopped server is fine
    assert r.code == 0 and "is not running: nothing to stop" in r.stderr
    assert json.loads(invoke("server", "stop", "--format", "json", cwd=dev_project).stdout)["stopped"] is False


def test_postmaster_killed_with_sigkill_is_started_again(dev_project: Path) -> None:
    assert invoke("server", "start", cwd=dev_project).code == 0
    old = _postmaster_pid(dev_project)
    os.kill(old, signal.SIGKILL)
    _wait_gone(old)
    code, doc = _status(dev_project)
    assert code == 1 and doc["state"] == "stopped"

    r = invoke("migrate", "status", cwd=dev_project)
    assert r.code == 0, r.stderr
    new = _postmaster_pid(dev_project)
    assert new != old and f"started the embedded PostgreSQL server (pid {new})" in r.stderr
    code, doc = _status(dev_project)
    assert code == 0 and doc["pid"] == new


def test_stale_pid_files_naming_a_live_unrelated_process(dev_project: Path) -> None:
    """After a reboot the recorded pid may belong to any process: it is not taken for the server (nor killed)."""
    assert invoke("server", "start", cwd=dev_project).code == 0
    data_dir = dev_project / ".confiture" / "pgdata"
    postmaster_pid = (data_dir / "postmaster.pid").read_text()
    record = json.loads(record_path(data_dir).read_text())
    assert invoke("server", "stop", cwd=dev_project).code == 0

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lines = postmaster_pid.splitlines()
        (data_dir / "postmaster.pid").write_text("\n".join([str(stranger.pid), *lines[1:]]) + "\n")
        record_path(data_dir).write_text(json.dumps({**record, "pid": stranger.pid}))

        code, doc = _status(dev_project)
        assert code == 1 and doc["state"] == "stopped"
        r = invoke("migrate", "status", cwd=dev_project)
        assert r.code == 0, r.stderr
        assert "started the embedded PostgreSQL server" in r.stderr
        assert _postmaster_pid(dev_project) != stranger.pid
        assert stranger.poll() is None  # left alone
        assert json.loads(record_path(data_dir).read_text())["pid"] == _postmaster_pid(dev_project)
    finally:
        stranger.kill()
        stranger.wait()


def test_postmaster_pid_naming_a_process_that_is_gone(dev_project: Path) -> None:
    """A ``postmaster.pid`` left by a server that died with the machine names a pid nobody has now:
    the server is stopped, not taken for running (no server is started to say so)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    data_dir = dev_project / ".confiture" / "pgdata"
    data_dir.mkdir(parents=True)
    (data_dir / "postmaster.pid").write_text(f"{gone.pid}\n{data_dir}\n0\n5432\n{data_dir}\n")
    code, doc = _status(dev_project)
    assert code == 1 and doc["state"] == "stopped"
    assert not _processes_in(data_dir)


def test_record_with_garbage_is_ignored(dev_project: Path) -> None:
    (dev_project / ".confiture").mkdir()
    record_path(dev_project / ".confiture" / "pgdata").write_text("{not json")
    r = invoke("migrate", "status", cwd=dev_project)
    assert r.code == 0, r.stderr
    assert json.loads(record_path(dev_project / ".confiture" / "pgdata").read_text())["pid"] == \
        _postmaster_pid(dev_project)


def test_two_first_commands_at_once_share_one_server(dev_project: Path) -> None:
    exe = str(Path(sys.executable).parent / "confiture")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    procs = [subprocess.Popen([exe, "migrate", "status", "--format", "json"], cwd=dev_project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    starters = [err for _, err in outs if "started the embedded PostgreSQL server" in err]
    assert len(starters) == 1, [err for _, err in outs]
    assert f"(pid {_postmaster_pid(dev_project)})" in starters[0]
    assert len({json.loads(out)["database"] for out, _ in outs}) == 1
    postmasters = [p for p in _processes_in(dev_project / ".confiture" / "pgdata")
                   if p.ppid() not in {q.pid for q in _processes_in(dev_project / ".confiture" / "pgdata")}]
    assert [p.pid for p in postmasters] == [_postmaster_pid(dev_project)]


def test_ctrl_c_during_the_first_start_leaves_a_usable_project(dev_project: Path) -> None:
    """Regression: Python killed initdb 0.25 s after the KeyboardInterrupt, leaving a data folder with
    PG_VERSION but no postgres database, which no later command could use."""
    exe = str(Path(sys.executable).parent / "confiture")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}
    child = pexpect.spawn(exe, ["migrate", "status"], cwd=str(dev_project), env=env, encoding="utf-8",
                          timeout=120, dimensions=(24, 80))
    child.expect("starting the embedded PostgreSQL server")
    time.sleep(0.4)  # initdb is running by now
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    said = " ".join(strip_escapes(child.before.encode()).decode().split())  # wrapped to the terminal's 80 columns
    assert "interrupted while getting the embedded PostgreSQL server ready: nothing ran" in said
    assert "Traceback" not in said

    r = invoke("migrate", "status", cwd=dev_project)
    assert r.code == 0, r.stderr
    assert _status(dev_project)[0] == 0


def test_a_given_database_url_never_touches_the_embedded_server(dev_project: Path, database_url: str) -> None:
    assert invoke("migrate", "status", cwd=dev_project, env={"DATABASE_URL": database_url}).code == 0
    assert invoke("--database-url", database_url, "migrate", "up", "--yes", cwd=dev_project).code == 0
    assert not (dev_project / ".confiture").exists()
    r = invoke("server", "status", cwd=dev_project, env={"DATABASE_URL": database_url})
    assert r.code == 1 and "a database URL is configured (from DATABASE_URL)" in r.stderr
    assert not (dev_project / ".confiture").exists()


def test_server_start_outside_a_project_is_refused(tmp_path: Path) -> None:
    r = invoke("server", "start", "--format", "json", cwd=tmp_path)
    assert r.code == 2 and "run `confiture init` first" in r.stderr
    assert json.loads(r.stdout)["ok"] is False
    assert not (tmp_path / ".confiture").exists() and not lock_path(tmp_path / ".confiture" / "pgdata").exists()


def test_stop_hint_names_the_project_given_with_C(dev_project: Path) -> None:
    r = invoke("-C", dev_project.name, "migrate", "status", cwd=dev_project.parent)
    assert r.code == 0, r.stderr
    assert f"stop it with `confiture -C {dev_project.name} server stop`" in r.stderr


def test_a_data_folder_left_half_made_by_an_interrupted_initdb_is_made_again(dev_project: Path) -> None:
    """Regression: a second Ctrl-C during the first start left a data folder with initdb's first
    subfolders but no PG_VERSION; every later command failed with "did not start
    (CalledProcessError); see .../log", a log that did not exist."""
    data_dir = dev_project / ".confiture" / "pgdata"
    for sub in ("base", "global", "pg_commit_ts"):
        (data_dir / sub).mkdir(parents=True)
    r = invoke("migrate", "status", cwd=dev_project)
    assert r.code == 0, r.stderr
    assert "an interrupted first start left it" in r.stderr
    assert (data_dir / "PG_VERSION").is_file()


def test_server_can_be_stopped_with_a_broken_configuration(dev_project: Path) -> None:
    """Regression: after one bad edit of confiture.toml, `server stop` and `server status` refused to run (exit 2),
    so the running server could not be stopped without fixing the file first."""
    assert invoke("server", "start", cwd=dev_project).code == 0
    pid = _postmaster_pid(dev_project)
    (dev_project / "confiture.toml").write_text('migrations_dir = "migrations"\n[review]\nconfirm_level = "bogus"\n')
    r = invoke("server", "status", cwd=dev_project)
    assert r.code == 0 and "unknown risk level 'bogus'" in r.stderr and "using the default data folder" in r.stderr
    r = invoke("server", "stop", cwd=dev_project)
    assert r.code == 0 and f"(pid {pid})" in r.stderr, r.stderr
    _wait_gone(pid)
    assert invoke("migrate", "status", cwd=dev_project).code == 2  # the other commands still refuse it
