"""Sample configuration files, generated from the option declarations (``oslo-config-generator``).

Operators start from a file that lists every option a service reads, commented out at its
default with a one-line help, so that the samples in ``etc/`` can never drift from the code: a
test compares them with :func:`render` and ``make sample`` rewrites them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from spyglass.config.ini import DEFAULT_SECTION
from spyglass.config.opt import Kind, Opt
from spyglass.config.options import OPTIONS
from spyglass.config.opts_glance import REGISTRY_NAMES
from spyglass.config.opts_oslo import LOGGING_NAMES

__all__ = ["SERVICES", "options_for", "render", "render_value"]

_REGISTRY_SECTIONS = frozenset(
    {"database", "keystone_authtoken", "paste_deploy", "oslo_policy"}
    | {"oslo_messaging_notifications"}
)


def _api(opt: Opt) -> bool:
    return True


def _registry(opt: Opt) -> bool:
    if opt.section == DEFAULT_SECTION:
        return opt.name in REGISTRY_NAMES or opt.name in LOGGING_NAMES
    return opt.section in _REGISTRY_SECTIONS


_CACHE_SECTIONS = frozenset({"database", "glance_store", "paste_deploy"})


def _cache(opt: Opt) -> bool:
    """What ``spyglass cache`` reads: the cache, the database, the stores and logging."""
    if opt.section == DEFAULT_SECTION:
        return (
            opt.name.startswith(("image_cache_", "cache_"))
            or opt.name in LOGGING_NAMES
            or opt.name == "worker_self_reference_url"
        )
    return opt.section in _CACHE_SECTIONS


SERVICES: dict[str, Callable[[Opt], bool]] = {
    "api": _api,
    "cache": _cache,
    "registry": _registry,
}
"""Service name -> which declared options its ``glance-<service>.conf`` holds."""

_SERVICE_DEFAULTS: dict[str, dict[tuple[str, str], object]] = {
    "registry": {(DEFAULT_SECTION, "bind_port"): 9191},
}
"""Defaults a service has that differ from the option's own (the registry's port)."""

_KIND_NAMES = {
    Kind.STR: "string",
    Kind.INT: "integer",
    Kind.BOOL: "boolean",
    Kind.FLOAT: "floating point",
    Kind.LIST: "list",
    Kind.DICT: "key:value pairs",
    Kind.MULTISTR: "repeatable",
    Kind.PORT: "port",
}


def options_for(service: str) -> list[Opt]:
    """The options of ``service``, ``[DEFAULT]`` first, then sections alphabetically."""
    wanted = SERVICES[service]
    chosen = [opt for opt in OPTIONS if wanted(opt)]
    return sorted(chosen, key=lambda o: (o.section != DEFAULT_SECTION, o.section.lower()))


def render_value(value: object) -> str:
    """A default as it would be written in a file; ``<None>`` for "unset", as upstream."""
    if value is None:
        return "<None>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return str(value)


def _describe(opt: Opt) -> str:
    facts = [f"{_KIND_NAMES[opt.kind]} value"]
    if opt.min is not None and opt.max is not None:
        facts.append(f"from {opt.min} to {opt.max}")
    elif opt.min is not None:
        facts.append(f"at least {opt.min}")
    elif opt.max is not None:
        facts.append(f"at most {opt.max}")
    if opt.choices is not None:
        facts.append("one of: " + ", ".join(opt.choices))
    if opt.secret:
        facts.append("secret")
    return f"# {opt.help} ({'; '.join(facts)})"


def _entry(opt: Opt, default: object) -> list[str]:
    lines = [_describe(opt)]
    if opt.deprecated:
        lines.append("# Also read as: " + ", ".join(f"[{s}] {n}" for s, n in opt.deprecated))
    lines.append(f"#{opt.name} = {render_value(default)}".rstrip())
    return lines


def _sections(opts: Iterable[Opt]) -> dict[str, list[Opt]]:
    sections: dict[str, list[Opt]] = {}
    for opt in opts:
        sections.setdefault(opt.section, []).append(opt)
    return sections


def render(service: str) -> str:
    """The text of ``glance-<service>.conf``; :class:`KeyError` for an unknown service."""
    defaults = _SERVICE_DEFAULTS.get(service, {})
    lines = [
        f"# glance-{service}.conf: every option Spyglass's {service} service reads, commented",
        "# out at its default. Generated from the option declarations by",
        f"# `spyglass config sample --service {service}` (`make sample`); do not edit by hand.",
        "# Store options also go in the per-backend sections named by enabled_backends.",
    ]
    for section, opts in _sections(options_for(service)).items():
        lines += ["", f"[{section}]"]
        for opt in opts:
            lines += ["", *_entry(opt, defaults.get(opt.key, opt.default))]
    return "\n".join(lines) + "\n"
