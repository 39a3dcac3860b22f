"""The pgvector backend's keyword scores: BM25-like ``ts_rank`` over per-store term statistics.

Text scores are BM25-like, with the IDF and the scale of the embedded backend's FTS5 ``bm25()``::

    score = sum over held terms t of  idf(t) * ts_rank('{1,1,1,1}', tsv, t, 1) * zeta(2) * log2(avg length + 1)

``ts_rank`` of one lexeme gives its term frequency a saturating weight (``sum(1/i^2, i = 1..tf) /
zeta(2)``: 1 occurrence 0.61, 2 -> 0.76, many -> 1) and, with normalisation 1, divides by
``log2(length + 1)``, the length counting the chunk's lexeme occurrences. The constant makes one
occurrence in a chunk of the store's average length weigh exactly ``idf(t)``, as BM25 does, so
``keyword_scale`` means what it does on the other backends. ``idf`` is FTS5's
(``index.text.bm25_idf``) over per-store statistics kept in two tables as chunks are written, so a
search reads them by key::

    index_terms(store_id, lexeme, chunks)    -- chunks of the store holding the lexeme
    index_stores(store_id, chunks, tokens)   -- the store's chunks and their lexeme occurrences

Writers of one store take its ``index_stores`` row lock first, which orders their updates of the
shared ``index_terms`` rows (no deadlocks) and keeps the counts equal to the rows. Without IDF
(``ts_rank`` alone) SciFact's keyword nDCG@10 was 0.570 against FTS5's 0.687.

A search does not rank every chunk holding one of its terms (:func:`top_chunks`, MaxScore by
length): the rarest terms' chunks (few, by ``index_terms``) are ranked first, and their k-th score
``theta`` bounds every chunk. Each term's ``ts_rank`` is at most ``1 / log2(length + 1)`` and
``length(tsv)`` (distinct lexemes) is at most the length it divides by, so a chunk of at least ``L``
distinct lexemes holding the terms H scores at most ``sum(idf, H) * length_scale / log2(L + 1)``. The
keyword rows are banded by ``length(tsv)``, each band with a partial GIN index (schema.py); a band of
lower edge ``L`` is asked only for the chunks holding a set of terms whose idfs reach
``theta * log2(L + 1) / length_scale`` (an OR of ANDs, which the GIN index evaluates without reading a
row). Long chunks must hold many terms, and a band no set reaches is not asked at all. On the
synthetic 100k store of ``bench scale``, 40 SciFact claims: a median 27k chunks hold a term, the cut
before this one ranked 8.9k of them; the bands, bounded by the final k-th score, leave 938.

The answer is exactly the full ranking's, ties included. Ranking reads the narrow keyword rows
(``index_keywords``, schema.py); the chunk rows are read for the k best alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from vectorhouse.index.pgvector.schema import (
    KEYWORDS_TABLE,
    LENGTH_BANDS,
    STORES_TABLE,
    TABLE,
    TERMS_TABLE,
    band_predicate,
)
from vectorhouse.index.text import bm25_idf, keyword_terms

# ts_rank's term-frequency weights sum 1/i^2 and divide by its limit, zeta(2) = pi^2 / 6.
ZETA_2 = math.pi**2 / 6

# A held term travels as the text of its own plainto_tsquery (PostgreSQL's quoted lexemes, read back
# exactly), cast once per statement in a one-row CTE: no row parses user text or re-reads a cast (a
# cached generic plan casts a bare parameter per row: 84.5 against 76.1 ms p50 at 103k chunks).
TERMS_CTE = "terms"
# Chunks the rarest terms may hold between them and still be ranked first, in full, to find theta.
PRECUT_ROWS = 2000
# A band's OR of ANDs holds at most this many term sets; past it, shorter sets (weaker, still exact).
MAX_TERM_SETS = 16
# Bounds are widened by this much: ts_rank is a float4, so a score may round above its exact value.
SLACK = 1e-6


@dataclass(frozen=True)
class KeywordQuery:
    """The query's keyword terms that the store holds, with their IDF, and the store's length scale.

    Each term is its own plainto_tsquery and travels as a parameter, so no user text is ever parsed
    as tsquery syntax. A statement using :meth:`match` or :meth:`score` starts with :meth:`with_terms`,
    and :meth:`score` needs the CTE in its FROM.
    """

    store_id: str
    terms: tuple[str, ...]  # each held term's tsquery text
    idfs: tuple[float, ...]
    chunks: tuple[int, ...]  # the store's chunks holding each term
    single: tuple[bool, ...]  # the term is one lexeme (ts_rank's bound below holds for it)
    length_scale: float  # zeta(2) * log2(average length + 1): one occurrence at average length -> idf
    scale: float  # Index.keyword_scale: the held terms' IDF, and the largest IDF for each term lacked

    def with_terms(self, sets: Sequence[Sequence[Sequence[int]]] = ()) -> tuple[str, list[Any]]:
        """The statement's WITH clause: the terms' tsqueries as the columns t0, t1, ... of one row, and
        for each of `sets` a tsquery m0, m1, ... matching a chunk holding every term of one of its sets."""
        columns = [f"%s::tsquery AS t{i}" for i in range(len(self.terms))]
        columns += [f"%s::tsquery AS m{j}" for j in range(len(sets))]
        # Written as tsquery text and parsed once: combining tsqueries with && and || copies them each time.
        ors = [" | ".join("(" + " & ".join(self.terms[i] for i in found) + ")" for found in group) for group in sets]
        return f"WITH {TERMS_CTE} AS MATERIALIZED (SELECT {', '.join(columns)}) ", [*self.terms, *ors]

    def match(self, which: Sequence[int] | None = None) -> str:
        """A tsquery matching a chunk that holds any of the terms (or of those at `which`): a scalar
        subquery, so the GIN index sees a value computed once."""
        which = range(len(self.terms)) if which is None else which
        return f"(SELECT {' || '.join(f't{i}' for i in which)} FROM {TERMS_CTE})"

    def score(self) -> tuple[str, list[Any]]:
        """The keyword row k's score (see the module docstring); 0 for a chunk matching no term."""
        parts = [f"ts_rank('{{1,1,1,1}}', k.tsv, {TERMS_CTE}.t{i}, 1) * %s" for i in range(len(self.terms))]
        return f"({' + '.join(parts)}) * %s", [*self.idfs, self.length_scale]


