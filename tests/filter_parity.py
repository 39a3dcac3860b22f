"""A shared table for filter parity: every backend's compiled filters must select what `matches()` selects."""

from __future__ import annotations

from typing import Any

from vectorhouse.index.filters import Comparison, Compound, Filter

PARITY_ATTRIBUTES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "empty": {},
    "null": {"k": None},
    "red": {"k": "red", "n": 5, "flag": True},
    "str1": {"k": "1"},
    "emptystr": {"k": ""},
    "int1": {"k": 1, "n": -2},
    "float1": {"k": 1.0},
    "float15": {"k": 1.5, "flag": False},
    "zero": {"k": 0},
    "neg": {"k": -3},
    "true": {"k": True},
    "false": {"k": False},
    "big": {"k": 2**53 + 1},
    "pt3": {"k": 0.3},
    "sum": {"k": 0.1 + 0.2},
    "tiny": {"k": 1e-300},
    "huge": {"k": 1e300},
    "unicode": {"k": "Grüße 🚀"},
    "quote": {"k": 'it\'s "q"'},
    "array": {"k": ["red"]},
    "list": {"k": ["blue", 1, 0.3, True], "links": ["a", "b"]},
    "emptylist": {"k": []},
    "nested_list": {"k": [["red"], {"a": 1}, None, "green"]},
    "object": {"k": {"a": 1}},
    "other": {"j": "red", "n": 5},
    "odd_keys": {"we'ird key": "x", "a.b": 1, "": "empty key"},
}

_SCALARS: list[Any] = [
    "red", "1", "", "Grüße 🚀", "it's \"q\"", 1, 1.0, 1.5, 0, -3, True, False, 2**53 + 1, float(2**53),
    0.3, 0.1 + 0.2, 1e-300, 1e300, float("nan"), float("inf"), "v\x00",
]  # fmt: skip
_NUMBERS: list[Any] = [
    0, 1, 1.0, 1.5, -3, 0.3, 0.1 + 0.2, 2**53, 2**53 + 1, 1e300, -1e300,
    float("inf"), float("-inf"), float("nan"), True, "1",
]  # fmt: skip
_LISTS: list[tuple[Any, ...]] = [
    ("red", "1"),
    (1,),
    (1.5, "red"),
    (0.3,),
    ("x",),
    (True,),
    (float("nan"),),
    (0, False),
    ("red", 1, 0.3),
    (),
]


def parity_filters() -> list[Filter]:
    out: list[Filter] = []
    for v in _SCALARS:
        out += [Comparison("k", "eq", v), Comparison("k", "ne", v)]
    for v in _NUMBERS:
        out += [Comparison("k", op, v) for op in ("gt", "gte", "lt", "lte")]
    for items in _LISTS:
        out += [Comparison("k", "in", items), Comparison("k", "nin", items)]
    out += [
        Comparison("n", "gte", 5),
        Comparison("n", "ne", 5),
        Comparison("flag", "eq", True),
        Comparison("flag", "ne", True),
        Comparison("flag", "eq", 1),
        Comparison("links", "in", ("b", "z")),
        Comparison("links", "nin", ("b",)),
        Comparison("links", "eq", "a"),
        Comparison("missing", "ne", "x"),
        Comparison("missing", "nin", ("x",)),
        Comparison("we'ird key", "eq", "x"),
        Comparison("a.b", "eq", 1),
        Comparison("", "eq", "empty key"),
        Comparison("k\x00", "ne", "x"),
        Compound("and", ()),
        Compound("or", ()),
        Compound("and", (Comparison("k", "eq", "red"), Comparison("n", "gt", 4))),
        Compound("or", (Comparison("k", "eq", "red"), Comparison("k", "lt", 0), Comparison("flag", "eq", False))),
        Compound(
            "and",
            (
                Compound("or", (Comparison("k", "ne", "red"), Comparison("n", "lt", 0))),
                Compound("or", (Comparison("k", "nin", ("1",)), Comparison("missing", "eq", 1))),
            ),
        ),
        Compound("or", (Compound("and", ()), Comparison("k", "eq", "zzz"))),
    ]
    nested: Filter = Comparison("k", "gte", 0)
    for i in range(30):  # deep nesting compiles too
        nested = Compound("and" if i % 2 else "or", (nested, Comparison("k", "eq", "nope")))
    out.append(nested)
    return out


def describe(f: Filter) -> str:
    return repr(f) if not isinstance(f, Compound) or len(repr(f)) < 200 else repr(f)[:200] + "..."
