"""Which image attribute names a caller may set, and which are the server's.

Upstream sorts names into classes that answer differently (403 "read-only" vs
403 "reserved"); keeping the classes here keeps create and PATCH consistent.
"""

from __future__ import annotations

from spyglass.errors import BadRequest, ReadOnlyProperty, ReservedProperty

BASE_PROPERTIES = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "virtual_size",
        "container_format",
        "disk_format",
        "created_at",
        "updated_at",
        "tags",
        "direct_url",
        "min_ram",
        "min_disk",
        "self",
        "file",
        "schema",
        "locations",
        "stores",
    }
)
"""Every name the image schema defines; anything else is an additional property."""

READ_ONLY = frozenset(
    {
        "created_at",
        "updated_at",
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "direct_url",
        "self",
        "file",
        "schema",
        "id",
        "stores",
    }
)
"""Set by the server; a caller naming them gets 403."""

RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
"""Names the server keeps for itself (``os_glance_*`` marks import bookkeeping)."""

MAX_KEY_LENGTH = 255
MAX_INT32 = 2**31 - 1


def check_not_read_only(name: str, *, creating: bool) -> None:
    """403 for names the server sets; ``id`` may be chosen on create only.

    ``os_hash_algo`` on create is dropped by the caller rather than refused,
    as upstream does; ``locations`` cannot be given on create at all.
    """
    if creating and name == "locations":
        raise ReservedProperty(f"Attribute '{name}' is reserved.")
    if name in READ_ONLY and not (creating and name in ("id", "os_hash_algo")):
        raise ReadOnlyProperty(f"Attribute '{name}' is read-only.")


def check_not_reserved(name: str) -> None:
    """403 for names kept for the server's own bookkeeping."""
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise ReservedProperty(f"Attribute '{name}' is reserved.")


def check_key_length(name: str) -> None:
    if len(name) > MAX_KEY_LENGTH:
        raise BadRequest(f"Custom property should not be greater than {MAX_KEY_LENGTH} characters.")


def is_hidden_property(name: str) -> bool:
    """Server bookkeeping that is never rendered."""
    return name in {"os_glance_stage_host", "os_glance_hash_op_host"}
