"""The part of a project's memories one consolidation run considers, and the vocabulary it is
stated in: the platform's memory types and ISO 8601 timestamps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MEMORY_TYPES = (
    "error_fix",
    "discovery",
    "decision",
    "learning",
    "warning",
    "codebase_knowledge",
)


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp in UTC; one without an offset is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Scope:
    """Memory types and a half-open time window ``[since, until)``; empty means everything."""

    memory_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.memory_types) - set(MEMORY_TYPES))
        if unknown:
            raise ValueError(
                f"scope.memory_types: {', '.join(unknown)} not among {', '.join(MEMORY_TYPES)}"
            )
        if self.since and self.until and self.since >= self.until:
            raise ValueError("scope: since must be earlier than until")

    @property
    def is_everything(self) -> bool:
        return not self.memory_types and self.since is None and self.until is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_types": list(self.memory_types),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Scope:
        """A scope from JSON-like data (run config, job records, the CLI)."""
        data = data or {}
        unknown = sorted(set(data) - {"memory_types", "since", "until"})
        if unknown:
            raise ValueError(f"scope: unknown field(s) {', '.join(unknown)}")

        def when(key: str) -> datetime | None:
            value = data.get(key)
            if value in (None, ""):
                return None
            if isinstance(value, datetime):
                return value
            try:
                return parse_timestamp(str(value))
            except ValueError:
                raise ValueError(f"scope.{key}: {value!r} is not an ISO 8601 timestamp") from None

        return cls(
            memory_types=tuple(sorted(set(data.get("memory_types") or ()))),
            since=when("since"),
            until=when("until"),
        )
