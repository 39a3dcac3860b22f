"""Grounded answers through the official SDK: `responses.create` / `responses.stream` with file_search, stored
responses, /v1/api/rag, the chat model's query rewrite, and upstream failures. The chat model is
tests/fake_chat.FakeChatServer, a FAKE (a remote model cannot run here); the server, ingestion and search are real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import Server, start_server, upload
from tests.fake_chat import FakeChatServer, passages_of
from vectorhouse.ingest.tokenizer import get_encoding

VOLCANO = "Volcanoes erupt molten lava and ash when magma pressure rises beneath the crust."
BREAD = "Sourdough bread rises slowly because wild yeast in the starter ferments the flour."
CHESS = "The Sicilian Defence answers 1.e4 with c5 and leads to sharp, unbalanced chess games."
LONG = " ".join(["Basalt columns form as thick lava flows cool and crack into hexagonal pillars."] * 22)  # 352 tokens


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeChatServer]:
    server = FakeChatServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def chat_server(fake: FakeChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"VECTORHOUSE_CHAT_BASE_URL": fake.url, "VECTORHOUSE_CHAT_API_KEY": "sk-fake-secret",
           "VECTORHOUSE_CHAT_MODEL": "fake-small", "VECTORHOUSE_CHAT_MODELS": "fake-large",
           "VECTORHOUSE_CHAT_TIMEOUT_SECONDS": "2", "VECTORHOUSE_CHAT_CONTEXT_TOKENS": "400"}
    server = start_server(tmp_path_factory.mktemp("chat") / "data", env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdk(chat_server: Server) -> OpenAI:
    return chat_server.client()


def _store(sdk: OpenAI, name: str, files: dict[str, tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, str]]:
    store = sdk.vector_stores.create(name=name)
    ids = {}
    for filename, (text, attributes) in files.items():
        ids[filename] = upload(sdk, filename, text)
        done = sdk.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=ids[filename],
                                                       attributes=attributes, poll_interval_ms=100)
        assert done.status == "completed", done.last_error
    return store.id, ids


@pytest.fixture(scope="module")
def kb(sdk: OpenAI) -> tuple[str, dict[str, str]]:
    return _store(sdk, "kb", {"volcano.txt": (VOLCANO, {"topic": "geology"}), "bread.txt": (BREAD, {"topic": "food"}),
                              "chess.txt": (CHESS, {"topic": "games"})})


def tool(*store_ids: str, **extra: Any) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": list(store_ids), **extra}


def test_create_answers_from_the_files_and_cites_them(sdk: OpenAI, fake: FakeChatServer,
                                                      kb: tuple[str, dict[str, str]]) -> None:
    store_id, ids = kb
    response = sdk.responses.create(model="fake-small", input="What comes out of volcanoes?", tools=[tool(store_id)],
                                    include=["file_search_call.results"], instructions="Answer in one sentence.",
                                    temperature=0.2, max_output_tokens=200, metadata={"ticket": "42"})
    assert response.status == "completed" and response.model == "fake-small" and response.id.startswith("resp_")
    call, message = response.output
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.queries == ["What comes out of volcanoes?"]
    assert call.results and call.results[0].file_id == ids["volcano.txt"] and call.results[0].filename == "volcano.txt"
    assert call.results[0].text == VOLCANO and call.results[0].attributes == {"topic": "geology"}
    scores = [r.score for r in call.results]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    # The fake saw the prompt: our instructions, the caller's, the passages best first, the question last.
    sent = fake.last()
    assert sent["model"] == "fake-small" and sent["temperature"] == 0.2 and sent["max_tokens"] == 200
    assert sent["auth"] == "Bearer sk-fake-secret"
    system = sent["messages"][0]["content"]
    assert "cite the passage" in system and "Answer in one sentence." in system
    shown = passages_of(system)
    assert shown[0] == ("volcano.txt", VOLCANO) and len(shown) == len(call.results)
    assert sent["messages"][1:] == [{"role": "user", "content": "What comes out of volcanoes?"}]
    # Markers become file citations at their place in the text; "[99]" names no passage and just goes.
    assert message.type == "message" and message.role == "assistant"
    text = response.output_text
    assert text == "From the files: Volcanoes erupt molten lava and ash. More is in another file. Nothing else."
    annotations = message.content[0].annotations
    cited = [(a.type, a.file_id, a.filename, a.index) for a in annotations]
    first_dot = text.index(".")
    assert cited[0] == ("file_citation", ids["volcano.txt"], "volcano.txt", first_dot)
    assert cited[1][1] == call.results[1].file_id and cited[1][3] == text.index(".", first_dot + 1)
    assert len(cited) == 2 and {a.file_id for a in annotations} <= {r.file_id for r in call.results}
    assert response.metadata == {"ticket": "42"} and response.usage and response.usage.total_tokens == 18
    # Stored (store defaults to true) and read back whole.
    again = sdk.responses.retrieve(response.id)
    assert again.output_text == text and again.output[0].results[0].file_id == ids["volcano.txt"]


def test_results_only_when_included_and_the_budget_cuts_by_rank(sdk: OpenAI, fake: FakeChatServer) -> None:
    store_id, ids = _store(sdk, "long", {"basalt.txt": (LONG, {}), "volcano.txt": (VOLCANO, {}),
                                         "bread.txt": (BREAD, {})})
    plain = sdk.responses.create(input="how do basalt columns form from lava", tools=[tool(store_id)])
    assert plain.model == "fake-small" and plain.output[0].results is None  # the default model; not asked for
    response = sdk.responses.create(input="how do basalt columns form from lava", tools=[tool(store_id)],
                                    include=["file_search_call.results"])
    ranked = response.output[0].results
    assert len(ranked) == 3
    # Passages are given whole, best first, while they fit 400 tokens (12 more each for their heading).
    encoding, used, fits = get_encoding("o200k_base"), 0, []
    for result in ranked:
        used += len(encoding.encode(result.text, disallowed_special=())) + 12
        if used > 400:
            break
        fits.append((result.filename, result.text))
    shown = passages_of(fake.last()["messages"][0]["content"])
    assert shown == fits and 0 < len(shown) < len(ranked)
    cited = {a.file_id for a in response.output[1].content[0].annotations}
    assert cited and cited <= {ids[name] for name, _ in shown}


def test_stream_sends_openais_events_and_the_same_answer(sdk: OpenAI, kb: tuple[str, dict[str, str]]) -> None:
    store_id, ids = kb
    whole = sdk.responses.create(input="What comes out of volcanoes?", tools=[tool(store_id)])
    kinds, deltas = [], []
    with sdk.responses.stream(model="fake-small", input="What comes out of volcanoes?", tools=[tool(store_id)],
                              include=["file_search_call.results"]) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    expected = ["response.created", "response.in_progress", "response.output_item.added",
                "response.file_search_call.in_progress", "response.file_search_call.searching",
                "response.file_search_call.completed", "response.output_item.done", "response.output_item.added",
                "response.content_part.added"]
    assert kinds[: len(expected)] == expected
    assert kinds[len(expected):-4] == ["response.output_text.delta"] * len(deltas) and len(deltas) > 3
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert "".join(deltas) == final.output_text == whole.output_text
    assert final.output[0].results and final.output[0].results[0].file_id == ids["volcano.txt"]
    assert [a.index for a in final.output[1].content[0].annotations] == \
        [a.index for a in whole.output[1].content[0].annotations]
    assert sdk.responses.retrieve(final.id).output_text == final.output_text


def test_several_stores_merged_and_filters(sdk: OpenAI, fake: FakeChatServer, kb: tuple[str, dict[str, str]]) -> None:
    store_id, ids = kb
    other_id, other = _store(sdk, "other", {"geysers.txt": ("Geysers erupt hot water and steam near volcanoes.",
                                                            {"topic": "geology"})})
    response = sdk.responses.create(input="volcano eruptions", tools=[tool(store_id, other_id)],
                                    include=["file_search_call.results"])
    found = [r.file_id for r in response.output[0].results]
    assert ids["volcano.txt"] in found and other["geysers.txt"] in found
    assert [r.score for r in response.output[0].results] == sorted((r.score for r in response.output[0].results),
                                                                   reverse=True)
    geology = {"type": "eq", "key": "topic", "value": "geology"}
    filtered = sdk.responses.create(input="volcano eruptions", include=["file_search_call.results"],
                                    tools=[tool(store_id, other_id, filters=geology, max_num_results=5,
                                                ranking_options={"score_threshold": 0.0})])
    assert {r.file_id for r in filtered.output[0].results} == {ids["volcano.txt"], other["geysers.txt"]}
    assert all(r.attributes == {"topic": "geology"} for r in filtered.output[0].results)


def test_request_errors(sdk: OpenAI, server: Server, kb: tuple[str, dict[str, str]]) -> None:
    store_id, _ = kb
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(input="x", tools=[tool(store_id, "vs_" + "Z" * 24)])
    assert missing.value.body["code"] == "vector_store_not_found"
    assert missing.value.body["param"] == "tools[0].vector_store_ids[1]"
    for tools, param in (([{"type": "web_search"}], "tools[0].type"),
                         ([tool(store_id), {"type": "code"}], "tools[1].type")):
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.responses.create(input="x", tools=tools)  # type: ignore[arg-type]
        assert bad.value.body["param"] == param and bad.value.body["code"] == "unsupported_tool"
    with pytest.raises(openai.BadRequestError) as model:
        sdk.responses.create(model="gpt-9", input="x", tools=[tool(store_id)])
    assert model.value.body["code"] == "invalid_chat_model" and model.value.body["param"] == "model"
    assert sdk.responses.create(model="fake-large", input="x", tools=[tool(store_id)]).model == "fake-large"
    with pytest.raises(openai.BadRequestError) as include:
        sdk.responses.create(input="x", tools=[tool(store_id)], include=["reasoning.encrypted_content"])
    assert include.value.body["param"] == "include"
    with pytest.raises(openai.BadRequestError) as long_input:
        sdk.responses.create(model="fake-small", input="volcano " * 2000, tools=[tool(store_id)])
    assert long_input.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as bad_filter:
        sdk.responses.create(model="fake-small", input="x", tools=[tool(store_id, filters={"type": "near"})])
    assert str(bad_filter.value.body["param"]).startswith("tools[0].filters")
    unstored = sdk.responses.create(input="x", tools=[tool(store_id)], store=False)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.responses.retrieve(unstored.id)
    assert unknown.value.body["code"] == "response_not_found"
    # A server without a chat model says what to set.
    with pytest.raises(openai.BadRequestError) as unconfigured:
        server.client().responses.create(input="x", tools=[tool("vs_abc")])
    assert unconfigured.value.body["code"] == "chat_model_not_configured"
    assert "VECTORHOUSE_CHAT_BASE_URL" in unconfigured.value.body["message"]
    rag = httpx.post(server.base_url + "/v1/api/rag", json={"collection": "kb", "question": "x"}, timeout=30)
    assert rag.status_code == 400 and rag.json()["error"]["code"] == "chat_model_not_configured"


def test_upstream_failures_map_to_502_and_504(sdk: OpenAI, fake: FakeChatServer,
                                             kb: tuple[str, dict[str, str]]) -> None:
    store_id, _ = kb
    with fake.failing("error"), pytest.raises(openai.APIStatusError) as failed:
        sdk.responses.create(input="x", tools=[tool(store_id)])
    assert failed.value.status_code == 502 and failed.value.body["code"] == "chat_upstream_error"
    assert "fake upstream exploded" in failed.value.body["message"]
    with fake.failing("garbage"), pytest.raises(openai.APIStatusError) as garbage:
        sdk.responses.create(input="x", tools=[tool(store_id)])
    assert garbage.value.status_code == 502
    with fake.failing("slow", delay=3.0), pytest.raises(openai.APIStatusError) as slow:
        sdk.responses.create(input="x", tools=[tool(store_id)])
    assert slow.value.status_code == 504 and slow.value.body["code"] == "chat_upstream_timeout"
    # Streaming: the status line has gone out, so the failure is the stream's last event.
    with fake.failing("stream_error"), sdk.responses.stream(model="fake-small", input="x",
                                                            tools=[tool(store_id)]) as stream:
        kinds = [event.type for event in stream]
    assert kinds[-1] == "response.failed" and "response.completed" not in kinds


def test_rewrite_query_asks_the_chat_model(sdk: OpenAI, kb: tuple[str, dict[str, str]]) -> None:
    store_id, ids = kb
    page = sdk.vector_stores.search(store_id, query="Tell me about VOLCANO eruptions", rewrite_query=True)
    assert page.search_query == ["rewritten: tell me about volcano eruptions"]
    assert page.data[0].file_id == ids["volcano.txt"]


def test_rag_answers_a_collection_question(chat_server: Server, fake: FakeChatServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=chat_server.base_url + "/v1/api", timeout=60) as web:
        docs = [{"content": VOLCANO, "topics": ["geology"]}, {"content": BREAD, "topics": ["food"]},
                {"content": CHESS, "topics": ["games"]}]
        ids = web.post("/index", json={"collection": "rag-kb", "documents": docs}).json()["ids"]
        for _ in range(600):
            details = web.get("/collection/data", params={"collection": "rag-kb"}).json()["details"]
            if {d["status"] for d in details} == {"completed"}:
                break
        body = web.post("/rag", json={"collection": "rag-kb", "question": "What do volcanoes erupt?",
                                      "topic_filter": ["geology", "food"], "limit": 3}).json()
        assert set(body) == {"answer", "sources", "query_time_ms"}
        assert body["answer"].startswith("From the files: Volcanoes erupt") and "[1]" in body["answer"]
        assert "[99]" not in body["answer"]
        assert [s["id"] for s in body["sources"]][0] == ids[0]
        assert {s["id"] for s in body["sources"]} <= {ids[0], ids[1]}  # the filter held
        assert body["sources"][0]["source"]["content"] == VOLCANO
        assert fake.last()["messages"][-1] == {"role": "user", "content": "What do volcanoes erupt?"}
        missing = web.post("/rag", json={"collection": "nope", "question": "x"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "collection_not_found"
        empty = web.post("/rag", json={"collection": "rag-kb"})
        assert empty.status_code == 400 and empty.json()["error"]["param"] == "question"


def test_provenance_in_results_only_when_asked(sdk: OpenAI) -> None:
    from tests.test_provenance import PAGES, SMALL, pages_pdf

    store = sdk.vector_stores.create(name="atlas")
    file_id = upload(sdk, "atlas.pdf", pages_pdf(PAGES))
    done = sdk.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id, attributes={"k": "v"},
                                                   chunking_strategy=SMALL, poll_interval_ms=100)  # type: ignore[arg-type]
    assert done.status == "completed"
    question = "Sicilian chess openings"
    asked = sdk.responses.create(model="fake-small", input=question, tools=[tool(store.id, max_num_results=1)],
                                 include=["file_search_call.results.provenance"])  # type: ignore[list-item]
    [result] = asked.output[0].results
    assert result.attributes["k"] == "v" and result.attributes["vectorhouse.page"] == 3
    start, end = result.attributes["vectorhouse.start"], result.attributes["vectorhouse.end"]
    assert start == int(start) and end - start == len(result.text)  # the SDK types them as floats
    plain = sdk.responses.create(model="fake-small", input=question, tools=[tool(store.id, max_num_results=1)],
                                 include=["file_search_call.results"])
    assert plain.output[0].results[0].attributes == {"k": "v"}


def test_input_as_messages_searches_the_last_user_message(sdk: OpenAI, fake: FakeChatServer,
                                                          kb: tuple[str, dict[str, str]]) -> None:
    store_id, ids = kb
    conversation = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Tell me about bread."},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Bread is baked.", "annotations": []}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And chess openings?"}]},
    ]
    response = sdk.responses.create(model="fake-small", input=conversation, tools=[tool(store_id)],  # type: ignore[arg-type]
                                    include=["file_search_call.results"])
    assert response.output[0].queries == ["And chess openings?"]
    assert response.output[0].results[0].file_id == ids["chess.txt"]
    sent = fake.last()["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user", "assistant", "user"]
    assert sent[1:] == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Tell me about bread."},
                        {"role": "assistant", "content": "Bread is baked."},
                        {"role": "user", "content": "And chess openings?"}]
    no_tools = sdk.responses.create(model="fake-small", input="Hello")  # no file_search: the model alone
    assert [item.type for item in no_tools.output] == ["message"]
    assert no_tools.output_text == "The files do not answer this."
