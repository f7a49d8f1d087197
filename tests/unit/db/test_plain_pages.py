"""Plain list pages reuse one statement per shape and answer exactly what the builder does.

``list_select`` keeps the statement of a page without marker or filters, with the caller's
project and the limit as parameters. The same images must come back, in the same order,
for every caller kind and visibility rule as from the statement built per request; pages
with a marker or a filter are still built per request.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from spyglass.db.engine import create_database
from spyglass.db.listing import build_list_select, list_select
from spyglass.db.migrate import sync_schema
from spyglass.db.models import ImageMemberRow, ImageRow
from spyglass.services.ports import ListQuery, SortKey

SORT = (SortKey("created_at", True), SortKey("id", True))
OWNERS = ("p1", "p2", None)
VISIBILITIES = ("public", "private", "shared", "community")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Images of every owner and visibility; p3 is a member of p1's and p2's shared ones,
    accepted for p1's and pending for p2's."""
    path: Path = tmp_path_factory.mktemp("pages") / "db.sqlite"

    async def migrate() -> None:
        database = create_database(f"sqlite:///{path}")
        await sync_schema(database)
        await database.dispose()

    asyncio.run(migrate())
    engine = create_engine(f"sqlite:///{path}")
    start = datetime(2026, 1, 1)
    with Session(engine) as session:
        for n, (owner, visibility) in enumerate(itertools.product(OWNERS, VISIBILITIES)):
            image_id = str(uuid.UUID(int=n + 1))
            session.add(
                ImageRow(
                    id=image_id, name=f"{owner}-{visibility}", status="active",
                    visibility=visibility, owner=owner, protected=False, os_hidden=False,
                    created_at=start + timedelta(minutes=n), deleted=False, min_disk=0, min_ram=0,
                )
            )  # fmt: skip
            if visibility == "shared" and owner in ("p1", "p2"):
                session.add(
                    ImageMemberRow(
                        image_id=image_id, member="p3", can_share=False, deleted=False,
                        status="accepted" if owner == "p1" else "pending", created_at=start,
                    )
                )  # fmt: skip
        session.commit()
    yield engine
    engine.dispose()


def _ids(engine: Engine, statement: object, params: dict[str, object]) -> list[str]:
    with engine.connect() as connection:
        return [row.id for row in connection.execute(statement, params)]  # type: ignore[call-overload]


CALLERS = [
    {"is_admin": True, "project_id": None},
    {"is_admin": True, "project_id": "p1"},
    {"is_admin": False, "project_id": "p1"},
    {"is_admin": False, "project_id": "p2"},
    {"is_admin": False, "project_id": "p3"},
    {"is_admin": False, "project_id": None},
]
LISTINGS = [
    {},
    {"visibility": "all"},
    {"visibility": "shared"},
    {"visibility": "shared", "member_status": "pending"},
    {"visibility": "shared", "member_status": "all"},
    {"visibility": "community"},
    {"visibility": "private"},
]


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: str(listing) or "default")
def test_a_reused_statement_answers_as_the_builder_does(
    engine: Engine, listing: dict[str, str]
) -> None:
    answers = set()
    for caller, limit in itertools.product(CALLERS, (2, 100)):
        query = ListQuery(limit=limit, sort=SORT, **caller, **listing)  # type: ignore[arg-type]
        statement, params = list_select(query, None, "sqlite")
        expected = _ids(engine, build_list_select(query, None, "sqlite"), {})
        assert _ids(engine, statement, params) == expected, (caller, limit)
        assert params["limit"] == limit
        answers.add(tuple(expected))
    assert len(answers) > 1  # the limit and the project parameters count


def test_one_statement_per_shape_whoever_asks(engine: Engine) -> None:
    first, params = list_select(
        ListQuery(limit=5, sort=SORT, is_admin=False, project_id="p1"), None, "sqlite"
    )
    again, other = list_select(
        ListQuery(limit=9, sort=SORT, is_admin=False, project_id="p2"), None, "sqlite"
    )
    assert again is first
    assert (params, other) == ({"limit": 5, "project_id": "p1"}, {"limit": 9, "project_id": "p2"})
    admin, _ = list_select(ListQuery(limit=5, sort=SORT), None, "sqlite")
    assert admin is not first


def test_pages_with_a_marker_or_a_filter_are_built_per_request(engine: Engine) -> None:
    filtered = ListQuery(limit=5, sort=SORT, exact={"status": ("active",)})
    one, params = list_select(filtered, None, "sqlite")
    two, _ = list_select(filtered, None, "sqlite")
    assert params == {} and one is not two
    with engine.connect() as connection:
        marker = connection.execute(
            build_list_select(ListQuery(limit=1, sort=SORT), None, "sqlite")
        ).first()
    after, params = list_select(ListQuery(limit=5, sort=SORT), marker, "sqlite")
    assert params == {}
    assert marker is not None and marker.id not in _ids(engine, after, params)
