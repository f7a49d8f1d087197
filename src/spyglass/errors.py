"""The one exception hierarchy of Spyglass.

Every error carries a machine-readable ``code`` and the HTTP status it maps to,
so that the core never imports HTTP types: ``api/errors.py`` is the only place
that turns these into responses.
"""

from __future__ import annotations


class SpyglassError(Exception):
    """Base of every error Spyglass raises on purpose."""

    code: str = "error"
    http_status: int = 500
    default_message: str = "An unexpected error occurred."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class ConfigError(SpyglassError):
    """A configuration file or value is unusable; the process must not start."""

    code = "config_error"


class BadRequest(SpyglassError):
    """The request is malformed or a value is invalid."""

    code = "bad_request"
    http_status = 400
    default_message = "The request is invalid."


class InvalidSortKey(BadRequest):
    code = "invalid_sort_key"


class InvalidFilter(BadRequest):
    code = "invalid_filter"


class MissingFormat(BadRequest):
    """Data was sent before ``disk_format`` and ``container_format`` were set."""

    code = "missing_format"


class SizeMismatch(BadRequest):
    """The body's length differs from the size the client declared."""

    code = "size_mismatch"


class Unauthorized(SpyglassError):
    code = "unauthorized"
    http_status = 401
    default_message = "Authentication is required."


class Forbidden(SpyglassError):
    """The caller may see the resource but not perform this action."""

    code = "forbidden"
    http_status = 403
    default_message = "You are not authorized to complete this action."


class ReadOnlyProperty(Forbidden):
    code = "read_only_property"


class ReservedProperty(Forbidden):
    code = "reserved_property"


class NotFound(SpyglassError):
    code = "not_found"
    http_status = 404
    default_message = "The resource could not be found."


class ImageNotFound(NotFound):
    code = "image_not_found"


class Conflict(SpyglassError):
    """The resource's current state does not allow this request."""

    code = "conflict"
    http_status = 409
    default_message = "There was a conflict when trying to complete your request."


class InvalidTransition(Conflict):
    """The image status state machine does not allow this move."""

    code = "invalid_status_transition"


class Duplicate(Conflict):
    code = "duplicate"


class ConcurrentUpdate(Conflict):
    """Someone else changed the image between our read and our write; read again."""

    code = "concurrent_update"
    default_message = "The image was changed by another request; try again."


class InUse(Conflict):
    """The store refuses to delete the data while something outside Spyglass uses it
    (clones of an RBD snapshot made by Nova or Cinder)."""

    code = "in_use"
    default_message = "The image data is in use by the store and cannot be deleted."


class Gone(SpyglassError):
    code = "gone"
    http_status = 410
    default_message = "The resource is no longer available."


class TooLarge(SpyglassError):
    """Size caps, quotas or a full store."""

    code = "too_large"
    http_status = 413
    default_message = "The request entity is too large."


class ImageTooLarge(TooLarge):
    code = "image_too_large"


class StorageFull(TooLarge):
    code = "storage_full"


class UnsupportedMediaType(SpyglassError):
    code = "unsupported_media_type"
    http_status = 415
    default_message = "Unsupported Content-Type."


class RangeNotSatisfiable(SpyglassError):
    code = "range_not_satisfiable"
    http_status = 416
    default_message = "Requested range not satisfiable."


class HeaderTooLarge(SpyglassError):
    code = "header_too_large"
    http_status = 431
    default_message = "A request header is too large."


class StorageWriteDenied(SpyglassError):
    """The store refused to write (permissions); an operator must act."""

    code = "storage_write_denied"
    http_status = 503
    default_message = "Insufficient permissions on the image storage media."


class StoreUnavailable(SpyglassError):
    """The store's backend cannot be reached now; clients may retry later."""

    code = "store_unavailable"
    http_status = 503
    default_message = "The image store is unavailable."
    retry_after: int = 30
    """Seconds a client should wait before retrying (the ``Retry-After`` header)."""


class StoreMisconfigured(StoreUnavailable):
    """The store's configuration is wrong for writing (bad credentials, missing
    bucket): the server keeps serving with that store read-only."""

    code = "store_misconfigured"
    default_message = "The image store is misconfigured."


class BadStoreUri(SpyglassError):
    """A location URI cannot be parsed or points outside its store."""

    code = "bad_store_uri"
    http_status = 400
    default_message = "Invalid location."


class OutboundDenied(BadRequest):
    """The operator's outbound rules refuse a URL (or a redirect to one)."""

    code = "outbound_denied"
    default_message = "The URL is not allowed by this server's outbound request rules."


class RemoteUnavailable(StoreUnavailable):
    """A remote server (an HTTP location, a copy-from URL) did not answer in time."""

    code = "remote_unavailable"
    default_message = "The remote server holding the image data is unavailable."


class RemoteRefused(BadStoreUri):
    """A remote server answered a request for image data with an error."""

    code = "remote_refused"
    default_message = "The remote server refused the request for the image data."


class ServiceUnavailable(SpyglassError):
    """A service the request needs (database, registry) cannot answer right now.

    ``retry_after`` seconds become the response's ``Retry-After``: the condition is
    expected to pass by itself (a restart, a failover), so clients should retry.
    """

    code = "service_unavailable"
    http_status = 503
    default_message = "The server is currently unavailable. Please try again at a later time."
    retry_after: int | None = 5


class RegistryUnavailable(ServiceUnavailable):
    """The registry server is unreachable, or did not answer within its timeout."""

    code = "registry_unavailable"
    default_message = "The image registry is unavailable. Please try again later."


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached, refused our credentials, or has no free connection."""

    code = "database_unavailable"
    default_message = "The image database is unavailable. Please try again later."
