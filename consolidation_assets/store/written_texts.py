"""The LLM writer's answers, by a digest of prompt version, model and input (see
services.llm_writer): a re-run, or a group whose input has not changed, reads its answer here
instead of calling the model again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from consolidation_assets.store.engine import transaction
from consolidation_assets.store.models import WrittenText


class WrittenTextCache:
    """Answers stored in the memory store; what the LLM writer reads before it calls."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> str | None:
        """The stored answer for ``key``, or None."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(WrittenText.response).where(WrittenText.key == key)
            ).scalar_one_or_none()

    def put(self, key: str, prompt_version: str, model: str, response: str) -> None:
        """Keep an answer; a second answer for the same key (a concurrent run) is dropped."""
        try:
            with transaction(self.engine) as session:
                if session.get(WrittenText, key) is None:
                    session.add(
                        WrittenText(
                            key=key,
                            prompt_version=prompt_version,
                            model=model,
                            response=response,
                            created_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            return
