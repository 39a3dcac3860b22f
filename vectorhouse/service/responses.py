"""The Responses API with the file_search tool: one response built from a grounded answer, its stream of
events in OpenAI's order, and stored responses read back by their project."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select

from vectorhouse.catalog import Catalog, responses
from vectorhouse.chat.base import ChatMessage, ChatOptions
from vectorhouse.clock import Clock
from vectorhouse.errors import InvalidRequest, NotFound, VectorhouseError
from vectorhouse.ids import is_valid, new_id
from vectorhouse.schemas.responses import PROVENANCE_INCLUDE, FileSearchTool, ResponseCreate
from vectorhouse.service.answers import Answer, AnswerService, Passage

_ROLES = {"developer": "system"}  # chat-completions' name for the Responses API's developer role


@dataclass
class Plan:
    """Everything decided before the first byte of a response: ids, model, the search and the prompt."""

    request: ResponseCreate
    id: str
    created_at: int
    model: str
    tool: FileSearchTool | None
    query: str
    passages: list[Passage]
    shown: list[Passage]  # the passages that fit the prompt (what citations may point at)
    messages: list[ChatMessage]

    @property
    def options(self) -> ChatOptions:
        return ChatOptions(self.model, self.request.temperature, self.request.max_output_tokens)


def _with_provenance(passage: Passage) -> dict[str, Any]:
    """The file's attributes, and the passage's provenance (when asked) under the reserved "vectorhouse."
    prefix, as scalars: the heading path is joined with " > "."""
    attributes = dict(passage.attributes or {})
    for key, value in (passage.provenance or {}).items():
        attributes[f"vectorhouse.{key}"] = " > ".join(value) if isinstance(value, list) else value
    return attributes


def _tool(raw: list[dict[str, Any]]) -> FileSearchTool | None:
    tools: list[FileSearchTool] = []
    for i, spec in enumerate(raw):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind != "file_search":
            raise InvalidRequest(f"tool type '{kind}' is not supported here: vectorhouse runs file_search only",
                                 param=f"tools[{i}].type", code="unsupported_tool")
        try:
            tools.append(FileSearchTool.model_validate(spec))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            param = f"tools[{i}].{where}"
            raise InvalidRequest(f"Invalid '{param}': {first['msg']}.", param=param) from None
    if len(tools) > 1:
        raise InvalidRequest("give one file_search tool (it takes several vector_store_ids)", param="tools[1]")
    return tools[0] if tools else None


class ResponseService:
    def __init__(self, catalog: Catalog, answers: AnswerService, clock: Clock) -> None:
        self.catalog = catalog
        self.answers = answers
        self.clock = clock

    def plan(self, project_id: str, request: ResponseCreate) -> Plan:
        """Validate, search and build the prompt; every 4xx is raised here, before anything streams."""
        model = self.answers.model(request.model)
        tool = _tool(request.tools)
        query = request.question()
        passages: list[Passage] = []
        if tool is not None:
            passages = self.answers.retrieve(project_id, tool.vector_store_ids, query, tool.max_num_results,
                                             tool.filters, tool.ranking_options, param="tools[0]",
                                             provenance=PROVENANCE_INCLUDE in (request.include or []))
        shown = self.answers.fitting(passages)
        conversation = [ChatMessage(_ROLES.get(m.role, m.role), m.text()) for m in request.messages()]
        return Plan(request, new_id("resp_"), self.clock.now(), model, tool, query, passages, shown,
                    self.answers.messages(conversation, shown, request.instructions))

    # -- the objects -----------------------------------------------------------------------------

    @staticmethod
    def _search_call(plan: Plan, item_id: str, status: str) -> dict[str, Any]:
        include = bool({"file_search_call.results", PROVENANCE_INCLUDE} & set(plan.request.include or []))
        results = None
        if include and status == "completed":
            results = [{"file_id": p.file_id, "filename": p.filename, "score": p.score, "text": p.text,
                        "attributes": _with_provenance(p)} for p in plan.passages]
        return {"id": item_id, "type": "file_search_call", "status": status, "queries": [plan.query],
                "results": results}

    @staticmethod
    def _text_part(answer: Answer) -> dict[str, Any]:
        annotations = [{"type": "file_citation", "file_id": p.file_id, "filename": p.filename, "index": at}
                       for at, p in answer.citations]
        return {"type": "output_text", "text": answer.text, "annotations": annotations, "logprobs": []}

    @classmethod
    def _message(cls, item_id: str, answer: Answer | None, status: str) -> dict[str, Any]:
        content = [cls._text_part(answer)] if answer is not None else []
        return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}

    @staticmethod
    def _body(plan: Plan, status: str, output: list[dict[str, Any]], answer: Answer | None,
              error: dict[str, str] | None = None) -> dict[str, Any]:
        request = plan.request
        usage = None
        if answer is not None and status == "completed":
            usage = {"input_tokens": answer.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens": answer.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": answer.input_tokens + answer.output_tokens}
        tools = [plan.tool.model_dump(exclude_none=True)] if plan.tool is not None else []
        return {"id": plan.id, "object": "response", "created_at": plan.created_at, "status": status,
                "model": plan.model, "output": output, "instructions": request.instructions,
                "metadata": request.metadata or {}, "temperature": request.temperature, "top_p": request.top_p,
                "max_output_tokens": request.max_output_tokens, "parallel_tool_calls": request.parallel_tool_calls,
                "tool_choice": request.tool_choice, "tools": tools, "error": error, "incomplete_details": None,
                "text": {"format": {"type": "text"}}, "truncation": request.truncation or "disabled",
                "usage": usage, "store": request.store, "user": request.user, "previous_response_id": None}

    def _keep(self, project_id: str, plan: Plan, body: dict[str, Any]) -> None:
        if plan.request.store:
            with self.catalog.transaction() as conn:
                conn.execute(insert(responses).values(id=plan.id, project_id=project_id, created_at=plan.created_at,
                                                      body=body))

    # -- the routes --------------------------------------------------------------------------------

    def create(self, project_id: str, request: ResponseCreate) -> dict[str, Any]:
        plan = self.plan(project_id, request)
        answer = self.answers.complete(plan.messages, plan.options, plan.shown)
        output = [self._search_call(plan, "fs_" + secrets.token_hex(12), "completed")] if plan.tool else []
        output.append(self._message("msg_" + secrets.token_hex(12), answer, "completed"))
        body = self._body(plan, "completed", output, answer)
        self._keep(project_id, plan, body)
        return body

    def stream(self, project_id: str, request: ResponseCreate) -> Iterator[dict[str, Any]]:
        """The plan now (errors are still HTTP errors), then a generator of OpenAI's stream events."""
        plan = self.plan(project_id, request)
        return self._events(project_id, plan)

    def _events(self, project_id: str, plan: Plan) -> Iterator[dict[str, Any]]:
        sequence = iter(range(1_000_000_000))

        def event(kind: str, **fields: Any) -> dict[str, Any]:
            return {"type": kind, "sequence_number": next(sequence), **fields}

        output: list[dict[str, Any]] = []
        yield event("response.created", response=self._body(plan, "in_progress", [], None))
        yield event("response.in_progress", response=self._body(plan, "in_progress", [], None))
        if plan.tool is not None:
            search_id = "fs_" + secrets.token_hex(12)
            at = {"output_index": 0, "item_id": search_id}
            yield event("response.output_item.added", output_index=0,
                        item=self._search_call(plan, search_id, "in_progress"))
            yield event("response.file_search_call.in_progress", **at)
            yield event("response.file_search_call.searching", **at)
            yield event("response.file_search_call.completed", **at)
            done = self._search_call(plan, search_id, "completed")
            output.append(done)
            yield event("response.output_item.done", output_index=0, item=done)
        index, message_id = len(output), "msg_" + secrets.token_hex(12)
        part = {"output_index": index, "item_id": message_id, "content_index": 0}
        yield event("response.output_item.added", output_index=index,
                    item=self._message(message_id, None, "in_progress"))
        yield event("response.content_part.added", **part, part=self._text_part(Answer()))
        answer = Answer()
        try:
            for delta in self.answers.stream(plan.messages, plan.options, plan.shown, answer):
                yield event("response.output_text.delta", **part, delta=delta, logprobs=[])
        except VectorhouseError as exc:  # the status line has gone: the failure is the stream's last event
            error = {"code": exc.code or "server_error", "message": exc.message}
            yield event("response.failed", response=self._body(plan, "failed", output, None, error))
            return
        text_part = self._text_part(answer)
        yield event("response.output_text.done", **part, text=answer.text, logprobs=[])
        yield event("response.content_part.done", **part, part=text_part)
        message = self._message(message_id, answer, "completed")
        output.append(message)
        yield event("response.output_item.done", output_index=index, item=message)
        body = self._body(plan, "completed", output, answer)
        self._keep(project_id, plan, body)
        yield event("response.completed", response=body)

    def get(self, project_id: str, response_id: str) -> dict[str, Any]:
        row = None
        if is_valid("resp_", response_id):
            with self.catalog.read() as conn:
                row = conn.execute(select(responses.c.body).where(responses.c.id == response_id,
                                                                  responses.c.project_id == project_id)).first()
        if row is None:
            raise NotFound(f"No response found with id '{response_id}'.", param="response_id",
                           code="response_not_found")
        return dict(row.body)
