"""Upstream's own definition files: loaded, served, exported back unchanged.

The files come from the ``glance`` package (33.0.0) in its own virtual environment,
installed by ``bench/upstream/glance.sh install`` when it is not there yet; they are
never copied into this repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import LiveServer

# the commands load and export the embedded SQLite database of a data directory
pytestmark = pytest.mark.backends("sqlite")

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900
LOCATE = (
    "import importlib.metadata as m\n"
    "files = [f for f in m.files('glance') or () if '/metadefs/' in str(f)"
    " and str(f).endswith('.json')]\n"
    "print(files[0].locate().parent if files else '')\n"
)


def _venv() -> Path:
    bench = Path(os.environ.get("SPYGLASS_BENCH_DIR", ".bench"))
    venv = Path(os.environ.get("UPSTREAM_VENV", bench / "upstream-venv"))
    return venv if venv.is_absolute() else REPO / venv


def _locate(python: Path) -> Path | None:
    if not python.exists():
        return None
    found = subprocess.run(
        [str(python), "-c", LOCATE], capture_output=True, text=True, timeout=60, check=False
    )
    text = found.stdout.strip()
    return Path(text) if found.returncode == 0 and text else None


@pytest.fixture(scope="module")
def upstream_files() -> Path:
    """The ``etc/metadefs`` directory of the installed upstream package."""
    python = _venv() / "bin" / "python"
    found = _locate(python)
    if found is None:
        install = subprocess.run(
            ["bash", str(REPO / "bench" / "upstream" / "glance.sh"), "install"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if install.returncode != 0:
            pytest.skip(
                "upstream glance could not be installed by bench/upstream/glance.sh "
                f"(no package index reachable?): {install.stderr[-500:]}"
            )
        found = _locate(python)
    assert found is not None, "glance is installed but ships no etc/metadefs/*.json"
    assert len(list(found.glob("*.json"))) >= 30
    return found


def _spyglass(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "spyglass", "db", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _documents(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for file in directory.glob("*.json"):
        document = json.loads(file.read_text(encoding="utf-8"))
        found[document["namespace"]] = document
    return found


def _normal(document: dict[str, Any]) -> dict[str, Any]:
    """What a file means: a missing visibility is private, an empty list the same as none,
    and associations form a set (the table keeps no order among them)."""
    out = {k: v for k, v in document.items() if v not in ([], {})}
    out.setdefault("visibility", "private")
    out["resource_type_associations"] = sorted(
        document.get("resource_type_associations") or [], key=lambda a: a["name"]
    )
    return out


@pytest.fixture
def loaded(tmp_path: Path, upstream_files: Path) -> Path:
    data = tmp_path / "data"
    result = _spyglass(data, "load-metadefs", str(upstream_files))
    assert f"loaded {len(list(upstream_files.glob('*.json')))} definition file(s)" in result.stdout
    return data


def test_export_gives_back_upstreams_files(
    loaded: Path, tmp_path: Path, upstream_files: Path
) -> None:
    out = tmp_path / "out"
    _spyglass(loaded, "export-metadefs", str(out))
    original = _documents(upstream_files)
    exported = _documents(out)
    assert exported.keys() == original.keys()
    for name, document in original.items():
        assert _normal(exported[name]) == _normal(document), name
        assert "owner" not in exported[name]
    # loading the export into an empty catalog and exporting again is byte-for-byte stable
    again = tmp_path / "again"
    _spyglass(tmp_path / "data2", "load-metadefs", str(out))
    _spyglass(tmp_path / "data2", "export-metadefs", str(again))
    for file in out.glob("*.json"):
        assert (again / file.name).read_text() == file.read_text()


def test_loaded_definitions_are_served(loaded: Path, upstream_files: Path) -> None:
    original = _documents(upstream_files)
    server = LiveServer(loaded).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
            types = [
                t["name"] for t in api.get("/v2/metadefs/resource_types").json()["resource_types"]
            ]
            assert "OS::Glance::Image" in types
            assert "OS::Nova::Flavor" in types
            listed = api.get("/v2/metadefs/namespaces", params={"limit": "1000"}).json()
            assert {n["namespace"] for n in listed["namespaces"]} == set(original)
            assert all(n["owner"] == "admin" for n in listed["namespaces"])
            watchdog = api.get("/v2/metadefs/namespaces/OS::Compute::Watchdog").json()
            assert (
                watchdog["properties"].keys()
                == original["OS::Compute::Watchdog"]["properties"].keys()
            )
            assert "updated_at" not in watchdog  # the loader leaves it unset, as upstream's
            prefixed = api.get(
                "/v2/metadefs/namespaces/OS::Compute::Watchdog",
                params={"resource_type": "OS::Glance::Image"},
            ).json()
            assert list(prefixed["properties"]) == ["hw_watchdog_action"]
            images = api.get(
                "/v2/metadefs/namespaces",
                params={"resource_types": "OS::Glance::Image", "limit": "1000"},
            ).json()["namespaces"]
            expected = {
                name
                for name, doc in original.items()
                if any(a["name"] == "OS::Glance::Image" for a in doc["resource_type_associations"])
            }
            assert {n["namespace"] for n in images} == expected
    finally:
        server.stop()


def test_merge_prefer_new_overwrite_and_unload(
    loaded: Path, tmp_path: Path, upstream_files: Path
) -> None:
    source = upstream_files / "compute-watchdog.json"
    changed = json.loads(source.read_text())
    changed["description"] = "changed"
    changed["properties"]["watchdog_action"]["title"] = "New title"
    changed["properties"]["extra_property"] = {"title": "Extra", "type": "string"}
    changed["resource_type_associations"] = [{"name": "OS::Test::Type", "prefix": "t_"}]
    file = tmp_path / "watchdog.json"
    file.write_text(json.dumps(changed))

    def exported() -> dict[str, Any]:
        out = tmp_path / "check"
        shutil.rmtree(out, ignore_errors=True)
        _spyglass(loaded, "export-metadefs", str(out))
        return _documents(out).get("OS::Compute::Watchdog", {})

    assert "skipped" in _spyglass(loaded, "load-metadefs", str(file)).stdout
    assert exported()["description"] != "changed"
    _spyglass(loaded, "load-metadefs", str(file), "--merge")
    merged = exported()
    assert merged["description"] != "changed"
    assert merged["properties"]["watchdog_action"]["title"] != "New title"
    assert "extra_property" in merged["properties"]
    assert len(merged["resource_type_associations"]) == 4
    _spyglass(loaded, "load-metadefs", str(file), "--merge", "--prefer-new")
    preferred = exported()
    assert preferred["description"] == "changed"
    assert preferred["properties"]["watchdog_action"]["title"] == "New title"
    _spyglass(loaded, "load-metadefs", str(file), "--merge", "--overwrite")
    assert _normal(exported()) == _normal(changed)
    for bad in (["--prefer-new"], ["--overwrite"], ["--merge", "--prefer-new", "--overwrite"]):
        refused = _spyglass(loaded, "load-metadefs", str(file), *bad, check=False)
        assert refused.returncode == 2, bad
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.json").write_text("{not json")
    (broken / "good.json").write_text(json.dumps({"namespace": "OS::Minimal"}))
    result = _spyglass(loaded, "load-metadefs", str(broken))
    assert "skipped bad.json" in result.stderr
    assert "OS::Minimal: created" in result.stdout
    _spyglass(loaded, "unload-metadefs")
    out = tmp_path / "empty"
    assert "exported 0 namespace(s)" in _spyglass(loaded, "export-metadefs", str(out)).stdout


@pytest.fixture(autouse=True)
def _no_proxies() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.lower().endswith("_proxy"):
                patch.delenv(name)
        yield
