"""The repositories a process works with: the database's own, or the registry's.

``data_api`` chooses, as upstream's option does: ``glance.db.sqlalchemy.api``
(the default) talks to the database directly; ``glance.db.registry.api`` sends
every repository call to ``spyglass registry``. Services cannot tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from spyglass.config import Settings
from spyglass.db.deletions import SqlDeletionQueue
from spyglass.db.engine import Database
from spyglass.db.images import SqlImageRepository
from spyglass.db.leases import SqlTransferLeases
from spyglass.db.members import SqlMemberRepository
from spyglass.db.metadefs import SqlMetadefRepository
from spyglass.db.outbox import Outbox
from spyglass.db.tasks import SqlTaskRepository
from spyglass.errors import ConfigError
from spyglass.services.metadef_ports import MetadefRepository
from spyglass.services.ports import (
    DeletionQueue,
    EventLog,
    ImageRepository,
    MemberRepository,
    TransferLeases,
)
from spyglass.services.tasks_ports import TaskRepository

if TYPE_CHECKING:
    from spyglass.registry.connection import RegistryConnection

DIRECT = "glance.db.sqlalchemy.api"
REGISTRY = "glance.db.registry.api"


@dataclass(frozen=True, slots=True)
class Repositories:
    images: ImageRepository
    members: MemberRepository
    deletions: DeletionQueue
    metadefs: MetadefRepository
    leases: TransferLeases
    tasks: TaskRepository
    """Import tasks and their queue: every API server's workers claim from the same one."""
    events: EventLog | None
    """Where events with no other write go (``image.send``); ``None`` records none."""


def uses_registry(settings: Settings) -> bool:
    """Whether ``data_api`` sends repository calls to the registry."""
    data_api = str(settings.option("DEFAULT", "data_api"))
    if data_api not in (DIRECT, REGISTRY):
        raise ConfigError(f"data_api: {data_api!r} is not supported (use {DIRECT} or {REGISTRY})")
    return data_api == REGISTRY


def sql_repositories(database: Database, outbox: Outbox | None) -> Repositories:
    """The database's repositories; ``outbox`` records the events of their writes."""
    return Repositories(
        images=SqlImageRepository(database, outbox),
        members=SqlMemberRepository(database, outbox),
        deletions=SqlDeletionQueue(database),
        metadefs=SqlMetadefRepository(database),
        leases=SqlTransferLeases(database),
        tasks=SqlTaskRepository(database, outbox),
        events=outbox,
    )


def remote_repositories(rpc: RegistryConnection, *, events: bool) -> Repositories:
    """The registry's repositories over ``rpc``; ``events`` sends ``image.send`` and the like."""
    from spyglass.registry.client import (
        RemoteDeletionQueue,
        RemoteEventLog,
        RemoteImageRepository,
        RemoteMemberRepository,
        RemoteTransferLeases,
    )
    from spyglass.registry.metadefs_client import RemoteMetadefRepository
    from spyglass.registry.tasks_client import RemoteTaskRepository

    return Repositories(
        images=RemoteImageRepository(rpc),
        members=RemoteMemberRepository(rpc),
        deletions=RemoteDeletionQueue(rpc),
        metadefs=RemoteMetadefRepository(rpc),
        leases=RemoteTransferLeases(rpc),
        tasks=RemoteTaskRepository(rpc),
        events=RemoteEventLog(rpc) if events else None,
    )


def configured_repositories(
    settings: Settings, database: Database, outbox: Outbox | None = None, *, events: bool = False
) -> tuple[Repositories, RegistryConnection | None]:
    """The repositories ``data_api`` names, and the registry connection to close after use
    (``None`` when they are the database's)."""
    if not uses_registry(settings):
        return sql_repositories(database, outbox), None
    from spyglass.registry.connection import RegistryAddress, RegistryConnection

    rpc = RegistryConnection(RegistryAddress.from_settings(settings))
    return remote_repositories(rpc, events=events), rpc
