"""The registry's wire contract: one ``POST /rpc/<port>.<method>`` per repository call.

The calls are derived from the repository Protocols themselves (``services.ports``,
``services.metadef_ports``, ``services.tasks_ports``), so the registry cannot drift from
what the services need: a new port method is a new call. Arguments travel as one JSON
object keyed by parameter name, the result as the JSON body of a ``200``; domain values
(``Image``, ``ListQuery``...) are encoded by msgspec from their dataclasses and decoded
back into the same types. A failure is the error's HTTP status with ``{"error": {"class",
"message"}}``, re-raised by the client as the same ``spyglass.errors`` class.

Metadef children (objects, properties, tags) share one parameter type, a union of
three dataclasses that JSON alone cannot tell apart, so they travel tagged with their
kind.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

import msgspec

from spyglass import errors
from spyglass.domain.metadefs import MetadefObject, MetadefProperty, MetadefTag
from spyglass.errors import SpyglassError
from spyglass.services.metadef_ports import Child, ChildKind, MetadefRepository
from spyglass.services.ports import (
    DeletionQueue,
    EventLog,
    ImageRepository,
    MemberRepository,
    TransferLeases,
)
from spyglass.services.tasks_ports import TaskRepository

PORTS: dict[str, type] = {
    "images": ImageRepository,
    "members": MemberRepository,
    "deletions": DeletionQueue,
    "leases": TransferLeases,
    "events": EventLog,
    "metadefs": MetadefRepository,
    "tasks": TaskRepository,
}
"""Port name (the first part of a call's name) -> the Protocol the registry serves."""

_KINDS: dict[type, ChildKind] = {
    MetadefObject: ChildKind.OBJECTS,
    MetadefProperty: ChildKind.PROPERTIES,
    MetadefTag: ChildKind.TAGS,
}
_CLASSES = {kind: cls for cls, kind in _KINDS.items()}

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


def _encode_child(child: Any) -> Any:
    return None if child is None else {"kind": _KINDS[type(child)], "value": child}


def _decode_child(raw: Any) -> Any:
    if raw is None:
        return None
    return msgspec.convert(raw["value"], _CLASSES[ChildKind(raw["kind"])])


def _codec(hint: Any) -> tuple[Encode, Decode]:
    """How one parameter or result of this type is put on the wire and read back."""
    if hint == Child or hint == Child | None:
        return _encode_child, _decode_child
    if hint == Sequence[Child]:
        return (lambda seq: [_encode_child(c) for c in seq]), (
            lambda raw: [_decode_child(c) for c in raw]
        )
    if hint is None or hint is type(None):
        return (lambda value: None), (lambda raw: None)
    return (lambda value: value), (lambda raw: msgspec.convert(raw, hint))


@dataclass(frozen=True, slots=True)
class Call:
    """One repository method as a registry call."""

    name: str
    port: str
    method: str
    params: dict[str, tuple[Encode, Decode]]
    defaults: dict[str, Any]
    result: tuple[Encode, Decode]
    positional: tuple[str, ...]
    """Parameters passed by position (implementations may name them differently)."""
    reads: bool
    """Changes nothing: safe to send again when a pooled connection broke mid-call."""

    def encode_args(self, args: dict[str, Any]) -> bytes:
        return msgspec.json.encode({k: self.params[k][0](v) for k, v in args.items()})

    def decode_args(self, body: bytes) -> dict[str, Any]:
        """The keyword arguments, typed; ``BadRequest`` for anything else."""
        try:
            raw = msgspec.json.decode(body) if body else {}
            if not isinstance(raw, dict) or not set(raw) <= set(self.params):
                raise errors.BadRequest(f"{self.name}: unknown arguments")
            args = {**self.defaults, **{k: self.params[k][1](v) for k, v in raw.items()}}
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError) as exc:
            raise errors.BadRequest(f"{self.name}: malformed arguments: {exc}") from None
        if set(args) != set(self.params):
            raise errors.BadRequest(f"{self.name}: missing arguments")
        return args

    async def run(self, method: Callable[..., Awaitable[Any]], args: dict[str, Any]) -> Any:
        """Call an implementation's method as the Protocol declares it."""
        keywords = {k: v for k, v in args.items() if k not in self.positional}
        return await method(*(args[name] for name in self.positional), **keywords)

    def encode_result(self, value: Any) -> bytes:
        return msgspec.json.encode(self.result[0](value))

    def decode_result(self, body: bytes) -> Any:
        return self.result[1](msgspec.json.decode(body))


_READS = ("get", "list", "find", "count", "usage", "location_in_use", "contents", "export",
          "pending_deletes")  # fmt: skip


def _calls() -> dict[str, Call]:
    calls: dict[str, Call] = {}
    for port, protocol in PORTS.items():
        for method, function in inspect.getmembers(protocol, inspect.isfunction):
            if method.startswith("_"):
                continue
            hints = get_type_hints(function)
            result = _codec(hints.pop("return"))
            signature = inspect.signature(function)
            defaults = {
                name: p.default
                for name, p in signature.parameters.items()
                if name != "self" and p.default is not inspect.Parameter.empty
            }
            calls[f"{port}.{method}"] = Call(
                name=f"{port}.{method}",
                port=port,
                method=method,
                params={name: _codec(hint) for name, hint in hints.items()},
                defaults=defaults,
                result=result,
                positional=tuple(
                    name
                    for name, p in signature.parameters.items()
                    if name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                ),
                reads=method.startswith(_READS),
            )
    return calls


CALLS: dict[str, Call] = _calls()
"""Every call the registry answers, by name (``images.get``, ``metadefs.add_child``...)."""


def _error_classes() -> dict[str, type[SpyglassError]]:
    found = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, SpyglassError):
            found[value.__name__] = value
    return found


ERRORS = _error_classes()

_BY_STATUS: dict[int, type[SpyglassError]] = {
    400: errors.BadRequest,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.TooLarge,
    503: errors.ServiceUnavailable,
}


def encode_error(exc: SpyglassError) -> bytes:
    return msgspec.json.encode({"error": {"class": type(exc).__name__, "message": exc.message}})


def decode_error(status: int, body: bytes) -> SpyglassError:
    """The error a registry answer describes, as the class the registry raised."""
    try:
        detail = msgspec.json.decode(body)["error"]
        name, message = str(detail["class"]), str(detail["message"])
    except (msgspec.DecodeError, KeyError, TypeError):
        name, message = "", f"The registry answered {status} without an error document."
    cls = ERRORS.get(name) or _BY_STATUS.get(status, SpyglassError)
    return cls(message)
