"""Grounded answers: stores searched and merged, the best passages that fit the chat model's budget, and its
answer with the passages it cites (used by the Responses API and the collection API's /rag)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vectorhouse.chat.base import ChatMessage, ChatModel, ChatOptions
from vectorhouse.chat.citations import Citations
from vectorhouse.chat.prompts import answer_messages, rewrite_messages
from vectorhouse.errors import InvalidRequest, VectorhouseError
from vectorhouse.ingest.tokenizer import get_encoding
from vectorhouse.schemas.requests import RankingOptions, SearchRequest
from vectorhouse.service.search import SearchService

_PASSAGE_OVERHEAD_TOKENS = 12  # the "[n] (from name)" line and the blank line around a passage


@dataclass(frozen=True)
class Passage:
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None  # when asked for


@dataclass
class Answer:
    """The shown text (markers removed), what it cites as (position in the text, passage), token counts."""

    text: str = ""
    citations: list[tuple[int, Passage]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


class AnswerService:
    def __init__(self, search: SearchService, chat: ChatModel | None, default_model: str, models: Sequence[str],
                 context_tokens: int, tokenizer: str) -> None:
        self.search = search
        self.chat = chat
        self.default_model = default_model
        self.models = tuple(dict.fromkeys([default_model, *models])) if default_model else ()
        self.context_tokens = context_tokens
        self._encoding = get_encoding(tokenizer)

    def model(self, requested: str | None) -> str:
        """The chat model a request may use (400 when none is configured, or it names another)."""
        if self.chat is None or not self.default_model:
            raise InvalidRequest("no chat model is configured on this server: set VECTORHOUSE_CHAT_BASE_URL and "
                                 "VECTORHOUSE_CHAT_MODEL (and VECTORHOUSE_CHAT_API_KEY if the endpoint needs one)",
                                 param="model", code="chat_model_not_configured")
        name = requested or self.default_model
        if name not in self.models:
            raise InvalidRequest(f"model '{name}' is not available here: choose one of {', '.join(self.models)}",
                                 param="model", code="invalid_chat_model")
        return name

    def retrieve(self, project_id: str, store_ids: Sequence[str], query: str, max_results: int,
                 filters: dict[str, Any] | None, ranking: RankingOptions | None, param: str,
                 provenance: bool = False) -> list[Passage]:
        """Each store searched for `query`, the results merged by score, the best `max_results`."""
        found: list[Passage] = []
        for i, store_id in enumerate(store_ids):
            request = SearchRequest(query=query, max_num_results=max_results, filters=filters,
                                    ranking_options=ranking, include=["provenance"] if provenance else None)
            try:
                page = self.search.search(project_id, store_id, request)
            except VectorhouseError as exc:  # named as the caller sent it: the query is their input
                exc.param = {"vector_store_id": f"{param}.vector_store_ids[{i}]", "query": "input"}.get(
                    exc.param or "", f"{param}.{exc.param}" if exc.param else None)
                raise
            found += [Passage(r.file_id, r.filename, r.score, r.content[0].text if r.content else "", r.attributes,
                              r.content[0].provenance if r.content else None) for r in page.data]
        found.sort(key=lambda p: -p.score)  # stable: a tie keeps the earlier store's first
        return found[:max_results]

    def fitting(self, passages: Sequence[Passage]) -> list[Passage]:
        """The passages, best first, that fit the context budget whole; the first that does not ends them."""
        kept, used = [], 0
        for passage in passages:
            used += len(self._encoding.encode(passage.text, disallowed_special=())) + _PASSAGE_OVERHEAD_TOKENS
            if used > self.context_tokens:
                break
            kept.append(passage)
        return kept

    def messages(self, conversation: Sequence[ChatMessage], passages: Sequence[Passage],
                 instructions: str | None) -> list[ChatMessage]:
        return answer_messages(conversation, [(p.filename, p.text) for p in passages], instructions)

    def _count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def complete(self, messages: Sequence[ChatMessage], options: ChatOptions, passages: Sequence[Passage],
                 keep_markers: bool = False) -> Answer:
        """The model's answer; its [n] markers become citations (`keep_markers`: they also stay in the text,
        those that name no passage removed)."""
        assert self.chat is not None
        reply = self.chat.complete(messages, options)
        citations = Citations(len(passages), keep_markers)
        text = citations.feed(reply.text) + citations.finish()
        return Answer(text, [(at, passages[n - 1]) for at, n in citations.cited],
                      reply.input_tokens or sum(self._count(m.content) for m in messages),
                      reply.output_tokens or self._count(reply.text))

    def stream(self, messages: Sequence[ChatMessage], options: ChatOptions, passages: Sequence[Passage],
               answer: Answer) -> Iterator[str]:
        """The shown text as it arrives; `answer` is filled in once the stream is exhausted."""
        assert self.chat is not None
        citations = Citations(len(passages))
        raw = []
        for delta in self.chat.stream(messages, options):
            raw.append(delta)
            shown = citations.feed(delta)
            if shown:
                yield shown
        rest = citations.finish()
        if rest:
            yield rest
        answer.text = citations.text
        answer.citations = [(at, passages[n - 1]) for at, n in citations.cited]
        answer.input_tokens = sum(self._count(m.content) for m in messages)
        answer.output_tokens = self._count("".join(raw))

    def rewrite(self, query: str) -> str:
        """The chat model's search query for `query` (search's `rewrite_query` when a chat model is set)."""
        assert self.chat is not None
        reply = self.chat.complete(rewrite_messages(query), ChatOptions(self.default_model, temperature=0.0))
        rewritten = " ".join(reply.text.split())[:1000]
        return rewritten or query
