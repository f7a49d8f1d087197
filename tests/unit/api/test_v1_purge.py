"""A v1 header PUT purges the caller's properties, never the server's ``os_glance_*`` ones."""

from __future__ import annotations

from datetime import datetime

from spyglass.api.v1.headers import V1Meta
from spyglass.api.v1.images import _changes
from spyglass.domain.image import Image
from spyglass.domain.patch import PatchOp

NOW = datetime(2026, 1, 1)


def test_purge_keeps_import_bookkeeping() -> None:
    image = Image(
        id="11111111-1111-4111-8111-111111111111",
        created_at=NOW,
        updated_at=NOW,
        properties={
            "os_glance_importing_to_stores": "",
            "os_glance_failed_import": "",
            "stale": "x",
        },
    )
    changes = _changes(V1Meta(core={"name": "renamed"}), image, purge=True)
    removed = {c.path[0] for c in changes if c.op is PatchOp.REMOVE}
    assert removed == {"stale"}
