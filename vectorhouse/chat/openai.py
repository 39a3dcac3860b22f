"""The chat model as any OpenAI-compatible `POST {base_url}/chat/completions` endpoint, called with httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from vectorhouse.chat.base import ChatMessage, ChatOptions, ChatReply
from vectorhouse.errors import UpstreamFailure, UpstreamTimeout
from vectorhouse.faults import redact

_MESSAGE_CHARS = 500  # of an upstream error message passed on


def _upstream_message(response: httpx.Response) -> str:
    """The endpoint's own error message (OpenAI's envelope, else the body's start)."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message if message else body)
    except ValueError:
        text = response.text
    return redact(text.strip()[:_MESSAGE_CHARS]) or response.reason_phrase


@contextmanager
def _calling() -> Iterator[None]:
    """Transport failures as the API's errors: a timeout is a 504, anything else a 502."""
    try:
        yield
    except httpx.TimeoutException:
        raise UpstreamTimeout("the chat endpoint did not answer in time") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailure(f"the chat endpoint is unreachable: {type(exc).__name__}") from None


class OpenAIChat:
    """Chat completions over one pooled httpx client (thread-safe); every failure is a 502 or a 504."""

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    @staticmethod
    def _body(messages: Sequence[ChatMessage], options: ChatOptions, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": options.model, "stream": stream,
                                "messages": [{"role": m.role, "content": m.content} for m in messages]}
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.max_tokens is not None:
            body["max_tokens"] = options.max_tokens
        return body

    def complete(self, messages: Sequence[ChatMessage], options: ChatOptions) -> ChatReply:
        with _calling():
            response = self._client.post("/chat/completions", json=self._body(messages, options, stream=False))
            self._check(response)
            try:
                body = response.json()
                text = body["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise UpstreamFailure("the chat endpoint answered something that is not a chat completion") from None
            usage = body.get("usage") or {}
            return ChatReply(str(text), usage.get("prompt_tokens"), usage.get("completion_tokens"))

    def stream(self, messages: Sequence[ChatMessage], options: ChatOptions) -> Iterator[str]:
        with _calling(), self._client.stream(
            "POST", "/chat/completions", json=self._body(messages, options, stream=True)
        ) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    choices = json.loads(data).get("choices") or [{}]
                    delta = (choices[0].get("delta") or {}).get("content")
                except (ValueError, AttributeError):
                    raise UpstreamFailure("the chat endpoint streamed something that is not a chat chunk") from None
                if delta:
                    yield str(delta)

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise UpstreamFailure(f"the chat endpoint answered {response.status_code}: {_upstream_message(response)}")

    def close(self) -> None:
        self._client.close()
