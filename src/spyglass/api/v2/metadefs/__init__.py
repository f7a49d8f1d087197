"""``/v2/metadefs/*`` and ``/v2/schemas/metadefs/*``: the metadata definitions catalog."""
