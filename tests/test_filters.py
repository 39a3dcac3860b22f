"""The filter model (index.filters) and its parser (schemas.filters): parsing, evaluation semantics, error locations."""

from __future__ import annotations

import pytest

from vectorhouse.errors import InvalidRequest
from vectorhouse.index.filters import (
    COMPARISON_OPS,
    Comparison,
    Compound,
    matches,
)
from vectorhouse.schemas.filters import MAX_FILTER_DEPTH, parse_filter

ATTRS: dict[str, object] = {
    "author": "ada",
    "year": 2021,
    "score": 4.5,
    "draft": False,
    "one": 1,
    "one_str": "1",
    "flag": True,
}


def cmp(key: str, op: str, value: object) -> dict[str, object]:
    return {"key": key, "type": op, "value": value}


# (filter, attributes, expected)
MATCH_TABLE: list[tuple[dict[str, object], dict[str, object] | None, bool]] = [
    # eq
    (cmp("author", "eq", "ada"), ATTRS, True),
    (cmp("author", "eq", "bob"), ATTRS, False),
    (cmp("year", "eq", 2021), ATTRS, True),
    (cmp("year", "eq", 2021.0), ATTRS, True),  # int == float
    (cmp("score", "eq", 4.5), ATTRS, True),
    (cmp("draft", "eq", False), ATTRS, True),
    (cmp("draft", "eq", True), ATTRS, False),
    ({"key": "author", "value": "ada"}, ATTRS, True),  # type defaults to eq
    # eq type traps
    (cmp("one", "eq", True), ATTRS, False),  # bool is not a number
    (cmp("flag", "eq", 1), ATTRS, False),
    (cmp("draft", "eq", 0), ATTRS, False),
    (cmp("one", "eq", "1"), ATTRS, False),  # string is not a number
    (cmp("one_str", "eq", 1), ATTRS, False),
    (cmp("one_str", "eq", "1"), ATTRS, True),
    (cmp("author", "eq", "ADA"), ATTRS, False),  # case-sensitive
    # ne
    (cmp("author", "ne", "bob"), ATTRS, True),
    (cmp("author", "ne", "ada"), ATTRS, False),
    (cmp("year", "ne", 2021.0), ATTRS, False),
    (cmp("one", "ne", True), ATTRS, True),
    (cmp("one", "ne", "1"), ATTRS, True),
    (cmp("flag", "ne", False), ATTRS, True),
    # ordering
    (cmp("year", "gt", 2020), ATTRS, True),
    (cmp("year", "gt", 2021), ATTRS, False),
    (cmp("year", "gte", 2021), ATTRS, True),
    (cmp("year", "gte", 2021.5), ATTRS, False),
    (cmp("score", "lt", 5), ATTRS, True),
    (cmp("score", "lt", 4.5), ATTRS, False),
    (cmp("score", "lte", 4.5), ATTRS, True),
    (cmp("score", "lte", 4), ATTRS, False),
    # ordering type traps: only numeric attributes take part
    (cmp("flag", "gt", 0), ATTRS, False),  # True is not 1
    (cmp("draft", "lt", 1), ATTRS, False),
    (cmp("one_str", "gte", 0), ATTRS, False),  # "1" is not a number
    (cmp("author", "lt", 10), ATTRS, False),
    # in / nin
    (cmp("author", "in", ["bob", "ada"]), ATTRS, True),
    (cmp("author", "in", ["bob", "eve"]), ATTRS, False),
    (cmp("year", "in", [2020.0, 2021.0]), ATTRS, True),
    (cmp("year", "in", ["2021"]), ATTRS, False),
    (cmp("flag", "in", [1]), ATTRS, False),
    (cmp("one", "in", [1, "x"]), ATTRS, True),  # mixed list
    (cmp("author", "nin", ["bob", "eve"]), ATTRS, True),
    (cmp("author", "nin", ["ada"]), ATTRS, False),
    (cmp("one_str", "nin", [1]), ATTRS, True),
    (cmp("flag", "nin", [1, 0]), ATTRS, True),
    # missing key: no comparison matches, ne/nin included
    (cmp("absent", "eq", "x"), ATTRS, False),
    (cmp("absent", "ne", "x"), ATTRS, False),
    (cmp("absent", "nin", ["x"]), ATTRS, False),
    (cmp("absent", "gt", 0), ATTRS, False),
    (cmp("author", "ne", "x"), None, False),  # attributes null
    (cmp("author", "ne", "x"), {}, False),
    (cmp("author", "ne", "x"), {"author": None}, False),  # null value counts as absent
    # list-valued attributes (the collection API's links/topics): element by element, one level deep
    (cmp("topics", "in", ["geo", "x"]), {"topics": ["food", "geo"]}, True),
    (cmp("topics", "in", ["x"]), {"topics": ["food", "geo"]}, False),
    (cmp("topics", "nin", ["geo"]), {"topics": ["food", "geo"]}, False),
    (cmp("topics", "nin", ["x"]), {"topics": ["food", "geo"]}, True),
    (cmp("topics", "eq", "food"), {"topics": ["food", "geo"]}, True),
    (cmp("topics", "ne", "food"), {"topics": ["food", "geo"]}, False),
    (cmp("topics", "ne", "food"), {"topics": []}, True),  # present, equal to nothing
    (cmp("topics", "eq", "food"), {"topics": []}, False),
    (cmp("n", "gt", 5), {"n": [1, 7]}, True),
    (cmp("n", "gt", 5), {"n": [1, "9", True]}, False),
    (cmp("topics", "eq", "geo"), {"topics": [["geo"]]}, False),  # nested lists are not flattened
    # compound
    ({"type": "and", "filters": [cmp("author", "eq", "ada"), cmp("year", "gte", 2021)]}, ATTRS, True),
    ({"type": "and", "filters": [cmp("author", "eq", "ada"), cmp("year", "gt", 2021)]}, ATTRS, False),
    ({"type": "or", "filters": [cmp("author", "eq", "bob"), cmp("year", "gt", 2021)]}, ATTRS, False),
    ({"type": "or", "filters": [cmp("author", "eq", "bob"), cmp("year", "eq", 2021)]}, ATTRS, True),
    ({"type": "or", "filters": [cmp("absent", "ne", "x")]}, ATTRS, False),
    ({"type": "and", "filters": [cmp("author", "eq", "ada")]}, None, False),
]


