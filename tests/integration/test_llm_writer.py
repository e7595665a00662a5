"""The LLM writer end to end: the assets through ``materialize`` with Dagster's ``OpenAIResource``
and the real ``openai`` client, against an OpenAI-compatible server this test runs on
127.0.0.1. The server answers grounded texts, a hallucinated identifier, malformed JSON, a 429
and a 500, and the test checks what the run did with each."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from dagster_openai import OpenAIResource

from consolidation_assets.defs.assets import consolidation_assets
from consolidation_assets.defs.partitions import PROJECTS_PARTITION
from consolidation_assets.phases.text import sentences
from consolidation_assets.services.agent_tools import KnowledgeBase
from consolidation_assets.services.export import export_project
from consolidation_assets.services.llm_writer import LLMSettings
from consolidation_assets.store import outputs
from consolidation_assets.store.knowledge import record_feedback
from consolidation_assets.store.memories import NewMemory, insert_memories
from tests.helpers import ingest_sample, run_resources

PROJECT = "web-backend"
MODEL = "test-model"


@dataclass
class FakeChatServer:
    """An OpenAI-compatible ``/chat/completions`` endpoint whose answers follow a script.

    Each request takes the next step of ``script`` (then ``default``): ``grounded`` states
    the first memory's first sentence and cites it, ``hallucinated`` cites a real memory but
    names a file no memory mentions, ``malformed`` is not JSON, ``429`` and ``500`` are HTTP
    errors (retried by the writer). ``requests`` counts every request that reached the server.
    """

    script: list[str] = field(default_factory=list)
    default: str = "grounded"
    requests: int = 0
    statements: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self) -> str:
        with self.lock:
            self.requests += 1
            return self.script.pop(0) if self.script else self.default

    def reply(self, body: dict) -> tuple[int, dict]:
        step = self.next_step()
        if step in ("429", "500"):
            return int(step), {"error": {"message": f"scripted {step}", "type": "test"}}
        request = json.loads(body["messages"][-1]["content"])
        first = request["patterns"][0]["memories"][0]
        if step == "malformed":
            content = "Here is the principle you asked for: always close sessions"
        elif step == "hallucinated":
            content = json.dumps(
                {
                    "statement": "Always set pool_size=250 in config/imaginary_settings.py.",
                    "applies_when": "a pool runs dry",
                    "memory_ids": [first["id"]],
                }
            )
        else:
            statement = (sentences(first["content"]) or [first["content"]])[0][:200]
            statement = f"Remember this lesson: {statement}"
            with self.lock:
                self.statements.append(statement)
            content = json.dumps(
                {"statement": statement, "applies_when": "always", "memory_ids": [first["id"]]}
            )
        completion = {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": 1_780_000_000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        return 200, completion


def _handler(server: FakeChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            assert self.path.endswith("/chat/completions"), self.path
            status, payload = server.reply(body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def chat_server() -> Iterator[tuple[FakeChatServer, str]]:
    fake = FakeChatServer()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{http.server_address[1]}/v1"
    finally:
        http.shutdown()
        http.server_close()


def _materialize(
    instance: dg.DagsterInstance, store, embedder, base_url: str, **writing: object
) -> dg.ExecuteInJobResult:
    settings = LLMSettings(model=MODEL, backoff_seconds=0.01, retries=2, **writing)
    return dg.materialize(
        consolidation_assets,
        instance=instance,
        partition_key=PROJECT,
        resources=run_resources(
            store, embedder, OpenAIResource(api_key="test-key", base_url=base_url), settings
        ),
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInJobResult, asset: str) -> dict[str, object]:
    [event] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in event.metadata.items()}


def test_every_server_behaviour_and_the_cache(instance, store, embedder, chat_server) -> None:
    fake, base_url = chat_server
    ingest_sample(store, PROJECT)
    instance.add_dynamic_partitions(PROJECTS_PARTITION, [PROJECT])

    # An extractive run first; an agent finds two of its entries helpful.
    first = dg.materialize(
        consolidation_assets,
        instance=instance,
        partition_key=PROJECT,
        resources=run_resources(store, embedder),
    )
    assert first.success and fake.requests == 0
    before = {e.id: e for e in outputs.load_output(store.engine, "playbook_entries", PROJECT)}
    rated = sorted(e.id for e in before.values() if e.status == "active")[:2]
    for entry_id in rated:
        record_feedback(store.engine, entry_id, helpful=True)

    # Principles: a 429 then an answer; three 500s (retries spent, extractive text); a
    # hallucinated file; malformed JSON; grounded answers for the rest.
    fake.script = ["429", "grounded", "500", "500", "500", "hallucinated", "malformed"]
    result = _materialize(instance, store, embedder, base_url)
    assert result.success

    principles = _metadata(result, "principles")
    assert principles["writer"] == f"llm:{MODEL}"
    assert principles["writer_prompt_version"] == "writer-1"
    assert principles["writer_errors_rate_limited"] == 1
    assert principles["writer_errors_server"] == 3
    assert principles["writer_retries"] == 3
    assert principles["writer_fallback_unavailable"] == 1
    assert principles["writer_rejected_ungrounded_detail"] == 1
    assert principles["writer_rejected_malformed"] == 1
    assert principles["writer_fallbacks"] == 3
    created = principles["principles_created"]
    assert principles["writer_accepted"] == created - 3
    # One call per principle, one more after the 429 and two more after the first 500; every
    # call that got an answer counts its tokens.
    assert principles["writer_calls"] == created + 3
    assert principles["writer_prompt_tokens"] == 100 * (created + 3 - 4)
    assert principles["writer_completion_tokens"] == 20 * (created + 3 - 4)

    stored = outputs.load_output(store.engine, "principles", PROJECT)
    by_writer = {p.writer for p in stored}
    assert by_writer == {f"llm:{MODEL}", "extractive"}
    assert sum(p.writer == "extractive" for p in stored) == 3
    for principle in stored:
        if principle.writer != "extractive":
            assert principle.statement in fake.statements
            assert principle.cited_memory_ids
        assert "imaginary_settings" not in principle.statement

    worded = next(p for p in stored if p.writer != "extractive")
    [found] = KnowledgeBase(store, embedder).search(worded.statement, PROJECT, level=3, limit=1)
    assert (found.id, found.text) == (worded.id, worded.statement), "search shows the new text"
    exported = {p["id"]: p for p in export_project(store.engine, PROJECT)["principles"]}
    assert exported[worded.id]["statement"] == worded.statement
    assert exported[worded.id]["writer"] == f"llm:{MODEL}"
    assert exported[worded.id]["cited_memory_ids"] == list(worded.cited_memory_ids)

    entries = _metadata(result, "playbook_entries")
    assert entries["writer"] == f"llm:{MODEL}" and entries["writer_accepted"] > 0
    after = {e.id: e for e in outputs.load_output(store.engine, "playbook_entries", PROJECT)}
    reworded = [i for i in rated if after[i].content != before[i].content]
    assert reworded, "the LLM writer rewords the entries agents rated"
    for entry_id in rated:
        assert after[entry_id].helpful_count == 1, "feedback survives the change in wording"

    # A re-run with nothing new: the phases reuse their outputs and the server hears nothing.
    calls = fake.requests
    assert _materialize(instance, store, embedder, base_url).success
    assert fake.requests == calls

    # One new memory: every phase recomputes, and the groups it leaves unchanged are answered
    # from the store, not the model.
    extra = NewMemory(
        id="wb-extra-1",
        project_id=PROJECT,
        content="Flower reads the Celery events of the broker; it needs events enabled.",
        memory_type="discovery",
        created_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    insert_memories(store.engine, [extra])
    rerun = _materialize(instance, store, embedder, base_url)
    assert rerun.success
    again = _metadata(rerun, "principles")
    assert again["writer_cache_hits"] >= 1
    assert again.get("writer_calls", 0) < again["principles_created"]


def test_strict_fails_the_run_when_the_model_is_unreachable(
    instance, store, embedder, chat_server
) -> None:
    fake, base_url = chat_server
    fake.default = "500"
    ingest_sample(store, PROJECT)
    instance.add_dynamic_partitions(PROJECTS_PARTITION, [PROJECT])
    result = _materialize(instance, store, embedder, base_url, strict=True)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "strict is set" in failure.event_specific_data.error.to_string()
    assert failure.step_key == "principles"
    assert fake.requests == 3
    assert outputs.load_output(store.engine, "principles", PROJECT) == []
