"""confiture_core.entrypoints finds what importlib.metadata finds, without importing it."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_fast_entry_point_scan_matches_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata as md
    import sys

    from confiture_core import entrypoints

    a, b = tmp_path / "a", tmp_path / "b"
    files = {
        a / "foo_bar-1.0.dist-info" / "METADATA": "Metadata-Version: 2.1\nName: Foo-Bar\nVersion: 1.0  \n\nName: x\n",
        a / "foo_bar-1.0.dist-info" / "entry_points.txt": "[confiture]\nzz = mod_zz\naa=mod_aa:obj.attr [x]\n# c\n",
        a / "Foo.Bar-2.0.dist-info" / "METADATA": "Name: foo.bar\nVersion: 2\n",
        a / "Foo.Bar-2.0.dist-info" / "entry_points.txt": "[confiture]\nshadowed = m\n",
        a / "zed-1.dist-info" / "METADATA": "Name: zed\nVersion: 9\n",
        a / "zed-1.dist-info" / "entry_points.txt": "\n  [confiture]  \n  aa = other_mod  \n[other]\nq = r\n",
        a / "plain.egg-info" / "PKG-INFO": "Name: plain\n",
        a / "plain.egg-info" / "entry_points.txt": "[confiture]\np = plainmod\n",
        b / "foo_bar-3.0.dist-info" / "METADATA": "Name: Foo_Bar\nVersion: 3\n",
        b / "foo_bar-3.0.dist-info" / "entry_points.txt": "[confiture]\nbb = x\n",
    }
    for f, text in files.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    for extra in ([str(a), str(b)], [str(b), str(a)], [str(tmp_path / "missing")]):
        monkeypatch.setattr(sys, "path", [*sys.path, *extra])
        for group in ("confiture", "console_scripts", "other"):
            fast = entrypoints.entry_points(group)
            assert fast is not None
            assert [(e.name, e.value, e.group, e.dist.metadata["Name"], e.dist.version) for e in fast] == [
                (e.name, e.value, e.group, e.dist.metadata["Name"], e.dist.version)
                for e in md.entry_points(group=group)]
        monkeypatch.undo()
    (tmp_path / "lib.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "lib.zip")])
    assert entrypoints.entry_points("confiture") is None  # a zip on sys.path: importlib.metadata decides
