"""Search options through the SDK: rewrite_query, hybrid_search weights, rankers, query lists."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.conftest import upload
from vectorhouse.embed.local import LocalEmbedder
from vectorhouse.index.elasticsearch import MEAN_SAMPLE
from vectorhouse.search.fusion import cosine_floor, cosine_to_unit
from vectorhouse.search.rewrite import rewrite_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I rotate keys?", "rotate keys"),
        ('What is the "blue green" deployment strategy?', '"blue green" deployment strategy'),
        ("Where can I find the API-key rotation policy for 2024?", "API-key rotation policy 2024"),
        ("what is it?", "what is it?"),
        ("  spaced   out  ", "spaced out"),
    ],
)
def test_rewrite_query_table(query: str, expected: str) -> None:
    assert rewrite_query(query) == expected


@pytest.fixture(scope="module")
def store(client: OpenAI) -> tuple[str, dict[str, str]]:
    vs = client.vector_stores.create(name="options")
    texts = {
        # Lexical match on a rare token, weak semantics.
        "lexical.txt": "Error XJ-4471 appears in the logs when the flux capacitor overheats.",
        # Semantic match, no shared keywords with the query below.
        "semantic.txt": "If the device gets too hot, it shuts down to protect its components.",
    }
    # Unrelated filler, so that BM25's document frequencies make the rare tokens above rare.
    texts.update({f"filler{i}.txt": f"Filler note {i} about gardening, baking bread and hiking trails."
                  for i in range(6)})
    ids = {}
    for name, text in texts.items():
        ids[name] = upload(client, name, text)
        client.vector_stores.files.create_and_poll(file_id=ids[name], vector_store_id=vs.id, poll_interval_ms=50)
    return vs.id, ids


def test_rewrite_query_returns_rewritten_text(client: OpenAI, store: tuple[str, dict[str, str]]) -> None:
    vs, _ = store
    page = client.vector_stores.search(vs, query="what does error XJ-4471 mean?", rewrite_query=True)
    assert page.search_query == ["error XJ-4471 mean"]
    plain = client.vector_stores.search(vs, query="what does error XJ-4471 mean?")
    assert plain.search_query == ["what does error XJ-4471 mean?"]


def test_hybrid_weights_shift_ranking(client: OpenAI, store: tuple[str, dict[str, str]]) -> None:
    vs, ids = store
    query = "XJ-4471 flux capacitor overheats device"
    text_heavy = client.vector_stores.search(
        vs, query=query, ranking_options={"hybrid_search": {"embedding_weight": 0.0, "text_weight": 1.0}},  # type: ignore[typeddict-unknown-key]
    )
    assert text_heavy.data[0].file_id == ids["lexical.txt"]
    vector_only = client.vector_stores.search(
        vs, query="my gadget became hot and turned itself off",
        ranking_options={"hybrid_search": {"embedding_weight": 1.0, "text_weight": 0.0}},  # type: ignore[typeddict-unknown-key]
    )
    assert vector_only.data[0].file_id == ids["semantic.txt"]


@pytest.mark.parametrize("ranker", ["auto", "none", "default-2024-11-15"])
def test_rankers_accepted(client: OpenAI, store: tuple[str, dict[str, str]], ranker: str) -> None:
    vs, _ = store
    page = client.vector_stores.search(vs, query="overheating", ranking_options={"ranker": ranker})  # type: ignore[typeddict-item]
    assert page.data


@pytest.mark.parametrize(
    "ranking_options",
    [
        {"ranker": "default_2024_08_21"},
        {"hybrid_search": {"embedding_weight": -1, "text_weight": 1}},
        {"hybrid_search": {"embedding_weight": 0, "text_weight": 0}},
        {"hybrid_search": {"embedding_weight": 1}},
    ],
)
def test_bad_ranking_options(http: httpx.Client, store: tuple[str, dict[str, str]], ranking_options: dict) -> None:
    vs, _ = store
    response = http.post(f"/vector_stores/{vs}/search", json={"query": "x", "ranking_options": ranking_options})
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("ranking_options")


def test_has_more_and_next_page(client: OpenAI, store: tuple[str, dict[str, str]]) -> None:
    vs, _ = store
    page = client.vector_stores.search(vs, query="device", max_num_results=1)
    assert len(page.data) == 1
    assert page.has_more is False and page.next_page is None


def test_scores_share_one_scale_across_modes(client: OpenAI, store: tuple[str, dict[str, str]]) -> None:
    vs, ids = store
    # A rare exact term: BM25 maps to about 0.5 and more (s / (s + 5)), not a twice-squashed sliver.
    text = client.vector_stores.search(vs, query="XJ-4471", extra_body={"search_mode": "full_text"})
    assert text.data[0].file_id == ids["lexical.txt"] and text.data[0].score >= 0.3
    semantic = client.vector_stores.search(vs, query="device shuts down when too hot",
                                           extra_body={"search_mode": "semantic"})
    assert semantic.data[0].file_id == ids["semantic.txt"] and semantic.data[0].score >= 0.3
    hybrid = client.vector_stores.search(vs, query="XJ-4471 overheats")
    assert hybrid.data[0].file_id == ids["lexical.txt"] and 0.3 <= hybrid.data[0].score <= 1.0


def test_hybrid_fuses_both_signals_of_a_candidate_only_one_search_found(client: OpenAI) -> None:
    # Chunks about cooking fill the vector search's 50 candidates (the query is about food); the tax
    # note shares only a rare word with the query, so only the keyword search finds it. Its hybrid
    # score must still count its cosine: w_v * v + w_t * full_text score, not w_t * full_text score
    # alone, v being its cosine measured up from the store's mean cosine. Carpentry chunks, far from
    # the query, keep that mean below the tax note's cosine.
    # fp32 MiniLM: the store's mean cosine is recomputed here from its chunks, and an int8 model's
    # vectors depend on the batch they were embedded in (activations are quantised per batch).
    vs = client.vector_stores.create(name="fill", extra_body={"embedding_model": "all-MiniLM-L6-v2"})
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    texts = {
        "cooking.txt": " ".join(f"Step {i}: simmer the tomato pasta sauce with basil and garlic for dinner."
                                for i in range(330)),
        "carpentry.txt": " ".join(f"Joint {i}: plane the oak board along the grain, then clamp the glued mortise."
                                  for i in range(700)),
    }
    file_ids = {name: upload(client, name, text) for name, text in texts.items()}
    for file_id in file_ids.values():
        client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=vs.id, poll_interval_ms=50,
                                                   chunking_strategy=static)  # type: ignore[arg-type]
    tax_id = upload(client, "tax.txt", "Zyxquatl reminder: quarterly tax filing is due at the end of the month.")
    client.vector_stores.files.create_and_poll(file_id=tax_id, vector_store_id=vs.id, poll_interval_ms=50,
                                               attributes={"kind": "tax"})
    chunks = [c.text for file_id in [*file_ids.values(), tax_id]
              for c in client.vector_stores.files.content(file_id=file_id, vector_store_id=vs.id).data]
    # Enough cooking chunks to fill the candidates; few enough chunks in all that Elasticsearch's
    # sample for the store's mean vector (MEAN_SAMPLE) is the whole store, so the mean is exact.
    assert 50 < len(chunks) <= MEAN_SAMPLE
    query = "zyxquatl italian cuisine meal ideas"
    only_tax = {"key": "kind", "type": "eq", "value": "tax"}
    cosine = client.vector_stores.search(vs.id, query=query, filters=only_tax,  # type: ignore[arg-type]
                                         extra_body={"search_mode": "semantic"}).data[0].score
    keyword = client.vector_stores.search(vs.id, query=query, filters=only_tax,  # type: ignore[arg-type]
                                          extra_body={"search_mode": "full_text"}).data[0].score
    embedder = LocalEmbedder()
    floor = cosine_floor(float(embedder.embed(chunks).mean(axis=0) @ embedder.embed([query])[0]))
    assert cosine > floor + 0.02 and keyword > 0.0
    hybrid = client.vector_stores.search(
        vs.id, query=query, max_num_results=1,
        ranking_options={"hybrid_search": {"embedding_weight": 0.2, "text_weight": 0.8}},  # type: ignore[typeddict-unknown-key]
    ).data
    assert hybrid[0].file_id == tax_id
    assert hybrid[0].score == pytest.approx(0.2 * cosine_to_unit(cosine, floor) + 0.8 * keyword, abs=1e-4)
