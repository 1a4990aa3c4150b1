"""PEP 562 lazy exports for trex's packages: a package names what it exports and the module
defining each, and the module is imported (with torch, and the extension, if it needs them) on
first access. So importing a package to read one torch-free module of it (``trex.train.config``
for ``trex train --help``) imports no torch."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for ``package``, whose ``exports`` maps each public name to
    the module that defines it; ``namespace`` is the package's ``globals()``, where each loaded
    name is stored so that later accesses skip ``__getattr__``. Any other name is looked up as a
    submodule (``trex.models.memory``), as when the package imported its modules eagerly.

    An export named as a submodule (``trex.train.run``, the function, in the module ``run.py``)
    stays the export: the import system's binding of the submodule to the package attribute,
    when that submodule is imported, is ignored."""
    shadowed = {name for name, module in exports.items() if module == f"{package}.{name}"}
    if shadowed:
        sys.modules[package].__class__ = _shadowing_module(frozenset(shadowed))

    def __getattr__(name: str) -> Any:
        if name not in exports:
            return submodule(package, name)
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


def submodule(package: str, name: str) -> ModuleType:
    """``package.name`` imported, as the attribute access ``package.name`` finds it once some code
    has imported it; AttributeError when there is no such submodule."""
    if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
        return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def _shadowing_module(names: frozenset[str]) -> type[ModuleType]:
    class ShadowingModule(ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if name in names and isinstance(value, ModuleType):
                return  # the submodule of that name: keep (or later load) the export instead
            super().__setattr__(name, value)

    return ShadowingModule
