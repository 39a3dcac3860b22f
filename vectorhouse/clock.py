"""The clock every timestamp comes from, injectable so expiry can be tested without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Unix seconds."""
        ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())
