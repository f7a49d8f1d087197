"""``GET /v2/images``: filters, sorting, paging and refusals, over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.backends import SUBSECOND
from tests.functional.helpers import create, upload
from tests.server import LiveServer

Listing = tuple[httpx.Client, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def listing(metadata_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listing]:
    """A server of its own with a known set of images."""
    server = LiveServer(tmp_path_factory.mktemp("listing")).start()
    client = httpx.Client(base_url=server.url, timeout=30)
    made = []
    for i, (name, disk, tags) in enumerate(
        [
            ("alpha", "raw", ["x"]),
            ("bravo", "qcow2", ["x", "y"]),
            ("charlie", "raw", []),
            ("delta", "iso", ["y"]),
            (None, "qcow2", []),
            ("echo, with comma", "raw", ["z"]),
        ]
    ):
        made.append(
            create(
                client,
                name=name,
                disk_format=disk,
                container_format="bare",
                tags=tags,
                visibility="private" if i % 2 else "shared",
                kind="even" if i % 2 == 0 else "odd",
            )
        )
    assert upload(client, str(made[0]["id"]), b"0123456789").status_code == 204
    yield client, made
    client.close()
    server.stop()


def _names(response: httpx.Response) -> list[object]:
    assert response.status_code == 200, response.text
    return [i["name"] for i in response.json()["images"]]


@pytest.mark.backends(*SUBSECOND)  # made within a second: newest-first needs fractions
def test_default_order_is_newest_first(listing: Listing) -> None:
    client, made = listing
    ids = [i["id"] for i in client.get("/v2/images").json()["images"]]
    assert ids == [i["id"] for i in reversed(made)]


def test_sort_by_name_both_syntaxes(listing: Listing) -> None:
    client, _ = listing
    expected = [None, "alpha", "bravo", "charlie", "delta", "echo, with comma"]
    assert (
        _names(client.get("/v2/images", params={"sort_key": "name", "sort_dir": "asc"})) == expected
    )
    assert _names(client.get("/v2/images", params={"sort": "name:asc"})) == expected
    assert _names(client.get("/v2/images", params={"sort": "name:desc"})) == expected[::-1]


@pytest.mark.parametrize("limit", [1, 2, 4])
@pytest.mark.parametrize(
    "sort", ["name:asc", "name:desc", "disk_format:asc,name:desc", "created_at:desc", "size:asc"]
)
def test_paging_with_next_links_visits_every_image_once(
    listing: Listing, limit: int, sort: str
) -> None:
    client, made = listing
    everything = [i["id"] for i in client.get("/v2/images", params={"sort": sort}).json()["images"]]
    seen: list[str] = []
    url = f"/v2/images?limit={limit}&sort={sort}"
    while url:
        body = client.get(url).json()
        assert len(body["images"]) <= limit
        seen += [i["id"] for i in body["images"]]
        url = body.get("next")
    assert seen == everything
    assert sorted(seen) == sorted(i["id"] for i in made)


def test_first_and_next_links(listing: Listing) -> None:
    client, _ = listing
    body = client.get("/v2/images", params={"limit": 2, "disk_format": "raw"}).json()
    assert body["schema"] == "/v2/schemas/images"
    assert parse_qs(urlsplit(body["first"]).query) == {"limit": ["2"], "disk_format": ["raw"]}
    nxt = parse_qs(urlsplit(body["next"]).query)
    assert nxt["marker"] == [body["images"][-1]["id"]]
    assert "next" not in client.get("/v2/images", params={"limit": 100}).json()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "alpha"}, {"alpha"}),
        ({"name": 'in:alpha,"echo, with comma"'}, {"alpha", "echo, with comma"}),
        ({"disk_format": "raw"}, {"alpha", "charlie", "echo, with comma"}),
        ({"disk_format": "in:iso,qcow2"}, {"bravo", "delta", None}),
        ({"status": "active"}, {"alpha"}),
        (
            {"status": "in:queued,active"},
            {"alpha", "bravo", "charlie", "delta", None, "echo, with comma"},
        ),
        ({"visibility": "private"}, {"bravo", "delta", "echo, with comma"}),
        ({"tag": "x"}, {"alpha", "bravo"}),
        ({"kind": "odd"}, {"bravo", "delta", "echo, with comma"}),
        ({"size_min": "10", "size_max": "10"}, {"alpha"}),
        ({"size_min": "11"}, set()),
        ({"container_format": "bare", "disk_format": "raw", "kind": "even"}, {"alpha", "charlie"}),
        ({"protected": "false", "name": "delta"}, {"delta"}),
        ({"created_at": "gte:2000-01-01T00:00:00Z", "name": "alpha"}, {"alpha"}),
        ({"created_at": "lt:2000-01-01T00:00:00Z"}, set()),
    ],
)
def test_filters(listing: Listing, params: dict[str, str], expected: set[object]) -> None:
    client, _ = listing
    assert set(_names(client.get("/v2/images", params=params))) == expected


def test_repeated_tag_filters_need_all_tags(listing: Listing) -> None:
    client, _ = listing
    assert _names(client.get("/v2/images?tag=x&tag=y")) == ["bravo"]


def test_limit_zero_and_capped(listing: Listing) -> None:
    client, _ = listing
    assert client.get("/v2/images", params={"limit": 0}).json()["images"] == []
    assert len(client.get("/v2/images", params={"limit": 5000}).json()["images"]) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "abc"},
        {"marker": str(uuid.uuid4())},
        {"marker": "notauuid"},
        {"sort_key": "bogus"},
        {"sort_dir": "sideways"},
        {"sort": "name:bogus"},
        {"sort": "owner"},
        {"sort": "name", "sort_key": "name"},
        {"visibility": "bogus"},
        {"member_status": "bogus"},
        {"size_min": "abc"},
        {"os_hidden": "maybe"},
        {"protected": "True"},
        {"changes-since": "x"},
        {"created_at": "gt:notatime"},
        {"status": "like:queued"},
        {"sort_key": ["name", "size"], "sort_dir": ["asc", "desc", "asc"]},
    ],
)
def test_bad_listing_parameters_are_400(listing: Listing, params: dict[str, str]) -> None:
    client, _ = listing
    response = client.get("/v2/images", params=params, headers={"Accept": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["message"]


def test_deleted_marker_is_400(listing: Listing) -> None:
    client, _ = listing
    doomed = create(client)
    client.delete(f"/v2/images/{doomed['id']}")
    assert client.get("/v2/images", params={"marker": doomed["id"]}).status_code == 400


def test_hidden_images_are_left_out_unless_asked(listing: Listing) -> None:
    client, _ = listing
    hidden = create(client, name="ghost", os_hidden=True)
    try:
        assert "ghost" not in _names(client.get("/v2/images"))
        assert _names(client.get("/v2/images", params={"os_hidden": "TRUE"})) == ["ghost"]
    finally:
        client.delete(f"/v2/images/{hidden['id']}")


def test_limit_defaults_come_from_config(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("limit_param_default = 2", "api_limit_max = 3")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(4):
            create(client)
        assert len(client.get("/v2/images").json()["images"]) == 2
        assert len(client.get("/v2/images", params={"limit": 50}).json()["images"]) == 3


def test_integer_columns_filter_exactly(listing: Listing) -> None:
    client, _ = listing
    image = create(client, name="roomy", min_disk=7, min_ram=512)
    try:
        assert _names(client.get("/v2/images", params={"min_disk": "7"})) == ["roomy"]
        assert _names(client.get("/v2/images", params={"min_ram": "512", "min_disk": "7"})) == [
            "roomy"
        ]
        assert _names(client.get("/v2/images", params={"size": "10"})) == ["alpha"]
        assert client.get("/v2/images", params={"min_disk": "x"}).status_code == 400
    finally:
        client.delete(f"/v2/images/{image['id']}")