def keyword_query(conn: psycopg.Connection[Any], store_id: str, query: str) -> KeywordQuery | None:
    """The store's statistics for the query's terms; None when it holds none of them."""
    words = keyword_terms(query)
    if not words:
        return None
    # PostgreSQL's parser reads the digits after a hyphen as a signed number ("XJ-4471" is 'xj' and
    # '-4471'): a number in the query is looked up in both forms, and stands for the one the store holds more.
    terms = [*words, *(f"-{w}" for w in words if w.isdigit())]
    # Per term: its lexemes (none for a stop word; several, AND-ed, for e.g. "e_coli", which then
    # counts the chunks of its rarest lexeme) and how many chunks of the store hold it.
    rows = conn.execute(
        f"""
        SELECT t.term, count(v.lexeme), min(coalesce(x.chunks, 0)), s.chunks, s.tokens,
               plainto_tsquery('english', t.term)::text
        FROM unnest(%s::text[]) WITH ORDINALITY AS t(term, i)
        LEFT JOIN LATERAL unnest(to_tsvector('english', t.term)) AS v ON TRUE
        LEFT JOIN {TERMS_TABLE} x ON x.store_id = %s AND x.lexeme = v.lexeme
        LEFT JOIN {STORES_TABLE} s ON s.store_id = %s
        GROUP BY t.i, t.term, s.chunks, s.tokens ORDER BY t.i
        """,
        (terms, store_id, store_id),
    ).fetchall()
    signed = {str(r[0])[1:]: r for r in rows[len(words):]}
    rows = [signed[r[0]] if r[0] in signed and signed[r[0]][2] > r[2] else r for r in rows[: len(words)]]
    held = [r for r in rows if r[1] and r[2] and r[3]]
    if not held:
        return None
    chunks, tokens = int(rows[0][3]), int(rows[0][4])
    idfs = tuple(bm25_idf(chunks, int(r[2])) for r in held)
    lacked = sum(1 for r in rows if r[1] and not r[2])  # a word PostgreSQL stems to nothing never matches
    return KeywordQuery(
        store_id=store_id,
        terms=tuple(str(r[5]) for r in held),
        idfs=idfs,
        chunks=tuple(int(r[2]) for r in held),
        single=tuple(int(r[1]) == 1 for r in held),
        length_scale=ZETA_2 * math.log2(tokens / chunks + 1),
        scale=sum(idfs) + lacked * bm25_idf(chunks, 0),
    )


