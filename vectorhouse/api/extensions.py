"""The one extension point of the HTTP layer: an adapter adds routes, and may render errors on its own paths.

An adapter (``vectorhouse/compat``) implements :class:`Extension`; whoever builds the app passes its
extensions to ``create_app`` (``vectorhouse serve`` passes ``compat.extensions()``), so the core
never imports an adapter. Hooks, in the spirit of Datasette's hookspecs:

* ``routers()``: APIRouters to mount, with the same route dependencies as the core's (``/v1``).
* ``public_routers()`` (optional): APIRouters mounted without the key check — pages that ask for a
  key themselves (the console); nothing behind them may read or write a project's data.
* ``error_body(error)``: the JSON body of an error on a path the adapter owns, or None to leave
  OpenAI's envelope; the first extension to answer wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter


@dataclass(frozen=True)
class ErrorInfo:
    """An error as the error handler holds it, for an adapter to render."""

    status: int
    message: str
    param: str | None
    code: str | None
    request_id: str
    path: str


class Extension(Protocol):
    def routers(self) -> Sequence[APIRouter]: ...

    def error_body(self, error: ErrorInfo) -> dict[str, Any] | None: ...
