"""The notification outbox in SQL: record events with a change, claim, deliver, prune.

Recording happens inside a repository's unit of work, so an event exists
exactly when the change it describes was committed, with the id of the request that
made it (``spyglass.request_ids``; the registry's is the API server's). Publishers (one per API
worker, any number of servers) claim rows for a while (a lease), publish
them and delete them once the broker confirms. On PostgreSQL and MySQL the
claim skips rows another publisher is claiming (``FOR UPDATE SKIP LOCKED``);
SQLite's claims run one at a time (``BEGIN IMMEDIATE``), so no row is ever
claimed twice while a lease is live.

Per-key order (one image's events): a row is claimed only together with
every earlier undelivered row of its key, so no publisher can overtake
another on one image.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from spyglass import request_ids
from spyglass.db.engine import Database
from spyglass.db.models import NotificationRow
from spyglass.notify.envelope import Message
from spyglass.notify.events import Event, EventFilter
from spyglass.timeutils import utcnow


@dataclass(frozen=True, slots=True)
class Backlog:
    """What ``spyglass notifications status`` shows."""

    waiting: int
    claimed: int
    retrying: int
    oldest: datetime | None
    max_attempts: int


_INSERT = insert(NotificationRow)


class Outbox:
    """Where repositories record events, and what wakes this process's publisher."""

    def __init__(
        self,
        database: Database,
        *,
        publisher_id: str,
        events: EventFilter | None = None,
    ) -> None:
        self.database = database
        self.publisher_id = publisher_id
        self.filter = events or EventFilter()
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def committed(self) -> None:
        """Tell this process's publishers that new rows may be waiting."""
        for listener in self._listeners:
            listener()

    def write(self, session: Session, events: Sequence[Event]) -> None:
        """Add ``events`` to the current unit of work (its transaction decides)."""
        kept = self.filter.keep(events)
        if not kept:
            return
        now = utcnow()
        request_id = request_ids.current()
        rows = [
            {
                "message_id": e.message_id,
                "event_type": e.event_type,
                "priority": e.priority,
                "publisher_id": self.publisher_id,
                "ordering_key": e.key,
                "payload": json.dumps(e.payload),
                "timestamp": e.timestamp,
                "attempts": 0,
                "available_at": now,
                "request_id": request_id,
            }
            for e in kept
        ]
        # on the session's connection, in its transaction: a fraction of session.execute's cost
        session.connection().execute(_INSERT, rows[0] if len(rows) == 1 else rows)

    async def record(self, events: Sequence[Event]) -> None:
        """Record events that go with no other write (``image.send``, upload errors)."""
        if not self.filter.keep(events):
            return
        await self.database.run(lambda s: self.write(s, events), write=True)
        self.committed()


def _message(row: Any) -> Message:
    event = Event(
        event_type=row.event_type,
        payload=json.loads(row.payload),
        key=row.ordering_key,
        priority=row.priority,
        message_id=row.message_id,
        timestamp=row.timestamp,
    )
    return Message(
        event=event, publisher_id=row.publisher_id, outbox_id=row.id, request_id=row.request_id
    )


def _claimable(now: datetime) -> Any:
    return (NotificationRow.available_at <= now) & or_(
        NotificationRow.claimed_until.is_(None), NotificationRow.claimed_until < now
    )


def claim(session: Session, worker: str, *, limit: int, lease: float) -> list[Message]:
    """Claim up to ``limit`` deliverable rows for ``worker``, oldest first."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    query = (
        select(NotificationRow.id, NotificationRow.ordering_key)
        .where(_claimable(now))
        .order_by(NotificationRow.id)
        .limit(limit)
    )
    if dialect in ("postgresql", "mysql", "mariadb"):
        query = query.with_for_update(skip_locked=True)
    candidates = session.execute(query).all()
    if not candidates:
        return []
    mine = {row.id for row in candidates}
    keys = {row.ordering_key for row in candidates}
    last = max(mine)
    # every undelivered row of these keys up to the last candidate, whoever holds it
    earlier = session.execute(
        select(NotificationRow.id, NotificationRow.ordering_key)
        .where(NotificationRow.ordering_key.in_(keys), NotificationRow.id <= last)
        .order_by(NotificationRow.id)
    ).all()
    blocked: set[str] = set()
    chosen: list[int] = []
    for row in earlier:
        if row.ordering_key in blocked:
            continue
        if row.id in mine:
            chosen.append(row.id)
        else:
            blocked.add(row.ordering_key)  # an earlier row is someone else's (or waiting)
    if not chosen:
        return []
    session.execute(
        update(NotificationRow)
        .where(NotificationRow.id.in_(chosen))
        .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease))
    )
    rows = session.execute(
        select(NotificationRow).where(NotificationRow.id.in_(chosen)).order_by(NotificationRow.id)
    ).scalars()
    return [_message(row) for row in rows]


def delivered(session: Session, worker: str, ids: Sequence[int]) -> None:
    """Prune what the broker confirmed."""
    session.execute(
        delete(NotificationRow).where(
            NotificationRow.id.in_(ids), NotificationRow.claimed_by == worker
        )
    )


def release(session: Session, worker: str, ids: Sequence[int], *, delay: float, error: str) -> None:
    """Give rows back after a failed delivery; they wait ``delay`` seconds."""
    session.execute(
        update(NotificationRow)
        .where(NotificationRow.id.in_(ids), NotificationRow.claimed_by == worker)
        .values(
            claimed_by=None,
            claimed_until=None,
            attempts=NotificationRow.attempts + 1,
            available_at=utcnow() + timedelta(seconds=delay),
            last_error=error[:1000],
        )
    )


def backlog(session: Session) -> Backlog:
    now = utcnow()
    claimed = case((NotificationRow.claimed_until >= now, 1), else_=0)
    retrying = case((NotificationRow.attempts > 0, 1), else_=0)
    waiting, in_flight, failing, oldest, attempts = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(claimed), 0),
            func.coalesce(func.sum(retrying), 0),
            func.min(NotificationRow.timestamp),
            func.coalesce(func.max(NotificationRow.attempts), 0),
        )
    ).one()
    return Backlog(
        waiting=int(waiting),
        claimed=int(in_flight or 0),
        retrying=int(failing or 0),
        oldest=oldest,
        max_attempts=int(attempts or 0),
    )


async def read_backlog(database: Database) -> Backlog:
    return await database.run(backlog)
