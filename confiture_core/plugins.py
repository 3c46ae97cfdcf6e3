"""The plugin manager: entry points, ``-p`` modules, the project plugins folder, blocking.

Where plugins come from, in loading order:

1. setuptools entry points in group ``confiture`` of every installed
   distribution. Confiture's own packs (distribution ``confiture``) load this way
   too. Third-party ones are skipped when ``CONFITURE_DISABLE_PLUGIN_AUTOLOAD=1``
   or ``--no-plugins`` is given, and, when ``[plugins] allow`` lists names, only
   those names load.
2. ``-p MODULE`` on the command line (repeatable), an in-house importable module.
   Always loaded: naming it on the command line is explicit.
3. Every ``*.py`` file (not starting with ``_``) in the folder named by
   ``[plugins] dir`` (relative to the project), imported as a module named after
   the file. Skipped with ``--no-plugins``; not subject to autoload or the
   allowlist (it is the project's own, configured code).

First-party packs (``confiture_plugins``, distribution ``confiture``) are part of
Confiture: autoload-off, ``--no-plugins`` and the allowlist do not remove them;
``--disable-plugin NAME`` or ``[plugins] disable`` blocks one.

A plugin that fails to import, implements a hook the spec does not have, or is
the same module as one already loaded under another name, is named in a warning
and skipped. A function named like a hook but not marked ``@hookimpl``, and a
name in ``--disable-plugin``, ``[plugins] disable`` or ``[plugins] non_fatal``
that matches no plugin, are warnings too. With ``--strict-plugins`` each of these
is an error (exit 2), all of them reported at once after every plugin was tried.
``--disable-plugin NAME`` (repeatable) blocks one plugin by name.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .config import Config, check_plugins_section
from .errors import ConfigError

ENTRY_POINT_GROUP = "confiture"
FIRST_PARTY_DIST = "confiture"
AUTOLOAD_ENV = "CONFITURE_DISABLE_PLUGIN_AUTOLOAD"


@dataclass
class PluginInfo:
    """What ``confiture plugins`` shows about one plugin.

    :ivar name: the registration name (entry point name, module name or file stem).
    :ivar source: ``"entry point"``, ``"-p"`` or ``"plugins dir"``.
    :ivar distribution: the distribution that provides it, or ``None``.
    :ivar version: that distribution's version, or ``None``.
    :ivar location: the module's file.
    :ivar hooks: names of the hooks it implements.
    :ivar lint_rules: codes of the lint rules it brings.
    :ivar status: ``"loaded"``, ``"failed"``, ``"blocked"`` or ``"not allowed"``.
    :ivar error: why it failed, for ``"failed"``.
    """

    name: str
    source: str
    distribution: str | None = None
    version: str | None = None
    location: str | None = None
    hooks: list[str] = field(default_factory=list)
    lint_rules: list[str] = field(default_factory=list)
    status: str = "loaded"
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON object of ``confiture plugins --format json``."""
        return dict(self.__dict__)


@dataclass
class PluginOptions:
    """Command-line controls over plugin loading."""

    modules: tuple[str, ...] = ()
    no_plugins: bool = False
    disabled: tuple[str, ...] = ()
    strict: bool = False