def top_chunks(conn: psycopg.Connection[Any], keywords: KeywordQuery, where: str, params: list[Any],
               k: int) -> list[tuple[Any, ...]]:
    """(file_id, position, text, score) of the k best chunks under `where` (over the keyword rows'
    columns), best first, ties by file and position: the full ranking's answer, without ranking
    every matching chunk where a bound allows."""
    score, score_args = keywords.score()
    cut = _precut(conn, keywords, where, params, k)
    bands = [] if cut is None else _bands(keywords, *cut)
    terms, terms_args = keywords.with_terms([sets for _, sets in bands])
    # One arm per band asked, each by its own partial GIN index; every term over the whole GIN index
    # when there is no bound (or, which theta's own chunks rule out, no band left to ask).
    matches = [f"{band_predicate(band, 'k.tsv')} AND k.tsv @@ (SELECT m{j} FROM {TERMS_CTE})"
               for j, (band, _) in enumerate(bands)] or [f"k.tsv @@ {keywords.match()}"]
    arms = [f"SELECT k.chunk_id, k.file_id, k.position, {score} AS score FROM {KEYWORDS_TABLE} k, {TERMS_CTE} "
            f"WHERE {match} AND {where}" for match in matches]
    args = [*score_args, *params] * len(arms)
    # Ranked on the narrow keyword rows; only the k best fetch their chunk row for the text.
    return conn.execute(
        f"{terms}SELECT c.file_id, c.position, c.text, top.score FROM (SELECT * FROM ({' UNION ALL '.join(arms)}) "
        f"ranked ORDER BY score DESC, file_id, position LIMIT %s) top "
        f"JOIN {TABLE} c ON c.id = top.chunk_id ORDER BY top.score DESC, c.file_id, c.position",
        [*terms_args, *args, k],
    ).fetchall()


def _precut(conn: psycopg.Connection[Any], keywords: KeywordQuery, where: str, params: list[Any],
            k: int) -> tuple[float, int, int] | None:
    """(theta: the rare terms' chunks' k-th score, the store's shortest and longest chunk in distinct
    lexemes), or None when no bound applies."""
    by_rarity = sorted(range(len(keywords.terms)), key=lambda i: keywords.chunks[i])
    rare, held = [by_rarity[0]], keywords.chunks[by_rarity[0]]
    for i in by_rarity[1:]:
        if held + keywords.chunks[i] > PRECUT_ROWS:
            break
        rare.append(i)
        held += keywords.chunks[i]
    if len(rare) == len(by_rarity) or not all(keywords.single):
        # Every term is rare (ranking them all is cheap), or a phrase term (several lexemes) has no
        # simple bound.
        return None
    terms, terms_args = keywords.with_terms()
    score, score_args = keywords.score()
    # Beside each score, the store's shortest and longest chunk (distinct lexemes), by the length btree.
    lengths = f"SELECT length(tsv) FROM {KEYWORDS_TABLE} WHERE store_id = %s AND length(tsv) > 0 ORDER BY length(tsv)"
    rows = conn.execute(
        f"{terms}SELECT {score} AS score, ({lengths} LIMIT 1), ({lengths} DESC LIMIT 1) FROM {KEYWORDS_TABLE} k, "
        f"{TERMS_CTE} WHERE k.tsv @@ {keywords.match(rare)} AND {where} ORDER BY score DESC LIMIT %s",
        [*terms_args, *score_args, keywords.store_id, keywords.store_id, *params, k],
    ).fetchall()
    if len(rows) < k or float(rows[-1][0]) <= 0.0:
        return None  # the rare terms' chunks do not fill the top k: no theta to cut with
    return float(rows[-1][0]), int(rows[-1][1]), int(rows[-1][2])


