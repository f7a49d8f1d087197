"""The v1 route table, on one screen (mounted only with ``enable_v1_api``).

The seed-era cache routes ``/v1/cached_images`` and ``/v1/queued_images`` are not
here: the cache helper serves them (``api/v2/cache_legacy.py``). ``/v1/images/{id}/file``
is not upstream's: openstacksdk's v1 proxy downloads from there (its v2 path).
"""

from __future__ import annotations

from spyglass.api.v1 import images, members
from spyglass.api.v2.routes import resource

ROUTES = [
    resource("/v1/", GET=images.v1_root),
    resource("/v1/images", GET=images.list_images, POST=images.create_image),
    resource("/v1/images/detail", GET=images.list_detail),
    resource(
        "/v1/images/{image_id}",
        name="v1_image",
        HEAD=images.head_image,
        GET=images.show_image,
        PUT=images.update_image,
        DELETE=images.delete_image,
    ),
    resource("/v1/images/{image_id}/file", GET=images.show_image),
    resource(
        "/v1/images/{image_id}/members",
        GET=members.list_members,
        PUT=members.replace_members,
    ),
    resource(
        "/v1/images/{image_id}/members/{member_id}",
        PUT=members.add_member,
        DELETE=members.delete_member,
    ),
    resource("/v1/shared-images/{member_id}", GET=members.shared_images),
]
