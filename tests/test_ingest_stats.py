"""Tests for the ingestion counters behind GET /metrics: overlapping embedding calls count once."""

from __future__ import annotations

import time

from vectorhouse.service.ingestion import IngestStats


def test_embed_busy_time_is_the_union_of_overlapping_calls() -> None:
    stats = IngestStats()
    stats.embedding_started()  # worker A
    time.sleep(0.1)
    stats.embedding_started()  # worker B, while A still embeds
    time.sleep(0.1)
    stats.embedding_finished()  # A
    time.sleep(0.1)
    stats.embedding_finished()  # B: busy from A's start to B's end, 0.3 s, not 0.2 + 0.2
    time.sleep(0.1)  # idle: not counted
    busy = stats.as_dict()["embed_busy_seconds"]
    assert 0.28 <= busy < 0.38
    stats.embedding_started()
    time.sleep(0.05)
    stats.embedding_finished()
    assert 0.33 <= stats.as_dict()["embed_busy_seconds"] < 0.45
