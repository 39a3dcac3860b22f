"""A small store of unrelated documents, asked natural questions through the SDK: every mode's top hit, per backend.

The questions are of four kinds: paraphrases sharing no key word with their document, paraphrases
sharing one ordinary word with a wrong document (the case where a keyword signal scaled only by the
terms the store holds ranked the wrong document first), rare keywords, and both at once.
"""

from __future__ import annotations

import pytest
from openai import OpenAI

from tests.conftest import upload

DOCUMENTS = {
    "volcano.txt": "Magma ascends through cracks in the crust until it erupts as lava. Mount Pinatubo in 1991 "
                   "blasted ash into the stratosphere and cooled the planet for a year.",
    "sourdough.txt": "A sourdough starter ferments flour and water with wild yeast. The dough rises as carbon "
                     "dioxide is trapped in the gluten, and the loaf is baked in a Dutch oven.",
    "violin.txt": "A violin's four strings are tuned in fifths and bowed with horsehair. Stradivari built his "
                  "instruments in Cremona around 1700 from spruce and maple.",
    "chess.txt": "In chess the Sicilian Defence answers 1.e4 with c5. The Najdorf variation was a favourite of "
                 "Bobby Fischer and Garry Kasparov.",
    "tax.txt": "Value-added tax is charged at each stage of production on the value a business adds. Exporters "
               "reclaim the VAT they paid on their inputs.",
    "sleep.txt": "During REM sleep the brain is nearly as active as when awake, and most vivid dreams occur then. "
                 "Adults cycle through four or five such phases each night.",
    "bees.txt": "Honeybees tell their hive mates where flowers are with a waggle dance. The angle of the dance "
                "relative to the sun points at the nectar.",
    "tides.txt": "The Moon's gravity pulls the oceans into two bulges, so most coasts see two high tides a day. "
                 "Spring tides come when the Sun and Moon line up.",
    "vaccine.txt": "A vaccine trains the immune system with a harmless piece of a pathogen. Memory B cells then "
                   "make antibodies quickly when the real germ arrives.",
    "bicycle.txt": "Bicycle gears let a rider keep a comfortable pedalling cadence on hills. A derailleur moves "
                   "the chain between sprockets of different sizes.",
}

# (question, the document it is about, what full_text ranks first: None when no word is shared)
PARAPHRASES = [
    ("how do insects communicate the location of food to each other", "bees.txt", None),
    ("why does the sea level climb and fall twice daily", "tides.txt", None),
    ("how does an injection teach the body to fight disease", "vaccine.txt", None),
    ("which woodworker from Italy made famous fiddles", "violin.txt", None),
    ("which opening did the celebrated American champion prefer", "chess.txt", None),
    ("what mechanism lets a cyclist climb without straining", "bicycle.txt", None),
]
# One ordinary word of each is in a wrong document only: rises (sourdough), stage (tax), chain (bicycle).
SHARED_WORD = [
    ("what happens when hot liquid rock rises toward the surface", "volcano.txt", "sourdough.txt"),
    ("at what stage of slumber does the mind see pictures", "sleep.txt", "tax.txt"),
    ("how is consumption levied along the supply chain", "tax.txt", "bicycle.txt"),
]
RARE_KEYWORDS = [
    ("Pinatubo", "volcano.txt"),
    ("Najdorf", "chess.txt"),
    ("derailleur", "bicycle.txt"),
    ("waggle", "bees.txt"),
    ("Stradivari Cremona", "violin.txt"),
]
MIXED = [
    ("what did Fischer like to play against e4", "chess.txt"),
    ("how did Pinatubo change the climate", "volcano.txt"),
    ("why do exporters get VAT back", "tax.txt"),
]


@pytest.fixture(scope="module")
def store(client: OpenAI) -> str:
    vs = client.vector_stores.create(name="small-store-relevance")
    file_ids = [upload(client, name, text) for name, text in DOCUMENTS.items()]
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=file_ids)
    assert batch.file_counts.completed == len(DOCUMENTS)
    return vs.id


def top(client: OpenAI, store: str, query: str, mode: str) -> str | None:
    page = client.vector_stores.search(store, query=query, max_num_results=3, extra_body={"search_mode": mode})
    return page.data[0].filename if page.data else None


@pytest.mark.parametrize(("query", "expected", "keyword_top"), PARAPHRASES + SHARED_WORD)
def test_paraphrases(client: OpenAI, store: str, query: str, expected: str, keyword_top: str | None) -> None:
    assert top(client, store, query, "semantic") == expected
    assert top(client, store, query, "full_text") == keyword_top
    assert top(client, store, query, "hybrid") == expected


@pytest.mark.parametrize(("query", "expected"), RARE_KEYWORDS + MIXED)
def test_rare_keywords(client: OpenAI, store: str, query: str, expected: str) -> None:
    for mode in ("hybrid", "full_text", "semantic"):
        assert top(client, store, query, mode) == expected, mode


def test_a_one_word_match_of_a_long_question_weighs_little(client: OpenAI, store: str) -> None:
    """The sourdough text matches only "rises" of seven key words: its keyword signal stays far below
    what a document holding every word would get (0.5), so its hybrid score stays below the volcano's."""
    query = SHARED_WORD[0][0]
    keyword = client.vector_stores.search(store, query=query, extra_body={"search_mode": "full_text"}).data[0]
    assert keyword.filename == "sourdough.txt" and keyword.score < 0.2
    hybrid = client.vector_stores.search(store, query=query).data
    assert [h.filename for h in hybrid[:2]] == ["volcano.txt", "sourdough.txt"]
