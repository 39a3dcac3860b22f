"""Deterministic query rewriting (no language model): keep key terms and quoted phrases, drop filler."""

from __future__ import annotations

import re

_QUOTED = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"[\w][\w'\-\.]*[\w]|[\w]", re.UNICODE)

# Question words, auxiliaries, pronouns and politeness that carry no retrieval signal.
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
