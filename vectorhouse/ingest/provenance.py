"""Where each chunk came from in its file: its character offsets in the extracted text, and the page (PDF),
slide (pptx), sheet (xlsx) or heading path (Markdown, HTML, docx) the format marks in that text.

The marks are what extraction writes: pdfminer ends each PDF page with a form feed, markitdown opens
each slide with ``<!-- Slide number: N -->`` and each sheet with a ``## name`` heading, and renders
HTML and docx headings as Markdown ``#`` lines.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

_SLIDE = re.compile(r"<!-- Slide number: (\d+) -->")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
HEADED_KINDS = frozenset({"md", "markdown", "html", "htm", "docx"})


class Locator:
    """Provenance of spans of one extracted text of one kind ("pdf", "pptx", "xlsx", "docx", "md", ...)."""

    def __init__(self, text: str, kind: str) -> None:
        self.kind = kind
        self._starts: list[int] = []
        self._labels: list[Any] = []
        if kind == "pdf":
            self._starts = [m.end() for m in re.finditer("\f", text)]  # page n + 1 starts after the n-th
        elif kind == "pptx":
            for m in _SLIDE.finditer(text):
                self._starts.append(m.start())
                self._labels.append(int(m.group(1)))
        elif kind == "xlsx":
            for m in _HEADING.finditer(text):
                if len(m.group(1)) == 2:
                    self._starts.append(m.start())
                    self._labels.append(m.group(2))
        elif kind in HEADED_KINDS:
            path: list[tuple[int, str]] = []
            for m in _HEADING.finditer(text):
                level = len(m.group(1))
                path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, m.group(2))]
                self._starts.append(m.start())
                self._labels.append([title for _, title in path])

    def _at(self, offset: int) -> int:
        """How many marks start at or before `offset`."""
        return bisect_right(self._starts, offset)

    def span(self, start: int, end: int) -> dict[str, Any]:
        """{start, end} and what the format says of where the span starts: page (and page_end when it
        runs on), slide (and slide_end), sheet, or headings (the path of titles above it, outermost first)."""
        found: dict[str, Any] = {"start": start, "end": end}
        if self.kind == "pdf":
            found["page"] = self._at(start) + 1
            last = self._at(max(start, end - 1)) + 1
            if last != found["page"]:
                found["page_end"] = last
        elif self._labels:
            i = self._at(start) - 1
            key = {"pptx": "slide", "xlsx": "sheet"}.get(self.kind, "headings")
            if i >= 0:
                found[key] = self._labels[i]
            elif key == "slide":
                found[key] = self._labels[0]  # text before the first slide's mark is the first slide's
            if key == "slide":
                last = self._labels[max(0, self._at(max(start, end - 1)) - 1)]
                if last != found[key]:
                    found["slide_end"] = last
        return found
