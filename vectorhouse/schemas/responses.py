"""Wire models of the Responses API as vectorhouse runs it: the request with its file_search tool, parsed once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from vectorhouse.schemas.requests import RankingOptions

# OpenAI's, and vectorhouse's own: each result's provenance in its attributes, under "vectorhouse.".
PROVENANCE_INCLUDE = "file_search_call.results.provenance"
INCLUDABLE = frozenset({"file_search_call.results", PROVENANCE_INCLUDE})


class FileSearchTool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["file_search"]
    vector_store_ids: list[StrictStr] = Field(min_length=1, max_length=16)
    filters: dict[str, Any] | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: RankingOptions | None = None


class InputText(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. annotations of an earlier answer passed back

    type: Literal["input_text", "output_text", "text"]
    text: StrictStr


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # id/status of an earlier output passed back

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: StrictStr | list[InputText]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class ResponseCreate(BaseModel):
    """`POST /v1/responses`. Fields the SDK may send that do not change a file_search answer are
    accepted and echoed (tool_choice, parallel_tool_calls, top_p, user, truncation, ...)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = None
    input: StrictStr | list[InputMessage] = Field(min_length=1)
    instructions: StrictStr | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list, max_length=8)
    include: list[StrictStr] | None = None
    stream: bool = False
    store: bool = True
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, StrictStr] | None = None
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    truncation: Literal["auto", "disabled"] | None = None
    user: StrictStr | None = None
    service_tier: StrictStr | None = None
    stream_options: dict[str, Any] | None = None

    @field_validator("include")
    @classmethod
    def _known_include(cls, value: list[str] | None) -> list[str] | None:
        for i, item in enumerate(value or []):
            if item not in INCLUDABLE:
                raise ValueError(f"include[{i}] '{item}' is not supported: only {', '.join(sorted(INCLUDABLE))}")
        return value

    def messages(self) -> list[InputMessage]:
        return [InputMessage(role="user", content=self.input)] if isinstance(self.input, str) else list(self.input)

    def question(self) -> str:
        """What the file search looks for: the last user message."""
        users = [m for m in self.messages() if m.role == "user"]
        return (users[-1] if users else self.messages()[-1]).text()
