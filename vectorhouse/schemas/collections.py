"""Wire models of the /v1/api collection API: requests validated at the edge, and the shapes it answers with."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from vectorhouse.ids import is_valid
from vectorhouse.schemas.requests import SearchMode

MAX_DOCUMENTS = 1000  # per /v1/api/index request
MAX_LIST_ITEMS = 256  # links, topics, and each filter list
MAX_ITEM_CHARS = 2048  # a link, a topic, an author, a filter value (Elasticsearch keywords stop at 32 kB)
MAX_METADATA_BYTES = 65536  # a document's metadata as JSON: it is copied onto every chunk in the index


def _not_a_store_id(name: str) -> str:
    if is_valid("vs_", name):  # routes take a store id where they take a name: it must stay unambiguous
        raise ValueError("a collection name cannot be a vector store id ('vs_' followed by letters and digits)")
    return name


def _no_nul(value: Any, where: str = "") -> None:
    """PostgreSQL text and JSONB cannot hold NUL: refused anywhere in a field, keys of objects included."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"must not contain NUL characters{where}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, " (in a key)")
            _no_nul(item, where)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item, where)


def _checked_metadata(value: dict[str, Any]) -> dict[str, Any]:
    _no_nul(value)
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except ValueError:
        raise ValueError("must be JSON without NaN or infinite numbers") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return value


def _clean(value: Any) -> Any:
    _no_nul(value)
    return value


def _has_words(items: list[str]) -> list[str]:
    for i, item in enumerate(items):
        if not any(ch.isalnum() for ch in item):
            raise ValueError(f"item {i} has no word to look for")
    return items


Text = Annotated[StrictStr, Field(max_length=MAX_ITEM_CHARS), AfterValidator(_clean)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=256), AfterValidator(_clean)]
NewName = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"\S"), AfterValidator(_clean),
                    AfterValidator(_not_a_store_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionCreate(_Strict):
    collection: NewName
    model_name: str | None = Field(default=None, max_length=128)
    storage_backend: str | None = None


class CollectionRef(_Strict):
    collection: Name


class Document(_Strict):
    content: StrictStr = Field(min_length=1, pattern=r"\S")  # kept as the file's bytes, NUL and all
    links: list[Text] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    author: Text | None = None
    topics: list[Text] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    metadata: Annotated[dict[str, Any], AfterValidator(_checked_metadata)] = Field(default_factory=dict)


class IndexRequest(_Strict):
    # An existing collection's name or store id, or a new name (not an id: service/collections.py).
    collection: Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"\S"), AfterValidator(_clean)]
    storage_backend: str | None = None
    documents: list[Document] = Field(min_length=1, max_length=MAX_DOCUMENTS)


class _DocumentQuery(_Strict):
    """What /search and /rag share: the collection, how to search it, and its filters."""

    collection: Name
    search_type: SearchMode = "hybrid"
    limit: StrictInt = Field(default=10, ge=1, le=50)
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    link_filter: list[Text] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    topic_filter: list[Text] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    content_filter: Annotated[list[Text], AfterValidator(_has_words)] = Field(default_factory=list,
                                                                             max_length=MAX_LIST_ITEMS)


class CollectionSearch(_DocumentQuery):
    search_text: StrictStr = Field(min_length=1, pattern=r"\S")
    storage_backend: str | None = None  # accepted and checked: a collection lives on one backend


class RagRequest(_DocumentQuery):
    """`/v1/api/rag`: a question answered from the collection, searched as `/v1/api/search` searches."""

    question: StrictStr = Field(min_length=1, max_length=10000, pattern=r"\S")
    limit: StrictInt = Field(default=5, ge=1, le=50)  # sources given to the model
    model: StrictStr | None = None
    instructions: StrictStr | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: StrictInt | None = Field(default=None, ge=1)

    def search(self) -> CollectionSearch:
        shared = self.model_dump(include=set(_DocumentQuery.model_fields))
        return CollectionSearch(**shared, search_text=self.question)


class DeleteByIds(_Strict):
    collection: Name
    ids: list[Text] = Field(max_length=MAX_DOCUMENTS)


class CollectionInfo(BaseModel):
    collection: str
    id: str
    model_name: str
    storage_backend: str
    created_at: int


class CollectionDeleted(BaseModel):
    collection: str
    id: str
    deleted: Literal[True] = True


class CollectionList(BaseModel):
    collections: list[str]


class Indexed(BaseModel):
    collection: str
    ids: list[str]


class DocumentSource(BaseModel):
    id: str
    content: str
    links: list[str]
    topics: list[str]
    author: str | None
    meta_data: dict[str, Any]
    created_at: int


class DocumentDetail(DocumentSource):
    status: str


class CollectionData(BaseModel):
    details: list[DocumentDetail]
    total: int


class CollectionHit(BaseModel):
    id: str
    score: float
    source: DocumentSource


class CollectionResults(BaseModel):
    results: list[CollectionHit]
    total: int
    query_time_ms: float


class Deleted(BaseModel):
    deleted: int


class IndexCleared(BaseModel):
    collection: str
    deleted: int


class RagAnswer(BaseModel):
    """The answer cites its sources as [n], n counting from 1 in `sources` (the passages the model was given)."""

    answer: str
    sources: list[CollectionHit]
    query_time_ms: float
