"""Search a vector store: validate, embed with the store's model, rank (search/hybrid.py), threshold, page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, and_, null, select

from vectorhouse.catalog import Catalog, files, vector_store_files
from vectorhouse.errors import BackendFailure, InvalidRequest, Unavailable
from vectorhouse.faults import is_unreachable, redact
from vectorhouse.index.base import Hit, Index
from vectorhouse.index.filters import Compound, Filter, resolve_text
from vectorhouse.schemas.filters import parse_filter
from vectorhouse.schemas.objects import SearchResult, SearchResultsPage, TextContent
from vectorhouse.schemas.requests import SearchRequest
from vectorhouse.search.fusion import merge_queries
from vectorhouse.search.hybrid import Key, Weights, candidates_for, rank_query, start_keyword_signal
from vectorhouse.search.rewrite import rewrite_query
from vectorhouse.service.lifecycle import FileStatus
from vectorhouse.service.vector_stores import VectorStoreService

log = logging.getLogger("vectorhouse.search")
MAX_QUERY_CHARS = 10000


def chunk_provenance(provenance: Any, position: int) -> dict[str, Any]:
    """One chunk's provenance from its file's list; {} for a file indexed before provenance was kept."""
    if isinstance(provenance, list) and 0 <= position < len(provenance):
        return dict(provenance[position])
    return {}


def _queries(query: str | list[str]) -> list[str]:
    items = [query] if isinstance(query, str) else list(query)
    if not items:
        raise InvalidRequest("query must be a non-empty string or a non-empty list of strings",
                             param="query", code="invalid_search_query")
    for i, text in enumerate(items):
        param = "query" if isinstance(query, str) else f"query[{i}]"
        if not text.strip():
            raise InvalidRequest("query must not be empty", param=param, code="invalid_search_query")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"query is longer than {MAX_QUERY_CHARS} characters", param=param,
                                 code="invalid_search_query")
    return items


class SearchService:
    def __init__(self, catalog: Catalog, index: Index, stores: VectorStoreService) -> None:
        self.catalog = catalog
        self.index = index
        self.stores = stores
        # A hybrid search starts three tasks (keyword hits, keyword scale, mean vector): room for a few at once.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vectorhouse-search")
        # What `rewrite_query: true` does to a query: the rule-based rewrite, or the chat model's.
        self.rewriter: Callable[[str], str] = rewrite_query

    def search(self, project_id: str, store_id: str, request: SearchRequest,
               also: Filter | None = None) -> SearchResultsPage:
        """The request's search; `also` is a filter of the domain's own (beyond what the wire can say)
        that results must pass as well."""
        queries = _queries(request.query)
        if request.rewrite_query:
            queries = [self.rewriter(q) for q in queries]
        filter = parse_filter(request.filters) if request.filters is not None else None
        if also is not None:
            filter = also if filter is None else Compound("and", (filter, also))
        ranking = request.ranking_options
        threshold = ranking.score_threshold if ranking else 0.0
        embedding_weight, text_weight = 0.5, 0.5
        if ranking and ranking.hybrid_search:
            embedding_weight = ranking.hybrid_search.embedding_weight
            text_weight = ranking.hybrid_search.text_weight
            if embedding_weight + text_weight <= 0:
                raise InvalidRequest("embedding_weight and text_weight cannot both be 0",
                                     param="ranking_options.hybrid_search", code="invalid_search_query")
        # One catalog snapshot for the store check and the result files (each read costs ~0.3 ms).
        with self.catalog.read() as conn:
            store = self.stores.usable_row(conn, project_id, store_id)
            try:
                page = self._search(conn, store, request, queries, filter, threshold,
                                    Weights(embedding_weight, text_weight))
            except (InvalidRequest, BackendFailure):
                raise
            except Exception as exc:
                if is_unreachable(exc):
                    log.error("search in %s: the index backend is unreachable: %s", store_id,
                              redact(f"{type(exc).__name__}: {exc}"))
                    raise Unavailable("the index backend of this vector store is unreachable right now; retry "
                                      "shortly", code="service_unavailable") from exc
                log.exception("search in %s failed", store_id)
                raise BackendFailure(f"search failed in the index backend: {type(exc).__name__}",
                                     code="search_failed", param=None) from exc
        self.stores.mark_active(store)
        return page

    def _search(self, conn: Connection, store: Any, request: SearchRequest, queries: list[str],
                filter: Filter | None, threshold: float, weights: Weights) -> SearchResultsPage:
        store_id = store.id
        # Once per search, not per signal: the vector and keyword searches then share the file set.
        filter = resolve_text(filter, lambda words: self.index.files_with_words(store_id, words))
        k = request.max_num_results
        candidates = candidates_for(k)
        mode = request.search_mode
        # The keyword searches need no vector: they start first and run beside the query embedding,
        # which uses every core (a keyword search is ~0.5 ms of one core against the embedding's ~3.5 ms
        # of two at SciFact size; started after the embedding instead, p50 was 0.2-0.4 ms higher).
        text_futures = [
            start_keyword_signal(self._pool, self.index, store_id, query, candidates, filter)
            for query in (queries if mode != "semantic" else [])
        ]
        # Hybrid measures cosines up from what an unrelated chunk of this store scores (search/fusion.py).
        wanted = mode == "hybrid" and weights.embedding > 0 and weights.text > 0  # else the plain cosine ranks
        mean_future = self._pool.submit(self.index.mean_vector, store_id) if wanted else None
        # Queries are embedded with the store's own model (its chunks' vector space).
        vectors = self.stores.embedder_of(store).embed_queries(queries) if mode != "full_text" else None
        mean = mean_future.result() if mean_future is not None else None
        texts: dict[Key, Hit] = {}
        fused_per_query = []
        for i, query in enumerate(queries):
            fused, seen = rank_query(self.index, store_id, query, mode, vectors[i] if vectors is not None else None,
                                     text_futures[i]() if text_futures else None, mean, candidates, filter,
                                     weights)
            texts.update((hit.key, hit) for hit in seen)
            fused_per_query.append(fused)
        # Scores leave rounded to 6 places; the threshold compares what the client sees.
        ranked = [
            (key, rounded)
            for key, score in merge_queries(fused_per_query)
            if (rounded := round(min(1.0, max(0.0, score)), 6)) >= threshold
        ]
        results: list[SearchResult] = []
        # Only chunks of files attached and completed right now are answers (a detach is instant).
        # Files are looked up a page at a time, best first: the first page nearly always fills the
        # k results, and decoding the attributes of every candidate's file costs more than searching.
        order = list(dict.fromkeys(key[0] for key, _ in ranked))
        looked_up: set[str] = set()
        by_file: dict[str, Any] = {}
        position = 0
        provenance = "provenance" in (request.include or [])
        for start in range(0, len(order), 2 * k):
            page = order[start : start + 2 * k]
            by_file.update(self._completed_files(conn, store_id, page, provenance))
            looked_up.update(page)
            while position < len(ranked) and ranked[position][0][0] in looked_up and len(results) < k:
                key, score = ranked[position]
                position += 1
                row = by_file.get(key[0])
                if row is not None:
                    content = TextContent(text=texts[key].text,
                                          provenance=chunk_provenance(row.provenance, key[1]) if provenance else None)
                    results.append(SearchResult(file_id=row.file_id, filename=row.filename, score=score,
                                                attributes=row.attributes, content=[content]))
            if len(results) == k:
                break
        return SearchResultsPage(search_query=queries, data=results)

    @staticmethod
    def _completed_files(conn: Connection, store_id: str, file_ids: list[str], provenance: bool) -> dict[str, Any]:
        # Status is checked here, not in SQL: with `status = 'completed'` in the WHERE clause SQLite
        # walks the (store_id, status) index over every completed file of the store (1 ms at 5k files)
        # instead of seeking the few (store_id, file_id) pairs.
        rows = conn.execute(
            select(vector_store_files.c.file_id, vector_store_files.c.status, vector_store_files.c.attributes,
                   files.c.filename,
                   # Read only when asked: a large file's provenance is a long list.
                   (vector_store_files.c.provenance if provenance else null()).label("provenance"))
            .join(files, files.c.id == vector_store_files.c.file_id)
            .where(and_(vector_store_files.c.store_id == store_id, vector_store_files.c.file_id.in_(file_ids)))
        ).all()
        return {row.file_id: row for row in rows if row.status == FileStatus.COMPLETED.value}
