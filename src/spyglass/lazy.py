"""Modules imported on first use, for libraries only some configurations or requests need.

``spyglass api`` imports the whole app before it forks its workers, and each library on
that path counts towards the start-up: httpx (with the rich, click and pygments its
command line brings along) serves web-download, the registry and remote locations;
jsonschema checks request bodies; PyYAML reads a policy file few servers have.
``lazy_module`` gives a module object whose code runs when an attribute is first read
(:class:`importlib.util.LazyLoader`), so the importing module keeps its plain
``httpx.Client(...)`` spelling and pays nothing until then.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

__all__ = ["is_loaded", "lazy_module"]

_LOCK = threading.Lock()
_MADE: set[str] = set()
"""Names ``lazy_module`` made: until first used, their class is LazyLoader's, which turns
into a plain module when their code runs."""


def lazy_module(name: str) -> ModuleType:
    """``name``, run on first attribute access (its parent packages are imported now);
    the module itself if something imported it already."""
    with _LOCK:
        found = sys.modules.get(name)
        if found is not None:
            return found
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        _MADE.add(name)
        return module


def is_loaded(name: str) -> bool:
    """Whether ``name``'s code has run (a ``lazy_module`` not yet used has not)."""
    module = sys.modules.get(name)
    if module is None:
        return False
    return name not in _MADE or type(module) is ModuleType