class PluginLoader:
    """Builds the ``PluginManager`` for one command.

    :param config: the project configuration (``[plugins]`` table).
    :param options: the command-line controls.
    :param warn: called with one line per skipped plugin.
    :param env: the environment (default ``os.environ``).
    """

    def __init__(self, config: Config, options: PluginOptions, warn: Callable[[str], None],
                 env: dict[str, str] | None = None) -> None:
        self.config = config
        self.options = options
        self.warn = warn
        self.env = dict(os.environ) if env is None else env
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        settings = config.section("plugins")
        check_plugins_section(config.config_file, settings)  # again: a Config may be built without load_config
        self.allow: set[str] | None = set(settings["allow"]) if "allow" in settings else None
        self.non_fatal: set[str] = set(settings.get("non_fatal", ()))
        self.blocked = set(options.disabled) | set(settings.get("disable", ()))
        #: where each name that must match a plugin comes from (for the warning when none does)
        where = config.config_file.name if config.config_file else "config"
        self._named: list[tuple[str, str]] = [(n, f"--disable-plugin {n}") for n in options.disabled] + [
            (n, f"{where}: [plugins] {key} = [{n!r}]") for key in ("disable", "non_fatal")
            for n in settings.get(key, ())]
        #: problems that are errors under --strict-plugins (raised together at the end of load())
        self._strict_errors: list[str] = []

    def load(self) -> pluggy.PluginManager:
        """Load every plugin (what they print at import goes to stderr); returns the manager.

        :raises ConfigError: a plugin failed and ``--strict-plugins`` was given.
        """
        with contextlib.redirect_stdout(sys.stderr):
            return self._load_all()

    def _load_all(self) -> pluggy.PluginManager:
        self._load_sources()
        known = {i.name for i in self.infos}
        for name, source in self._named:
            if name not in known:
                self._problem(f"{source}: no plugin of that name was found (known: "
                              f"{', '.join(sorted(known)) or 'none'})", "")
        if self._strict_errors:
            raise ConfigError("; ".join(self._strict_errors) + " (--strict-plugins)")
        return self.pm

    def _load_sources(self) -> None:
        self._load_entry_points()
        for mod in self.options.modules:
            self._load(mod, "-p", lambda m=mod: importlib.import_module(m))  # type: ignore[misc]
        folder = self.config.section("plugins").get("dir")
        if folder and not self.options.no_plugins:
            path = (self.config.project_dir / folder).resolve()
            if not path.is_dir():
                self._fail(PluginInfo(str(folder), "plugins dir"), f"plugins folder {path} not found")
            else:
                for file in sorted(path.glob("*.py")):
                    if not file.name.startswith("_"):
                        self._load(file.stem, "plugins dir", lambda f=file: _import_file(f))  # type: ignore[misc]

    def _load_entry_points(self) -> None:
        autoload = not self.options.no_plugins and self.env.get(AUTOLOAD_ENV, "") in ("", "0")
        seen: set[str] = set()
        import importlib.metadata as md

        described: dict[md.Distribution, tuple[str, str]] = {}  # each read of a METADATA file parses it
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = version = None
            if ep.dist is not None:
                if ep.dist not in described:
                    meta = ep.dist.metadata
                    described[ep.dist] = (meta["Name"], meta["Version"])
                dist, version = described[ep.dist]
            info = PluginInfo(ep.name, "entry point", dist, version)
            first_party = dist is not None and dist.lower() == FIRST_PARTY_DIST
            if not first_party:
                if not autoload:
                    continue
                if self.allow is not None and ep.name not in self.allow:
                    info.status = "not allowed"
                    self.infos.append(info)
                    continue
            self._load(ep.name, "entry point", ep.load, info)

    def _load(self, name: str, source: str, importer: Callable[[], Any], info: PluginInfo | None = None) -> None:
        info = info or PluginInfo(name, source)
        if name in self.blocked:
            info.status = "blocked"
            self.infos.append(info)
            return
        if self.pm.has_plugin(name):
            self._fail(info, f"a plugin named {name!r} is already registered")
            return
        try:
            obj = importer()
        except Exception as exc:
            self._fail(info, f"import failed: {type(exc).__name__}: {exc}")
            return
        except SystemExit as exc:  # would end the command with the plugin's exit code and nothing said
            code = "" if exc.code is None else repr(exc.code)
            raise ConfigError(f"plugin {name!r} ({source}): called sys.exit({code}) "
                              f"while being imported; a plugin must not exit: remove the call, or block the plugin "
                              f"with --disable-plugin {name}") from None
        if isinstance(obj, ModuleType):
            info.location = getattr(obj, "__file__", None)
        unknown = _unknown_hooks(obj)
        if unknown:
            self._fail(info, f"implements hook(s) the spec does not have: {', '.join(unknown)}")
            return
        other = self.pm.get_name(obj)
        if other is not None:  # the same module, e.g. an entry point also given with -p
            self._fail(info, f"the same module is already loaded as plugin {other!r}")
            return
        try:
            self.pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            self._fail(info, "invalid hook implementation: " + " ".join(str(exc).split()))
            return
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(obj) or ())
        self.infos.append(info)
        for fn in _unmarked_hooks(obj):
            self._problem(f"plugin {name!r} ({source}): defines {fn} without @hookimpl, so Confiture never calls "
                          "it (mark it with @hookimpl from confiture_core.hookspecs)", "")

    def _fail(self, info: PluginInfo, why: str) -> None:
        info.status, info.error = "failed", why
        self.infos.append(info)
        self._problem(f"plugin {info.name!r} ({info.source}): {why}", "; skipped")

    def _problem(self, msg: str, outcome: str) -> None:
        """A warning, or under ``--strict-plugins`` an error collected for the end of :meth:`load`."""
        if self.options.strict:
            self._strict_errors.append(msg)
        else:
            self.warn(msg + outcome)


def _import_file(path: Path) -> ModuleType:
    name = f"confiture_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@functools.cache
def _spec_names() -> frozenset[str]:
    """Names of the hooks in :mod:`~confiture_core.hookspecs` (read once: asked for each plugin)."""
    return frozenset(n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("confiture_"))


def _unknown_hooks(obj: object) -> list[str]:
    """Names of functions marked as hook implementations that match no spec."""
    specs = _spec_names()
    out = []
    for attr in dir(obj):
        fn = getattr(obj, attr, None)
        if callable(fn) and getattr(fn, f"{hookspecs.PROJECT_NAME}_impl", None) is not None:
            spec_name = getattr(fn, f"{hookspecs.PROJECT_NAME}_impl", {}).get("specname") or attr
            if spec_name not in specs:
                out.append(spec_name)
    return sorted(out)


def _unmarked_hooks(obj: object) -> list[str]:
    """Names of functions named like a hook but not marked as hook implementations."""
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    out = []
    for attr in sorted(_spec_names()):
        fn = getattr(obj, attr, None)
        if callable(fn) and getattr(fn, marker, None) is None \
                and getattr(fn, f"{hookspecs.PROJECT_NAME}_spec", None) is None:
            out.append(attr)
    return out


def lint_rule_codes(pm: pluggy.PluginManager, plugin_name: str) -> list[str]:
    """Codes of the lint rules one registered plugin brings."""
    plugin = pm.get_plugin(plugin_name)
    fn = getattr(plugin, "confiture_lint_rules", None)
    if fn is None:
        return []
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document
        rules = fn() or ()
    return [getattr(r, "code", r.__name__) for r in rules]


def collect_lint_rules(pm: pluggy.PluginManager) -> list[Any]:
    """Every lint rule class from every plugin's ``confiture_lint_rules``."""
    out: list[Any] = []
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document
        found = pm.hook.confiture_lint_rules()
    for rules in found:
        out.extend(rules or ())
    return out


def names(infos: Iterable[PluginInfo]) -> list[str]:
    """Names of loaded plugins."""
    return [i.name for i in infos if i.status == "loaded"]
