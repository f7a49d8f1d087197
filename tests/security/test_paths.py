"""Control characters in a request path: 404 on every database, never a 500.

PostgreSQL refuses NUL in any string it is given, so ``/v2/images/%00`` used
to fail inside the database; no id, tag or member name can hold one.
"""

from __future__ import annotations

from tests.security.conftest import ALICE, StartServer, client_for
from tests.security.helpers import new_image


def test_control_characters_in_paths_are_not_found(race_server: StartServer) -> None:
    server = race_server()
    with client_for(server) as client:
        client.headers.update(ALICE)
        image_id = new_image(client, ALICE)
        for path in (
            "/v2/images/%00",
            "/v2/images/%00/members",
            "/v2/images/%00/file",
            f"/v2/images/{image_id}/members/a%00b",
            f"/v2/images/{image_id}%0D",
        ):
            assert client.get(path).status_code == 404, path
        assert client.put(f"/v2/images/{image_id}/tags/a%00b").status_code == 404
        assert client.delete("/v2/images/%00").status_code == 404
        assert client.get(f"/v2/images/{image_id}").json()["tags"] == []
