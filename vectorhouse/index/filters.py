"""The attribute filter model every backend compiles: OpenAI's comparison/compound filters as an AST, and its evaluator.

The AST is the contract between the wire and the index backends: ``schemas.filters.parse_filter``
builds it from a request's ``filters``, once; the in-process index evaluates it with :func:`matches`;
SQL/Elasticsearch backends compile the same dataclasses into their own query language and must
reproduce the semantics below.

Semantics (OpenAI documents none of this; these are our choices):

* Missing key: a store file whose ``attributes`` lack the key (or are ``null``, or hold ``null``
  for it) matches **no** comparison, not even ``ne`` or ``nin``: "colour ne red" excludes files
  with no colour (there is no ``exists`` op, so those cannot be selected by that key at all).
  This keeps every comparison a predicate on an existing value, which SQL and Elasticsearch
  compile directly (``attributes ? key AND ...`` / ``exists`` + term).
* Type-aware equality (``eq``, ``ne``, ``in``, ``nin``): numbers compare numerically regardless of
  int/float (``1 == 1.0``); a string never equals a number (``"1" != 1``); a boolean equals only a
  boolean (``True != 1`` – Python's ``bool`` subclasses ``int``, we do not follow it). ``ne`` and
  ``nin`` are the exact negation of ``eq``/``in`` *for files that have the key*.
* Ordering (``gt``, ``gte``, ``lt``, ``lte``) is numeric only: the filter value must be a number,
  and a file matches only when its attribute is a number (not a boolean, not a numeric-looking
  string). Lexicographic string ordering is refused on purpose: it is rarely what callers mean
  ("10" < "9"), and backends disagree on collation. Dates belong in attributes as Unix timestamps.
* ``in``/``nin`` take a non-empty array of strings and/or numbers (no booleans, per the OpenAI
  schema; use ``eq`` for those).
* ``and``/``or`` take a non-empty array and nest to at most ``schemas.filters.MAX_FILTER_DEPTH``
  levels (checked when parsed).
* List-valued attributes (the collection API's ``links`` and ``topics``; OpenAI's attributes are
  scalars) compare element by element: ``eq``/``in`` and the orderings match when any element
  does, ``ne``/``nin`` when none does, so ``["red"]`` behaves exactly as ``"red"``. An empty list
  is a present key that equals nothing.
* :class:`TextContains` asks that the file's text, across its chunks in the store, hold every
  word, as each backend's keyword analysis sees words (stemmed: "eruptions" holds "eruption").
  A search resolves it once, to the files that do (:func:`resolve_text` with the backend's
  ``Index.files_with_words``), before the backends see the filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

COMPARISON_OPS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
COMPOUND_OPS: tuple[str, ...] = ("and", "or")
EQUALITY_OPS: frozenset[str] = frozenset({"eq", "ne"})
ORDERING_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
MEMBERSHIP_OPS: frozenset[str] = frozenset({"in", "nin"})
NEGATIONS: dict[str, str] = {"ne": "eq", "nin": "in"}

ListItem = str | int | float
FilterValue = str | int | float | bool | tuple[ListItem, ...]


@dataclass(frozen=True)
class Comparison:
    """``attributes[key] <op> value``; ``value`` is a tuple for ``in``/``nin``, a scalar otherwise."""

    key: str
    op: str
    value: FilterValue


@dataclass(frozen=True)
class Compound:
    """A non-empty conjunction (``and``) or disjunction (``or``) of sub-filters."""

    op: Literal["and", "or"]
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class TextContains:
    """The file's text holds every one of ``words`` (lower-cased keyword words, no stop words)."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class FileIn:
    """The file is one of ``file_ids``: a :class:`TextContains` resolved for one store."""

    file_ids: frozenset[str]


Filter = Comparison | Compound | TextContains | FileIn

T = TypeVar("T")


def compile_with(f: Filter, comparison: Callable[[Comparison], T], all_of: Callable[[Sequence[T]], T],
                 any_of: Callable[[Sequence[T]], T], always: T, never: T,
                 files: Callable[[frozenset[str]], T]) -> T:
    """A resolved filter in a backend's query language: its comparisons by `comparison`, file sets by
    `files`, compounds combined by `all_of` / `any_of`; an empty `and` is `always` true, an empty `or` `never`."""
    if isinstance(f, Compound):
        if not f.filters:
            return always if f.op == "and" else never
        parts = [compile_with(child, comparison, all_of, any_of, always, never, files) for child in f.filters]
        return all_of(parts) if f.op == "and" else any_of(parts)
    if isinstance(f, FileIn):
        return files(f.file_ids) if f.file_ids else never
    if isinstance(f, TextContains):
        raise ValueError("a TextContains filter must be resolved (resolve_text) before it is compiled")
    return comparison(f)


def _has_text(f: Filter) -> bool:
    if isinstance(f, Compound):
        return any(_has_text(child) for child in f.filters)
    return isinstance(f, TextContains)


def resolve_text(f: Filter | None, files_with: Callable[[tuple[str, ...]], set[str]]) -> Filter | None:
    """The filter with each :class:`TextContains` replaced by the files `files_with(words)` finds
    (a backend's own keyword lookup, within one store); unchanged when it has none. No words: every file."""
    if f is None or not _has_text(f):
        return f
    if isinstance(f, Compound):
        return Compound(f.op, tuple(cast(Filter, resolve_text(child, files_with)) for child in f.filters))
    assert isinstance(f, TextContains)
    return FileIn(frozenset(files_with(f.words))) if f.words else Compound("and", ())


def is_number(v: object) -> bool:
    """An int or float, not a bool (bool is an int subclass; JSON true is not a number); NaN/inf included."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ------------------------------------------------------------------------------------ evaluation


def _same(a: object, b: object) -> bool:
    """Type-aware equality: bool only with bool, number with number (1 == 1.0), str with str."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _compare(attr: object, op: str, value: FilterValue) -> bool:
    if isinstance(attr, list):  # element by element (module doc), one level; a negation: no element matches
        items = [item for item in attr if item is not None and not isinstance(item, (list, dict))]
        if op in NEGATIONS:
            return not any(_compare(item, NEGATIONS[op], value) for item in items)
        return any(_compare(item, op, value) for item in items)
    if op == "eq":
        return _same(attr, value)
    if op == "ne":
        return not _same(attr, value)
    if op in MEMBERSHIP_OPS:
        found = any(_same(attr, v) for v in cast(tuple[ListItem, ...], value))
        return found if op == "in" else not found
    # Ordering: numbers on both sides only (the parser guarantees the value side).
    if isinstance(attr, bool) or not isinstance(attr, (int, float)):
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if op == "gt":
        return attr > value
    if op == "gte":
        return attr >= value
    if op == "lt":
        return attr < value
    if op == "lte":
        return attr <= value
    raise ValueError(f"unknown comparison op {op!r}")


def matches(filter: Filter, attributes: Mapping[str, object] | None, file_id: str | None = None) -> bool:
    """Whether the store file `file_id` with these ``attributes`` passes a resolved ``filter`` (module doc)."""
    if isinstance(filter, Compound):
        results = (matches(f, attributes, file_id) for f in filter.filters)
        return all(results) if filter.op == "and" else any(results)
    if isinstance(filter, FileIn):
        return file_id in filter.file_ids
    if isinstance(filter, TextContains):
        raise ValueError("a TextContains filter must be resolved (resolve_text) before it is evaluated")
    if attributes is None:
        return False
    attr = attributes.get(filter.key)
    if attr is None:  # absent or JSON null: no comparison matches
        return False
    return _compare(attr, filter.op, filter.value)
