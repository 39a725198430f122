"""Declared plug-in contracts: what a module found by discovery must (and may) expose, checked loudly.

Areas plug in without a central file to edit: ``cleanheat.<area>.bootstrap`` / ``.demo`` (``cleanheat init``),
``cleanheat.web.routes.<area>`` (pages and API) and ``cleanheat.cli.<area>`` (sub-commands) are found by module
name, and their parts by attribute name. A misspelt name would otherwise be skipped in silence (a demo loader
that never runs, a menu entry that never shows), so each kind of plug-in declares a :class:`Contract` and
discovery calls :meth:`Contract.check` on every module it finds: a missing required name, a value of the wrong
kind, or a public name that looks like a misspelling of a contract name raises :class:`PluginContractError`.

This module imports nothing from the areas; the contracts themselves live beside their discovery
(``cli/core.py``, ``cli/main.py``, ``web/app.py``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

#: a check: a type the value must be an instance of, or (predicate, what it should be)
Check = type | tuple[Callable[[object], bool], str]


class PluginContractError(TypeError):
    """A discovered module does not keep its plug-in contract (what is wrong, in which module)."""


def function_of(n_args: int) -> tuple[Callable[[object], bool], str]:
    """A check: a function that can be called with ``n_args`` positional arguments."""
    def ok(value: object) -> bool:
        if not callable(value):
            return False
        try:
            inspect.signature(value).bind(*range(n_args))
        except TypeError:
            return False
        return True
    return ok, f"a function of {n_args} argument{'s' if n_args != 1 else ''}"


def list_of(kind: type) -> tuple[Callable[[object], bool], str]:
    """A check: a list (or tuple) whose items are all ``kind``."""
    return (lambda v: isinstance(v, list | tuple) and all(isinstance(x, kind) for x in v),
            f"a list of {kind.__name__}")


@dataclass(frozen=True)
class Contract:
    """What a plug-in module of one ``kind`` exposes: ``required`` and ``optional`` names with their checks."""

    kind: str
    required: Mapping[str, Check] = field(default_factory=dict)
    optional: Mapping[str, Check] = field(default_factory=dict)
    #: how close (0..1, difflib ratio, case ignored) a public name must be to a contract name to count as a
    #: misspelling of it
    cutoff: float = 0.8

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)

    def check(self, module: ModuleType) -> ModuleType:
        """Return ``module`` when it keeps the contract; raise :class:`PluginContractError` (all problems at
        once) when it does not."""
        problems = []
        attrs = vars(module)
        for name in self.required:
            if name not in attrs:
                problems.append(f"missing required {name!r}")
        for name, chk in {**self.required, **self.optional}.items():
            if name in attrs and not _passes(attrs[name], chk):
                problems.append(f"{name!r} should be {_describe(chk)}, got {type(attrs[name]).__name__}")
        wanted = {n.lower(): n for n in self.names}
        for name in attrs:
            if name.startswith("_") or name in self.names or _imported(module, attrs[name]):
                continue
            close = difflib.get_close_matches(name.lower(), list(wanted), n=1, cutoff=self.cutoff)
            if close:
                problems.append(f"{name!r} looks like a misspelling of {wanted[close[0]]!r}")
        if problems:
            raise PluginContractError(f"{self.kind} {module.__name__}: " + "; ".join(problems)
                                      + f" (contract: required {list(self.required)}, optional {list(self.optional)})")
        return module


def _passes(value: object, chk: Check) -> bool:
    return isinstance(value, chk) if isinstance(chk, type) else chk[0](value)


def _describe(chk: Check) -> str:
    return f"a {chk.__name__}" if isinstance(chk, type) else chk[1]


def _imported(module: ModuleType, value: object) -> bool:
    """Whether ``value`` is a module, class or function defined elsewhere (an import, not a declaration)."""
    if inspect.ismodule(value):
        return True
    home = getattr(value, "__module__", None) if inspect.isclass(value) or inspect.isfunction(value) else None
    return home is not None and home != module.__name__
