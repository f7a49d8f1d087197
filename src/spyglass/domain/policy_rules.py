"""A small evaluator for oslo.policy check strings.

Operators override authorization with ``policy.yaml``/``policy.json`` files in
oslo.policy's language, so the defaults are written in it too and one evaluator
serves both. Supported: ``role:X``, ``rule:X``, ``@``, ``!``, the empty string,
``attr:%(key)s`` and ``attr:constant`` (credential vs target or constant),
``'literal':%(key)s``, ``and``/``or``/``not`` and parentheses, and the legacy
list-of-lists form (an OR of ANDs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from spyglass.errors import ConfigError

Check = Callable[[Mapping[str, Any], Mapping[str, Any], "RuleLookup"], bool]
RuleLookup = Callable[[str], "Check"]

_TOKEN = re.compile(r"\s*(\(|\)|(?:%\(\w+\)s|[^\s()])+)")


def compile_rule(text: Any) -> Check:
    """Parse one rule (a string, or a legacy list of lists) into a callable."""
    if isinstance(text, list):
        alternatives = [[compile_rule(item) for item in group] for group in text]
        return lambda target, creds, lookup: (
            (not alternatives)
            or any(all(c(target, creds, lookup) for c in group) for group in alternatives)
        )
    if not isinstance(text, str):
        raise ConfigError(f"policy rule must be a string, not {text!r}")
    tokens = _TOKEN.findall(text)
    if not tokens:
        return lambda target, creds, lookup: True
    parser = _Parser(tokens, text)
    check = parser.expression()
    if parser.position != len(tokens):
        raise ConfigError(f"cannot parse policy rule {text!r}")
    return check


class _Parser:
    """Recursive descent: or-expression of and-expressions of (not) atoms."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ConfigError(f"unexpected end of policy rule {self.text!r}")
        self.position += 1
        return token

    def expression(self) -> Check:
        parts = [self._conjunction()]
        while self._peek() == "or":
            self._take()
            parts.append(self._conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda t, c, lookup: any(p(t, c, lookup) for p in parts)

    def _conjunction(self) -> Check:
        parts = [self._negation()]
        while self._peek() == "and":
            self._take()
            parts.append(self._negation())
        if len(parts) == 1:
            return parts[0]
        return lambda t, c, lookup: all(p(t, c, lookup) for p in parts)

    def _negation(self) -> Check:
        if self._peek() == "not":
            self._take()
            inner = self._negation()
            return lambda t, c, lookup: not inner(t, c, lookup)
        return self._atom()

    def _atom(self) -> Check:
        token = self._take()
        if token == "(":
            inner = self.expression()
            if self._take() != ")":
                raise ConfigError(f"unbalanced parentheses in policy rule {self.text!r}")
            return inner
        return _simple_check(token, self.text)


def _simple_check(token: str, text: str) -> Check:
    if token == "@":
        return lambda t, c, lookup: True
    if token == "!":
        return lambda t, c, lookup: False
    kind, sep, match = token.partition(":")
    if not sep:
        raise ConfigError(f"cannot parse policy check {token!r} in {text!r}")
    if kind == "rule":
        return lambda t, c, lookup: lookup(match)(t, c, lookup)
    if kind == "role":
        wanted = match.lower()
        return lambda t, c, lookup: wanted in {r.lower() for r in c.get("roles", ())}
    return _generic_check(kind, match)


def _generic_check(kind: str, match: str) -> Check:
    template = re.fullmatch(r"%\((\w+)\)s", match)

    def right(target: Mapping[str, Any]) -> Any:
        if template:
            return target.get(template.group(1))
        return match

    if kind[:1] in ("'", '"') and kind[-1:] == kind[:1]:
        literal = kind[1:-1]
        return lambda t, c, lookup: str(right(t)) == literal

    def check(target: Mapping[str, Any], creds: Mapping[str, Any], lookup: RuleLookup) -> bool:
        have, want = creds.get(kind), right(target)
        if have is None or want is None:
            return False
        if isinstance(have, bool):
            return str(have).lower() == str(want).lower()
        return str(have) == str(want)

    return check
