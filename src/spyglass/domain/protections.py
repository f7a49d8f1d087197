"""Property protections: who may create, read, update or delete which properties.

An operator's ``property_protection_file`` lists regular expressions in order;
the first that matches a property name decides, by roles (``@`` everyone,
``!`` nobody) or, with ``property_protection_rule_format = policies``, by
policy rule names. A property no rule matches is protected from everyone, as
upstream does. Base image fields are never subject to these rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from spyglass.context import RequestContext
from spyglass.errors import ConfigError


class PropertyAction(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    allowed: Mapping[PropertyAction, tuple[str, ...]]


class PropertyProtections:
    """Compiled rules; ``policy_check`` evaluates a rule name in ``policies`` format."""

    def __init__(
        self,
        sections: Sequence[tuple[str, Mapping[str, str]]],
        *,
        use_policies: bool = False,
        policy_check: Callable[[str, RequestContext], bool] | None = None,
    ) -> None:
        self.use_policies = use_policies
        self.policy_check = policy_check
        self.rules = [self._compile(name, values) for name, values in sections]

    @staticmethod
    def _compile(name: str, values: Mapping[str, str]) -> _Rule:
        try:
            pattern = re.compile(name)
        except re.error as exc:
            raise ConfigError(f"property protection [{name}]: invalid expression: {exc}") from None
        allowed: dict[PropertyAction, tuple[str, ...]] = {}
        for action in PropertyAction:
            if action.value not in values:
                raise ConfigError(f"property protection [{name}]: missing '{action.value}'")
            allowed[action] = tuple(v.strip() for v in values[action.value].split(",") if v.strip())
        return _Rule(pattern, allowed)

    def allows(self, name: str, action: PropertyAction, ctx: RequestContext) -> bool:
        for rule in self.rules:
            if rule.pattern.search(name):
                return self._grants(rule.allowed[action], ctx)
        return False

    def _grants(self, entries: tuple[str, ...], ctx: RequestContext) -> bool:
        if "!" in entries:
            return False
        if "@" in entries:
            return True
        if self.use_policies and self.policy_check is not None:
            return any(self.policy_check(entry, ctx) for entry in entries)
        roles = {r.lower() for r in ctx.roles}
        return any(entry.lower() in roles for entry in entries)
