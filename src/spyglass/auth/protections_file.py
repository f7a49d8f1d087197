"""Read ``property_protection_file`` (an INI file of regex sections)."""

from __future__ import annotations

from pathlib import Path

from spyglass.config import Settings
from spyglass.config.ini import read_ini
from spyglass.domain.policy import Policy
from spyglass.domain.protections import PropertyProtections
from spyglass.errors import ConfigError


def load_protections(settings: Settings, policy: Policy) -> PropertyProtections | None:
    """The configured protections, or None when the option is unset."""
    name = settings.option("DEFAULT", "property_protection_file")
    if not name:
        return None
    path = Path(str(name))
    if not path.is_absolute() and settings.sources:
        beside = Path(settings.sources[0]).parent / path
        path = beside if beside.is_file() else path
    if not path.is_file():
        raise ConfigError(f"property_protection_file: {name} not found")
    sections: dict[str, dict[str, str]] = {}
    for entry in read_ini(path).entries:  # file order decides which rule wins
        sections.setdefault(entry.section, {})[entry.key] = entry.value
    use_policies = settings.option("DEFAULT", "property_protection_rule_format") == "policies"
    return PropertyProtections(
        list(sections.items()),
        use_policies=use_policies,
        policy_check=lambda rule, ctx: policy.allowed(rule, ctx, {}),
    )
