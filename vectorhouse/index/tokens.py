"""Keyword terms as the embedded index makes them: SQLite FTS5's own tokenizer (Porter stemming), shared."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence

TOKENIZE = "porter unicode61 remove_diacritics 2"

# One row per term: (term, its row ids "1,5,9", their term frequencies "2,1,1"). A row per term, not
# per (term, row): fetching 600k rows one by one hands the GIL over 600k times while searches run.
Occurrences = list[tuple[str, str, str]]


def occurrences_sql(vocab: str) -> str:
    """The query that reads `Occurrences` from an fts5vocab 'instance' table."""
    return (
        "SELECT term, group_concat(doc), group_concat(n) FROM "
        f"(SELECT term, doc, count(*) AS n FROM {vocab} GROUP BY term, doc) GROUP BY term"
    )


class KeywordTokenizer:
    """FTS5's tokenizer itself, on an in-memory scratch table, so terms are exactly the embedded index's.

    Thread-safe. Other backends index and query these terms too (Elasticsearch, whose test
    distribution has no stemmer), so every backend stems alike.
    """

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE scratch USING fts5(text, tokenize='{TOKENIZE}')")
        self._conn.execute("CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, 'instance')")
        self._lock = threading.Lock()
        self._words: dict[str, tuple[str, ...]] = {}

    def occurrences(self, rows: Iterable[tuple[int, str]]) -> Occurrences:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT INTO scratch(rowid, text) VALUES (?, ?)", rows)
                found = self._conn.execute(occurrences_sql("scratch_terms")).fetchall()
            finally:
                self._conn.execute("ROLLBACK")
            return found

    def words(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        """Each word's tokens, in order (a word like ``e_coli`` is two: FTS5 makes it a phrase)."""
        known = {w: self._words.get(w) for w in words}
        missing = [w for w, tokens in known.items() if tokens is None]
        if missing:
            tokens_of: dict[int, list[str]] = {}
            with self._lock:
                self._conn.execute("BEGIN")
                try:
                    self._conn.executemany("INSERT INTO scratch(rowid, text) VALUES (?, ?)",
                                           list(enumerate(missing, 1)))
                    for term, doc in self._conn.execute("SELECT term, doc FROM scratch_terms ORDER BY doc, offset"):
                        tokens_of.setdefault(doc, []).append(term)
                finally:
                    self._conn.execute("ROLLBACK")
                if len(self._words) > 100_000:  # bounded: user text is unbounded
                    self._words.clear()
                for doc, word in enumerate(missing, 1):
                    known[word] = self._words[word] = tuple(tokens_of.get(doc, ()))
        return [known[w] or () for w in words]

    def bags(self, texts: Sequence[str]) -> list[str]:
        """Each text as its terms, space-separated, each repeated as often as it occurs (any order).

        What a whitespace-analysed field needs to score BM25 exactly as on these terms: the same
        term frequencies, and a length equal to the number of terms.
        """
        bags: list[list[str]] = [[] for _ in texts]
        for term, rows, counts in self.occurrences(list(enumerate(texts))):
            for row, count in zip(rows.split(","), counts.split(","), strict=True):
                bags[int(row)].extend([term] * int(count))
        return [" ".join(bag) for bag in bags]

    def terms(self, words: Sequence[str]) -> list[str]:
        """The distinct terms of these words, in order (a word FTS5 splits gives each of its tokens)."""
        return list(dict.fromkeys(token for tokens in self.words(words) for token in tokens))

