"""``confiture_core.entrypoints``: the entry points ``importlib.metadata`` would give, without importing it."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from confiture_core.entrypoints import Distribution, EntryPoint, entry_points


def dist(root: Path, folder: str, name: str, version: str, entry_points_txt: str | None) -> None:
    d = root / folder
    d.mkdir(parents=True)
    (d / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nName: not a header\n")
    if entry_points_txt is not None:
        (d / "entry_points.txt").write_text(entry_points_txt)


def as_tuples(eps: object) -> list[tuple[str, str, str, str]]:
    return [(e.name, e.value, e.dist.metadata["Name"], e.dist.metadata["Version"])  # type: ignore[attr-defined]
            for e in eps]  # type: ignore[attr-defined]


@pytest.mark.parametrize("group", ["confiture", "console_scripts", "pytest11", "no-such-group"])
def test_same_as_importlib_metadata_here(group: str) -> None:
    mine = entry_points(group)
    assert mine is not None
    assert as_tuples(mine) == as_tuples(importlib.metadata.entry_points(group=group))


def test_order_shadowing_egg_info_and_case(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    dist(first, "Pack_A-1.0.dist-info", "Pack-A", "1.0", "[confiture]\nPackA = pack_a\n[other]\nx = y\n")
    dist(first, "no_eps-2.0.dist-info", "no-eps", "2.0", None)
    dist(first, "old_pack-0.1.egg-info", "old-pack", "0.1", "[confiture]\nold = old_pack:plugin [extra]\n")
    dist(second, "pack_a-9.9.dist-info", "pack-a", "9.9", "[confiture]\nshadowed = pack_a_new\n")
    dist(second, "broken-1.dist-info", "broken", "1", "[confiture\nnot ini")
    path = [str(first), str(second), str(tmp_path / "missing")]
    mine = entry_points("confiture", path)
    assert mine is not None
    theirs = importlib.metadata.distributions(path=path)
    expected = []
    seen = set()
    for d in theirs:  # what entry_points() does: the first distribution of a name wins
        key = d.metadata["Name"].lower().replace("-", "_")
        if key not in seen:
            seen.add(key)
            expected += [(e.name, e.value, d.metadata["Name"], d.metadata["Version"])
                         for e in d.entry_points if e.group == "confiture"]
    assert sorted(as_tuples(mine)) == sorted(expected)
    assert ("PackA", "pack_a", "Pack-A", "1.0") in as_tuples(mine)  # the name keeps its case
    assert not any(e.name == "shadowed" for e in mine)


def test_load_module_and_attribute() -> None:
    assert EntryPoint("x", "os.path", "g").load() is __import__("os.path").path
    assert EntryPoint("x", "os.path:join [extra]", "g").load() is __import__("os.path").path.join
    assert EntryPoint("x", "importlib.machinery:PathFinder.find_spec", "g").load() \
        == importlib.machinery.PathFinder.find_spec
    with pytest.raises(ModuleNotFoundError):
        EntryPoint("x", "no_such_module_here", "g").load()
    assert Distribution("a", "1").metadata == {"Name": "a", "Version": "1"}


def test_a_zip_on_the_path_is_left_to_importlib_metadata(tmp_path: Path) -> None:
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\nVersion: 1.0\n")
    assert entry_points("confiture", [str(z)]) is None


def test_another_distribution_finder_is_left_to_importlib_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    class Finder:
        def find_spec(self, *args: object) -> None:
            return None

        def find_distributions(self, *args: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert entry_points("confiture") is None


def test_a_lint_run_imports_no_importlib_metadata(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "m.sql").write_text("CREATE INDEX i ON t (a);\n")
    code = ("import sys, io, contextlib\nfrom confiture_core.cli import main\n"
            "try:\n    main(['--project', sys.argv[1], 'lint', '--no-cache', '-j1', '--format', 'json', sys.argv[2]])\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(code, *sorted(m for m in ('importlib.metadata', 'email', 'zipfile', 'psycopg', 'rich', "
            "'confiture_core.runner', 'confiture_core.dryrun') if m in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(tmp_path / "m.sql")],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.stderr.strip().splitlines()[-1] == "1", done.stderr  # a finding, and none of those imported
