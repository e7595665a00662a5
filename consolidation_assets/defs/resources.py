"""Dagster resources: thin, configurable factories of the plain services, and the run's cache.

The assets, checks and sensors receive the services themselves (a :class:`MemoryStore`, an
:class:`Embedder`), so tests and the engine may hand in any object that fits; the factories
below are what the code location configures, and what the UI shows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import dagster as dg
from pydantic import Field, PrivateAttr

from consolidation_assets.services import settings
from consolidation_assets.services.embedders import Embedder, make_embedder
from consolidation_assets.services.llm_writer import LLMSettings
from consolidation_assets.services.runner import RunState
from consolidation_assets.store import MemoryStore


class MemoryStoreResource(dg.ConfigurableResource):
    """The SQL database holding memories and every phase's output.

    In the code location ``database_url`` is ``EnvVar("CONSOLIDATION_DATABASE_URL")``: the UI
    shows the variable's name, never the URL (which may hold a password).
    """

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means CONSOLIDATION_DATABASE_URL or the SQLite default",
    )

    def create_resource(self, context: dg.InitResourceContext) -> MemoryStore:
        """What the assets receive: the plain store, not this configuration."""
        return MemoryStore(self.database_url or settings.database_url())


class EmbedderResource(dg.ConfigurableResource):
    """The model every phase's vectors come from (cached in the store), and what runs it."""

    model: str = Field(
        default="",
        description="sentence-transformers model name or path; empty means the packaged "
        "all-MiniLM-L6-v2, loaded with no network",
    )
    runtime: str = Field(
        default="",
        description="auto (ONNX Runtime for the packaged model on the CPU, else PyTorch), onnx, "
        "onnx-int8 (faster, other vectors) or torch; empty means CONSOLIDATION_EMBED_RUNTIME "
        "or auto",
    )
    threads: int = Field(
        default=-1,
        description="ONNX Runtime threads per run; 0 every core, -1 CONSOLIDATION_EMBED_THREADS "
        "or every core",
    )
    device: str = Field(default="cpu", description="torch device")
    batch_size: int = Field(default=64, description="texts per forward pass")

    def create_resource(self, context: dg.InitResourceContext) -> Embedder:
        """What the assets receive: the plain embedder, not this configuration."""
        threads = None if self.threads < 0 else self.threads
        return make_embedder(self.model, self.runtime, threads, self.device, self.batch_size)


class WritingResource(dg.ConfigurableResource):
    """How the optional LLM writer words principles and entries.

    The client (base URL and key) is the ``llm`` resource, Dagster's ``OpenAIResource``; in the
    code location ``model`` is ``EnvVar("CONSOLIDATION_LLM_MODEL")``. An empty model means no
    LLM writer: the extractive one runs.
    """

    model: str = Field(default="", description="chat model name; empty: no LLM writer")
    strict: bool = Field(
        default=False,
        description="fail the run when the model cannot be reached (otherwise fall back to the "
        "extractive writer)",
    )
    timeout_seconds: float = Field(default=60.0, description="per call")
    retries: int = Field(default=3, description="retries of a timeout, 429 or 5xx")
    backoff_seconds: float = Field(default=1.0, description="first retry's wait, then doubled")
    input_chars: int = Field(default=6000, description="memory text sent per group, at most")

    def create_resource(self, context: dg.InitResourceContext) -> LLMSettings:
        """What the assets receive: the writer's settings."""
        return LLMSettings(
            model=self.model,
            strict=self.strict,
            timeout_seconds=self.timeout_seconds,
            retries=self.retries,
            backoff_seconds=self.backoff_seconds,
            input_chars=self.input_chars,
        )


class RunCache(dg.ConfigurableResource):
    """What the steps of one run share in this process: its :class:`RunState` (the pinned
    memories, their vectors, the neighbour graph). Set up when the run starts and released
    when it ends, so nothing outlives the run."""

    share_between_steps: bool = Field(
        default=True,
        description="load the memories, vectors and neighbour graph once per run and share them "
        "between its steps (off: each step loads its own, using less memory at once)",
    )
    _states: dict[tuple, RunState] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._states = {}

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._states.clear()

    def state(self, key: tuple, make: Callable[[], RunState]) -> RunState:
        """The run's state for ``key``, made on first use."""
        if not self.share_between_steps:
            return make()
        with self._lock:
            if key not in self._states:
                self._states[key] = make()
            return self._states[key]
