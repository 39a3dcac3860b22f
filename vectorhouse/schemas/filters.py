"""Parsing a request's ``filters`` (OpenAI's ComparisonFilter/CompoundFilter JSON) into the filter model, once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, cast

from vectorhouse.errors import InvalidRequest
from vectorhouse.index.filters import (
    COMPARISON_OPS,
    COMPOUND_OPS,
    MEMBERSHIP_OPS,
    ORDERING_OPS,
    Comparison,
    Compound,
    Filter,
    FilterValue,
    is_number,
)

# A filter nested deeper than this is refused with a 400 before Python's recursion limit can bite.
MAX_FILTER_DEPTH = 32

ERROR_CODE = "invalid_search_filter"


def _fail(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=ERROR_CODE)


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
