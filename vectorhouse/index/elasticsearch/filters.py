"""The Elasticsearch backend's filter compiler: attributes as typed nested rows, the filter model as ``bool`` queries.

Attributes are nested key/value rows rather than one field per key so the mapping stays strict
while keys stay arbitrary; every comparison compiles to a ``nested`` query on one row (key AND
typed value), with the semantics of :func:`vectorhouse.index.filters.matches`. The compiled filter
goes inside the kNN ``filter`` (applied during the HNSW search, before the top-k cut) and into the
BM25 query's ``bool.filter``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vectorhouse.index.filters import (
    EQUALITY_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Filter,
    compile_with,
    is_number,
)

MATCH_NONE: dict[str, Any] = {"match_none": {}}
MATCH_ALL: dict[str, Any] = {"match_all": {}}

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
MAX_TERMS = 60000  # file ids per `terms` query (index.max_terms_count defaults to 65536)



def _as_long(value: float) -> int | None:
    """The exact integer a number equals when it fits a long, else None (1.0 -> 1, 1.5 -> None)."""
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    number = int(value)
    return number if _LONG_MIN <= number <= _LONG_MAX else None


def attribute_rows(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The nested rows stored for a file's attributes.

    Integral numbers go to ``i`` (a long: exact, so 2**53 + 1 stays distinct from 2**53) and every
    finite number to ``n`` (a double, for numbers that are not integers). A null value is an absent
    key; a list is a row per element (a nested query matches when any row does: element by element,
    as index.filters says); a value no filter can equal (object, NaN, an empty list) is a row with
    the key alone, so the key counts as present for ``ne``/``nin``.
    """
    rows: list[dict[str, Any]] = []
    for key, value in (attributes or {}).items():
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        typed = [row for item in values if (row := _typed_row(key, item)) is not None]
        rows.extend(typed or [{"key": key}])
    return rows


def _typed_row(key: str, value: Any) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"key": key, "b": value}
    if isinstance(value, str):
        return {"key": key, "s": value}
    if is_number(value) and math.isfinite(value):
        row: dict[str, Any] = {"key": key, "n": float(value)}
        if (exact := _as_long(value)) is not None:
            row["i"] = exact
        return row
    return None


def _nested(key: str, *clauses: dict[str, Any]) -> dict[str, Any]:
    return {"nested": {"path": "attrs", "query": {"bool": {"filter": [{"term": {"attrs.key": key}}, *clauses]}}}}


def _equal_to(value: Any) -> dict[str, Any] | None:
    """Type-aware equality of one attribute row with `value` (module doc of index.filters), or None."""
    if isinstance(value, bool):
        return {"term": {"attrs.b": value}}
    if isinstance(value, str):
        return {"term": {"attrs.s": value}}
    if not is_number(value) or not math.isfinite(value):
        return None  # NaN and infinities equal no stored value
    exact = _as_long(value)
    if exact is not None:
        return {"term": {"attrs.i": exact}}
    # Not an integer (or beyond a long): only rows without an exact integer can equal it.
    return {"bool": {"filter": [{"term": {"attrs.n": float(value)}}],
                     "must_not": [{"exists": {"field": "attrs.i"}}]}}


def _ordered(op: str, value: float) -> dict[str, Any] | None:
    """Numeric ordering of one attribute row against `value`, exact for integers, or None for nothing."""
    if math.isinf(value):
        below = value > 0  # every finite number is below +inf and above -inf
        return {"exists": {"field": "attrs.n"}} if below == (op in ("lt", "lte")) else None
    # Integers compare on the long with an integer bound: i > 1.5 is i >= 2, i <= 1.5 is i <= 1.
    if isinstance(value, int) or value.is_integer():
        bound = int(value)
        long_range: dict[str, int] | None = {op: bound}
    elif op in ("gt", "gte"):
        bound = math.ceil(value)
        long_range = {"gte": bound}
    else:
        bound = math.floor(value)
        long_range = {"lte": bound}
    if not _LONG_MIN <= bound <= _LONG_MAX:  # beyond every long: all of them or none
        long_range = None if (bound > 0) == (op in ("gt", "gte")) else {"gte": _LONG_MIN}
    clauses: list[dict[str, Any]] = [
        {"bool": {"filter": [{"range": {"attrs.n": {op: float(value)}}}],
                  "must_not": [{"exists": {"field": "attrs.i"}}]}}
    ]
    if long_range is not None:
        clauses.append({"range": {"attrs.i": long_range}})
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _compile_comparison(f: Comparison) -> dict[str, Any]:
    if f.op in EQUALITY_OPS or f.op in MEMBERSHIP_OPS:
        values = list(f.value) if isinstance(f.value, tuple) else [f.value]
        clauses = [c for c in map(_equal_to, values) if c is not None]
        equal = _nested(f.key, {"bool": {"should": clauses, "minimum_should_match": 1}}) if clauses else MATCH_NONE
        if f.op in ("eq", "in"):
            return equal
        # ne/nin: the file has the key (with a value) and that value is none of these.
        return {"bool": {"filter": [_nested(f.key)], "must_not": [equal]}}
    if f.op in ORDERING_OPS:
        value = f.value
        if not is_number(value) or math.isnan(value):  # type: ignore[arg-type]
            return MATCH_NONE
        clause = _ordered(f.op, value)  # type: ignore[arg-type]
        return _nested(f.key, clause) if clause is not None else MATCH_NONE
    raise ValueError(f"unknown comparison op {f.op!r}")


def attributes_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Attributes as `matches()` sees them, back from stored rows: each key's values as a list (which
    compares as its elements do), a key-only row an empty list (present, equal to nothing)."""
    out: dict[str, list[Any]] = {}
    for row in rows:
        values = out.setdefault(row["key"], [])
        for field in ("b", "s", "i", "n"):
            if field in row:
                values.append(row[field])
                break
    return dict(out)


def file_ids_query(file_ids: Sequence[str]) -> dict[str, Any]:
    """The documents of these files, in `terms` queries of at most MAX_TERMS ids."""
    ids = sorted(file_ids)
    if not ids:
        return MATCH_NONE
    parts = [{"terms": {"file_id": ids[i : i + MAX_TERMS]}} for i in range(0, len(ids), MAX_TERMS)]
    return parts[0] if len(parts) == 1 else {"bool": {"should": parts, "minimum_should_match": 1}}


def bool_depth(query: Any) -> int:
    """How deeply `bool` queries nest in a query (Elasticsearch refuses 30 by default)."""
    if isinstance(query, list):
        return max((bool_depth(q) for q in query), default=0)
    if not isinstance(query, dict):
        return 0
    inner = max((bool_depth(v) for v in query.values()), default=0)
    return inner + 1 if "bool" in query else inner


def compile_filter(f: Filter) -> dict[str, Any]:
    """Query DSL that selects exactly the documents :func:`vectorhouse.index.filters.matches` accepts."""
    return compile_with(f, _compile_comparison, lambda parts: {"bool": {"filter": list(parts)}},
                        lambda parts: {"bool": {"should": list(parts), "minimum_should_match": 1}},
                        MATCH_ALL, MATCH_NONE, lambda ids: file_ids_query(list(ids)))
