"""The ChatModel protocol: messages in, the answer out whole or as text deltas."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class ChatOptions:
    model: str
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class ChatReply:
    text: str
    input_tokens: int | None = None  # as the endpoint counted them, when it says
    output_tokens: int | None = None


class ChatModel(Protocol):
    """A remote chat model; failures raise errors.UpstreamFailure (502) or errors.UpstreamTimeout (504)."""

    def complete(self, messages: Sequence[ChatMessage], options: ChatOptions) -> ChatReply: ...

    def stream(self, messages: Sequence[ChatMessage], options: ChatOptions) -> Iterator[str]: ...

    def close(self) -> None: ...