@pytest.mark.parametrize(("raw", "attributes", "expected"), MATCH_TABLE)
def test_matches_table(raw: dict[str, object], attributes: dict[str, object] | None, expected: bool) -> None:
    assert matches(parse_filter(raw), attributes) is expected


def test_every_op_is_covered_by_the_table() -> None:
    used = {raw.get("type", "eq") for raw, _, _ in MATCH_TABLE}
    assert set(COMPARISON_OPS) | {"and", "or"} <= used


def _nest(depth: int, leaf: dict[str, object]) -> dict[str, object]:
    """``depth`` levels in all, alternating and/or, with ``leaf`` at the bottom."""
    node = leaf
    for level in range(depth - 1):
        node = {"type": "and" if level % 2 else "or", "filters": [node]}
    return node


def test_nested_five_deep() -> None:
    # or(and(or(and(..., ...)), ...), ...) built by hand so every level has two branches.
    raw = {
        "type": "and",
        "filters": [
            {
                "type": "or",
                "filters": [
                    {
                        "type": "and",
                        "filters": [
                            {
                                "type": "or",
                                "filters": [
                                    cmp("author", "eq", "bob"),
                                    {
                                        "type": "and",
                                        "filters": [cmp("year", "in", [2021]), cmp("draft", "eq", False)],
                                    },
                                ],
                            },
                            cmp("score", "gt", 4),
                        ],
                    },
                    cmp("absent", "eq", 1),
                ],
            },
            cmp("author", "ne", "eve"),
        ],
    }
    f = parse_filter(raw)
    assert matches(f, ATTRS) is True
    assert matches(f, {**ATTRS, "draft": True}) is False
    assert matches(f, {**ATTRS, "draft": True, "author": "bob"}) is True
    assert matches(f, {**ATTRS, "author": "eve"}) is False


def test_depth_limit_is_inclusive() -> None:
    f = parse_filter(_nest(MAX_FILTER_DEPTH, cmp("author", "eq", "ada")))
    assert matches(f, ATTRS) is True
    with pytest.raises(InvalidRequest) as exc:
        parse_filter(_nest(MAX_FILTER_DEPTH + 1, cmp("author", "eq", "ada")))
    assert exc.value.code == "invalid_search_filter"
    assert exc.value.param == "filters" + ".filters[0]" * MAX_FILTER_DEPTH


def test_depth_1000_is_a_clean_error() -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_filter(_nest(1000, cmp("author", "eq", "ada")))
    assert exc.value.code == "invalid_search_filter"
    assert exc.value.status_code == 400
    assert "nested more than" in exc.value.message


def test_parse_builds_the_ast() -> None:
    raw = {"type": "or", "filters": [{"key": "k", "value": "v"}, cmp("n", "in", [1, "a"])]}
    assert parse_filter(raw) == Compound(
        op="or", filters=(Comparison("k", "eq", "v"), Comparison("n", "in", (1, "a")))
    )


