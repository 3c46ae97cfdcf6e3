"""A rewrite's files: staged in a draft folder, shown as a diff, put into the migrations folder on confirmation.

The draft folder (``.confiture/wizard/<version>/`` under the project) holds a copy of the
migrations folder with the rewrite applied, so that the preflight dry run can measure the
rewritten migrations before anything in the migrations folder changes.
"""

from __future__ import annotations

import copy
import difflib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast import ast
from pglast.enums import ObjectType

from ..migrations import Migration, sql_transaction_mode
from ..sql import parse_sql_text
from .rewrites import Rewrite, Step, deparse

#: the wizard's draft folders, under the project folder
DRAFTS_DIR = Path(".confiture") / "wizard"


@dataclass
class Draft:
    """The files of one rewrite, staged.

    :ivar folder: the draft migrations folder (a copy with the rewrite applied).
    :ivar files: file name -> new text, for every file the rewrite writes or changes.
    :ivar versions: the versions of the rewritten migrations, in order (the original's first).
    :ivar replaced: the original file whose text changes (its name is kept).
    :ivar removed: files of the migrations folder the rewrite removes (an ``.up.sql`` that became a ``.py``).
    """

    folder: Path
    files: dict[str, str] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)
    replaced: str = ""
    removed: list[str] = field(default_factory=list)


def allot_versions(m: Migration, count: int, existing: list[int]) -> list[int]:
    """``count`` versions for the migrations that follow ``m``'s rewrite: right after it when the gap to the
    next migration on disk leaves room, else after the newest one (they then run after it)."""
    later = [v for v in existing if v > m.version]
    if not later or later[0] - m.version > count:
        return [m.version + i for i in range(1, count + 1)]
    top = max(existing)
    return [top + i for i in range(1, count + 1)]


def stage(project_dir: Path, migrations_dir: Path, m: Migration, rw: Rewrite, existing: list[int]) -> Draft:
    """Write the draft folder for ``rw``, the rewrite of the pending SQL migration ``m``.

    :param existing: the versions of every migration on disk.
    :raises OSError: the draft folder cannot be written.
    """
    folder = project_dir / DRAFTS_DIR / str(m.version)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(migrations_dir, folder)
    width = len(m.up_path.name.split("_", 1)[0])
    steps = list(rw.steps)
    draft = Draft(folder, replaced=m.up_path.name, versions=[m.version])
    head = steps.pop(0) if rw.first is None else None  # nothing stays in the original: it takes its place
    down = m.down_path.read_text() if m.down_path is not None and m.down_path.is_file() else None
    changed_down = _without_moved_index_drops(down, steps) if down is not None else None
    down = changed_down or down
    if head is None:
        draft.files[m.up_path.name] = rw.first or ""
    elif head.kind == "python":  # the .up.sql file goes; a .py file of the same version and name comes
        draft.removed.append(m.up_path.name)
        (folder / m.up_path.name).unlink()
        text = head.up
        if down is not None and m.down_path is not None:  # a version is SQL files or one .py: its down moves in
            changed_down = None
            draft.removed.append(m.down_path.name)
            (folder / m.down_path.name).unlink()
            text += _python_down(down, m.down_path.name)
        draft.files[m.up_path.name.removesuffix(".up.sql") + ".py"] = text
    else:
        draft.files[m.up_path.name] = head.up
        if head.down is not None and m.down_path is None:
            draft.files[m.up_path.name.replace(".up.sql", ".down.sql")] = head.down
    if changed_down is not None and m.down_path is not None:  # shown right after the up file it goes with
        draft.files[m.down_path.name] = changed_down
    for version, step in zip(allot_versions(m, len(steps), existing), steps, strict=True):
        stem = f"{str(version).zfill(width)}_{step.slug}"
        if step.kind == "python":
            # the original could be reverted: so can the chain (its down reverts what it did, as before)
            draft.files[f"{stem}.py"] = step.up + (_NOTHING_TO_REVERT.format(m.version) if down is not None else "")
        else:
            draft.files[f"{stem}.up.sql"] = step.up
            if step.down is not None:
                draft.files[f"{stem}.down.sql"] = step.down
        draft.versions.append(version)
    for name, text in draft.files.items():
        (folder / name).write_text(text)
    return draft


