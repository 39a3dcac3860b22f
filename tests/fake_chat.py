"""A FAKE OpenAI-compatible chat-completions server for the tests: the chat model is a remote service that
cannot run here, so this stands in for it. It records every request and answers from what it was sent.

Its answer cites the passages of the prompt by number, as a real model told to would: it quotes the start
of passage 1 with "[1]", cites passage 2 when there is one, and adds a marker that names no passage ("[99]").
`mode` makes it fail: "error" (HTTP 500 with an OpenAI error body), "slow" (answers after `delay` seconds),
"garbage" (200 with a body that is not a completion), "stream_error" (500 on streamed requests only).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PASSAGE = re.compile(r"^\[(\d+)\] \(from (.+?)\)\n(.*?)(?=\n\n\[\d+\] \(from |\Z)", re.M | re.S)


def passages_of(system: str) -> list[tuple[str, str]]:
    """(source name, text) of each numbered passage in a system prompt, in order."""
    block = system.split("\n\nPassages:\n\n", 1)[-1]
    return [(m.group(2), m.group(3)) for m in PASSAGE.finditer(block)]


class FakeChatServer:
    """FAKE chat model (see the module doc); `url` is its OpenAI-style base URL ending in /v1."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "answer"
        self.delay = 0.0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with fake._lock:
                    fake.requests.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
                fake.answer(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def reply_for(body: dict[str, Any]) -> str:
        messages = body["messages"]
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        if system.startswith("Rewrite the user's text"):
            return "rewritten: " + messages[-1]["content"].lower()
        passages = passages_of(system)
        if not passages:
            return "The files do not answer this."
        first = " ".join(passages[0][1].split()[:6])
        text = f"From the files: {first} [1]."
        if len(passages) > 1:
            text += " More is in another file [2]."
        return text + " Nothing else [99]."

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        streaming = bool(body.get("stream"))
        if self.mode == "error" or (self.mode == "stream_error" and streaming):
            self._json(handler, 500, {"error": {"message": "fake upstream exploded", "type": "server_error"}})
            return
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "garbage":
            self._json(handler, 200, {"unexpected": True})
            return
        text = self.reply_for(body)
        if not streaming:
            self._json(handler, 200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": body["model"],
                                      "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                   "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
            return
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.end_headers()
        for i in range(0, len(text), 5):  # small pieces, so markers arrive split across chunks
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": text[i:i + 5]}}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def last(self) -> dict[str, Any]:
        with self._lock:
            return self.requests[-1]

    @contextmanager
    def failing(self, mode: str, delay: float = 0.0) -> Iterator[None]:
        self.mode, self.delay = mode, delay
        try:
            yield
        finally:
            self.mode, self.delay = "answer", 0.0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
