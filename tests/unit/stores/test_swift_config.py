"""The Swift store's configuration, references and location forms (no Swift needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.config import load_settings
from spyglass.errors import BadStoreUri, ConfigError
from spyglass.stores.registry import build_store_set
from spyglass.stores.swift import MiB, SwiftStore
from spyglass.stores.swift_auth import Credentials
from spyglass.stores.swift_refs import format_location, load_references, parse_location

AUTH = "http://keystone.example:5000/v3"
IMAGE = "5d054d62-652b-4fc3-98f3-032a71483c46"


def _store(tmp_path: Path, text: str) -> SwiftStore:
    conf = tmp_path / "glance-api.conf"
    conf.write_text(text)
    store = build_store_set(load_settings([conf]), tmp_path).default
    assert isinstance(store, SwiftStore)
    return store


def test_the_classic_options_make_reference_ref1(tmp_path: Path) -> None:
    store = _store(
        tmp_path,
        "[glance_store]\ndefault_store = swift\n"
        f"swift_store_auth_address = {AUTH}\nswift_store_user = service:glance\n"
        "swift_store_key = s3cr3t\nswift_store_auth_version = 3\n"
        "swift_store_container = images\nswift_store_large_object_size = 10\n"
        "swift_store_large_object_chunk_size = 2\nswift_store_retry_get_count = 4\n"
        "swift_store_region = RegionTwo\nswift_store_endpoint_type = internalURL\n",
    )
    assert store.reference == "ref1"
    assert store.references == {"ref1": Credentials(AUTH, "service:glance", "s3cr3t", "3")}
    assert store.container == "images"
    assert (store.large_object_size, store.segment_size) == (10 * MiB, 2 * MiB)
    assert store.retry_get_count == 4
    assert (store.swift.catalog.region, store.swift.catalog.endpoint_type) == (
        "RegionTwo",
        "internalURL",
    )
    assert "s3cr3t" not in repr(store.references)
    assert store.properties() == {
        "container": "images",
        "large_object_size": 10 * MiB,
        "large_object_chunk_size": 2 * MiB,
    }


def test_a_config_file_names_the_references(tmp_path: Path) -> None:
    accounts = tmp_path / "glance-swift.conf"
    accounts.write_text(
        f"[ref1]\nauth_address = {AUTH}\nuser = service:glance\nkey = 'quoted key'\n"
        "[old]\nauth_address = http://swift.example:8080/auth/v1.0\nuser = a:b\nkey = k\n"
        "auth_version = 1\nuser_domain_name = Users\n"
    )
    store = _store(
        tmp_path,
        "[DEFAULT]\nenabled_backends = fast:swift\n[glance_store]\ndefault_backend = fast\n"
        f"[fast]\nswift_store_config_file = {accounts}\ndefault_swift_reference = old\n"
        "swift_store_auth_version = 3\n",
    )
    assert store.reference == "old"
    assert store.references["ref1"].key == "quoted key"
    assert store.references["ref1"].auth_version == "3"
    assert store.references["old"].auth_version == "1"
    assert store.references["old"].user_domain_name == "Users"
    assert store.references["old"].user_domain_id is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("swift_store_user = a:b\n", "swift_store_auth_address, swift_store_key"),
        ("swift_store_multi_tenant = true\n", "multi_tenant is not supported"),
    ],
)
def test_unusable_options_are_config_errors(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        _store(tmp_path, f"[glance_store]\ndefault_store = swift\n{text}")


def test_a_reference_missing_from_the_file_is_a_config_error(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.conf"
    accounts.write_text(f"[other]\nauth_address = {AUTH}\nuser = a:b\nkey = k\n")
    with pytest.raises(ConfigError, match="'ref1' is not a section"):
        _store(
            tmp_path,
            f"[glance_store]\ndefault_store = swift\nswift_store_config_file = {accounts}\n",
        )
    accounts.write_text("[ref1]\nuser = a:b\n")
    with pytest.raises(ConfigError, match=r"\[ref1\] lacks auth_address, key"):
        load_references(accounts, "3")


REFS = {"ref1": Credentials("http://swift.example:8080/auth/v1.0", "test:tester", "k", "1")}


def test_new_locations_carry_a_reference_not_credentials() -> None:
    location = format_location("ref1", "glance", IMAGE)
    assert location == f"swift+config://ref1/glance/{IMAGE}"
    where = parse_location(location, REFS)
    assert (where.container, where.obj, where.reference) == ("glance", IMAGE, "ref1")
    assert where.credentials == REFS["ref1"]


@pytest.mark.parametrize(
    ("location", "user", "key"),
    [
        (
            f"swift+http://test:tester:k%2Fey@swift.example:8080/auth/v1.0/glance/{IMAGE}",
            "test:tester",
            "k/ey",
        ),
        (
            f"swift+http://acct:user:s/la@sh@swift.example:8080/auth/v1.0/glance/{IMAGE}",
            "acct:user",
            "s/la@sh",
        ),
    ],
)
def test_legacy_locations_with_credentials_resolve(location: str, user: str, key: str) -> None:
    where = parse_location(location, REFS)
    assert (where.container, where.obj, where.reference) == ("glance", IMAGE, None)
    assert (where.credentials.user, where.credentials.key) == (user, key)
    assert where.credentials.auth_address == REFS["ref1"].auth_address
    assert where.credentials.auth_version == "1"


@pytest.mark.parametrize(
    ("location", "error"),
    [
        (f"swift://u:k@evil.example/v1/glance/{IMAGE}", "not one this store may use"),
        (f"swift+http://u:k@swift.example:8080/auth/v1.0/glance/{IMAGE}x", None),
        (f"swift+config://nope/glance/{IMAGE}", "reference not configured"),
        ("swift+config://ref1/glance", "a container and an object"),
        (f"swift://u:k@http://swift.example:8080/auth/v1.0/glance/{IMAGE}", "single swift"),
        (f"swift+https://swift.example/v1/AUTH_x/glance/{IMAGE}", "multi-tenant"),
        (f"swift+http://nokey@swift.example:8080/auth/v1.0/glance/{IMAGE}", "credentials"),
    ],
)
def test_bad_locations(location: str, error: str | None) -> None:
    if error is None:  # well formed: another object, same auth address
        assert parse_location(location, REFS).obj == IMAGE + "x"
        return
    with pytest.raises(BadStoreUri, match=error) as failed:
        parse_location(location, REFS)
    assert ":k@" not in failed.value.message


def test_image_of_only_for_the_stores_own_container() -> None:
    store = SwiftStore("s", references=REFS, container="glance")
    assert store.image_of(f"swift+config://ref1/glance/{IMAGE}") == IMAGE
    assert store.image_of(f"swift+config://ref1/other/{IMAGE}") is None
    assert store.image_of(f"swift+http://a:b@swift.example:8080/auth/v1.0/glance/{IMAGE}") is None
    assert store.image_of("swift+config://ref1/glance/../x") is None


def test_multiple_containers_seed_spreads_images_as_upstream() -> None:
    store = SwiftStore("s", references=REFS, container="glance", containers_seed=3)
    assert store.container_for("3A1b9e2c-...") == "glance_3a1"
    assert SwiftStore("s", references=REFS, containers_seed=10).container_for(IMAGE) == (
        "glance_5d054d62-65"
    )
    assert store.image_of(f"swift+config://ref1/glance_5d0/{IMAGE}") == IMAGE
