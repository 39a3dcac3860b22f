"""Request bodies of the Files + Vector Stores routes, validated once at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from vectorhouse.schemas.validators import check_attributes, check_metadata

Metadata = Annotated[dict[str, Any] | None, AfterValidator(check_metadata)]
Attributes = Annotated[dict[str, Any] | None, AfterValidator(check_attributes)]
SearchMode = Literal["hybrid", "semantic", "full_text"]


class _Strict(BaseModel):
    # Unknown fields are a 400 naming the field, never silently ignored.
    model_config = ConfigDict(extra="forbid")


class ExpiresAfter(_Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class VectorStoreCreate(_Strict):
    name: str | None = None
    description: str | None = None
    file_ids: list[str] | None = None  # at most 500 (service/vector_stores: its own error code)
    chunking_strategy: dict[str, Any] | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None
    # vectorhouse extensions (extra_body): which index backend holds this store's chunks, and which
    # embedding model embeds them and the store's queries (`vectorhouse models list`).
    backend: str | None = None
    embedding_model: str | None = Field(default=None, max_length=128)


class VectorStoreUpdate(_Strict):
    """Fields not sent stay as they are; `null` clears (see `model_fields_set`)."""

    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class VectorStoreFileCreate(_Strict):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class VectorStoreFileUpdate(_Strict):
    attributes: Attributes


class BatchFile(_Strict):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class FileBatchCreate(_Strict):
    """Exactly one of `file_ids` (with shared attributes/chunking) or `files` (per-file settings)."""

    file_ids: list[str] | None = None
    files: list[BatchFile] | None = None
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class HybridSearch(_Strict):
    """Fusion weights, named as OpenAI's file_search tool names them."""

    embedding_weight: float = Field(ge=0.0)
    text_weight: float = Field(ge=0.0)


class RankingOptions(_Strict):
    ranker: Literal["auto", "none", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)
    hybrid_search: HybridSearch | None = None


class SearchRequest(_Strict):
    query: str | list[str]
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False
    # vectorhouse extensions (the SDK sends them with extra_body): which signals rank the results, and
    # each result's provenance (offsets, page/slide/sheet/headings) in its content.
    search_mode: SearchMode = "hybrid"
    include: list[Literal["provenance"]] | None = None


class PollRequest(_Strict):
    """Body of the /api poll routes: how long the server may wait (capped at 10 minutes)."""

    max_wait_ms: StrictInt = Field(default=600_000, ge=0)
