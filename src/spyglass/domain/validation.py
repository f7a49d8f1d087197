"""Validate request documents against the published image schema.

The schema clients download is the one enforced, so a value the client-side
check accepts is accepted here too (and the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from spyglass.errors import BadRequest


class SchemaValidator:
    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema = dict(schema)
        self._validator = jsonschema.Draft4Validator(self._schema)
        self._properties: Mapping[str, Any] = self._schema["properties"]
        self._name = self._schema.get("name", "object")

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
