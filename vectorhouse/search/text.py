"""Turning any user text into safe keyword terms for the full-text paths of every backend."""

from __future__ import annotations

import re

# Enough terms for any real question; bounds the work a hostile query can cause.
MAX_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def keyword_terms(query: str) -> list[str]:
    """Unicode word tokens of the query, lower-cased, de-duplicated in order.

    Punctuation, quotes and operator words (AND/OR/NOT/NEAR) become plain terms, so no user
    text can be a syntax error in a backend's query language.
    """
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        word = word.strip("_")
        if word and word not in seen:
            seen[word] = None
            if len(seen) >= MAX_TERMS:
                break
    return list(seen)
