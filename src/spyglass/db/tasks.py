"""The SQL task repository and the queue the import workers claim work from.

A task's row, its ``task_info`` and its queue entry are written together; an
import's task is created in the same transaction as the image change that
starts it (``begin``), and finishes in the same transaction as the image
change that ends it (``finish``), so a crash between steps never leaves an
image ``importing`` without a task that will end it.

Workers claim queue rows with a lease. On PostgreSQL and MySQL the claim
skips rows another worker is claiming (``FOR UPDATE SKIP LOCKED``); SQLite's
writes run one at a time. A worker renews its lease while it runs; a lease
that runs out means its worker died, and the task may be claimed again.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, false, or_, select, update
from sqlalchemy.orm import Session

from spyglass.db.engine import Database
from spyglass.db.images import SqlImageRepository
from spyglass.db.models import TaskInfoRow, TaskQueueRow, TaskRow, UploadReservationRow
from spyglass.db.outbox import Outbox
from spyglass.domain.image import Image
from spyglass.domain.tasks import Task, TaskStatus
from spyglass.errors import BadRequest, NotFound
from spyglass.notify.events import Event, task_payload
from spyglass.services.tasks_ports import Claim, TaskQuery
from spyglass.timeutils import utcnow


def _load(row: TaskRow, info: TaskInfoRow | None) -> Task:
    return Task(
        id=row.id,
        type=row.type,
        status=TaskStatus(row.status),
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at or row.created_at,
        expires_at=row.expires_at,
        image_id=row.image_id,
        request_id=row.request_id,
        user_id=row.user_id,
        input=json.loads(info.input) if info is not None and info.input else {},
        result=json.loads(info.result) if info is not None and info.result else None,
        message=(info.message or "") if info is not None else "",
    )


def _write(session: Session, task: Task, *, new: bool) -> None:
    columns: dict[str, Any] = {
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "expires_at": task.expires_at,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "updated_at": task.updated_at,
    }
    info: dict[str, Any] = {
        "input": json.dumps(task.input),
        "result": None if task.result is None else json.dumps(task.result),
        "message": task.message,
    }
    if new:
        session.add(TaskRow(id=task.id, created_at=task.created_at, deleted=False, **columns))
        session.flush()
        session.add(TaskInfoRow(task_id=task.id, **info))
        return
    session.execute(update(TaskRow).where(TaskRow.id == task.id).values(**columns))
    session.execute(update(TaskInfoRow).where(TaskInfoRow.task_id == task.id).values(**info))


def _get(session: Session, task_id: str) -> Task:
    row = session.execute(
        select(TaskRow).where(TaskRow.id == task_id, TaskRow.deleted == false())
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Task with the given id {task_id} not found")
    return _load(row, session.get(TaskInfoRow, task_id))


def task_event(task: Task) -> Event:
    """``task.create``/``.processing``/``.success``/``.failure`` for the task as saved."""
    kind = {"pending": "create"}.get(task.status.value, task.status.value)
    payload = task_payload(
        task_id=task.id,
        task_type=task.type,
        status=task.status.value,
        owner=task.owner,
        expires_at=task.expires_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )
    return Event(f"task.{kind}", payload, key=task.id)


def _enqueue(session: Session, task: Task, node: str | None) -> None:
    session.add(TaskQueueRow(task_id=task.id, available_at=utcnow(), attempts=0, node=node))


class SqlTaskRepository:
    def __init__(self, database: Database, outbox: Outbox | None = None) -> None:
        self.database = database
        self.images = SqlImageRepository(database, outbox)
        """For the image changes that start and end imports (and their events)."""

    def _task_event(self, session: Session, task: Task) -> None:
        if self.images.outbox is not None:
            self.images.outbox.write(session, [task_event(task)])

    async def add(self, task: Task, *, run: bool, node: str | None = None) -> Task:
        """Record a task; with ``run`` it also waits in the queue for a worker."""

        def work(session: Session) -> Task:
            _write(session, task, new=True)
            self._task_event(session, task)
            if run:
                _enqueue(session, task, node)
            return task

        added = await self.database.run(work, write=True)
        self.images._committed(("task.create",))
        return added

    async def begin(
        self,
        task: Task,
        image: Image,
        *,
        expect: Image,
        events: Sequence[str] = (),
        node: str | None = None,
    ) -> Image:
        """Save ``image`` (unless it changed since ``expect`` was read) and queue
        ``task``, in one transaction."""
        image.updated_at = utcnow()

        def work(session: Session) -> Image:
            saved = SqlImageRepository._save(session, image, None, expect)
            self.images._record(session, saved, events)
            _write(session, task, new=True)
            self._task_event(session, task)
            _enqueue(session, task, node)
            return saved

        saved = await self.database.run(work, write=True)
        self.images._committed(("task.create",))
        return saved

    async def get(self, task_id: str) -> Task:
        if len(task_id) > 36:
            raise NotFound(f"Task with the given id {task_id} not found")
        return await self.database.run(lambda s: _get(s, task_id))

    async def list(self, query: TaskQuery) -> builtins.list[Task]:
        return await self.database.run(lambda s: self._list(s, query))

    @staticmethod
    def _list(session: Session, query: TaskQuery) -> builtins.list[Task]:
        column = getattr(TaskRow, query.sort_key)
        stmt = select(TaskRow).where(TaskRow.deleted == false())
        for name in ("owner", "type", "status", "image_id"):
            value = getattr(query, name)
            if value is not None:
                stmt = stmt.where(getattr(TaskRow, name) == value)
        if query.marker is not None:
            marker = session.get(TaskRow, query.marker) if len(query.marker) <= 36 else None
            if marker is None or marker.deleted:
                raise BadRequest(f"marker {query.marker} could not be found.")
            value = getattr(marker, query.sort_key)
            past = column < value if query.descending else column > value
            tie = TaskRow.id < marker.id if query.descending else TaskRow.id > marker.id
            stmt = stmt.where(or_(past, (column == value) & tie))
        order = (column.desc(), TaskRow.id.desc()) if query.descending else (column, TaskRow.id)
        rows = session.execute(stmt.order_by(*order).limit(query.limit)).scalars().all()
        infos = {
            i.task_id: i
            for i in session.execute(
                select(TaskInfoRow).where(TaskInfoRow.task_id.in_([r.id for r in rows]))
            ).scalars()
        }
        return [_load(row, infos.get(row.id)) for row in rows]

    async def claim(self, worker: str, *, lease: float, node: str | None) -> Claim | None:
        """The oldest task waiting (or whose worker's lease ran out), now ``worker``'s.

        A task bound to a node (its data is staged there) is claimed only there. A read
        looks first, so idle workers do not queue for SQLite's one writer."""
        if not await self.database.run(lambda s: self._waiting(s, node)):
            return None
        return await self.database.run(lambda s: self._claim(s, worker, lease, node), write=True)

    @staticmethod
    def _claimable(node: str | None) -> builtins.list[ColumnElement[bool]]:
        now = utcnow()
        here: ColumnElement[bool] = TaskQueueRow.node.is_(None)
        if node is not None:
            here = or_(here, TaskQueueRow.node == node)
        return [
            TaskQueueRow.available_at <= now,
            or_(TaskQueueRow.claimed_until.is_(None), TaskQueueRow.claimed_until < now),
            here,
        ]

    @classmethod
    def _waiting(cls, session: Session, node: str | None) -> bool:
        found = session.execute(
            select(TaskQueueRow.task_id).where(*cls._claimable(node)).limit(1)
        ).first()
        return found is not None

    @classmethod
    def _claim(cls, session: Session, worker: str, lease: float, node: str | None) -> Claim | None:
        now = utcnow()
        query = (
            select(TaskQueueRow)
            .where(*cls._claimable(node))
            .order_by(TaskQueueRow.available_at, TaskQueueRow.task_id)
            .limit(1)
        )
        if session.get_bind().dialect.name in ("postgresql", "mysql", "mariadb"):
            query = query.with_for_update(skip_locked=True)
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            return None
        attempts, last_error = row.attempts, row.last_error
        row.claimed_by, row.claimed_until = worker, now + timedelta(seconds=lease)
        row.attempts = attempts + 1
        try:
            task = _get(session, row.task_id)
        except NotFound:  # deleted underneath; nothing to run
            session.delete(row)
            return None
        return Claim(task, attempts, last_error)

    async def renew(self, task_id: str, worker: str, *, lease: float) -> bool:
        """Extend ``worker``'s lease; ``False`` if the task is no longer its own."""

        def work(session: Session) -> bool:
            changed = session.execute(
                update(TaskQueueRow)
                .where(TaskQueueRow.task_id == task_id, TaskQueueRow.claimed_by == worker)
                .values(claimed_until=utcnow() + timedelta(seconds=lease))
            )
            return bool(changed.rowcount)  # type: ignore[attr-defined]

        return await self.database.run(work, write=True)

    async def note(self, task_id: str, worker: str, error: str) -> None:
        """Remember why an attempt stopped, for the next one's message."""

        def work(session: Session) -> None:
            session.execute(
                update(TaskQueueRow)
                .where(TaskQueueRow.task_id == task_id, TaskQueueRow.claimed_by == worker)
                .values(last_error=error[:2000])
            )

        await self.database.run(work, write=True)

    async def save(self, task: Task) -> Task:
        def work(session: Session) -> None:
            _write(session, task, new=False)
            self._task_event(session, task)

        await self.database.run(work, write=True)
        self.images._committed(("task.update",))
        return task

    async def finish(
        self,
        task: Task,
        *,
        image: Image | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image | None:
        """Write the finished ``task`` and take it off the queue; with ``image``, save
        it too (unless it changed since ``expect``), and end its quota reservation."""
        if image is not None:
            image.updated_at = utcnow()

        def work(session: Session) -> Image | None:
            saved = None
            if image is not None:
                saved = SqlImageRepository._save(session, image, None, expect)
                session.execute(
                    delete(UploadReservationRow).where(UploadReservationRow.image_id == image.id)
                )
                self.images._record(session, saved, events)
            _write(session, task, new=False)
            if task.finished:
                self._task_event(session, task)
            session.execute(delete(TaskQueueRow).where(TaskQueueRow.task_id == task.id))
            return saved

        saved = await self.database.run(work, write=True)
        self.images._committed(("task.finish",))
        return saved

    async def expire(self, now: datetime) -> int:
        """Soft-delete finished tasks whose time to live is over."""

        def work(session: Session) -> int:
            result = session.execute(
                update(TaskRow)
                .where(TaskRow.deleted == false(), TaskRow.expires_at < now)
                .values(deleted=True, deleted_at=now)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

        return await self.database.run(work, write=True)
