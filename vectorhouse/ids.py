"""Object ids in OpenAI's shapes: `file-…`, `vs_…`, `vsfb_…`, `proj_…`, `key_…`, `resp_…`, and their validation."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_ID_RE = {
    "file-": re.compile(r"^file-[A-Za-z0-9]{1,64}$"),
    "vs_": re.compile(r"^vs_[A-Za-z0-9]{1,64}$"),
    "vsfb_": re.compile(r"^vsfb_[A-Za-z0-9]{1,64}$"),
    "proj_": re.compile(r"^proj_[A-Za-z0-9]{1,64}$"),
    "key_": re.compile(r"^key_[A-Za-z0-9]{1,64}$"),
    "resp_": re.compile(r"^resp_[A-Za-z0-9]{1,64}$"),
}


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def is_valid(prefix: str, value: str) -> bool:
    return bool(_ID_RE[prefix].match(value))
