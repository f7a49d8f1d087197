"""SQLAlchemy models on Glance's table, column and index names.

Matching upstream's schema lets an existing Glance database be adopted and lets
operators keep their SQL habits. Every table soft-deletes (``deleted`` and
``deleted_at``), as upstream's do.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class _SoftDelete:
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ImageRow(_SoftDelete, Base):
    __tablename__ = "images"
    __table_args__ = (
        Index("checksum_image_idx", "checksum"),
        Index("visibility_image_idx", "visibility"),
        Index("ix_images_deleted", "deleted"),
        Index("owner_image_idx", "owner"),
        Index("created_at_image_idx", "created_at"),
        Index("updated_at_image_idx", "updated_at"),
        Index("os_hidden_image_idx", "os_hidden"),
        Index("os_hash_value_image_idx", "os_hash_value"),
        Index("ix_images_list_created_at", "deleted", "os_hidden", "created_at", "id"),
        Index(
            "ix_images_list_updated_at", "deleted", "os_hidden", "updated_at", "created_at", "id"
        ),
        Index("ix_images_list_name", "deleted", "os_hidden", "name", "created_at", "id"),
        Index("ix_images_list_size", "deleted", "os_hidden", "size", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(30), nullable=False)
    visibility: Mapped[str] = mapped_column(
        Enum("private", "public", "shared", "community", name="image_visibility"),
        nullable=False,
        server_default="shared",
    )
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    min_disk: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    owner: Mapped[str | None] = mapped_column(String(255))
    protected: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    os_hidden: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )


class ImagePropertyRow(_SoftDelete, Base):
    __tablename__ = "image_properties"
    __table_args__ = (
        Index("ix_image_properties_image_id", "image_id"),
        Index("ix_image_properties_deleted", "deleted"),
        Index("ix_image_properties_image_id_deleted", "image_id", "deleted"),
        UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
        Index("ix_image_properties_name_value", "name", "value", mysql_length={"value": 255}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str | None] = mapped_column(Text)


class ImageTagRow(_SoftDelete, Base):
    __tablename__ = "image_tags"
    __table_args__ = (
        Index("ix_image_tags_image_id", "image_id"),
        Index("ix_image_tags_image_id_tag_value", "image_id", "value"),
        Index("ix_image_tags_value", "value"),
        Index("ix_image_tags_image_id_deleted", "image_id", "deleted"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id"), nullable=False)
    value: Mapped[str] = mapped_column(String(255), nullable=False)


class ImageLocationRow(_SoftDelete, Base):
    __tablename__ = "image_locations"
    __table_args__ = (
        Index("ix_image_locations_image_id", "image_id"),
        Index("ix_image_locations_deleted", "deleted"),
        Index("ix_image_locations_image_id_deleted", "image_id", "deleted"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id"), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    meta_data: Mapped[str | None] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(
        String(30), nullable=False, default="active", server_default="active"
    )


class ImageMemberRow(_SoftDelete, Base):
    __tablename__ = "image_members"
    __table_args__ = (
        Index("ix_image_members_deleted", "deleted"),
        Index("ix_image_members_image_id", "image_id"),
        Index("ix_image_members_image_id_member", "image_id", "member"),
        Index("ix_image_members_image_id_member_deleted", "image_id", "member", "deleted"),
        UniqueConstraint(
            "image_id", "member", "deleted_at", name="image_members_image_id_member_deleted_at_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id"), nullable=False)
    member: Mapped[str] = mapped_column(String(255), nullable=False)
    can_share: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="pending", server_default="pending"
    )


class UploadReservationRow(Base):
    """Bytes an upload in progress holds against its owner's ``user_storage_quota``.

    Spyglass's own table (upstream has none): concurrent uploads reserve their
    bytes here while they stream, so their sum can never pass the quota. A row
    counts only while its image is ``saving``.
    """

    __tablename__ = "spyglass_upload_reservations"
    __table_args__ = (Index("ix_spyglass_upload_reservations_owner", "owner"),)

    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class TransferLeaseRow(Base):
    """A live server's claim on an image whose data it is writing (``saving``).

    Spyglass's own table (upstream has none, and a crash leaves the image in
    ``saving`` for ever). The writer renews its lease while the bytes flow; an
    image in ``saving`` without a live lease belongs to a server that died, and
    any server may put it back to ``queued`` (``services/recovery.py``).
    """

    __tablename__ = "spyglass_transfer_leases"

    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class NotificationRow(Base):
    """A notification waiting for delivery: the outbox.

    Spyglass's own table (upstream sends straight to the broker and loses
    what it cannot send). Written in the same transaction as the change it
    describes; a publisher claims rows (``claimed_by`` until ``claimed_until``),
    publishes them in ``id`` order and deletes them once the broker confirms.
    """

    __tablename__ = "spyglass_notifications"
    __table_args__ = (
        Index("ix_spyglass_notifications_ordering_key", "ordering_key", "id"),
        Index("ix_spyglass_notifications_available_at", "available_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(String(255), nullable=False)
    priority: Mapped[str] = mapped_column(String(10), nullable=False)
    publisher_id: Mapped[str] = mapped_column(String(255), nullable=False)
    ordering_key: Mapped[str] = mapped_column(String(255), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    timestamp: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    available_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    """The request that caused the event, sent as the message's ``_context_request_id``."""


