"""The pgvector backend's filter compiler: the filter model as SQL over the ``attributes`` and ``file_id`` columns.

Filters compile to SQL with bound parameters only (:func:`compile_filter`), so they run inside the
same query as the search and before the top-k cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from vectorhouse.index.filters import (
    EQUALITY_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Filter,
    compile_with,
    is_number,
)


def _storable(value: object) -> bool:
    """Whether a filter value can equal some stored JSONB value (jsonb has no NaN/inf, no NUL chars)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    return isinstance(value, (bool, int))



_ATTR = "(attributes -> %s)"
_PRESENT = f"jsonb_typeof({_ATTR}) <> 'null'"  # NULL (hence no match) when the key is absent
# A list-valued attribute compares element by element (index.filters); scalars skip the element scan.
_ELEMENTS = f"jsonb_array_elements({_ATTR})"


def _numeric(key: str, scalar_test: str, element_test: str, value: list[Any]) -> tuple[str, list[Any]]:
    """An ordering: on a number directly (`scalar_test` may name the attribute once), on an array when any
    element passes `element_test` (about `e`), never on anything else."""
    attr_params = [key] if _ATTR in scalar_test else []
    return (f"COALESCE(CASE jsonb_typeof({_ATTR}) WHEN 'number' THEN {scalar_test} "
            f"WHEN 'array' THEN EXISTS (SELECT 1 FROM {_ELEMENTS} e WHERE {element_test}) ELSE FALSE END, FALSE)",
            [key, *attr_params, *value, key, *value])


def _compile_comparison(f: Comparison) -> tuple[str, list[Any]]:
    if "\x00" in f.key:  # no stored key can contain NUL, so the attribute is missing: nothing matches
        return "FALSE", []
    key = f.key
    if f.op in EQUALITY_OPS or f.op in MEMBERSHIP_OPS:
        items = f.value if f.op in MEMBERSHIP_OPS else (f.value,)
        if not isinstance(items, tuple):
            items = (items,)
        # Values no stored attribute can hold (NaN, inf, NUL) never compare equal: drop them.
        kept = [Jsonb(v) for v in items if _storable(v)]
        negate = f.op in ("ne", "nin")
        if not kept:
            return (f"COALESCE({_PRESENT}, FALSE)", [key]) if negate else ("FALSE", [])
        # jsonb containment is type-aware equality (1 = 1.0, "1" <> 1, true <> 1) for a scalar, and
        # element membership for an array: `["a", 1] @> "a"`.
        test, params = f"{_ATTR} @> ANY(%s::jsonb[])", [key, kept]
        if negate:
            return f"COALESCE({_PRESENT} AND NOT ({test}), FALSE)", [key, *params]
        return f"COALESCE({test}, FALSE)", params
    if f.op in ORDERING_OPS:
        value = f.value
        if not is_number(value) or (isinstance(value, float) and math.isnan(value)):
            return "FALSE", []
        if isinstance(value, float) and math.isinf(value):
            below = value > 0  # every finite number is below +inf and above -inf
            if below != (f.op in ("lt", "lte")):
                return "FALSE", []
            return _numeric(key, "TRUE", "jsonb_typeof(e) = 'number'", [])
        sql_op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
        # CASE guarantees the comparison only ever sees numbers; jsonb compares numbers exactly as
        # numerics, and both sides were written by json.dumps (shortest round-trip repr), so the
        # order equals Python's float/int order.
        return _numeric(key, f"{_ATTR} {sql_op} %s::jsonb",
                        f"jsonb_typeof(e) = 'number' AND e {sql_op} %s::jsonb", [Jsonb(value)])
    raise ValueError(f"unknown comparison op {f.op!r}")


def compile_filter(f: Filter) -> tuple[str, list[Any]]:
    """A never-NULL SQL boolean over the ``attributes`` column, with its %s parameters in order.

    The SQL text is built from constants only; keys and values always travel as bound parameters.
    Semantics are exactly :func:`vectorhouse.index.filters.matches`.
    """
    def joined(word: str) -> Callable[[Sequence[tuple[str, list[Any]]]], tuple[str, list[Any]]]:
        return lambda parts: (f" {word} ".join(f"({sql})" for sql, _ in parts), [p for _, ps in parts for p in ps])

    return compile_with(f, _compile_comparison, joined("AND"), joined("OR"), ("TRUE", []), ("FALSE", []),
                        lambda file_ids: ("file_id = ANY(%s)", [sorted(file_ids)]))
