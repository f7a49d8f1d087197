"""Swift credentials by reference name, and the location URIs that name them.

New locations are ``swift+config://<reference>/<container>/<object>``: the
reference is a section of ``swift_store_config_file`` or, without one, the
``swift_store_*`` options under the name ``default_swift_reference``, so no
credential is ever stored in the database. This is the form upstream Glance
writes with a config file, and it resolves the same reference name to the
same options without one, so both read each other's locations.

Older upstream databases hold ``swift://user:key@authhost/v1.0/container/obj``
(and ``swift+http``/``swift+https``): those resolve too, but only against an
auth address the operator configured, so a location can never make the store
call a host of a user's choosing.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from spyglass.errors import BadStoreUri, ConfigError
from spyglass.stores.swift_auth import Credentials

SCHEMES = ("swift+config", "swift", "swift+http", "swift+https")


@dataclass(frozen=True, slots=True)
class SwiftLocation:
    """An object in Swift and whose credentials reach it."""

    container: str
    obj: str
    credentials: Credentials
    reference: str | None = None
    """The reference name for ``swift+config`` locations; ``None`` for legacy ones."""


def load_references(path: str | Path, auth_version: str) -> dict[str, Credentials]:
    """The sections of a ``swift_store_config_file`` (``auth_address``, ``user``,
    ``key``, optional ``auth_version`` and ``*_domain_*``); quotes around values
    are dropped, as upstream does."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"swift_store_config_file {path}: {exc}") from None
    references = {}
    for name in parser.sections():
        section = {key: _unquote(value) for key, value in parser.items(name)}
        missing = [k for k in ("auth_address", "user", "key") if not section.get(k)]
        if missing:
            raise ConfigError(
                f"swift_store_config_file {path}: [{name}] lacks {', '.join(missing)}"
            )
        references[name] = Credentials(
            auth_address=section["auth_address"],
            user=section["user"],
            key=section["key"],
            auth_version=section.get("auth_version") or auth_version,
            user_domain_id=section.get("user_domain_id")
            or (None if section.get("user_domain_name") else "default"),
            user_domain_name=section.get("user_domain_name"),
            project_domain_id=section.get("project_domain_id")
            or (None if section.get("project_domain_name") else "default"),
            project_domain_name=section.get("project_domain_name"),
        )
    return references


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[1:-1]
    return value


def format_location(reference: str, container: str, obj: str) -> str:
    return f"swift+config://{reference}/{container}/{obj}"


def parse_location(url: str, references: Mapping[str, Credentials]) -> SwiftLocation:
    """The object ``url`` names and the configured credentials that reach it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES or "://" in rest:
        raise BadStoreUri("Invalid Swift location: a single swift scheme is required.")
    if scheme == "swift+config":
        reference, _, path = rest.partition("/")
        creds = references.get(reference)
        if creds is None:
            raise BadStoreUri("The Swift location names an account reference not configured.")
        container, obj = _container_and_object(path)
        return SwiftLocation(container, obj, creds, reference)
    at = rest.rfind("@")
    if at < 0:
        raise BadStoreUri(
            "Swift locations without credentials (multi-tenant storage URLs) are not supported."
        )
    userinfo, address = rest[:at], rest[at + 1 :]
    user, sep, key = userinfo.rpartition(":")
    if not sep or not user or not key:
        raise BadStoreUri("Badly formed credentials in the Swift location.")
    host_and_prefix, _, _ = address.rpartition("/")
    host_and_prefix, _, _ = host_and_prefix.rpartition("/")
    container, obj = _container_and_object(address.partition("/")[2])
    if not host_and_prefix:
        raise BadStoreUri("Invalid Swift location: no auth address.")
    http = "http" if scheme == "swift+http" else "https"
    auth_address = f"{http}://{host_and_prefix}"
    known = _matching(auth_address, references)
    if known is None:
        raise BadStoreUri("The Swift location's auth address is not one this store may use.")
    creds = Credentials(
        auth_address=known.auth_address,
        user=unquote(user),
        key=unquote(key),
        auth_version=known.auth_version,
        user_domain_id=known.user_domain_id,
        user_domain_name=known.user_domain_name,
        project_domain_id=known.project_domain_id,
        project_domain_name=known.project_domain_name,
    )
    return SwiftLocation(container, obj, creds)


def _container_and_object(path: str) -> tuple[str, str]:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise BadStoreUri("Invalid Swift location: a container and an object are required.")
    return parts[-2], parts[-1]


def _matching(auth_address: str, references: Mapping[str, Credentials]) -> Credentials | None:
    wanted = auth_address.rstrip("/").lower()
    for creds in references.values():
        if creds.auth_address.rstrip("/").lower() == wanted:
            return creds
    return None
