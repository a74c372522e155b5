"""Fingerprints of the source code a stored number was computed by.

A cached checkpoint, reference pass or evaluator result may be reused only when the code that made it
is unchanged. Hashing just the file that defines an objective's class misses what its loss calls (an
edit to ``bench/methods/pairwise.py`` changes DPO's numbers without touching ``dpo.py``), so the
fingerprint covers the modules a piece of code can reach: starting from the modules that define it,
every module-level name that is a function, class, instance or module of the same code base leads to
the module that defines it, transitively.

Two choices keep the closure honest but not absurd. Only modules of the starting code's own
top-level packages (and ``bench``) are followed: torch or transformers are versioned packages, named in
provenance. A package's ``__init__`` that imports its own submodules so that they register (every
objective module is imported by ``bench.methods``) does not pull those submodules in: reaching the
registry must not make DPO's key depend on KTO's file. What the closure cannot see is an import made
inside a function body; such a module is named explicitly by the caller where it matters.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.fingerprint import file_fingerprint, fingerprint

ALWAYS_FOLLOWED = "bench"


def _top(name: str) -> str:
    return name.partition(".")[0]


def _defining_modules(obj: Any) -> list[ModuleType]:
    """The modules that define ``obj``: a module itself, a class and its bases, a function, an instance's class."""
    if isinstance(obj, ModuleType):
        return [obj]
    if inspect.isclass(obj):
        classes = [cls for cls in obj.__mro__ if cls is not object]
    elif inspect.isfunction(obj) or inspect.ismethod(obj):
        classes = [obj]
    else:
        classes = [cls for cls in type(obj).__mro__ if cls is not object]
    names = {getattr(cls, "__module__", None) for cls in classes}
    return [sys.modules[name] for name in sorted(n for n in names if n and n in sys.modules)]


def _references(module: ModuleType, packages: frozenset[str]) -> Iterable[ModuleType]:
    """The modules of ``packages`` that ``module``'s top-level names lead to."""
    is_package = hasattr(module, "__path__")
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            if is_package and value.__name__.startswith(module.__name__ + "."):
                continue  # a package importing its own submodules to register them
            candidates = [value]
        elif inspect.isclass(value) or inspect.isfunction(value):
            name = getattr(value, "__module__", None)
            candidates = [sys.modules[name]] if name in sys.modules else []
        elif type(value).__module__ and _top(type(value).__module__) in packages:
            candidates = [sys.modules[type(value).__module__]] if type(value).__module__ in sys.modules else []
        else:
            continue
        yield from (m for m in candidates if _top(m.__name__) in packages)


def module_closure(*objects: Any) -> list[ModuleType]:
    """Every module of the code base that ``objects`` can reach through module-level names, sorted by name."""
    roots = [module for obj in objects for module in _defining_modules(obj)]
    packages = frozenset({ALWAYS_FOLLOWED, *(_top(m.__name__) for m in roots)})
    seen: dict[str, ModuleType] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module.__name__ in seen:
            continue
        seen[module.__name__] = module
        todo.extend(m for m in _references(module, packages) if m.__name__ not in seen)
    return [seen[name] for name in sorted(seen)]


def source_fingerprint(*objects: Any) -> str:
    """Fingerprint of the source files of :func:`module_closure`: their names and bytes, not where they live or
    what they were imported as, so the same code gives the same key in every checkout."""
    files = []
    for module in module_closure(*objects):
        path = getattr(module, "__file__", None)
        if path and Path(path).is_file():
            files.append((Path(path).name, file_fingerprint(Path(path))))
    return fingerprint(sorted(files))
