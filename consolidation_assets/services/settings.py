"""Where things live, read from the environment with working defaults.

``DAGSTER_HOME`` is the Dagster instance directory; unset, it is ``.dagster_home`` in the
current directory, created on first use. ``CONSOLIDATION_DATABASE_URL`` is the memory store;
unset, it is a SQLite file inside that directory, so one directory holds a whole local setup.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from consolidation_assets.store import MemoryStore
from consolidation_assets.store.locks import LOCK_TIMEOUT_ENV

DATABASE_URL_ENV = "CONSOLIDATION_DATABASE_URL"
DEFAULT_HOME_NAME = ".dagster_home"


MINIMAL_INSTANCE_CONFIG = """\
# Created by consolidation-assets on first use. Storage defaults to SQLite in this directory;
# see the project's dagster.yaml for run queue limits and the PostgreSQL variant.
telemetry:
  enabled: false
"""


def dagster_home() -> Path:
    """The instance directory, created if missing, and exported so Dagster finds the same one."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / DEFAULT_HOME_NAME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(MINIMAL_INSTANCE_CONFIG)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def database_url() -> str:
    """The memory store URL: the environment's, else SQLite under the instance directory."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    return f"sqlite:///{dagster_home() / 'memories.db'}"


def memory_store(db: MemoryStore | str | None = None) -> MemoryStore:
    """A store given as itself, as a URL, or not at all (the configured default)."""
    return db if isinstance(db, MemoryStore) else MemoryStore(db or database_url())


def export_database_url() -> str:
    """Put the memory store URL in the environment when it is not there yet, and return it.

    The Dagster resources read the URL from ``CONSOLIDATION_DATABASE_URL`` (so the UI shows the
    variable's name, never the URL); with the default SQLite store the variable would be unset.
    Run workers inherit the environment of the process that loaded the definitions.
    """
    url = database_url()
    os.environ.setdefault(DATABASE_URL_ENV, url)
    return url


LLM_MODEL_ENV = "CONSOLIDATION_LLM_MODEL"
LLM_BASE_URL_ENV = "CONSOLIDATION_LLM_BASE_URL"
LLM_API_KEY_ENV = "CONSOLIDATION_LLM_API_KEY"
OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, vLLM, llama.cpp) take any key; the client insists on one.
KEYLESS_API_KEY = "no-key"


def export_llm_defaults() -> None:
    """Put the LLM writer's defaults in the environment where they are unset.

    The resources read the model, base URL and key through ``dg.EnvVar`` (resolved when a run
    starts, names shown in the UI, the key never), and an unset variable fails a run; unset,
    the model is empty (no LLM writer: the extractive one runs), the base URL is OpenAI's and
    the key a placeholder that keyless local servers accept.
    """
    os.environ.setdefault(LLM_MODEL_ENV, "")
    os.environ.setdefault(LLM_BASE_URL_ENV, OPENAI_BASE_URL)
    os.environ.setdefault(LLM_API_KEY_ENV, KEYLESS_API_KEY)


RUN_THRESHOLD_ENV = "CONSOLIDATION_RUN_THRESHOLD"
SENSOR_INTERVAL_ENV = "CONSOLIDATION_SENSOR_INTERVAL_SECONDS"
NIGHTLY_CRON_ENV = "CONSOLIDATION_NIGHTLY_CRON"
SCHEDULE_TIMEZONE_ENV = "CONSOLIDATION_SCHEDULE_TIMEZONE"
T = TypeVar("T", int, float)


def _setting(
    name: str, default: T, cast: Callable[[str], T], valid: Callable[[T], bool], expected: str
) -> T:
    """An environment setting parsed by ``cast``, or a ValueError naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected {expected}") from None
    if not valid(value):
        raise ValueError(f"{name}={raw!r}: expected {expected}")
    return value


def _positive_int(name: str, default: int) -> int:
    return _setting(name, default, int, lambda v: v >= 1, "a positive whole number")


def lock_timeout_seconds() -> float:
    """Seconds a phase waits for another writer of the same project (default 900)."""
    return _setting(LOCK_TIMEOUT_ENV, 900.0, float, lambda v: v >= 0, "a number of seconds")


def run_threshold() -> int:
    """New memories in a project that make the sensor request a run (default 100)."""
    return _positive_int(RUN_THRESHOLD_ENV, 100)


def sensor_interval_seconds() -> int:
    """Seconds between evaluations of the automation sensors (default 60)."""
    return _positive_int(SENSOR_INTERVAL_ENV, 60)


def nightly_cron() -> str:
    """When the nightly consolidation runs (default 02:00 every day)."""
    return os.environ.get(NIGHTLY_CRON_ENV) or "0 2 * * *"


def schedule_timezone() -> str:
    return os.environ.get(SCHEDULE_TIMEZONE_ENV) or "UTC"
