"""/v1/api over plain HTTP: named collections of documents (content, links, topics, author, metadata), which
are vector stores and their files on the OpenAI routes too; a real `vectorhouse serve` per backend, real embedding."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Server

API = "/v1/api"
BGE = "bge-small-en-v1.5-int8"
SEARCH_TYPES = ("semantic", "full_text", "hybrid")


def doc(content: str, links: list[str], topics: list[str], author: str | None, **metadata: Any) -> dict[str, Any]:
    return {"content": content, "links": links, "topics": topics, "author": author, "metadata": metadata}


# Batch A: indexed first. "lava" and "ash" occur (as words and as substrings) only where the filter tests expect.
BATCH_A: dict[str, dict[str, Any]] = {
    "volcano": doc("Volcano eruptions hurl molten lava and thick ash clouds down the mountain.",
                   ["https://geo.example/volcano", "https://wiki.example/lava"], ["geology", "disasters"],
                   "Ada Lovelace", year=2021, peer_reviewed=True,
                   site={"name": "Etna", "elevation_m": 3357, "coords": [37.75, 14.99]}),
    "basalt": doc("Lava flows from old eruptions cooled into black basalt fields along the island coast.",
                  ["https://geo.example/basalt"], ["geology"], None, score=0.5),
    "sourdough": doc("Sourdough baking relies on a wild yeast starter, flour, water and a slow proof.",
                     ["https://food.example/bread"], ["cooking"], "Jean Dupont",
                     hydration=0.78, oven={"celsius": 250, "steam": True}),
    "chess": doc("The Sicilian Defence is a sharp chess opening in which Black meets 1.e4 with c5.",
                 ["https://games.example/chess"], ["games"], "Magnus", elo=2850, eco="B20"),
    "bees": doc("Honeybees perform a waggle dance to tell hive mates where the flowers bloom.",
                ["https://bio.example/bees"], ["nature", "insects"], "Karl von Frisch", species="Apis mellifera"),
    "tides": doc("The Moon's gravity raises ocean tides twice each day along every shoreline.",
                 ["https://sky.example/moon", "https://bio.example/reefs"], ["nature", "astronomy"], "Isaac Newton",
                 period_hours=12.42),
    "telescope": doc("A refracting telescope gathers faint starlight through a large objective lens.",
                     ["https://sky.example/optics"], ["astronomy"], "Galileo"),
    "unicode": doc("Café naïve façade — 東京の桜は春に咲きます 🌸, Zürich Straße.", ["https://例え.テスト/パス?q=ü"],
                   ["ünïcödé", "旅行"], "Zoë Ñúñez", emoji="🎉", mixed=[1, 2.5, "three", None, False],
                   deep={"a": {"b": {"c": []}}}, **{"日本語": "はい"}),
    "bicycle": {"content": "Oiling the bicycle chain keeps the gears shifting smoothly on long rides."},  # defaults
}
# Batch B: indexed over a second later, so newest first puts it ahead of batch A.
BATCH_B: dict[str, dict[str, Any]] = {
    "glacier": doc("Glaciers carve deep valleys as compacted snow slowly grinds the bedrock.",
                   ["https://geo.example/ice"], ["geology"], "Louis Agassiz", retreat_m_per_year=-12),
    "lighthouse": doc("The lighthouse keeper trimmed the lamp wick before the winter storm.",
                      ["https://sea.example/lights"], ["history"], None, lit=False, count=0),
}
DOCS = {**BATCH_A, **BATCH_B}
SEMANTIC_QUERIES = {"volcano": "volcano eruption with lava and ash", "sourdough": "how to bake bread with a starter",
                    "chess": "best chess opening for black", "bees": "how do honeybees communicate",
                    "telescope": "telescope lens for stargazing"}
KEYWORD_QUERIES = {"chess": "Sicilian", "bees": "waggle", "sourdough": "sourdough", "telescope": "telescope"}


def expected(key: str) -> dict[str, Any]:
    """A document as the server must return it: the indexed fields, with their defaults filled in."""
    doc = DOCS[key]
    return {"content": doc["content"], "links": doc.get("links", []), "topics": doc.get("topics", []),
            "author": doc.get("author"), "meta_data": doc.get("metadata", {})}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON: 1 and 1.0 and True differ, key order does not."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def assert_error(response: httpx.Response, status: int, param: str | None = None, code: str | None = None,
                 param_prefix: str | None = None) -> dict[str, Any]:
    """OpenAI's envelope, exactly its 4 keys; `param`/`code` checked when given."""
    assert response.status_code == status, f"{response.request.url} {response.request.content!r}: {response.text}"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    assert param is None or error["param"] == param, error
    assert param_prefix is None or str(error["param"]).startswith(param_prefix), error
    assert code is None or error["code"] == code, error
    return error


