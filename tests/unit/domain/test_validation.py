"""Schema patterns are matched as JSON Schema means them (ECMA 262), not as Python does."""

from __future__ import annotations

import pytest

from spyglass.domain.schemas import UUID_PATTERN
from spyglass.domain.validation import SchemaValidator, ecma_pattern
from spyglass.errors import BadRequest

ID = "8f6a3c2e-5d4b-4a1f-9e7c-0b1a2c3d4e5f"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (UUID_PATTERN, ID, True),
        (UUID_PATTERN, ID + "\n", False),  # Python's $ matches before a final newline
        (r"^a$", "a\n", False),
        (r"^a[$]$", "a$", True),  # a $ in a class is a dollar sign
        (r"^a\$$", "a$", True),  # and so is an escaped one
        (r"^a\$$", "a$\n", False),
        (r"^a|b$", "xb\n", False),
    ],
)
def test_dollar_means_the_end_of_the_string(pattern: str, text: str, matches: bool) -> None:
    assert bool(ecma_pattern(pattern).search(text)) is matches


def test_the_validator_refuses_an_id_with_a_final_newline() -> None:
    validator = SchemaValidator({"name": "image", "properties": {"id": {"pattern": UUID_PATTERN}}})
    validator.validate({"id": ID})
    with pytest.raises(BadRequest, match="does not match"):
        validator.validate({"id": ID + "\n"})