# (raw, param of the error, a fragment of the message)
BAD_TABLE: list[tuple[object, str, str]] = [
    ("eq", "filters", "must be an object"),
    (None, "filters", "got null"),
    ([cmp("a", "eq", 1)], "filters", "got array"),
    (
        {"key": "a", "type": "foo", "value": 1},
        "filters.type",
        "unknown filter type 'foo': expected one of eq, ne",
    ),
    ({"key": "a", "type": "EQ", "value": 1}, "filters.type", "unknown filter type 'EQ'"),
    ({"key": "a", "type": 3, "value": 1}, "filters.type", "must be a string"),
    ({"key": "a", "type": None, "value": 1}, "filters.type", "got null"),
    ({"type": "eq", "value": 1}, "filters.key", "missing 'key'"),
    ({"key": "", "value": 1}, "filters.key", "must not be empty"),
    ({"key": 5, "value": 1}, "filters.key", "must be a string"),
    ({"key": "a", "type": "eq"}, "filters.value", "missing 'value'"),
    ({"key": "a", "value": 1, "extra": 2}, "filters.extra", "unknown field 'extra'"),
    ({"key": "a", "value": 1, "filters": []}, "filters.filters", "unknown field 'filters'"),
    # value types
    (cmp("a", "eq", None), "filters.value", "got null"),
    (cmp("a", "eq", ["x"]), "filters.value", "use 'in' or 'nin'"),
    (cmp("a", "ne", {"x": 1}), "filters.value", "got object"),
    (cmp("a", "eq", float("nan")), "filters.value", "got number"),
    (cmp("a", "gt", "2021"), "filters.value", "compares numbers only, got string"),
    (cmp("a", "gte", True), "filters.value", "got boolean"),  # bool is not a number
    (cmp("a", "lt", float("inf")), "filters.value", "numbers only"),
    (cmp("a", "lte", [1]), "filters.value", "got array"),
    (cmp("a", "in", "x"), "filters.value", "needs an array"),
    (cmp("a", "nin", 1), "filters.value", "needs an array"),
    (cmp("a", "in", []), "filters.value", "non-empty"),
    (cmp("a", "in", ["x", True]), "filters.value[1]", "got boolean"),
    (cmp("a", "nin", [["x"]]), "filters.value[0]", "got array"),
    (cmp("a", "in", [1, {"b": 2}]), "filters.value[1]", "got object"),
    (cmp("a", "in", [None]), "filters.value[0]", "got null"),
    # compound
    ({"type": "and"}, "filters.filters", "missing 'filters'"),
    ({"type": "or", "filters": []}, "filters.filters", "at least one"),
    ({"type": "and", "filters": cmp("a", "eq", 1)}, "filters.filters", "must be an array"),
    ({"filters": [cmp("a", "eq", 1)]}, "filters.type", "compound filter is missing 'type'"),
    ({"type": "and", "filters": [cmp("a", "eq", 1)], "key": "a"}, "filters.key", "unknown field 'key'"),
    ({"type": "and", "filters": ["x"]}, "filters.filters[0]", "must be an object"),
    (
        {"type": "and", "filters": [cmp("a", "eq", 1), cmp("b", "gt", "x")]},
        "filters.filters[1].value",
        "numbers only",
    ),
    (
        {"type": "or", "filters": [{"type": "and", "filters": [cmp("a", "eq", 1), {"type": "xor"}]}]},
        "filters.filters[0].filters[1].type",
        "unknown filter type 'xor'",
    ),
    (
        {"type": "or", "filters": [cmp("a", "in", [1, 2, None])]},
        "filters.filters[0].value[2]",
        "got null",
    ),
]


@pytest.mark.parametrize(("raw", "param", "fragment"), BAD_TABLE)
def test_malformed_filters(raw: object, param: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_filter(raw)
    err = exc.value
    assert err.code == "invalid_search_filter"
    assert err.param == param
    assert err.status_code == 400
    assert fragment in err.message


def test_param_prefix_is_configurable() -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_filter({"type": "and", "filters": [cmp("a", "in", [])]}, param="tools[0].filters")
    assert exc.value.param == "tools[0].filters.filters[0].value"


def test_ast_is_frozen_and_hashable() -> None:
    f = parse_filter({"type": "and", "filters": [cmp("a", "in", [1, 2])]})
    assert hash(f) == hash(parse_filter({"type": "and", "filters": [cmp("a", "in", [1, 2])]}))
    with pytest.raises(AttributeError):
        f.op = "or"  # type: ignore[misc]


def test_text_contains_resolves_to_the_files_holding_the_words() -> None:
    from vectorhouse.index.filters import Comparison, Compound, FileIn, TextContains, matches, resolve_text

    holding = {"lava": {"a", "b"}, "ash": {"b", "c"}}

    def files_with(words: tuple[str, ...]) -> set[str]:
        return set.intersection(*(holding.get(w, set()) for w in words))

    plain = Comparison("k", "eq", 1)
    assert resolve_text(plain, files_with) is plain and resolve_text(None, files_with) is None
    assert resolve_text(TextContains(("lava", "ash")), files_with) == FileIn(frozenset({"b"}))
    nested = resolve_text(Compound("and", (plain, TextContains(("lava",)))), files_with)
    assert nested == Compound("and", (plain, FileIn(frozenset({"a", "b"}))))
    assert matches(nested, {"k": 1}, "a") and not matches(nested, {"k": 1}, "c") and not matches(nested, {"k": 2}, "a")
    assert resolve_text(TextContains(()), files_with) == Compound("and", ())  # no words: no constraint
    with pytest.raises(ValueError, match="resolve"):
        matches(TextContains(("lava",)), {}, "a")


def test_containment_words_are_lowercased_words_without_stop_words() -> None:
    from vectorhouse.index.text import containment_words

    assert containment_words(["LAVA", "the Ash cloud", "lava"]) == ("lava", "ash", "cloud")
    assert containment_words(["the", "of"]) == ()
