"""docs/hooks.md documents every hook with its exact signature, and is up to date (datasette-style)."""

from __future__ import annotations

import re

import pluggy

from confiture_core import hookdocs, hookspecs

from ..conftest import REPO

DOC = REPO / "docs" / "hooks.md"


def documented() -> dict[str, str]:
    """{hook name: the signature in its ```python block} as written in docs/hooks.md."""
    text = DOC.read_text()
    return {m.group(1): m.group(2).strip() for m in re.finditer(
        r"^### (confiture_\w+)\n\n```python\n(def .*?)\n```", text, re.M | re.S)}


def test_every_hook_is_documented_with_its_signature() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    hooks = {name for name in dir(pm.hook) if name.startswith("confiture_")}
    assert hooks == set(hookdocs.hook_specs())
    docs = documented()
    assert sorted(set(hooks) - set(docs)) == [], "undocumented hooks: run python -m confiture_core.hookdocs"
    assert sorted(set(docs) - set(hooks)) == [], "docs/hooks.md documents hooks the spec does not have"
    for name in hooks:
        spec = pm.hook.__dict__[name].spec
        assert docs[name] == hookdocs.signature(spec.function), name
        assert spec.argnames == tuple(re.findall(r"(\w+):", docs[name].split("->")[0])), name


def test_every_spec_is_fully_typed_and_explained() -> None:
    for name, fn in hookdocs.hook_specs().items():
        annotations = fn.__annotations__
        assert "return" in annotations, name
        assert set(annotations) - {"return"} == set(fn.__code__.co_varnames[:fn.__code__.co_argcount]), name
        doc = fn.__doc__ or ""
        assert "Called" in doc, f"{name}: say when it is called"
        assert ":param" in doc or not annotations.keys() - {"return"}, name
        assert "return" in doc.lower(), f"{name}: say what its return value means"


def test_docs_hooks_md_is_not_stale() -> None:
    assert DOC.read_text() == hookdocs.render(), \
        "docs/hooks.md is stale: python -m confiture_core.hookdocs > docs/hooks.md"
