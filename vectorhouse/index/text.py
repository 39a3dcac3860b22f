"""Keyword text shared by every backend's full-text path: safe terms from any user text, BM25's IDF."""

from __future__ import annotations

import math
import re

# Enough terms for any real question; bounds the work a hostile query can cause.
MAX_TERMS = 64
# Question words, auxiliaries, pronouns and politeness that carry no retrieval signal: left out of
# keyword queries, and dropped by query rewriting.
STOP_WORDS = frozenset(
    """
    a an the and or but if then else of to in on at by for with from into onto about as is are was were be been
    being am do does did doing done have has had having can could shall should will would may might must
    what which who whom whose when where why how whether i me my mine we us our ours you your yours he him his
    she her hers it its they them their theirs this that these those there here please tell show explain
    describe find give list get know want need like just any some all each every so very also too than
    such not no nor only own same s t don doesn isn aren wasn weren let lets i'm i've i'd you're it's what's
    """.split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def keyword_terms(query: str) -> list[str]:
    """Unicode word tokens of the query, lower-cased, de-duplicated in order, stop words left out.

    Punctuation, quotes and operator words (AND/OR/NOT/NEAR) become plain terms, so no user
    text can be a syntax error in a backend's query language. Stop words match nearly every
    chunk: they add nothing to BM25 but make an OR query score the whole store. A query of
    nothing but stop words keeps them, so it still finds something.
    """
    words = [w.strip("_") for w in _WORD.findall(query.lower())]
    content = [w for w in words if w and w not in STOP_WORDS]
    seen: dict[str, None] = {}
    for word in content or words:
        if word and word not in seen:
            seen[word] = None
            if len(seen) >= MAX_TERMS:
                break
    return list(seen)


def bm25_idf(rows: int, rows_with: int) -> float:
    """SQLite FTS5's BM25 IDF of a term held by `rows_with` of `rows` chunks: ln((N - n + 0.5) / (n + 0.5)).

    A term in more than half the chunks would get a negative weight; like FTS5 it gets 1e-6 instead,
    so matching it still counts for a little and never against a chunk.
    """
    idf = math.log((rows - rows_with + 0.5) / (rows_with + 0.5))
    return idf if idf > 0.0 else 1e-6


def containment_words(items: list[str]) -> tuple[str, ...]:
    """The words a content filter asks every matching text to hold: each item's words, lower-cased,
    stop words left out (they occur nearly everywhere; a filter of only stop words asks nothing)."""
    words = (w.strip("_") for item in items for w in _WORD.findall(item.lower()))
    return tuple(dict.fromkeys(w for w in words if w and w not in STOP_WORDS))
