"""Run config of the consolidation assets: the scope of a run and each phase's settings.

Each phase's Config class is generated from its settings dataclass in the registry, field by
field with the field's description, so the tuned defaults and their explanations live in one
place and a new setting shows in the launchpad without being written twice.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, asdict, fields
from typing import Any

import dagster as dg
from pydantic import Field, create_model

from consolidation_assets.phases.registry import PHASES, Phase
from consolidation_assets.store.scope import Scope


class ScopedConfig(dg.Config):
    """Which of the project's memories this run considers (empty: all of them)."""

    memory_types: list[str] = Field(
        default_factory=list, description="only these memory types (empty: every type)"
    )
    since: str | None = Field(default=None, description="only memories created at or after (ISO)")
    until: str | None = Field(default=None, description="only memories created before (ISO)")

    def scope(self) -> Scope:
        return Scope.from_dict(
            {"memory_types": self.memory_types, "since": self.since, "until": self.until}
        )

    def settings_for(self, phase: Phase) -> Any:
        """The phase's settings dataclass with this config's values."""
        return phase.settings({f.name: getattr(self, f.name) for f in fields(phase.settings_type)})


def config_class(phase: Phase) -> type[ScopedConfig]:
    """The run config of one phase's asset: the scope, and every field of its settings."""
    hints = typing.get_type_hints(phase.settings_type)
    spec: dict[str, Any] = {}
    for f in fields(phase.settings_type):
        if f.default is MISSING:
            raise TypeError(f"{phase.settings_type.__name__}.{f.name} needs a default")
        spec[f.name] = (
            hints[f.name],
            Field(default=f.default, description=f.metadata.get("description")),
        )
    name = "".join(part.capitalize() for part in phase.name.split("_")) + "Config"
    return create_model(name, __base__=ScopedConfig, __doc__=phase.settings_type.__doc__, **spec)


CONFIG_CLASSES: dict[str, type[ScopedConfig]] = {p.name: config_class(p) for p in PHASES}


def settings_metadata(settings: object) -> dict[str, Any]:
    """A settings dataclass as flat metadata entries (numbers stay numbers)."""
    return {f"setting_{key}": value for key, value in asdict(settings).items()}  # type: ignore[call-overload]


def scope_run_config(scope: Scope) -> dict[str, Any]:
    """Run config giving every consolidation asset the same scope."""
    data = scope.to_dict()
    values = {"memory_types": data["memory_types"], "since": data["since"], "until": data["until"]}
    return {"ops": {p.name: {"config": dict(values)} for p in PHASES}}
