"""``Settings``: the typed, frozen view of the configuration that the rest of Spyglass receives.

Nothing reads a global config object (style.md, habit 3): ``load_settings`` builds one
``Settings`` at startup and it is passed to constructors. The attributes cover what Spyglass
uses today; :meth:`Settings.option` reaches every other declared option, including those of
per-backend sections, so that adding an attribute later changes no file format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spyglass.config import options
from spyglass.config.ini import normalize_section
from spyglass.config.loader import Key, Resolved, read_files, resolve
from spyglass.config.opt import coerce
from spyglass.config.opts_glance import CONTAINER_FORMATS, DISK_FORMATS
from spyglass.errors import ConfigError

__all__ = ["FIELDS", "Settings", "load_settings"]

_D = "DEFAULT"
_STORE = "glance_store"

FIELDS: dict[str, tuple[str, str]] = {
    "bind_host": (_D, "bind_host"),
    "bind_port": (_D, "bind_port"),
    "workers": (_D, "workers"),
    "backlog": (_D, "backlog"),
    "public_endpoint": (_D, "public_endpoint"),
    "sql_connection": ("database", "connection"),
    "default_store": (_STORE, "default_store"),
    "stores": (_STORE, "stores"),
    "filesystem_store_datadir": (_STORE, "filesystem_store_datadir"),
    "enabled_backends": (_D, "enabled_backends"),
    "default_backend": (_STORE, "default_backend"),
    "image_size_cap": (_D, "image_size_cap"),
    "user_storage_quota": (_D, "user_storage_quota"),
    "hashing_algorithm": (_D, "hashing_algorithm"),
    "show_image_direct_url": (_D, "show_image_direct_url"),
    "show_multiple_locations": (_D, "show_multiple_locations"),
    "disk_formats": ("image_format", "disk_formats"),
    "container_formats": ("image_format", "container_formats"),
    "require_image_format_match": ("image_format", "require_image_format_match"),
    "limit_param_default": (_D, "limit_param_default"),
    "api_limit_max": (_D, "api_limit_max"),
    "enabled_import_methods": (_D, "enabled_import_methods"),
    "image_member_quota": (_D, "image_member_quota"),
    "image_property_quota": (_D, "image_property_quota"),
    "image_tag_quota": (_D, "image_tag_quota"),
    "image_location_quota": (_D, "image_location_quota"),
    "max_request_id_length": (_D, "max_request_id_length"),
    "flavor": ("paste_deploy", "flavor"),
    "notifier_strategy": (_D, "notifier_strategy"),
    "notification_driver": ("oslo_messaging_notifications", "driver"),
    "registry_host": (_D, "registry_host"),
    "registry_port": (_D, "registry_port"),
    "registry_client_protocol": (_D, "registry_client_protocol"),
    "delayed_delete": (_D, "delayed_delete"),
    "scrub_time": (_D, "scrub_time"),
    "image_cache_dir": (_D, "image_cache_dir"),
    "image_cache_max_size": (_D, "image_cache_max_size"),
    "image_cache_stall_time": (_D, "image_cache_stall_time"),
    "debug": (_D, "debug"),
    "verbose": (_D, "verbose"),
    "log_file": (_D, "log_file"),
    "log_dir": (_D, "log_dir"),
    "log_config_append": (_D, "log_config_append"),
    "log_format": (_D, "log_format"),
    "log_date_format": (_D, "log_date_format"),
    "use_syslog": (_D, "use_syslog"),
    "syslog_log_facility": (_D, "syslog_log_facility"),
    "watch_log_file": (_D, "watch_log_file"),
    "default_log_levels": (_D, "default_log_levels"),
}
"""Settings attribute -> the option (section, name) it holds."""

_BY_OPTION: dict[Key, str] = {(normalize_section(s), n): attr for attr, (s, n) in FIELDS.items()}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, typed; defaults are upstream's (seed era where they differ)."""

    bind_host: str = "0.0.0.0"
    bind_port: int = 9292
    workers: int = 1
    backlog: int = 4096
    public_endpoint: str | None = None
    sql_connection: str | None = None
    default_store: str = "file"
    stores: tuple[str, ...] = ("file", "http")
    filesystem_store_datadir: str | None = None
    enabled_backends: dict[str, str] | None = None
    default_backend: str | None = None
    image_size_cap: int = 1099511627776
    user_storage_quota: str = "0"
    hashing_algorithm: str = "sha512"
    show_image_direct_url: bool = False
    show_multiple_locations: bool = False
    disk_formats: tuple[str, ...] = DISK_FORMATS
    container_formats: tuple[str, ...] = CONTAINER_FORMATS
    require_image_format_match: bool = True
    limit_param_default: int = 25
    api_limit_max: int = 1000
    enabled_import_methods: tuple[str, ...] = ("glance-direct", "web-download", "copy-image")
    image_member_quota: int = 128
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_location_quota: int = 10
    max_request_id_length: int = 64
    flavor: str | None = None
    notifier_strategy: str = "noop"
    """The classic strategy; upstream's ``default`` is reported as ``noop``, which it meant."""
    notification_driver: tuple[str, ...] = ()
    registry_host: str = "0.0.0.0"
    registry_port: int = 9191
    registry_client_protocol: str = "http"
    delayed_delete: bool = False
    scrub_time: int = 0
    image_cache_dir: str | None = None
    image_cache_max_size: int = 10737418240
    image_cache_stall_time: int = 86400
    debug: bool = False
    verbose: bool = False
    log_file: str | None = None
    log_dir: str | None = None
    log_config_append: str | None = None
    log_format: str | None = None
    log_date_format: str = "%Y-%m-%d %H:%M:%S"
    use_syslog: bool = False
    syslog_log_facility: str = "LOG_USER"
    watch_log_file: bool = False
    default_log_levels: tuple[str, ...] | None = None
    sources: tuple[str, ...] = ()
    """The files read, in reading order."""
    _values: Mapping[Key, object] = field(default_factory=dict, repr=False, compare=False)
    _origins: Mapping[Key, str] = field(default_factory=dict, repr=False, compare=False)

    def option(self, section: str, name: str) -> object:
        """The typed value of any declared option, by current or deprecated spelling.

        Per-backend sections (named in ``enabled_backends``, plus Glance's reserved staging and
        tasks stores) answer for their driver's options. Anything else raises :class:`KeyError`.
        """
        key = self._key(section, name)
        if key in _BY_OPTION:
            return getattr(self, _BY_OPTION[key])
        if key in self._values:
            return self._values[key]
        opt = options.find(*key) or self._backend_opt(key)
        if opt is None:
            raise KeyError(f"[{section}] {name}")
        return opt.default

    def summary(self) -> dict[str, str]:
        """The settings in effect, as text, with passwords hidden (``spyglass config check``)."""
        shown: dict[str, str] = {}
        for attr, (section, name) in FIELDS.items():
            opt = options.find(section, name)
            value = getattr(self, attr)
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            secret = opt is not None and opt.secret and "://" not in text
            shown[attr] = "***" if secret else _hide_password(text)
        return shown

    def origin(self, section: str, name: str) -> str | None:
        """``file:line`` (or ``override``) that set the option; None when it has its default."""
        return self._origins.get(self._key(section, name))

    def _key(self, section: str, name: str) -> Key:
        opt = options.find(section, name)
        if opt is not None:
            return (normalize_section(opt.section), opt.name)
        backend = self._backend_opt((normalize_section(section), name))
        if backend is not None:
            return (normalize_section(section), backend.name)
        return (normalize_section(section), name)

    def _backend_opt(self, key: Key) -> options.Opt | None:
        section, name = key
        backends = {normalize_section(k): v for k, v in options.RESERVED_BACKENDS.items()}
        backends.update({normalize_section(k): v for k, v in (self.enabled_backends or {}).items()})
        driver = backends.get(section)
        if driver is None:
            return None
        for opt in options.store_options(driver):
            if (section, name) in options.backend_names(opt, section):
                return opt
        return None


