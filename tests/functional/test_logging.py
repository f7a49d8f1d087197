"""What an operator reads: the start-up summary, one access line per request, no secrets.

Each test starts its own server (``server_factory``) and reads what it wrote to its output (or
to the file its logging options name).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from spyglass import __version__
from tests.functional.helpers import OCTET
from tests.server import LiveServer

Start = Callable[..., LiveServer]

# the lines name the embedded SQLite database and the libraries that use it
pytestmark = pytest.mark.backends("sqlite")

_ACCESS = re.compile(
    r" INFO spyglass\.access \[(?P<id>req-\S+)\] 127\.0\.0\.1 \"(?P<method>[A-Z]+) (?P<target>\S+) "
    r"HTTP/1\.1\" status: (?P<status>\d+) len: (?P<len>\d+) time: (?P<time>\d+\.\d+)(?P<rest>.*)$"
)
_SECRETS = ("pw-database-7", "pw-keystone-7", "pw-rabbit-7", "pw-transport-7")
_SECRET_LINES = (
    "rabbit_password = pw-rabbit-7",
    "transport_url = rabbit://glance:pw-transport-7@127.0.0.1:1/",
    "[keystone_authtoken]",
    "password = pw-keystone-7",
)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _access_lines(path: Path, request_ids: set[str], timeout: float = 10.0) -> dict[str, list[str]]:
    """The access lines of ``request_ids``, waiting until each has one (they follow the body)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, list[str]] = {rid: [] for rid in request_ids}
        for line in _lines(path):
            match = _ACCESS.search(line)
            if match and match["id"] in found:
                found[match["id"]].append(line)
        if all(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _summary(server: LiveServer) -> list[str]:
    return [
        line.split(" INFO spyglass [-] ", 1)[1]
        for line in _lines(server.log)
        if " INFO spyglass [-] " in line
    ]


def test_start_up_summary_says_what_the_server_does(start_server: Start) -> None:
    server = start_server()
    summary = _summary(server)
    images = (server.data_dir / "images").resolve()
    assert summary == [
        f"spyglass {__version__} starting",
        f"config files: {server.config}",
        f"database: sqlite:///{server.data_dir / 'spyglass.sqlite'}",
        f"stores: file (default) at {images}; http",
        "identity: none (every caller is an administrator)",
        f"listening on {server.url}",
    ]
    # Libraries keep quiet: nothing but Spyglass's own lines (and its access lines).
    others = [line for line in _lines(server.log) if " spyglass" not in line]
    assert others == []


def test_one_access_line_per_request_with_the_bytes_sent(start_server: Start) -> None:
    server = start_server()
    data = os.urandom(3 * 1024 * 1024 + 17)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        created = client.post(
            "/v2/images",
            json={"name": "logged", "disk_format": "raw", "container_format": "bare"},
        )
        image = created.json()["id"]
        uploaded = client.put(f"/v2/images/{image}/file", content=data, headers=OCTET)
        with client.stream("GET", f"/v2.1/images/{image}/file") as downloaded:
            body = b"".join(downloaded.iter_bytes())
        missing = client.get("/v2/images/00000000-0000-0000-0000-000000000000")
        listed = client.get("/v2/images", params={"limit": 1})
    responses = {
        "create": (created, "POST", "/v2/images", 201),
        "upload": (uploaded, "PUT", f"/v2/images/{image}/file", 204),
        "download": (downloaded, "GET", f"/v2.1/images/{image}/file", 200),
        "missing": (missing, "GET", "/v2/images/00000000-0000-0000-0000-000000000000", 404),
        "list": (listed, "GET", "/v2/images?limit=1", 200),
    }
    assert body == data
    ids = {name: r[0].headers["x-openstack-request-id"] for name, r in responses.items()}
    found = _access_lines(server.log, set(ids.values()))
    for name, (response, method, target, status) in responses.items():
        lines = found[ids[name]]
        assert len(lines) == 1, (name, lines)
        match = _ACCESS.search(lines[0])
        assert match is not None
        assert (match["method"], match["target"], int(match["status"])) == (method, target, status)
        assert match["rest"] == "", name
        assert float(match["time"]) >= 0
        sent = len(data) if name == "download" else len(response.content)
        assert int(match["len"]) == sent, name


def test_no_password_reaches_any_log_line_even_in_debug(tmp_path: Path) -> None:
    # The database is on a closed port: the server says so in one line and exits, and nothing
    # it wrote may carry a password (requests to a server whose database goes away answer 503:
    # tests/integration/db/test_faults.py, which checks their logs too).
    server = LiveServer(
        tmp_path / "server",
        [
            "debug = true",
            *_SECRET_LINES,
            "[database]",
            "connection = postgresql://glance:pw-database-7@127.0.0.1:1/glance",
            "max_retries = 1",
        ],
    )
    with pytest.raises(RuntimeError, match="exited early"):
        server.start()
    text = server.log.read_text()
    assert "database: postgresql://glance:***@127.0.0.1:1/glance" in text
    assert "spyglass: error: cannot connect to the database: " in text
    assert " DEBUG " in text  # debug = true logs at DEBUG
    for secret in _SECRETS:
        assert secret not in text


def test_libraries_log_only_with_debug(start_server: Start) -> None:
    quiet = start_server()
    loud = start_server("debug = true")
    assert not [line for line in _lines(quiet.log) if " alembic" in line]
    assert [line for line in _lines(loud.log) if " alembic" in line]


def test_log_file_under_log_dir(start_server: Start, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    server = start_server("log_file = api.log", f"log_dir = {logs}")
    httpx.get(f"{server.url}/healthcheck", trust_env=False)
    server.stop()
    written = (logs / "api.log").read_text()
    assert "spyglass.access" in written
    assert f"spyglass {__version__} starting" in written
    assert server.log.read_text() == ""  # nothing went to stderr


def test_default_log_levels_silence_a_logger(start_server: Start) -> None:
    server = start_server("default_log_levels = spyglass.access=WARN,sqlalchemy=WARN")
    response = httpx.get(f"{server.url}/healthcheck", trust_env=False)
    assert response.status_code == 200
    server.stop()
    assert "spyglass.access" not in server.log.read_text()
    assert "starting" in server.log.read_text()


def test_log_config_append_decides_everything(start_server: Start, tmp_path: Path) -> None:
    target = tmp_path / "from-file-config.log"
    logging_conf = tmp_path / "logging.conf"
    logging_conf.write_text(
        "[loggers]\nkeys = root\n"
        "[handlers]\nkeys = file\n"
        "[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = INFO\nhandlers = file\n"
        f"[handler_file]\nclass = FileHandler\nformatter = plain\nargs = ({str(target)!r},)\n"
        "[formatter_plain]\nformat = CUSTOM %(levelname)s %(name)s: %(request_id)s %(message)s\n"
    )
    server = start_server(f"log_config_append = {logging_conf}", "debug = true")
    httpx.get(f"{server.url}/healthcheck", trust_env=False)
    server.stop()
    lines = _lines(target)
    assert f"CUSTOM INFO spyglass: - spyglass {__version__} starting" in lines
    # the file's format may name the request id: Spyglass fills it in on its handlers too
    assert any(line.startswith("CUSTOM INFO spyglass.access: req-") for line in lines)
    # The file's levels rule: INFO for everyone (alembic too), and debug = true changes nothing.
    assert any(line.startswith("CUSTOM INFO alembic") for line in lines)
    assert not any(line.startswith("CUSTOM DEBUG") for line in lines)
    assert server.log.read_text() == ""


def test_json_lines_name_their_request(start_server: Start) -> None:
    server = start_server("use_json = true")
    answer = httpx.get(f"{server.url}/v2/images", trust_env=False)
    server.stop()
    lines = [json.loads(line) for line in _lines(server.log)]
    access = [line for line in lines if '"GET /v2/images HTTP/1.1" status: 200' in line["message"]]
    assert [(line["name"], line["context"]["request_id"]) for line in access] == [
        ("spyglass.access", answer.headers["x-openstack-request-id"])
    ]
    assert {line["context"]["request_id"] for line in lines if line["name"] == "spyglass"} == {
        None
    }  # the start-up summary belongs to no request


def test_a_bad_log_config_file_is_one_line(start_server: Start, tmp_path: Path) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text("[loggers]\nkeys = root\n")
    with pytest.raises(RuntimeError, match="exited early") as failure:
        start_server(f"log_config_append = {broken}")
    output = [line for line in str(failure.value).splitlines()[1:] if line.strip()]
    assert len(output) == 1
    assert output[0].startswith(f"spyglass: error: [DEFAULT] log_config_append: {broken}: ")


def test_workers_log_their_requests_and_the_summary_comes_once(start_server: Start) -> None:
    server = start_server("workers = 2")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        responses = [httpx.get(f"{server.url}/healthcheck", trust_env=False) for _ in range(6)]
        client.get("/versions")
    ids = {r.headers["x-openstack-request-id"] for r in responses}
    found = _access_lines(server.log, ids)
    assert all(len(lines) == 1 for lines in found.values()), found
    pids = {line.split()[2] for lines in found.values() for line in lines}
    assert str(server.pid) not in pids  # the workers answered, not the parent
    assert sum("starting" in line for line in _summary(server)) == 1
    assert f"listening on {server.url} with 2 workers" in _summary(server)


@pytest.fixture
def start_server(server_factory: Callable[..., LiveServer]) -> Start:
    """``server_factory`` with unbuffered output, as an operator's terminal would see it."""
    return server_factory
