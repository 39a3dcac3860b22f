"""Deterministic query rewriting (no language model): keep key terms and quoted phrases, drop filler."""

from __future__ import annotations

import re

from vectorhouse.index.text import STOP_WORDS

_QUOTED = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"[\w][\w'\-\.]*[\w]|[\w]", re.UNICODE)



def rewrite_query(query: str) -> str:
    """Quoted phrases stay whole (in quotes); other words stay unless they are filler. Order is kept.

    Falls back to the original text when nothing would remain (e.g. "what is it?").
    """
    parts: list[str] = []
    position = 0
    for match in _QUOTED.finditer(query):
        parts.extend(_key_terms(query[position:match.start()]))
        phrase = " ".join(match.group(1).split())
        if phrase:
            parts.append(f'"{phrase}"')
        position = match.end()
    parts.extend(_key_terms(query[position:]))
    seen: dict[str, None] = {}
    for part in parts:
        seen.setdefault(part, None)
    rewritten = " ".join(seen)
    return rewritten or " ".join(query.split())


def _key_terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w.lower() not in STOP_WORDS]
