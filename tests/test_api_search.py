"""Search through the SDK: relevance, filters before top-k, thresholds, modes, query lists, errors."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import upload

DOCS = {
    "keys.md": ("To rotate API keys, create a new key in the console, deploy it, then revoke the old key.",
                {"year": 2024, "team": "security", "public": True}),
    "cats.txt": ("Cats sleep for most of the day and groom themselves often.",
                 {"year": 2021, "team": "pets", "public": False}),
    "bread.txt": ("Sourdough bread needs a starter, flour, water and salt, and a long fermentation.",
                  {"year": 2023, "team": "kitchen", "public": True, "rating": 4.5}),
}


@pytest.fixture(scope="module")
def corpus(client: OpenAI) -> tuple[str, dict[str, str]]:
    vs = client.vector_stores.create(name="search")
    ids = {}
    for name, (text, attributes) in DOCS.items():
        file_id = upload(client, name, text)
        done = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=vs.id,
                                                         attributes=attributes, poll_interval_ms=50)
        assert done.status == "completed"
        ids[name] = file_id
    return vs.id, ids


def test_best_answer_first_with_page_shape(client: OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store, ids = corpus
    page = client.vector_stores.search(store, query="how do I rotate keys?")
    assert page.object == "vector_store.search_results.page"
    assert page.search_query == ["how do I rotate keys?"]
    assert page.has_more is False and page.next_page is None
    top = page.data[0]
    assert top.file_id == ids["keys.md"] and top.filename == "keys.md"
    assert top.content[0].type == "text" and "rotate API keys" in top.content[0].text
    assert top.attributes == {"year": 2024, "team": "security", "public": True}
    # The SDK's model types numbers as float; the wire keeps the user's int.
    raw = client.vector_stores.with_raw_response.search(store, query="how do I rotate keys?").http_response.json()
    assert raw["data"][0]["attributes"] == {"year": 2024, "team": "security", "public": True}
    assert isinstance(raw["data"][0]["attributes"]["year"], int)
    scores = [hit.score for hit in page.data]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)


def test_issue_example_filter(client: OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store, ids = corpus
    page = client.vector_stores.search(store, query="how do I rotate keys?",
                                       filters={"key": "year", "type": "gte", "value": 2023})
    assert {h.file_id for h in page.data} <= {ids["keys.md"], ids["bread.txt"]}
    assert page.data[0].file_id == ids["keys.md"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"key": "team", "type": "eq", "value": "pets"}, {"cats.txt"}),
        ({"key": "team", "type": "ne", "value": "pets"}, {"keys.md", "bread.txt"}),
        ({"key": "year", "type": "gt", "value": 2023}, {"keys.md"}),
        ({"key": "year", "type": "lt", "value": 2023}, {"cats.txt"}),
        ({"key": "year", "type": "lte", "value": 2023}, {"cats.txt", "bread.txt"}),
        ({"key": "team", "type": "in", "value": ["pets", "kitchen"]}, {"cats.txt", "bread.txt"}),
        ({"key": "team", "type": "nin", "value": ["pets", "kitchen"]}, {"keys.md"}),
        ({"key": "public", "type": "eq", "value": True}, {"keys.md", "bread.txt"}),
        ({"key": "rating", "type": "gte", "value": 4}, {"bread.txt"}),
        ({"type": "and", "filters": [{"key": "public", "type": "eq", "value": True},
                                     {"key": "year", "type": "lt", "value": 2024}]}, {"bread.txt"}),
        ({"type": "or", "filters": [{"key": "team", "type": "eq", "value": "pets"},
                                    {"type": "and", "filters": [{"key": "year", "type": "eq", "value": 2024},
                                                                {"key": "public", "type": "eq", "value": True}]}]},
         {"cats.txt", "keys.md"}),
        ({"key": "missing", "type": "ne", "value": "x"}, set()),
    ],
)
def test_filter_table(client: OpenAI, corpus: tuple[str, dict[str, str]], filters: dict, expected: set) -> None:
    store, ids = corpus
    for mode in ("hybrid", "semantic", "full_text"):
        query = "bread cats keys sleep rotate sourdough"
        page = client.vector_stores.search(store, query=query, filters=filters, extra_body={"search_mode": mode})  # type: ignore[arg-type]
        names = {name for name, fid in ids.items() if fid in {h.file_id for h in page.data}}
        assert names == expected, mode


def test_filter_applies_before_top_k(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="before-top-k")
    similar = [upload(client, f"s{i}.txt", f"Rotating database credentials, note {i}: rotate keys monthly.")
               for i in range(60)]
    odd = upload(client, "odd.txt", "A recipe for lemon cake with poppy seeds.")
    batch = [*similar, odd]
    for file_id in batch:
        client.vector_stores.files.create(vector_store_id=vs.id, file_id=file_id,
                                          attributes={"group": "b" if file_id == odd else "a"})
    for file_id in batch:
        done = client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=50)
        assert done.status == "completed"
    for mode in ("hybrid", "semantic", "full_text"):
        page = client.vector_stores.search(vs.id, query="rotate keys", max_num_results=10,
                                           filters={"key": "group", "type": "eq", "value": "b"},
                                           extra_body={"search_mode": mode})
        if mode == "full_text":
            assert page.data == []  # no keyword of the query is in the odd chunk
        else:
            assert [h.file_id for h in page.data] == [odd]
    unfiltered = client.vector_stores.search(vs.id, query="rotate keys", max_num_results=10)
    assert len(unfiltered.data) == 10 and odd not in {h.file_id for h in unfiltered.data}


def test_max_num_results_and_threshold(client: OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store, _ = corpus
    one = client.vector_stores.search(store, query="bread", max_num_results=1)
    assert len(one.data) == 1
    everything = client.vector_stores.search(store, query="bread", max_num_results=50)
    top_score = everything.data[0].score
    above = client.vector_stores.search(store, query="bread", ranking_options={"score_threshold": top_score})
    assert len(above.data) >= 1 and all(h.score >= top_score for h in above.data)
    assert len(above.data) < len(everything.data)
    nothing = client.vector_stores.search(store, query="bread", ranking_options={"score_threshold": 1.0})
    assert all(h.score >= 1.0 for h in nothing.data)


def test_query_list_merges(client: OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store, ids = corpus
    page = client.vector_stores.search(store, query=["sourdough starter", "cats grooming"], max_num_results=2)
    assert page.search_query == ["sourdough starter", "cats grooming"]
    assert {h.file_id for h in page.data} == {ids["bread.txt"], ids["cats.txt"]}


def test_search_updates_last_active_at(client: OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store, _ = corpus
    before = client.vector_stores.retrieve(store).last_active_at
    client.vector_stores.search(store, query="anything")
    assert client.vector_stores.retrieve(store).last_active_at >= before  # type: ignore[operator]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": []}, "query"),
        ({"query": ["ok", "  "]}, "query[1]"),
        ({"query": "x", "max_num_results": 0}, "max_num_results"),
        ({"query": "x", "max_num_results": 51}, "max_num_results"),
        ({"query": "x", "ranking_options": {"score_threshold": 1.5}}, "ranking_options.score_threshold"),
        ({"query": "x", "ranking_options": {"ranker": "best"}}, "ranking_options.ranker"),
        ({"query": "x", "filters": {"key": "a", "type": "like", "value": "b"}}, "filters.type"),
        ({"query": "x", "filters": {"key": "a", "type": "gt", "value": "b"}}, "filters.value"),
        ({"query": "x", "filters": {"type": "and", "filters": []}}, "filters.filters"),
        ({"query": "x", "filters": {"key": "a", "type": "in", "value": "b"}}, "filters.value"),
        ({"query": "x", "search_mode": "psychic"}, "search_mode"),
        ({"query": "x", "surprise": 1}, "surprise"),
        ({}, "query"),
    ],
)
def test_search_validation(http: httpx.Client, corpus: tuple[str, dict[str, str]], body: dict, param: str) -> None:
    store, _ = corpus
    response = http.post(f"/vector_stores/{store}/search", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


def test_search_unknown_store_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search("vs_nothere", query="x")


@pytest.mark.parametrize(
    "query",
    ['rotate "keys', "AND OR NOT", "keys?*", "(((", "ключи ротация", "-keys", "NEAR(a b)", "🙂", "a:b", "'"],
)
def test_hostile_keyword_queries_never_fail(client: OpenAI, corpus: tuple[str, dict[str, str]], query: str) -> None:
    store, _ = corpus
    page = client.vector_stores.search(store, query=query, extra_body={"search_mode": "full_text"})
    assert page.object == "vector_store.search_results.page"
