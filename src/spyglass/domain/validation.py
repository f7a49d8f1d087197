"""Validate request documents against the published image schema.

The schema clients download is the one enforced, so a value the client-side
check accepts is accepted here too (and the other way round).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from spyglass.errors import BadRequest
from spyglass.lazy import lazy_module

if TYPE_CHECKING:
    import jsonschema
else:
    jsonschema = lazy_module("jsonschema")  # loaded by the first validation


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a JSON-schema ``pattern`` with ECMA 262's meaning of ``$``: the end of the
    string. In Python ``$`` also matches before a final newline, so an id ending in
    ``\\n`` passed the UUID pattern and made an image nothing could address."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _validator_class() -> Any:
    return jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft4Validator, {"pattern": _pattern}
    )


class SchemaValidator:
    """Checks documents against one schema, compiled on the first check (start-up builds
    validators that many servers never use: metadefs, tasks...)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema = dict(schema)
        self._properties: Mapping[str, Any] = self._schema["properties"]
        self._name = self._schema.get("name", "object")

    @functools.cached_property
    def _validator(self) -> Any:
        return _validator_class()(self._schema)

    def validate(self, document: Mapping[str, Any]) -> None:
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
        if error is not None:
            raise BadRequest(
                f"Provided object does not match schema '{self._name}': {error.message}"
            )

    def validate_property(self, name: str, value: Any) -> None:
        """Check one base property's value (used by PATCH before applying it)."""
        if name in self._properties:
            self.validate({name: value})
