"""Validators for the maps users attach: store metadata and store-file attributes (OpenAI's limits)."""

from __future__ import annotations

import math
from typing import Any

from pydantic_core import PydanticCustomError

MAX_PAIRS = 16
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 512


def _check_keys(value: dict[str, Any], what: str, too_many_code: str) -> None:
    if len(value) > MAX_PAIRS:
        raise PydanticCustomError(
            too_many_code, f"{what} has {len(value)} keys; at most {MAX_PAIRS} are allowed"
        )
    for key in value:
        if len(key) > MAX_KEY_CHARS:
            raise PydanticCustomError(
                "metadata_key_too_long",
                f"{what} key '{key[:70]}…' is {len(key)} characters; at most {MAX_KEY_CHARS} are allowed",
            )


def check_metadata(value: dict[str, Any] | None) -> dict[str, str] | None:
    """Store metadata: ≤16 pairs, keys ≤64 chars, values strings ≤512 chars."""
    if value is None:
        return None
    _check_keys(value, "metadata", "metadata_too_large")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PydanticCustomError(
                "invalid_metadata", f"metadata value for '{key}' must be a string, got {type(item).__name__}"
            )
        if len(item) > MAX_VALUE_CHARS:
            raise PydanticCustomError(
                "metadata_value_too_long",
                f"metadata value for '{key}' is {len(item)} characters; at most {MAX_VALUE_CHARS} are allowed",
            )
    return value


def check_attributes(value: dict[str, Any] | None) -> dict[str, str | int | float | bool] | None:
    """Store-file attributes: ≤16 keys, keys ≤64 chars, values string ≤512 chars, number or boolean."""
    if value is None:
        return None
    _check_keys(value, "attributes", "metadata_too_large")
    for key, item in value.items():
        if isinstance(item, bool):
            continue
        if isinstance(item, int | float):
            if isinstance(item, float) and not math.isfinite(item):
                raise PydanticCustomError("invalid_attributes", f"attribute '{key}' must be a finite number")
            continue
        if isinstance(item, str):
            if len(item) > MAX_VALUE_CHARS:
                raise PydanticCustomError(
                    "metadata_value_too_long",
                    f"attribute '{key}' is {len(item)} characters; at most {MAX_VALUE_CHARS} are allowed",
                )
            continue
        raise PydanticCustomError(
            "invalid_attributes",
            f"attribute '{key}' must be a string, number or boolean, got {type(item).__name__}",
        )
    return value
