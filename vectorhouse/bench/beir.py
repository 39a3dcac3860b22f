"""Loading a BEIR-format dataset folder (corpus, queries, qrels/test.tsv) into memory."""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Dataset:
    """One BEIR dataset: documents and test queries in file order, and graded judgements per query."""

    name: str
    corpus: dict[str, str]  # doc id -> title + "\n\n" + text
    queries: dict[str, str]  # query id -> text, only queries judged in qrels/test.tsv
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> relevance score

    def relevant(self, query_id: str) -> set[str]:
        """Documents judged relevant (score > 0) for a query: binary relevance."""
        return {doc_id for doc_id, score in self.qrels.get(query_id, {}).items() if score > 0}


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _find(folder: Path, *names: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder} has none of {', '.join(names)} (is it a BEIR dataset folder?)")


def document_text(title: str, text: str) -> str:
    """What gets uploaded for one document: the title as a heading paragraph, when there is one."""
    title = title.strip()
    return f"{title}\n\n{text}" if title else text


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        next(rows, None)  # header: query-id, corpus-id, score
        for row in rows:
            if len(row) < 3:
                continue
            query_id, doc_id, score = row[0], row[1], row[2]
            qrels.setdefault(query_id, {})[doc_id] = int(float(score))
    return qrels


def load_queries(folder: str | Path) -> dict[str, str]:
    """Every query of a BEIR folder, judged or not: id -> text."""
    root = Path(folder).expanduser().resolve()
    return {
        str(row["_id"]): str(row.get("text") or "")
        for row in _read_jsonl(_find(root, "queries.jsonl", "queries.jsonl.gz"))
    }


def load_dataset(folder: str | Path) -> Dataset:
    """Read a BEIR folder; queries are restricted to those that appear in qrels/test.tsv."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    corpus = {
        str(row["_id"]): document_text(str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _read_jsonl(_find(root, "corpus.jsonl", "corpus.jsonl.gz"))
    }
    qrels = load_qrels(_find(root, "qrels/test.tsv"))
    queries = {query_id: text for query_id, text in load_queries(root).items() if query_id in qrels}
    return Dataset(name=root.name, corpus=corpus, queries=queries, qrels=qrels)


def load_judged(path: str) -> Dataset | None:
    """The dataset, or None (with a message) when no query of it is judged in qrels/test.tsv."""
    dataset = load_dataset(path)
    if not dataset.queries:
        print(f"{path}: no queries appear in qrels/test.tsv", file=sys.stderr)
        return None
    return dataset


def store_name(dataset: Dataset, embedding_model: str | None = None) -> str:
    """The vector store a dataset is ingested into (one per model asked for); search finds it again by name."""
    return f"bench-{dataset.name}" + (f"-{embedding_model}" if embedding_model else "")