class NodeReferenceRow(Base):
    """One API server of the ``centralized_db`` image cache (upstream's table)."""

    __tablename__ = "node_reference"
    __table_args__ = (
        UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
    )

    node_reference_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    node_reference_url: Mapped[str] = mapped_column(String(255), nullable=False)


class CachedImageRow(Base):
    """An image file in one server's cache (``image_cache_driver = centralized_db``)."""

    __tablename__ = "cached_images"
    __table_args__ = (
        UniqueConstraint(
            "image_id", "node_reference_id", name="ix_cached_images_image_id_node_reference_id"
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    image_id: Mapped[str] = mapped_column(String(36), nullable=False)
    last_accessed: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_modified: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    checksum: Mapped[str | None] = mapped_column(String(32))
    node_reference_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("node_reference.node_reference_id"),
        nullable=False,
    )


class JsonText(TypeDecorator[Any]):
    """JSON kept in a TEXT column, as upstream's ``JSONEncodedDict`` keeps it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class _MetadefTimes:
    """Upstream's metadef tables have no soft delete."""

    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class MetadefNamespaceRow(_MetadefTimes, Base):
    __tablename__ = "metadef_namespaces"
    __table_args__ = (
        UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
        Index("ix_metadef_namespaces_owner", "owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(80), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str | None] = mapped_column(String(32))
    protected: Mapped[bool | None] = mapped_column(Boolean)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)


class MetadefObjectRow(_MetadefTimes, Base):
    __tablename__ = "metadef_objects"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id_name"),
        Index("ix_metadef_objects_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("metadef_namespaces.id"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    required: Mapped[str | None] = mapped_column(Text)
    json_schema: Mapped[Any] = mapped_column(JsonText, nullable=False)


class MetadefPropertyRow(_MetadefTimes, Base):
    __tablename__ = "metadef_properties"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_metadef_properties_namespace_id_name"),
        Index("ix_metadef_properties_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("metadef_namespaces.id"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    json_schema: Mapped[Any] = mapped_column(JsonText, nullable=False)


class MetadefTagRow(_MetadefTimes, Base):
    __tablename__ = "metadef_tags"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id_name"),
        Index("ix_metadef_tags_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("metadef_namespaces.id"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)


class MetadefResourceTypeRow(_MetadefTimes, Base):
    __tablename__ = "metadef_resource_types"
    __table_args__ = (UniqueConstraint("name", name="uq_metadef_resource_types_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    protected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class MetadefAssociationRow(_MetadefTimes, Base):
    """``metadef_namespace_resource_types``: a namespace tied to a resource type."""

    __tablename__ = "metadef_namespace_resource_types"
    __table_args__ = (Index("ix_metadef_ns_res_types_namespace_id", "namespace_id"),)

    resource_type_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("metadef_resource_types.id"), primary_key=True
    )
    namespace_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("metadef_namespaces.id"), primary_key=True
    )
    properties_target: Mapped[str | None] = mapped_column(String(80))
    prefix: Mapped[str | None] = mapped_column(String(80))


class TaskRow(_SoftDelete, Base):
    """Upstream's ``tasks`` table, unchanged."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_type", "type"),
        Index("ix_tasks_status", "status"),
        Index("ix_tasks_owner", "owner"),
        Index("ix_tasks_deleted", "deleted"),
        Index("ix_tasks_updated_at", "updated_at"),
        Index("ix_tasks_image_id", "image_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(30), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    image_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))


class TaskInfoRow(Base):
    """Upstream's ``task_info``: a task's JSON input and result, and its message."""

    __tablename__ = "task_info"

    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("tasks.id"), primary_key=True)
    input: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)


class TaskQueueRow(Base):
    """Tasks waiting to run or running: which worker holds one, until when.

    Spyglass's own table, so upstream's stay as they are. A row exists from
    the task's creation until it finishes; a lease that runs out (its worker
    died) makes the task claimable again.
    """

    __tablename__ = "spyglass_task_queue"
    __table_args__ = (Index("ix_spyglass_task_queue_available_at", "available_at"),)

    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("tasks.id"), primary_key=True)
    available_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    node: Mapped[str | None] = mapped_column(String(255))
    """The node whose staging area holds the task's data, if only one may run it."""
