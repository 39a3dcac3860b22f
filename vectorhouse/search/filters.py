"""Attribute filters: the AST for OpenAI's ComparisonFilter/CompoundFilter, its parser and evaluator.

The AST is the contract between the API layer and the index backends: the API parses the request's
``filters`` with :func:`parse_filter`; the in-process index evaluates it with :func:`matches`;
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
* ``and``/``or`` take a non-empty array and nest to at most :data:`MAX_FILTER_DEPTH` levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from vectorhouse.errors import InvalidRequest

COMPARISON_OPS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
COMPOUND_OPS: tuple[str, ...] = ("and", "or")
EQUALITY_OPS: frozenset[str] = frozenset({"eq", "ne"})
ORDERING_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
MEMBERSHIP_OPS: frozenset[str] = frozenset({"in", "nin"})

# A filter nested deeper than this is refused with a 400 before Python's recursion limit can bite.
MAX_FILTER_DEPTH = 32

ERROR_CODE = "invalid_search_filter"

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


Filter = Comparison | Compound


# --------------------------------------------------------------------------------------- parsing


def _fail(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=ERROR_CODE)


def is_number(v: object) -> bool:
    """An int or float, not a bool (bool is an int subclass; JSON true is not a number); NaN/inf included."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    # NaN/inf only arrive via lenient decoders; a filter value must be finite.
    return is_number(v) and (not isinstance(v, float) or math.isfinite(v))


def _type_name(v: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def parse_filter(raw: object, param: str = "filters") -> Filter:
    """Validate a JSON-decoded ComparisonFilter/CompoundFilter and return its AST.

    ``param`` is the JSON path of ``raw`` in the request; errors point below it, e.g.
    ``filters.filters[1].value``. Every failure raises
    ``InvalidRequest(..., param=<path>, code="invalid_search_filter")``.
    """
    return _parse(raw, param, 1)


def _parse(raw: object, param: str, depth: int) -> Filter:
    if depth > MAX_FILTER_DEPTH:
        raise _fail(f"filters are nested more than {MAX_FILTER_DEPTH} levels deep", param)
    if not isinstance(raw, Mapping):
        raise _fail(f"a filter must be an object, got {_type_name(raw)}", param)

    if "type" in raw:
        op = raw["type"]
        if not isinstance(op, str):
            raise _fail(f"filter type must be a string, got {_type_name(op)}", f"{param}.type")
    elif "filters" in raw and "key" not in raw:
        # Without this, the default "eq" would produce a confusing "unknown field 'filters'".
        raise _fail("compound filter is missing 'type': expected 'and' or 'or'", f"{param}.type")
    else:
        op = "eq"  # the OpenAPI default for ComparisonFilter.type

    if op in COMPOUND_OPS:
        return _parse_compound(raw, cast(Literal["and", "or"], op), param, depth)
    if op in COMPARISON_OPS:
        return _parse_comparison(raw, op, param)
    expected = ", ".join(COMPARISON_OPS + COMPOUND_OPS)
    raise _fail(f"unknown filter type {op!r}: expected one of {expected}", f"{param}.type")


def _reject_unknown(raw: Mapping[object, object], allowed: tuple[str, ...], kind: str, param: str) -> None:
    for k in raw:
        if k not in allowed:
            raise _fail(
                f"unknown field {k!r} in {kind} filter: expected only {', '.join(allowed)}",
                f"{param}.{k}",
            )


def _parse_compound(
    raw: Mapping[object, object], op: Literal["and", "or"], param: str, depth: int
) -> Compound:
    _reject_unknown(raw, ("type", "filters"), "compound", param)
    if "filters" not in raw:
        raise _fail(f"compound filter {op!r} is missing 'filters'", f"{param}.filters")
    items = raw["filters"]
    if not isinstance(items, (list, tuple)):
        raise _fail(f"'filters' must be an array, got {_type_name(items)}", f"{param}.filters")
    if not items:
        raise _fail(f"compound filter {op!r} needs at least one sub-filter", f"{param}.filters")
    children = tuple(_parse(item, f"{param}.filters[{i}]", depth + 1) for i, item in enumerate(items))
    return Compound(op=op, filters=children)


def _parse_comparison(raw: Mapping[object, object], op: str, param: str) -> Comparison:
    _reject_unknown(raw, ("key", "type", "value"), "comparison", param)
    if "key" not in raw:
        raise _fail("comparison filter is missing 'key'", f"{param}.key")
    key = raw["key"]
    if not isinstance(key, str):
        raise _fail(f"filter key must be a string, got {_type_name(key)}", f"{param}.key")
    if not key:
        raise _fail("filter key must not be empty", f"{param}.key")
    if "value" not in raw:
        raise _fail("comparison filter is missing 'value'", f"{param}.value")
    return Comparison(key=key, op=op, value=_parse_value(raw["value"], op, f"{param}.value"))


def _parse_value(value: object, op: str, param: str) -> FilterValue:
    if op in MEMBERSHIP_OPS:
        if not isinstance(value, (list, tuple)):
            raise _fail(f"{op!r} needs an array of strings or numbers, got {_type_name(value)}", param)
        if not value:
            raise _fail(f"{op!r} needs a non-empty array", param)
        for i, item in enumerate(value):
            if not (isinstance(item, str) or _is_number(item)):
                raise _fail(
                    f"{op!r} array items must be strings or numbers, got {_type_name(item)}",
                    f"{param}[{i}]",
                )
        return tuple(value)
    if op in ORDERING_OPS:
        if not _is_number(value):
            raise _fail(f"{op!r} compares numbers only, got {_type_name(value)}", param)
        return cast(FilterValue, value)
    # eq / ne
    if isinstance(value, (str, bool)) or _is_number(value):
        return cast(FilterValue, value)
    hint = " (use 'in' or 'nin' for arrays)" if isinstance(value, (list, tuple)) else ""
    raise _fail(f"{op!r} needs a string, number or boolean, got {_type_name(value)}{hint}", param)


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


def matches(filter: Filter, attributes: Mapping[str, object] | None) -> bool:
    """Whether a store file with these ``attributes`` passes ``filter`` (semantics: module doc)."""
    if isinstance(filter, Compound):
        results = (matches(f, attributes) for f in filter.filters)
        return all(results) if filter.op == "and" else any(results)
    if attributes is None:
        return False
    attr = attributes.get(filter.key)
    if attr is None:  # absent or JSON null: no comparison matches
        return False
    return _compare(attr, filter.op, filter.value)


def filter_to_dict(filter: Filter) -> dict[str, object]:
    """The canonical JSON form (explicit ``type``, arrays as lists); re-parses to an equal AST."""
    if isinstance(filter, Compound):
        return {"type": filter.op, "filters": [filter_to_dict(f) for f in filter.filters]}
    value = list(filter.value) if isinstance(filter.value, tuple) else filter.value
    return {"key": filter.key, "type": filter.op, "value": value}