def _hide_password(text: str) -> str:
    """``mysql://user:secret@host/db`` -> ``mysql://user:***@host/db``."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _apply_overrides(resolved: Resolved, overrides: Mapping[str, object]) -> None:
    for attr, value in overrides.items():
        if attr not in FIELDS:
            raise ConfigError(f"override {attr}: not a setting")
        if value is None:
            continue  # a CLI flag that was not given
        section, name = FIELDS[attr]
        opt = options.get(section, name)
        try:
            typed = coerce(opt, value)
        except ValueError as exc:
            raise ConfigError(f"override {attr}: {exc}") from None
        key = (normalize_section(section), name)
        resolved.values[key], resolved.origins[key] = typed, "override"


def _check(resolved: Resolved) -> None:
    """Cross-option rules that a single value can't check."""
    key = ("glance_store", "default_backend")
    backend = resolved.values.get(key)
    enabled = resolved.values.get(("DEFAULT", "enabled_backends"))
    if isinstance(backend, str) and isinstance(enabled, dict) and backend not in enabled:
        raise ConfigError(
            f"{resolved.origins[key]}: [glance_store] default_backend: {backend!r} is not one of "
            f"enabled_backends ({', '.join(enabled) or 'none'})"
        )


def _build(resolved: Resolved) -> Settings:
    kwargs: dict[str, object] = {}
    for attr, (section, name) in FIELDS.items():
        key = (normalize_section(section), name)
        if key in resolved.values:
            kwargs[attr] = resolved.values[key]
    if kwargs.get("notifier_strategy") == "default":
        kwargs["notifier_strategy"] = "noop"
    return Settings(
        **kwargs,  # type: ignore[arg-type]
        sources=resolved.sources,
        _values=dict(resolved.values),
        _origins=dict(resolved.origins),
    )


def load_settings(
    config_files: Sequence[Path] = (),
    config_dir: Path | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Read ``config_files`` in order, then ``config_dir``'s ``*.conf`` files, then apply
    ``overrides`` (Settings attribute names; ``None`` values are ignored as "flag not given").

    Raises :class:`ConfigError` with one line naming file, line, section and option.
    """
    resolved = resolve(read_files(config_files, config_dir))
    _apply_overrides(resolved, overrides or {})
    _check(resolved)
    return _build(resolved)
