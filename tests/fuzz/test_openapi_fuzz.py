"""Fuzz a real server from its own ``/openapi.json`` with schemathesis.

Every operation the document lists gets a bounded number of generated requests
(valid and invalid bodies, odd path parameters): no answer may be a 5xx, none may
take longer than the client's timeout, and answers that claim success must match
the schema the document gives. The server runs in trusted-auth mode with an admin
caller, so every route is reachable; everything stays on loopback (operations that
would fetch from a URL the fuzzer made up are left out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.server import LiveServer

pytestmark = pytest.mark.slow

ADMIN = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": "fuzz-admin",
    "X-User-Id": "fuzz-user",
    "X-Roles": "admin,member,reader",
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
"""Generated cases per operation: about 70 operations, under two minutes on 2 cores."""

PATCH_TYPES = [
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
]
schemathesis.serializer.alias(PATCH_TYPES, "application/json")

_OUTBOUND = ("POST /v2/tasks", "POST /v2/images/{image_id}/import")
"""Operations whose bodies name URLs the server would fetch (web-download)."""


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("fuzz"),
        ["[paste_deploy]", "flavor = trusted-auth", "[metrics]", "enabled = true"],
    ).start()
    yield server
    server.stop()


def test_document_lists_every_route(fuzz_server: LiveServer) -> None:
    document = httpx.get(f"{fuzz_server.url}/openapi.json", trust_env=False).json()
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert set(paths["/v2/images/{image_id}"]) == {"get", "patch", "delete"}
    assert "head" in paths["/v1/images/{image_id}"]
    assert "/metrics" in paths
    create = paths["/v2/images"]["post"]["requestBody"]["content"]["application/json"]
    assert "status" not in create["schema"]["properties"]  # read-only: not sent
    assert create["schema"]["properties"]["disk_format"]["enum"][0] is None


def _existing(server: LiveServer) -> dict[str, str]:
    """Real ids for path parameters, so that cases reach past the 404 of a made-up id: an
    active image shared with a member, and a queued one."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30, trust_env=False) as http:
        body = {"disk_format": "raw", "container_format": "bare", "visibility": "shared"}
        active = http.post("/v2/images", json=body).json()["id"]
        data = b"fuzz image data"
        http.put(f"/v2/images/{active}/file", content=data, headers={
            "Content-Type": "application/octet-stream"})  # fmt: skip
        http.post(f"/v2/images/{active}/members", json={"member": "fuzz-member"})
        queued = http.post("/v2/images", json=body).json()["id"]
    return {"image_id": active, "member_id": "fuzz-member", "queued": queued}


def _with_real_ids(ids: dict[str, str]) -> Any:
    def apply(case: Any, use_queued: bool) -> Any:
        for name in list(case.path_parameters or {}):
            if name == "image_id":
                case.path_parameters[name] = ids["queued" if use_queued else "image_id"]
            elif name == "member_id":
                case.path_parameters[name] = ids["member_id"]
        return case

    return apply


def test_no_server_errors(fuzz_server: LiveServer) -> None:
    """Each operation in turn, ``EXAMPLES`` cases each (half of them on real ids); every
    failure is reported."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    real = _with_real_ids(_existing(fuzz_server))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # a broken document fails here
        if operation.label in _OUTBOUND:
            continue
        operations += 1

        generated = operation.as_strategy()
        cases = generated
        if operation.method.upper() != "DELETE":  # real ids must survive the whole run
            cases = st.one_of(generated, st.builds(real, generated, st.booleans()))

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=fuzz_server.url,
                headers=ADMIN,
                timeout=20,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            check()
        except Exception as exc:  # collect them all: one run shows every broken operation
            failures.append(f"{operation.label}: {exc}"[:2000])
        assert fuzz_server.process is not None and fuzz_server.process.poll() is None, (
            f"the server died during {operation.label}"
        )
    assert operations > 60
    assert not failures, "\n\n".join(failures)
