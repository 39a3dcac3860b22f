"""The model's ``[n]`` passage markers turned into citations: removed from the text, kept as (position, n) pairs."""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_PARTIAL = re.compile(r"\[[\d,;\s]*")  # what a marker looks like before its "]" has arrived
_HOLD_CHARS = 24  # a longer bracket is text, not a marker
_NO_SPACE_BEFORE = ".,;:!?)]"


class Citations:
    """Fed the answer as it streams: `feed` returns the text safe to show now, markers removed, and
    `cited` collects (character position in the shown text, passage number) for numbers 1..`count`.
    The space before a removed marker goes too when punctuation follows ("blue [1]." -> "blue.").
    With `keep`, markers naming passages stay in the text as ``[n]`` (those naming none still go)."""

    def __init__(self, count: int, keep: bool = False) -> None:
        self.count = count
        self.keep = keep
        self.text = ""
        self.cited: list[tuple[int, int]] = []
        self._pending = ""
        self._gap = False  # whitespace taken from before a marker, owed to the next word

    def _emit(self, piece: str, out: list[str]) -> None:
        if not piece:
            return
        if self._gap:
            if piece[0] not in _NO_SPACE_BEFORE and not piece[0].isspace():
                piece = " " + piece
            self._gap = False
        self.text += piece
        out.append(piece)

    def feed(self, delta: str) -> str:
        self._pending += delta
        out: list[str] = []
        while (found := _MARKER.search(self._pending)) is not None:
            before = self._pending[: found.start()]
            kept = before.rstrip()
            self._emit(kept, out)
            self._gap = self._gap or kept != before or (not before and bool(self.text) and self.text[-1:] == " ")
            numbers = [n for n in map(int, re.split(r"\s*[,;]\s*", found.group(1))) if 1 <= n <= self.count]
            if self.keep and numbers:
                self._gap, kept_marker = False, (" " if kept != before else "") + "".join(f"[{n}]" for n in numbers)
                self._emit(kept_marker, out)
            for n in numbers:
                if (len(self.text), n) not in self.cited:
                    self.cited.append((len(self.text), n))
            self._pending = self._pending[found.end():]
        hold = len(self._pending.rstrip())  # trailing whitespace waits: a marker may follow it
        start = self._pending.rfind("[")
        if start >= 0 and len(self._pending) - start <= _HOLD_CHARS and _PARTIAL.fullmatch(self._pending[start:]):
            hold = min(hold, len(self._pending[:start].rstrip()))
        self._emit(self._pending[:hold], out)
        self._pending = self._pending[hold:]
        return "".join(out)

    def finish(self) -> str:
        out: list[str] = []
        rest, self._pending = self._pending, ""
        self._emit(rest.rstrip() if self._gap else rest, out)
        return "".join(out)