def _bands(keywords: KeywordQuery, theta: float, shortest: int,
           longest: int) -> list[tuple[int, list[tuple[int, ...]]]]:
    """(band, the term sets a chunk of the band must hold one of to reach theta) for each band of the
    store's lengths that some chunk could still reach the top k from."""
    matches = []
    for band, low in enumerate(LENGTH_BANDS):
        high = LENGTH_BANDS[band + 1] - 1 if band + 1 < len(LENGTH_BANDS) else longest
        if high < shortest or low > longest:
            continue  # no chunk of the store is this long
        need = theta * math.log2(max(low, shortest) + 1) / keywords.length_scale * (1 - SLACK)
        sets = term_sets(keywords.idfs, need)
        if sets:
            matches.append((band, sets))
    return matches


def term_sets(idfs: Sequence[float], need: float, most: int = MAX_TERM_SETS) -> list[tuple[int, ...]]:
    """Sets of term indexes such that every set of terms whose idfs sum to `need` or more contains
    one of them: the minimal such sets, or where they would be more than `most`, their first few
    terms (by idf) only. Empty when all the terms together fall short."""
    order = sorted(range(len(idfs)), key=lambda i: -idfs[i])
    rest = [0.0] * (len(order) + 1)  # rest[p]: the idfs of order[p:] together
    for p in range(len(order) - 1, -1, -1):
        rest[p] = rest[p + 1] + idfs[order[p]]
    if rest[0] < need:
        return []
    for size in range(min(4, len(order)), 0, -1):
        found: list[tuple[int, ...]] = []

        def walk(start: int, total: float, chosen: tuple[int, ...], size: int = size,
                 found: list[tuple[int, ...]] = found) -> bool:
            for p in range(start, len(order)):
                if total + rest[p] < need:
                    return True  # the terms left cannot reach need, nor can any later start
                if total + idfs[order[p]] >= need or len(chosen) + 1 == size:
                    found.append((*chosen, order[p]))  # a set that reaches need, or its first `size` terms
                    if len(found) > most:
                        return False
                elif not walk(p + 1, total + idfs[order[p]], (*chosen, order[p])):
                    return False
            return True

        if walk(0, 0.0, ()):
            return found
    return [(i,) for i in order]  # more than `most` terms: each term alone


def count_file(conn: psycopg.Connection[Any], store_id: str, file_id: str, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the file's current chunk rows in the store's statistics:
    keyword counts, and the sum of its vectors (whose mean `mean_vector` gives).

    The store's row first: its lock orders every writer of the store, so their updates of the
    shared term rows cannot deadlock, and the counts always equal the committed rows.
    """
    op = "+" if sign > 0 else "-"  # pgvector has vector + and -, no scalar product
    conn.execute(
        f"""
        INSERT INTO {STORES_TABLE} AS s (store_id, chunks, tokens, vector_sum)
        SELECT %s, %s * count(*), %s * (SELECT coalesce(sum(
            (SELECT count(*) FROM unnest(k.tsv) AS u, unnest(u.positions))), 0)
            FROM {KEYWORDS_TABLE} k WHERE k.store_id = %s AND k.file_id = %s), sum(c.embedding)
        FROM {TABLE} c WHERE c.store_id = %s AND c.file_id = %s
        ON CONFLICT (store_id) DO UPDATE SET chunks = s.chunks + excluded.chunks, tokens = s.tokens + excluded.tokens,
            vector_sum = CASE WHEN s.vector_sum IS NULL THEN excluded.vector_sum
                              WHEN excluded.vector_sum IS NULL THEN s.vector_sum
                              ELSE s.vector_sum {op} excluded.vector_sum END
        """,
        (store_id, sign, sign, store_id, file_id, store_id, file_id),
    )
    # One unnest row per distinct lexeme of a chunk: count(*) is the chunks holding it. Sorted, so
    # two writers would lock shared rows in the same order even without the store's lock.
    conn.execute(
        f"""
        INSERT INTO {TERMS_TABLE} AS t (store_id, lexeme, chunks)
        SELECT %s, u.lexeme, %s * count(*) FROM {KEYWORDS_TABLE} k, unnest(k.tsv) AS u
        WHERE k.store_id = %s AND k.file_id = %s GROUP BY u.lexeme ORDER BY u.lexeme
        ON CONFLICT (store_id, lexeme) DO UPDATE SET chunks = t.chunks + excluded.chunks
        """,
        (store_id, sign, store_id, file_id),
    )
