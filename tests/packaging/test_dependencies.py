"""Every library the server imports is one that ``pip install spyglass`` brings.

Fast and static: the imports of ``src/spyglass`` (and of oslo.utils' format inspector, which
imports ``cryptography`` without declaring it) are matched against ``[project] dependencies``.
``test_wheel.py`` proves the same thing end to end, in a fresh virtual environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


OPTIONAL = {"stores/s3": "s3", "stores/swift": "swift", "stores/rbd": "rbd", "testing/": "test"}
"""Modules (path prefixes under ``src/spyglass``) whose imports an extra provides: a store
driver's client library comes with its extra (``pip install 'spyglass[s3]'``)."""


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in extras:
        deps += project["optional-dependencies"][extra]
    return {_canonical(re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0]) for dep in deps}


def _extra_of(path: Path) -> str | None:
    relative = path.relative_to(REPO / "src" / "spyglass").as_posix()
    return next((extra for prefix, extra in OPTIONAL.items() if relative.startswith(prefix)), None)


def _third_party_imports(files: Iterable[Path]) -> set[str]:
    """Top-level modules imported anywhere in ``files`` that are neither stdlib nor ours."""
    found: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names} - {"spyglass", "__future__"}


def _distributions(modules: Iterable[str]) -> dict[str, set[str]]:
    by_module = importlib.metadata.packages_distributions()
    return {m: {_canonical(d) for d in by_module.get(m, [])} for m in modules}


def _requires(distribution: str) -> set[str]:
    requires = importlib.metadata.requires(distribution) or []
    plain = [r for r in requires if "extra ==" not in r]
    return {_canonical(re.split(r"[\s\[<>=!~;(]", r, maxsplit=1)[0]) for r in plain}


def test_every_third_party_import_of_spyglass_is_a_declared_dependency() -> None:
    files = list((REPO / "src" / "spyglass").rglob("*.py"))
    core = [path for path in files if _extra_of(path) is None]
    imports = _third_party_imports(core)
    assert {"starlette", "sqlalchemy", "oslo_utils"} <= imports  # the scan sees imports
    groups = [(imports, _declared())]
    for extra in sorted(set(OPTIONAL.values())):
        mine = [path for path in files if _extra_of(path) == extra]
        groups.append((_third_party_imports(mine), _declared(extra)))
    for found, declared in groups:
        for module, distributions in _distributions(found).items():
            assert distributions, f"{module} is imported but installed by no distribution"
            names = ", ".join(distributions)
            assert distributions & declared, f"{module} ({names}) is not declared"


def test_what_the_format_inspector_imports_is_declared_by_someone() -> None:
    spec = importlib.util.find_spec("oslo_utils.imageutils")
    assert spec is not None and spec.submodule_search_locations
    files = list(Path(spec.submodule_search_locations[0]).glob("*.py"))
    provided = _declared() | _requires("oslo.utils")
    imports = _third_party_imports(files) - {"oslo_utils"}
    assert "cryptography" in imports
    for module, distributions in _distributions(imports).items():
        assert distributions & provided, f"oslo.utils needs {module}, which nobody declares"
