"""Configuration: Glance-compatible INI files in, one typed ``Settings`` out.

``load_settings(config_files, config_dir, overrides)`` reads files with oslo.config's semantics
(``ini``), resolves every declared option (``options``) with oslo.config's precedence
(``loader``), and returns a frozen ``Settings``. Errors are ``ConfigError`` naming file and line.
"""

from spyglass.config.settings import Settings, load_settings
from spyglass.errors import ConfigError

__all__ = ["ConfigError", "Settings", "load_settings"]