@pytest.fixture(scope="module")
def web(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer local"}, timeout=120) as client:
        yield client


def create(web: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    return ok(web.post(f"{API}/collection/create", json={"collection": name, **extra}))


def index(web: httpx.Client, collection: str, docs: list[dict[str, Any]], **extra: Any) -> list[str]:
    body = ok(web.post(f"{API}/index", json={"collection": collection, "documents": docs, **extra}))
    assert set(body) == {"collection", "ids"} and body["collection"] == collection
    ids = body["ids"]
    assert len(ids) == len(docs) == len(set(ids)) and all(i.startswith("file-") for i in ids)
    return ids


def data(web: httpx.Client, collection: str, **params: Any) -> dict[str, Any]:
    return ok(web.get(f"{API}/collection/data", params={"collection": collection, **params}))


def delete(web: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return web.request("DELETE", f"{API}/{path}", json=body)


def names(web: httpx.Client) -> list[str]:
    body = ok(web.get(f"{API}/collection"))
    assert set(body) == {"collections"}, body
    return body["collections"]


def wait_completed(web: httpx.Client, collection: str, count: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        page = data(web, collection, limit=100)
        statuses = [d["status"] for d in page["details"]]
        assert "failed" not in statuses, page
        if page["total"] == count and len(statuses) == count and set(statuses) == {"completed"}:
            return page
        assert time.monotonic() < deadline, f"not completed in {timeout}s: {page}"
        time.sleep(0.2)


def search(web: httpx.Client, collection: str, text: str, **body: Any) -> list[dict[str, Any]]:
    """The results, after checking the invariants every search answer keeps."""
    page = ok(web.post(f"{API}/search", json={"collection": collection, "search_text": text, **body}))
    assert set(page) == {"results", "total", "query_time_ms"}
    results = page["results"]
    assert page["total"] == len(results) <= body.get("limit", 10)
    assert isinstance(page["query_time_ms"], (int, float)) and page["query_time_ms"] >= 0
    ids, scores = [r["id"] for r in results], [r["score"] for r in results]
    assert len(ids) == len(set(ids)), ids
    assert all(body.get("min_score", 0.0) <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    for r in results:
        assert set(r) == {"id", "score", "source"}
        assert set(r["source"]) == {"id", "content", "links", "topics", "author", "meta_data", "created_at"}
        assert r["source"]["id"] == r["id"]
    return results


@dataclass
class Corpus:
    name: str
    store_id: str
    ids: dict[str, str]  # document key -> file id

    def keys(self, results: list[dict[str, Any]]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(r["id"], r["id"]) for r in results]


@pytest.fixture(scope="module")
def corpus(web: httpx.Client) -> Corpus:
    name = unique("corpus")
    store = create(web, name)
    ids_a = index(web, name, list(BATCH_A.values()))
    time.sleep(1.1)  # batch B's created_at is a later second
    ids_b = index(web, name, list(BATCH_B.values()))
    wait_completed(web, name, len(DOCS))
    return Corpus(name, store["id"], dict(zip([*BATCH_A, *BATCH_B], [*ids_a, *ids_b], strict=True)))


def test_create_reports_the_collection_and_it_is_an_openai_vector_store(web: httpx.Client, backend: str) -> None:
    name = unique("create")
    before = int(time.time())
    body = create(web, name)
    assert set(body) == {"collection", "id", "model_name", "storage_backend", "created_at"}
    assert body["collection"] == name and body["id"].startswith("vs_")
    assert isinstance(body["model_name"], str) and body["model_name"]
    assert body["storage_backend"] == backend  # the server's default backend
    assert isinstance(body["created_at"], int) and before - 5 <= body["created_at"] <= time.time() + 5
    store = ok(web.get(f"/v1/vector_stores/{body['id']}"))
    assert store["embedding_model"] == body["model_name"]
    assert name in names(web)
    for storage in {backend, "embedded"}:  # embedded is available on every server
        explicit = create(web, unique("create"), storage_backend=storage)
        assert explicit["storage_backend"] == storage


def test_a_collection_of_the_second_model_embeds_with_it(web: httpx.Client) -> None:
    name = unique("bge")
    body = create(web, name, model_name=BGE)
    assert body["model_name"] == BGE
    assert ok(web.get(f"/v1/vector_stores/{body['id']}"))["embedding_model"] == BGE
    ids = index(web, name, [{"content": BATCH_A["bees"]["content"]}, {"content": BATCH_A["chess"]["content"]}])
    wait_completed(web, name, 2)
    assert search(web, name, "how do honeybees communicate", search_type="semantic")[0]["id"] == ids[0]


def test_create_errors(web: httpx.Client) -> None:
    url = f"{API}/collection/create"
    bad = unique("bad")
    assert_error(web.post(url, json={"collection": bad, "model_name": "no-such-model"}), 400, "model_name",
                 "invalid_embedding_model")
    assert_error(web.post(url, json={"collection": bad, "storage_backend": "nosuch"}), 400, "storage_backend")
    for body in ({}, {"collection": ""}, {"collection": "   "}):
        assert_error(web.post(url, json=body), 400, "collection")
    store_id = create(web, unique("named"))["id"]  # a store id is no name: routes take either
    assert_error(web.post(url, json={"collection": store_id}), 400, "collection")
    assert bad not in names(web)  # nothing half-written
    taken = unique("taken")
    create(web, taken)
    assert_error(web.post(url, json={"collection": taken}), 409, "collection", "collection_exists")
    assert names(web).count(taken) == 1


def test_list_is_in_creation_order(web: httpx.Client) -> None:
    made = [unique("order") for _ in range(3)]
    for name in made:
        create(web, name)
    assert [n for n in names(web) if n in made] == made


def test_delete_collection_then_create_it_again(web: httpx.Client) -> None:
    name = unique("gone")
    store = create(web, name)
    index(web, name, [{"content": "A short note about a red kite over the hills."}])
    wait_completed(web, name, 1)
    deleted = ok(delete(web, "collection/delete", {"collection": name}))
    assert deleted == {"collection": name, "id": store["id"], "deleted": True}
    assert name not in names(web)
    for response in (web.post(f"{API}/search", json={"collection": name, "search_text": "kite"}),
                     web.get(f"{API}/collection/data", params={"collection": name})):
        assert_error(response, 404, "collection", "collection_not_found")
    assert_error(delete(web, "collection/delete", {"collection": name}), 404, code="collection_not_found")
    again = create(web, name)
    assert again["id"] != store["id"] and names(web).count(name) == 1
    assert data(web, name)["total"] == 0
    by_id = ok(delete(web, "collection/delete", {"collection": again["id"]}))
    assert by_id == {"collection": name, "id": again["id"], "deleted": True}
    assert name not in names(web)


def test_data_round_trips_every_field_newest_first(web: httpx.Client, corpus: Corpus) -> None:
    page = data(web, corpus.name, limit=100)
    assert page["total"] == len(DOCS) == len(page["details"])
    by_id = {d["id"]: d for d in page["details"]}
    assert set(by_id) == set(corpus.ids.values())
    for key, file_id in corpus.ids.items():
        detail = by_id[file_id]
        assert set(detail) == {"id", "content", "links", "topics", "author", "meta_data", "created_at", "status"}
        assert detail["status"] == "completed" and isinstance(detail["created_at"], int)
        got = {k: detail[k] for k in ("content", "links", "topics", "author", "meta_data")}
        assert same(got, expected(key)), (key, got)
    stamps = [d["created_at"] for d in page["details"]]
    assert stamps == sorted(stamps, reverse=True)
    newest = {d["id"] for d in page["details"][:len(BATCH_B)]}
    assert newest == {corpus.ids[k] for k in BATCH_B}
    default = data(web, corpus.name)  # limit 20 and offset 0 by default
    assert [d["id"] for d in default["details"]] == [d["id"] for d in page["details"]]


def test_data_pages_cover_every_document_once(web: httpx.Client, corpus: Corpus) -> None:
    whole = [d["id"] for d in data(web, corpus.name, limit=100)["details"]]
    for size in (1, 3, 4):
        paged: list[str] = []
        for offset in range(0, len(DOCS) + size, size):
            page = data(web, corpus.name, limit=size, offset=offset)
            assert page["total"] == len(DOCS) and len(page["details"]) <= size
            paged += [d["id"] for d in page["details"]]
        assert paged == whole, size
    url = f"{API}/collection/data"
    for params, param in (({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset")):
        assert_error(web.get(url, params={"collection": corpus.name, **params}), 400, param)


def test_documents_are_vector_store_files_with_attributes(web: httpx.Client, corpus: Corpus) -> None:
    listing = ok(web.get(f"/v1/vector_stores/{corpus.store_id}/files", params={"limit": 100}))
    files = {f["id"]: f for f in listing["data"]}
    assert set(files) == set(corpus.ids.values())
    for key, file_id in corpus.ids.items():
        attributes = files[file_id]["attributes"]
        assert files[file_id]["status"] == "completed"
        want = expected(key)
        got = {k: attributes.get(k) for k in ("links", "topics", "author", "meta_data")}
        assert same(got, {k: want[k] for k in got}), (key, attributes)


def test_index_creates_a_missing_collection(web: httpx.Client, backend: str) -> None:
    name = unique("implicit")
    ids = index(web, name, [{"content": "Otters hold hands while they sleep on the water."}], storage_backend=backend)
    assert name in names(web)
    assert_error(web.post(f"{API}/collection/create", json={"collection": name}), 409, "collection",
                 "collection_exists")
    page = wait_completed(web, name, 1)
    assert [d["id"] for d in page["details"]] == ids


def test_an_invalid_document_fails_the_whole_request(web: httpx.Client, corpus: Corpus) -> None:
    good = {"content": "A perfectly fine document about kayaks."}
    cases = [
        ([good, {"links": []}], "documents[1].content", True), ([{"content": ""}], "documents[0].content", True),
        ([good, good, {"content": "x", "links": "https://a.example"}], "documents[2].links", False),
        ([{"content": "x", "links": ["ok", 3]}], "documents[0].links", False),
        ([{"content": "x", "topics": "geology"}], "documents[0].topics", False),
        ([good, {"content": "x", "author": 7}], "documents[1].author", False),
        ([{"content": "x", "metadata": ["not", "an", "object"]}], "documents[0].metadata", False),
    ]
    for docs, param, exact in cases:
        response = web.post(f"{API}/index", json={"collection": corpus.name, "documents": docs})
        assert_error(response, 400, param if exact else None, param_prefix=None if exact else param)
    assert_error(web.post(f"{API}/index", json={"collection": corpus.name, "documents": []}), 400, "documents")
    assert_error(web.post(f"{API}/index", json={"documents": [good]}), 400, "collection")
    assert data(web, corpus.name)["total"] == len(DOCS)  # nothing written
    fresh = unique("never")
    assert_error(web.post(f"{API}/index", json={"collection": fresh, "documents": [good, {}]}), 400,
                 "documents[1].content")
    assert fresh not in names(web)
    unknown_id = "vs_" + "Z" * 24  # an id names an existing store or nothing; it never makes a collection
    assert_error(web.post(f"{API}/index", json={"collection": unknown_id, "documents": [good]}), 404, "collection",
                 "collection_not_found")


def test_a_vector_store_id_names_the_collection(web: httpx.Client, corpus: Corpus) -> None:
    by_name = data(web, corpus.name, limit=100)
    assert data(web, corpus.store_id, limit=100)["details"] == by_name["details"]
    query = SEMANTIC_QUERIES["chess"]
    assert ([r["id"] for r in search(web, corpus.store_id, query)]
            == [r["id"] for r in search(web, corpus.name, query)])


@pytest.mark.parametrize("search_type", SEARCH_TYPES)
def test_the_topic_document_ranks_first(web: httpx.Client, corpus: Corpus, search_type: str) -> None:
    queries = KEYWORD_QUERIES if search_type == "full_text" else SEMANTIC_QUERIES
    for key, query in queries.items():
        results = search(web, corpus.name, query, search_type=search_type)
        assert results and corpus.keys(results)[0] == key, (query, corpus.keys(results))
        source = results[0]["source"]
        assert same({k: source[k] for k in ("content", "links", "topics", "author", "meta_data")}, expected(key))


def test_defaults_hybrid_and_ten_results(web: httpx.Client, corpus: Corpus) -> None:
    query = SEMANTIC_QUERIES["volcano"]
    default = search(web, corpus.name, query)
    hybrid = search(web, corpus.name, query, search_type="hybrid")
    assert [r["id"] for r in default] == [r["id"] for r in hybrid]
    assert [r["score"] for r in default] == pytest.approx([r["score"] for r in hybrid], abs=1e-6)
    assert len(search(web, corpus.name, query, search_type="semantic")) == 10 < len(DOCS)
    assert len(search(web, corpus.name, query, search_type="semantic", limit=3)) == 3
    assert len(search(web, corpus.name, query, search_type="semantic", limit=50)) == len(DOCS)


def matching(links: Sequence[str] = (), topics: Sequence[str] = (), content: Sequence[str] = ()) -> set[str]:
    """The documents a filter must select: links ANY, topics ANY, every content term, ANDed."""
    out = set()
    for key in DOCS:
        doc = expected(key)
        if links and not set(links) & set(doc["links"]):
            continue
        if topics and not set(topics) & set(doc["topics"]):
            continue
        if all(term.lower() in doc["content"].lower() for term in content):
            out.add(key)
    return out


FILTERS = [
    {"link_filter": ["https://games.example/chess", "https://food.example/bread"]},
    {"link_filter": ["https://bio.example/reefs"]}, {"topic_filter": ["astronomy", "insects"]},
    {"topic_filter": ["旅行"]}, {"content_filter": ["lava"]}, {"content_filter": ["lava", "ash"]},
    {"content_filter": ["LAVA"]}, {"content_filter": ["Lava", "BASALT"]},
    {"link_filter": ["https://geo.example/volcano", "https://geo.example/basalt", "https://games.example/chess"],
     "topic_filter": ["geology"], "content_filter": ["lava"]},
    {"topic_filter": ["nature"], "content_filter": ["ocean"]},
    {"topic_filter": ["games"], "content_filter": ["lava"]}, {"link_filter": ["https://nowhere.example"]},  # none
]


def test_filters_select_exactly_the_matching_documents(web: httpx.Client, corpus: Corpus) -> None:
    assert matching(content=["lava", "ash"]) == {"volcano"} and matching(content=["lava"]) == {"volcano", "basalt"}
    for filters in FILTERS:
        want = matching(filters.get("link_filter", ()), filters.get("topic_filter", ()),
                        filters.get("content_filter", ()))
        semantic = search(web, corpus.name, "nature and science", search_type="semantic", limit=50, **filters)
        assert set(corpus.keys(semantic)) == want, filters
        hybrid = search(web, corpus.name, "nature and science", limit=50, **filters)
        assert set(corpus.keys(hybrid)) <= want and bool(hybrid) == bool(want), filters
    keyword = search(web, corpus.name, "lava", search_type="full_text", content_filter=["ash"])
    assert corpus.keys(keyword) == ["volcano"]


@pytest.mark.parametrize("search_type", SEARCH_TYPES)
def test_filters_apply_before_the_top_k_cut(web: httpx.Client, corpus: Corpus, search_type: str) -> None:
    query = "volcano eruptions lava ash"
    assert corpus.keys(search(web, corpus.name, query, search_type=search_type, limit=1)) == ["volcano"]
    low = search(web, corpus.name, query, search_type=search_type, limit=1, link_filter=["https://geo.example/basalt"])
    assert corpus.keys(low) == ["basalt"]
    if search_type == "semantic":
        far = search(web, corpus.name, query, search_type=search_type, limit=1, topic_filter=["cooking"])
        assert corpus.keys(far) == ["sourdough"]


def test_min_score(web: httpx.Client, corpus: Corpus) -> None:
    query = SEMANTIC_QUERIES["telescope"]
    default = search(web, corpus.name, query)
    assert len(default) >= 2
    threshold = round((default[0]["score"] + default[-1]["score"]) / 2, 4)
    high = search(web, corpus.name, query, min_score=threshold)
    got = {r["id"] for r in high}
    assert got <= {r["id"] for r in default} and default[0]["id"] in got
    assert {r["id"] for r in default if r["score"] >= threshold + 1e-4} <= got
    assert not {r["id"] for r in default if r["score"] < threshold - 1e-4} & got
    search(web, corpus.name, query, min_score=1.0)  # whatever comes back scores 1.0 (checked in search())


def test_search_errors(web: httpx.Client, corpus: Corpus) -> None:
    url = f"{API}/search"
    base = {"collection": corpus.name, "search_text": "lava"}
    for change in ({"search_type": "fuzzy"}, {"search_text": ""}, {"limit": 0}, {"limit": 51}, {"min_score": 1.5},
                   {"min_score": -0.1}, {"link_filter": "a"}, {"topic_filter": "a"}, {"content_filter": "a"},
                   {"content_filter": ["lava", " "]}, {"content_filter": [""]}, {"limit": True}):
        assert_error(web.post(url, json={**base, **change}), 400, next(iter(change)))
    assert_error(web.post(url, json={**base, "collection": unique("nobody")}), 404, "collection",
                 "collection_not_found")


def test_delete_index_empties_the_collection_but_keeps_it(web: httpx.Client) -> None:
    name = unique("wipe")
    docs = [{"content": f"Note {i}: the heron waded through shallow reeds."} for i in range(21)]
    index(web, name, docs)
    first = data(web, name)  # limit 20 by default, whatever the documents' status
    assert first["total"] == 21 and len(first["details"]) == 20
    wait_completed(web, name, 21)
    assert search(web, name, "heron", search_type="full_text")
    deleted = ok(delete(web, "delete_index", {"collection": name}))
    assert deleted == {"collection": name, "deleted": 21}
    assert name in names(web)
    assert data(web, name) == {"details": [], "total": 0}
    for search_type in SEARCH_TYPES:
        assert search(web, name, "heron", search_type=search_type) == []
    index(web, name, [{"content": "The heron came back."}])
    wait_completed(web, name, 1)


def test_delete_by_ids_removes_documents_from_search_at_once(web: httpx.Client, corpus: Corpus) -> None:
    name = unique("prune")
    ids = index(web, name, [{"content": "Penguins huddle together through the Antarctic winter."},
                            {"content": "Flamingos stand on one leg in warm salty lagoons."},
                            {"content": "Puffins dive for sandeels off northern cliffs."}])
    wait_completed(web, name, 3)
    assert [r["id"] for r in search(web, name, "Penguins", search_type="full_text")] == [ids[0]]
    strangers = [corpus.ids["chess"], "file-doesnotexist", ids[0]]  # another collection's, none's, a repeat
    body = ok(delete(web, "collection/delete_by_ids", {"collection": name, "ids": [ids[0], *strangers]}))
    assert body == {"deleted": 1}
    assert search(web, name, "Penguins", search_type="full_text") == []
    assert ids[0] not in [r["id"] for r in search(web, name, "penguins in antarctica", search_type="semantic")]
    page = data(web, name)
    assert page["total"] == 2 and {d["id"] for d in page["details"]} == set(ids[1:])
    assert data(web, corpus.name)["total"] == len(DOCS)  # the other collection's document stays
    again = ok(delete(web, "collection/delete_by_ids", {"collection": name, "ids": [ids[0]]}))
    assert again == {"deleted": 0}


def test_hostile_bodies_are_400s_naming_the_field(web: httpx.Client, corpus: Corpus) -> None:
    nul, one = "a\x00b", {"content": "fine"}
    cases: list[tuple[str, str, Any, str | None]] = [
        ("POST", "collection/create", {"collection": nul}, "collection"),
        ("DELETE", "collection/delete", {"collection": nul}, "collection"),
        ("POST", "index", {"collection": corpus.name, "documents": [one, {**one, "author": nul}]},
         "documents[1].author"),
        ("POST", "index", {"collection": corpus.name, "documents": [{**one, "links": [nul]}]}, "documents[0].links[0]"),
        ("POST", "index", {"collection": corpus.name, "documents": [{**one, "topics": ["x" * 3000]}]},
         "documents[0].topics[0]"),
        ("POST", "index", {"collection": corpus.name, "documents": [{**one, "metadata": {nul: 1}}]},
         "documents[0].metadata"),
        ("POST", "index", {"collection": corpus.name, "documents": [{**one, "metadata": {"k": "x" * 70000}}]},
         "documents[0].metadata"),
        ("POST", "index", {"collection": corpus.name, "documents": [one] * 1001}, "documents"),
        ("POST", "search", {"collection": corpus.name, "search_text": "x", "topic_filter": [nul]}, "topic_filter[0]"),
        ("DELETE", "collection/delete_by_ids", {"collection": corpus.name, "ids": [nul]}, "ids[0]"),
        ("POST", "index", [1, 2], None),
    ]
    for method, path, body, param in cases:
        assert_error(web.request(method, f"{API}/{path}", json=body), 400, param)
    assert_error(web.post(f"{API}/search", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(web.get(f"{API}/collection/data", params={"collection": nul}), 400, "collection")
    assert data(web, corpus.name)["total"] == len(DOCS)