#: the down() of a batched migration moved out of a migration that has a down (``{0}``: its version)
_NOTHING_TO_REVERT = ("\n\ndef down(conn):\n"
                      "    return None  # nothing to revert here: the down of version {0}, which this came from, "
                      "reverts the migration as it did before the rewrite\n")


def _python_down(down: str, name: str) -> str:
    """A ``down(conn)`` running the statements of the down file ``name`` (text ``down``), in one transaction
    unless the file runs outside one."""
    parsed = parse_sql_text(down, name)
    transactional, _ = sql_transaction_mode(parsed)
    statements = "".join(f"    {st.sql!r},\n" for st in parsed.statements if not st.is_transaction_control)
    body = ("    with conn.transaction():\n        for statement in DOWN:\n            conn.execute(statement)\n"
            if transactional else "    for statement in DOWN:\n        conn.execute(statement)\n")
    return (f"\n\n# the statements of {name}, which this file replaces (a version is SQL files or one .py file)\n"
            f"DOWN = [\n{statements}]\n\n\ndef down(conn):\n{body}")


def _index_names(steps: list[Step]) -> set[tuple[str | None, str]]:
    """(schema, name) of every index the later migrations create (``CREATE INDEX CONCURRENTLY`` moved out)."""
    names: set[tuple[str | None, str]] = set()
    for step in steps:
        if step.kind != "sql":
            continue
        for st in parse_sql_text(step.up).statements:
            if isinstance(st.node, ast.IndexStmt) and st.node.idxname:
                rel = st.node.relation
                names.add((rel.schemaname if rel is not None else None, st.node.idxname))
    return names


def _without_moved_index_drops(down: str, steps: list[Step]) -> str | None:
    """The original's down file without its ``DROP INDEX`` of the indexes the rewrite moved into later
    migrations (their own down files drop them, and run first: a second drop would fail), or ``None`` when
    nothing changes. A ``DROP INDEX a, b`` that names others too keeps them."""
    moved = _index_names(steps)
    if not moved:
        return None

    def is_moved(obj: Any) -> bool:
        parts = [p.sval for p in obj] if isinstance(obj, tuple | list) else [obj.sval]
        schema, name = (parts[-2] if len(parts) > 1 else None), parts[-1]
        return any(n == name and (schema is None or s is None or s == schema) for s, n in moved)

    out, at = [], 0
    for st in parse_sql_text(down).statements:
        node = st.node
        if not (isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX):
            continue
        kept = tuple(o for o in node.objects or () if not is_moved(o))
        if len(kept) == len(node.objects or ()):
            continue
        end = st.offset + len(st.sql)
        semicolon = down.find(";", end)
        end = semicolon + 1 if semicolon >= 0 and not down[end:semicolon].strip() else end
        replacement = ""
        if kept:
            new = copy.deepcopy(node)
            new.objects = kept
            replacement = deparse(new)
        elif down[end:end + 1] == "\n":
            end += 1
        out.append(down[at:st.offset] + replacement)
        at = end
    if not out:
        return None
    return "".join(out) + down[at:]


def diff(draft: Draft, migrations_dir: Path) -> str:
    """The unified diff from the migrations folder to the draft (new files in full)."""
    out: list[str] = []
    for name in draft.removed:
        old = (migrations_dir / name).read_text().splitlines(keepends=True)
        out.extend(difflib.unified_diff(old, [], fromfile=f"a/{name}", tofile="/dev/null"))
    for name, text in draft.files.items():
        old_path = migrations_dir / name
        old = old_path.read_text().splitlines(keepends=True) if old_path.is_file() else []
        out.extend(difflib.unified_diff(old, text.splitlines(keepends=True),
                                        fromfile=f"a/{name}" if old else "/dev/null", tofile=f"b/{name}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def put_in_place(draft: Draft, migrations_dir: Path) -> list[Path]:
    """Write the draft's files into the migrations folder (the original replaced), then remove the draft.

    :returns: the files written, in order.
    :raises OSError: a file cannot be written.
    """
    written: list[Path] = []
    for name in draft.removed:
        (migrations_dir / name).unlink(missing_ok=True)
    for name, text in draft.files.items():
        path = migrations_dir / name
        path.write_text(text)
        written.append(path)
    discard(draft)
    return written


def discard(draft: Draft) -> None:
    """Remove the draft folder (nothing in the migrations folder changes)."""
    shutil.rmtree(draft.folder, ignore_errors=True)
