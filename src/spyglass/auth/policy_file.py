"""Read an operator's ``policy.yaml``/``policy.json`` over the default rules.

``[oslo_policy] policy_file`` names it; a relative name is looked up next to
the configuration files, then in the working directory, as oslo.config's search
does. The default name (``policy.json``) may be absent; a file the operator
named explicitly must exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spyglass.config import Settings
from spyglass.domain.policy import Policy
from spyglass.errors import ConfigError
from spyglass.lazy import lazy_module

if TYPE_CHECKING:
    import yaml
else:
    yaml = lazy_module("yaml")  # loaded when there is a policy file

DEFAULT_NAME = "policy.json"


def _candidates(settings: Settings, name: str) -> list[Path]:
    path = Path(name)
    if path.is_absolute():
        return [path]
    dirs = [Path(source).parent for source in settings.sources]
    return [d / path for d in dirs] + [path]


def load_policy(settings: Settings) -> Policy:
    name = str(settings.option("oslo_policy", "policy_file") or DEFAULT_NAME)
    found = next((p for p in _candidates(settings, name) if p.is_file()), None)
    if found is None:
        if name == DEFAULT_NAME:
            return Policy()
        raise ConfigError(f"[oslo_policy] policy_file: {name} not found")
    try:
        rules: Any = yaml.safe_load(found.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{found}: cannot read the policy file: {exc}") from exc
    if not isinstance(rules, dict):
        raise ConfigError(f"{found}: a policy file must map rule names to rules")
    return Policy(rules)
