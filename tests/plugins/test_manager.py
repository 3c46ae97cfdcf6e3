"""The plugin manager on pluggy's services, in-process: what ``register`` refuses, notes and lets through."""

from __future__ import annotations

import types
from collections.abc import Callable

import pluggy
import pytest

from confiture_core.hookspecs import hookimpl
from confiture_core.plugins import ConfiturePluginManager, PluginRefused


def plugin(**functions: object) -> types.ModuleType:
    """A module-like plugin holding ``functions``."""
    mod = types.ModuleType("p")
    for name, fn in functions.items():
        setattr(mod, name, fn)
    return mod


def fn() -> Callable[[object], None]:
    """A new function taking ``context`` (``hookimpl`` marks the function object it is given)."""

    def hook(context: object) -> None:
        pass

    return hook


def test_unknown_hook_is_refused_and_leaves_nothing_registered() -> None:
    pm = ConfiturePluginManager()
    bad = plugin(confiture_before_migrate=hookimpl(fn()), confiture_after_migratoin=hookimpl(fn()))
    with pytest.raises(PluginRefused, match=r"^implements hook\(s\) the spec does not have: "
                                            r"confiture_after_migratoin$"):
        pm.register(bad, "bad")
    assert not pm.is_registered(bad) and pm.hook.confiture_before_migrate.get_hookimpls() == []
    pm.check_pending()  # nothing left pending


def test_optional_hook_for_an_unknown_name_is_let_through_as_pluggy_does() -> None:
    pm = ConfiturePluginManager()
    opt = plugin(confiture_someday=hookimpl(optionalhook=True)(fn()),
                 confiture_before_migrate=hookimpl(fn()))
    assert pm.register(opt, "opt") == "opt"
    assert pm.hooks_of(opt) == ["confiture_before_migrate"]  # only hooks Confiture calls are listed


def test_bad_signature_is_pluggys_validation_error() -> None:
    pm = ConfiturePluginManager()

    def after(context: object, nonsense: object) -> None:
        pass

    with pytest.raises(pluggy.PluginValidationError, match="nonsense") as info:
        pm.register(plugin(confiture_after_migration=hookimpl(after)), "badargs")
    assert not isinstance(info.value, PluginRefused)


def test_same_object_under_another_name_and_blocked_names() -> None:
    pm = ConfiturePluginManager()
    good = plugin(confiture_before_migrate=hookimpl(fn()))
    assert pm.register(good, "one") == "one"
    with pytest.raises(PluginRefused, match=r"^the same module is already loaded as plugin 'one'$"):
        pm.register(good, "two")
    pm.set_blocked("three")
    assert pm.register(plugin(confiture_before_migrate=hookimpl(fn())), "three") is None
    assert pm.is_blocked("three") and not pm.has_plugin("three")


def test_function_named_like_a_hook_without_hookimpl_is_noted() -> None:
    pm = ConfiturePluginManager()
    pm.register(plugin(confiture_after_migration=fn(),
                       confiture_before_migrate=hookimpl(fn())), "unmarked")
    assert pm.unmarked == {"unmarked": ["confiture_after_migration"]}
    assert pm.hooks_of(pm.get_plugin("unmarked")) == ["confiture_before_migrate"]
