"""The tenant-isolation matrix, independent of how callers authenticate.

Five callers — an admin, the owning project's member, a reader-only user of the
owning project, a project the image is shared with, and an outsider — against
one image of each visibility, on every image route. Expected outcomes follow
upstream's rules: what a caller may not see is 404, what it sees but may not
do is 403, and everything allowed succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx

VISIBILITIES = ("public", "private", "shared", "community")
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTET = {"Content-Type": "application/octet-stream"}


@dataclass(frozen=True)
class Actor:
    name: str
    project_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cast:
    admin: Actor
    owner: Actor
    reader: Actor
    member: Actor
    outsider: Actor

    def __iter__(self) -> Iterator[Actor]:
        return iter((self.admin, self.owner, self.reader, self.member, self.outsider))


def sees(cast: Cast, actor: Actor, visibility: str) -> bool:
    if actor in (cast.admin, cast.owner, cast.reader):
        return True
    if visibility in ("public", "community"):
        return True
    return visibility == "shared" and actor == cast.member


def may_change(cast: Cast, actor: Actor) -> bool:
    """modify/delete/upload/deactivate/add_member: admin or a member of the owning project."""
    return actor in (cast.admin, cast.owner)


def may_download(cast: Cast, actor: Actor, visibility: str) -> bool:
    return sees(cast, actor, visibility) and actor != cast.reader


def expect(visible: bool, allowed: bool, ok: int) -> int:
    return ok if allowed else (403 if visible else 404)


class Matrix:
    """Creates the images as the owner, then checks every caller on every route."""

    def __init__(self, client: httpx.Client, cast: Cast) -> None:
        self.client = client
        self.cast = cast
        self.failures: list[str] = []
        self.checks = 0

    def call(self, actor: Actor, method: str, url: str, **kwargs: object) -> httpx.Response:
        headers = {**actor.headers, **dict(kwargs.pop("headers", {}) or {})}  # type: ignore[call-overload]
        return self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]

    def check(self, label: str, response: httpx.Response, expected: int) -> None:
        self.checks += 1
        if response.status_code != expected:
            self.failures.append(f"{label}: expected {expected}, got {response.status_code}")

    def make_image(self, visibility: str, *, data: bytes | None = b"payload") -> str:
        body = {"name": f"{visibility}-{uuid.uuid4().hex[:6]}", "visibility": visibility,
                "disk_format": "raw", "container_format": "bare"}  # fmt: skip
        actor = self.cast.admin if visibility == "public" else self.cast.owner
        if visibility == "public":
            body["owner"] = self.cast.owner.project_id
        created = self.call(actor, "POST", "/v2/images", json=body)
        assert created.status_code == 201, created.text
        image_id = str(created.json()["id"])
        if data is not None:
            up = self.call(self.cast.owner, "PUT", f"/v2/images/{image_id}/file", content=data,
                           headers=OCTET)  # fmt: skip
            assert up.status_code == 204, up.text
        if visibility == "shared":
            self._share(image_id)
        return image_id

    def _share(self, image_id: str) -> None:
        member = self.cast.member.project_id
        added = self.call(self.cast.owner, "POST", f"/v2/images/{image_id}/members",
                          json={"member": member})  # fmt: skip
        assert added.status_code == 200, added.text
        accepted = self.call(self.cast.member, "PUT", f"/v2/images/{image_id}/members/{member}",
                             json={"status": "accepted"})  # fmt: skip
        assert accepted.status_code == 200, accepted.text

    def run(self) -> list[str]:
        images = {v: self.make_image(v) for v in VISIBILITIES}
        for actor in self.cast:
            self._listing(actor, images)
            for visibility, image_id in images.items():
                self._reads(actor, visibility, image_id)
                self._writes(actor, visibility, image_id)
                self._members(actor, visibility, image_id)
            self._destructive(actor)
        return self.failures

    def _listing(self, actor: Actor, images: Mapping[str, str]) -> None:
        for query, include_community in (({}, False), ({"visibility": "all"}, True)):
            listed = self.call(actor, "GET", "/v2/images", params={**query, "limit": 1000})
            self.check(f"{actor.name} list {query}", listed, 200)
            ids = {i["id"] for i in listed.json().get("images", [])}
            for visibility, image_id in images.items():
                in_default = visibility != "community" or actor in (
                    self.cast.owner,
                    self.cast.reader,
                )
                wanted = sees(self.cast, actor, visibility) and (include_community or in_default)
                if (image_id in ids) != wanted:
                    self.failures.append(
                        f"{actor.name} list {query} {visibility}: listed={image_id in ids}"
                    )

    def _reads(self, actor: Actor, visibility: str, image_id: str) -> None:
        visible = sees(self.cast, actor, visibility)
        label = f"{actor.name} {visibility}"
        self.check(f"{label} show", self.call(actor, "GET", f"/v2/images/{image_id}"),
                   200 if visible else 404)  # fmt: skip
        download = self.call(actor, "GET", f"/v2/images/{image_id}/file")
        self.check(f"{label} download", download,
                   expect(visible, may_download(self.cast, actor, visibility), 200))  # fmt: skip
        if download.status_code == 200 and download.content != b"payload":
            self.failures.append(f"{label} download returned the wrong bytes")

    def _writes(self, actor: Actor, visibility: str, image_id: str) -> None:
        visible = sees(self.cast, actor, visibility)
        allowed = may_change(self.cast, actor)
        label = f"{actor.name} {visibility}"
        ops = [{"op": "add", "path": "/touched_by", "value": actor.name}]
        self.check(f"{label} patch", self.call(actor, "PATCH", f"/v2/images/{image_id}",
                                               json=ops, headers=PATCH),
                   expect(visible, allowed, 200))  # fmt: skip
        self.check(f"{label} tag", self.call(actor, "PUT", f"/v2/images/{image_id}/tags/t"),
                   expect(visible, allowed, 204))  # fmt: skip
        for action in ("deactivate", "reactivate"):
            self.check(f"{label} {action}",
                       self.call(actor, "POST", f"/v2/images/{image_id}/actions/{action}"),
                       expect(visible, allowed, 204))  # fmt: skip
        self.check(
            f"{label} delete (protected first)",
            self._delete_protected(actor, image_id),
            expect(visible, allowed, 403),
        )

    def _delete_protected(self, actor: Actor, image_id: str) -> httpx.Response:
        """Delete on a protected image: only those allowed to delete reach the 403."""
        protect = [{"op": "replace", "path": "/protected", "value": True}]
        self.call(self.cast.admin, "PATCH", f"/v2/images/{image_id}", json=protect, headers=PATCH)
        response = self.call(actor, "DELETE", f"/v2/images/{image_id}")
        unprotect = [{"op": "replace", "path": "/protected", "value": False}]
        self.call(self.cast.admin, "PATCH", f"/v2/images/{image_id}", json=unprotect,
                  headers=PATCH)  # fmt: skip
        return response

    def _members(self, actor: Actor, visibility: str, image_id: str) -> None:
        visible = sees(self.cast, actor, visibility)
        label = f"{actor.name} {visibility}"
        url = f"/v2/images/{image_id}/members"
        listed = self.call(actor, "GET", url)
        if visibility != "shared":
            self.check(f"{label} members list", listed, 403 if visible else 404)
            return
        self.check(f"{label} members list", listed, 200 if visible else 404)
        if listed.status_code == 200:
            seen = {m["member_id"] for m in listed.json()["members"]}
            mine_only = actor == self.cast.member
            if mine_only and seen != {self.cast.member.project_id}:
                self.failures.append(f"{label} member sees other members: {seen}")
        extra = f"extra-{uuid.uuid4().hex[:8]}"
        added = self.call(actor, "POST", url, json={"member": extra})
        self.check(f"{label} add member", added, expect(visible, may_change(self.cast, actor), 200))
        member = self.cast.member.project_id
        status = self.call(actor, "PUT", f"{url}/{member}", json={"status": "accepted"})
        may_set = actor in (self.cast.admin, self.cast.member)
        self.check(f"{label} set member status", status,
                   200 if may_set else (403 if actor in (self.cast.owner, self.cast.reader)
                                        else 404))  # fmt: skip
        if added.status_code == 200:
            removed = self.call(actor, "DELETE", f"{url}/{extra}")
            self.check(f"{label} delete member", removed, 204)

    def _destructive(self, actor: Actor) -> None:
        """Upload and delete, on images made for this caller alone."""
        for visibility in VISIBILITIES:
            label = f"{actor.name} {visibility}"
            visible = sees(self.cast, actor, visibility)
            allowed = may_change(self.cast, actor)
            queued = self.make_image(visibility, data=None)
            upload = self.call(actor, "PUT", f"/v2/images/{queued}/file", content=b"x" * 10,
                               headers=OCTET)  # fmt: skip
            self.check(f"{label} upload", upload, expect(visible, allowed, 204))
            doomed = self.make_image(visibility)
            self.check(f"{label} delete", self.call(actor, "DELETE", f"/v2/images/{doomed}"),
                       expect(visible, allowed, 204))  # fmt: skip
            still_there = self.call(self.cast.admin, "GET", f"/v2/images/{doomed}").status_code
            if (still_there == 200) == allowed:
                self.failures.append(f"{label} delete left the image in the wrong state")
