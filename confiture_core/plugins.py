"""The plugin manager: pluggy's, with Confiture's hook specs; plugins from entry points, ``-p``, the plugins folder.

Where plugins come from, in loading order:

1. setuptools entry points in group ``confiture`` of every installed
   distribution, in name order. Confiture's own packs (distribution
   ``confiture``) load this way too. Third-party ones are skipped when
   ``CONFITURE_DISABLE_PLUGIN_AUTOLOAD=1`` or ``--no-plugins`` is given, and, when
   ``[plugins] allow`` lists names, only those names load.
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

pluggy's own services do the work, as in pytest's ``PytestPluginManager``:
:class:`ConfiturePluginManager` subclasses ``pluggy.PluginManager``; a blocked
name is pluggy's ``set_blocked`` / ``is_blocked``; a hook no spec has is found by
``check_pending`` after each ``register``; a function named like a hook but not
marked is seen in ``parse_hookimpl_opts``. Entry points are *not* loaded with
``load_setuptools_entrypoints``, but by a loop over the group's entry points
(read by :mod:`confiture_core.entrypoints`, which answers what
``importlib.metadata.entry_points(group="confiture")`` would without importing it) that registers each one
through the same ``register``, because that function

* loads every entry point in one go and raises on the first import error,
  leaving the rest unloaded, without saying which entry point failed: one broken
  plugin must be named and skipped while the others load. Calling it once per
  name (``name=``) would isolate them, but each call reads every installed
  distribution's entry points again (7 ms per call with 40 distributions here,
  more in a larger environment, on every command);
* loads in distribution order, and the documented hook order is entry points in
  name order;
* cannot ask, before importing, whether a third-party plugin is admitted
  (autoload off, the ``[plugins] allow`` list), which needs its distribution.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .config import Config, check_plugins_section
from .entrypoints import entry_points
from .errors import ConfigError, ConfitureError
from .hookerrors import describe_error, describe_import_error

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "confiture"
FIRST_PARTY_DIST = "confiture"
AUTOLOAD_ENV = "CONFITURE_DISABLE_PLUGIN_AUTOLOAD"


class PluginRefused(pluggy.PluginValidationError):
    """:meth:`ConfiturePluginManager.register` refused a plugin; the message says why, for the user."""


class ConfiturePluginManager(pluggy.PluginManager):
    """pluggy's ``PluginManager`` with the specs of :mod:`~confiture_core.hookspecs` and Confiture's checks.

    :meth:`register` refuses (:class:`PluginRefused`) a plugin already registered
    under another name, and one implementing a hook no spec has (pluggy's
    ``check_pending``); ``optionalhook=True`` implementations are let through, as
    pluggy does. It also raises pluggy's ``PluginValidationError`` for an
    implementation that does not match its spec.

    :ivar unmarked: by plugin name, the functions named like a hook but not marked
        ``@hookimpl``, which pluggy ignores (so Confiture never calls them).
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.unmarked: dict[str, list[str]] = {}
        self._unmarked_now: list[str] | None = None  # collected by parse_hookimpl_opts during register
        #: where a pack whose ``confiture_lint_rules`` fails is reported (set by :class:`PluginLoader`)
        self.warn: Callable[[str], None] = lambda msg: None
        #: ``--strict-plugins``: such a failure is an error (:class:`ConfigError`) instead
        self.strict = False

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's, noting a function named like a hook that is not marked ``@hookimpl``."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and self._unmarked_now is not None and self.has_spec(name):
            fn = inspect.getattr_static(plugin, name, None)
            if callable(fn) and getattr(fn, f"{self.project_name}_spec", None) is None:  # not the spec itself
                self._unmarked_now.append(name)
        return opts

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; returns its name, or ``None`` when the name is blocked.

        :raises PluginRefused: already registered under another name, or an unknown hook.
        :raises pluggy.PluginValidationError: an implementation does not match its spec.
        """
        other = self.get_name(plugin)
        if other is not None:  # pluggy's ValueError would say it with the whole registry
            raise PluginRefused(plugin, f"the same module is already loaded as plugin {other!r}")
        self._unmarked_now = []
        try:
            registered = super().register(plugin, name)
            unmarked = self._unmarked_now
        finally:
            self._unmarked_now = None
        if registered is None:
            return None
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            if exc.plugin is not plugin:
                raise
            unknown = sorted(c.name for c in self.get_hookcallers(plugin) or () if not c.has_spec()
                             and any(i.plugin is plugin and not i.optionalhook for i in c.get_hookimpls()))
            self.unregister(plugin)
            raise PluginRefused(plugin, f"implements hook(s) the spec does not have: {', '.join(unknown)}") from None
        if unmarked:
            self.unmarked[registered] = sorted(unmarked)
        return registered

    def has_spec(self, hook: str) -> bool:
        """Whether ``hook`` is the name of a hook of :mod:`~confiture_core.hookspecs`."""
        caller = getattr(self.hook, hook, None)
        return isinstance(caller, pluggy.HookCaller) and caller.has_spec()

    def hooks_of(self, plugin: object) -> list[str]:
        """Names of the specified hooks a registered ``plugin`` implements, sorted."""
        return sorted(c.name for c in self.get_hookcallers(plugin) or () if c.has_spec())


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
    """Builds the plugin manager for one command.

    :param config: the project configuration (``[plugins]`` table).
    :param options: the command-line controls.
    :param warn: called with one line per skipped plugin.
    :param env: the environment (default ``os.environ``).
    :raises ConfigError: the ``[plugins]`` table is wrong.
    """

    def __init__(self, config: Config, options: PluginOptions, warn: Callable[[str], None],
                 env: dict[str, str] | None = None) -> None:
        self.config = config
        self.options = options
        self.warn = warn
        self.env = dict(os.environ) if env is None else env
        self.pm = ConfiturePluginManager()
        self.pm.warn, self.pm.strict = warn, options.strict
        self.infos: list[PluginInfo] = []
        settings = config.section("plugins")
        check_plugins_section(config.config_file, settings)  # again: a Config may be built without load_config
        self.allow: set[str] | None = set(settings["allow"]) if "allow" in settings else None
        self.non_fatal: set[str] = set(settings.get("non_fatal", ()))
        for name in (*options.disabled, *settings.get("disable", ())):
            self.pm.set_blocked(name)
        #: where each name that must match a plugin comes from (for the warning when none does)
        where = config.config_file.name if config.config_file else "config"
        self._named: list[tuple[str, str]] = [(n, f"--disable-plugin {n}") for n in options.disabled] + [
            (n, f"{where}: [plugins] {key} = [{n!r}]") for key in ("disable", "non_fatal")
            for n in settings.get(key, ())]
        #: problems that are errors under --strict-plugins (raised together at the end of load())
        self._strict_errors: list[str] = []

    def load(self) -> ConfiturePluginManager:
        """Load every plugin (what they print at import goes to stderr); returns the manager.

        :raises ConfigError: a plugin failed and ``--strict-plugins`` was given, or
            a plugin called ``sys.exit`` while being imported.
        """
        with contextlib.redirect_stdout(sys.stderr):
            self._load_entry_points()
            for mod in self.options.modules:
                self._load(mod, "-p", lambda m=mod: importlib.import_module(m))  # type: ignore[misc]
            self._load_folder()
        known = {i.name for i in self.infos}
        for name, source in self._named:
            if name not in known:
                self._problem(f"{source}: no plugin of that name was found (known: "
                              f"{', '.join(sorted(known)) or 'none'})", "")
        if self._strict_errors:
            raise ConfigError("; ".join(self._strict_errors) + " (--strict-plugins)")
        return self.pm

    def _load_folder(self) -> None:
        folder = self.config.section("plugins").get("dir")
        if not folder or self.options.no_plugins:
            return
        path = (self.config.project_dir / folder).resolve()
        if not path.is_dir():
            self._fail(PluginInfo(str(folder), "plugins dir"), f"plugins folder {path} not found")
            return
        for file in sorted(path.glob("*.py")):
            if not file.name.startswith("_"):
                self._load(file.stem, "plugins dir", lambda f=file: _import_file(f))  # type: ignore[misc]

    def _load_entry_points(self) -> None:
        autoload = not self.options.no_plugins and self.env.get(AUTOLOAD_ENV, "") in ("", "0")
        seen: set[str] = set()
        described: dict[Any, tuple[str, str]] = {}  # each METADATA read parses it
        found: Any = entry_points(ENTRY_POINT_GROUP)  # without importing importlib.metadata (entrypoints.py)
        if found is None:  # a source only importlib.metadata reads (a zip on sys.path, another finder)
            import importlib.metadata

            found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(found, key=lambda e: e.name):
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
            self._load(ep.name, "entry point", partial(_first_party, ep, self.config) if first_party else ep.load,
                       info)

    def _load(self, name: str, source: str, importer: Callable[[], Any], info: PluginInfo | None = None) -> None:
        """Import one plugin and register it, or say why not (blocked names are never imported)."""
        info = info or PluginInfo(name, source)
        if self.pm.is_blocked(name):
            info.status = "blocked"
            self.infos.append(info)
            return
        if self.pm.has_plugin(name):
            self._fail(info, f"a plugin named {name!r} is already registered")
            return
        try:
            obj = importer()
        except ConfitureError:  # a first-party pack refusing the project's files (a callback file's syntax error)
            raise
        except ModuleNotFoundError as exc:
            if source == "-p" and exc.name == name:  # asked for by name on the command line: a typo, not a skip
                raise ConfigError(f"-p {name}: no module named {name!r} (check the name, and that its folder is "
                                  "on PYTHONPATH or the plugin is installed)") from None
            self._fail(info, f"import failed: {describe_import_error(exc)}")
            return
        except Exception as exc:
            self._fail(info, f"import failed: {describe_import_error(exc)}")
            return
        except SystemExit as exc:  # would end the command with the plugin's exit code and nothing said
            code = "" if exc.code is None else repr(exc.code)
            raise ConfigError(f"plugin {name!r} ({source}): called sys.exit({code}) "
                              f"while being imported; a plugin must not exit: remove the call, or block the plugin "
                              f"with --disable-plugin {name}") from None
        if isinstance(obj, ModuleType):
            info.location = getattr(obj, "__file__", None)
        try:
            self.pm.register(obj, name=name)
        except PluginRefused as exc:
            self._fail(info, str(exc))
            return
        except pluggy.PluginValidationError as exc:
            self._fail(info, "invalid hook implementation: " + " ".join(str(exc).split()))
            return
        info.hooks = self.pm.hooks_of(obj)
        self.infos.append(info)
        for fn in self.pm.unmarked.get(name, ()):
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


def _first_party(ep: Any, config: Config) -> Any:
    """A first-party entry point's plugin: the module, or for one naming a function (``module:plugin``) what
    that function returns for ``config`` (the callbacks pack registers hooks only for the files it finds).

    :raises ConfigError: the pack refuses the project's files.
    """
    obj = ep.load()
    return obj if isinstance(obj, ModuleType) else obj(config)


def _import_file(path: Path) -> ModuleType:
    name = f"confiture_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _rules_of(impl: Any) -> tuple[list[Any], str | None]:
    """The lint rule classes one ``confiture_lint_rules`` implementation returns, or ``[]`` and why it failed."""
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document
            rules: Any = impl.function()
        if rules is None:
            return [], None
        if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
            raise TypeError(f"returned {type(rules).__name__}, expected a list of lint rule classes")
        return list(rules), None
    except (Exception, SystemExit) as exc:
        return [], (f"plugin {impl.plugin_name!r}: confiture_lint_rules failed ({describe_error(exc)}); its lint "
                    "rules are skipped")


def _isolated_rules(pm: pluggy.PluginManager, impls: list[Any]) -> list[Any]:
    """The rules of ``impls``; each failure named in a warning (all of them in one error when strict).

    :raises ConfigError: a pack failed and the plugin manager is strict (``--strict-plugins``).
    """
    out: list[Any] = []
    failures: list[str] = []
    for impl in impls:
        rules, failure = _rules_of(impl)
        out.extend(rules)
        if failure is not None:
            failures.append(failure)
    if failures and getattr(pm, "strict", False):
        raise ConfigError("; ".join(failures) + " (--strict-plugins)")
    for failure in failures:
        getattr(pm, "warn", lambda m: None)(failure)
    return out


def _lint_impls(pm: pluggy.PluginManager) -> list[Any]:
    """The ``confiture_lint_rules`` implementations, in pluggy's call order (wrappers left out)."""
    return [i for i in reversed(pm.hook.confiture_lint_rules.get_hookimpls()) if not (i.wrapper or i.hookwrapper)]


def lint_rule_codes(pm: pluggy.PluginManager, plugin_name: str) -> list[str]:
    """Codes of the lint rules one registered plugin brings (through its ``confiture_lint_rules`` hookimpl).

    :raises ConfigError: its ``confiture_lint_rules`` failed and the plugin manager is strict.
    """
    rules = _isolated_rules(pm, [i for i in _lint_impls(pm) if i.plugin_name == plugin_name])
    return [getattr(r, "code", getattr(r, "__name__", repr(r))) for r in rules]


def collect_lint_rules(pm: pluggy.PluginManager) -> list[Any]:
    """Every lint rule class from every plugin's ``confiture_lint_rules``, each pack isolated: one that raises
    (or returns something other than a list) is named in a warning and skipped, and the others still load.

    :raises ConfigError: a pack failed and the plugin manager is strict (``--strict-plugins``).
    """
    return _isolated_rules(pm, _lint_impls(pm))
