"""The store-file lifecycle through the real services and catalog: transitions, and the cap on job attempts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorhouse.catalog import DEFAULT_PROJECT_ID
from vectorhouse.config import Settings
from vectorhouse.errors import Conflict
from vectorhouse.schemas.requests import VectorStoreCreate
from vectorhouse.service import Vectorhouse
from vectorhouse.service.lifecycle import STATUSES, TRANSITIONS, FileStatus


class ManualClock:
    def __init__(self) -> None:
        self.value = 1_700_000_000

    def now(self) -> int:
        return self.value


@pytest.fixture
def vh(tmp_path: Path) -> Iterator[tuple[Vectorhouse, ManualClock]]:
    clock = ManualClock()
    # No worker threads: the test claims jobs itself, as workers that die would.
    service = Vectorhouse(Settings(data_dir=tmp_path / "data", workers=0, job_lease_seconds=10, max_job_attempts=2),
                          clock)
    yield service, clock
    service.close()


def _store_with_file(vh: Vectorhouse) -> tuple[str, str]:
    file_id = vh.files.create(DEFAULT_PROJECT_ID, io.BytesIO(b"otters hold hands while they sleep"), "otters.txt",
                              "assistants", None).id
    store_id = vh.stores.create(DEFAULT_PROJECT_ID, VectorStoreCreate(name="s")).id
    vh.store_files.attach(DEFAULT_PROJECT_ID, store_id, file_id, None, None)
    return store_id, file_id


def test_a_job_whose_worker_keeps_dying_ends_its_file_failed(vh: tuple[Vectorhouse, ManualClock]) -> None:
    service, clock = vh
    store_id, file_id = _store_with_file(service)
    for attempt in (1, 2):  # claimed, and its worker dies: the lease runs out
        jobs = service.lifecycle.claim(f"dead-worker-{attempt}", 10)
        assert [(j.file_id, j.attempts) for j in jobs] == [(file_id, attempt)]
        clock.value += 11
    assert service.lifecycle.claim("worker-3", 10) == []
    failed = service.store_files.get(DEFAULT_PROJECT_ID, store_id, file_id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.code == "server_error" and "2 times" in failed.last_error.message
    assert service.stores.get(DEFAULT_PROJECT_ID, store_id).file_counts.failed == 1
    # Attached again, it is retried from a fresh job.
    service.store_files.attach(DEFAULT_PROJECT_ID, store_id, file_id, None, None)
    assert [j.attempts for j in service.lifecycle.claim("worker-4", 10)] == [1]


def test_a_file_in_progress_or_completed_is_not_attached_twice(vh: tuple[Vectorhouse, ManualClock]) -> None:
    service, _ = vh
    store_id, file_id = _store_with_file(service)
    with pytest.raises(Conflict):
        service.store_files.attach(DEFAULT_PROJECT_ID, store_id, file_id, None, None)
    service.ingestion.run_once("worker", 10)
    assert service.store_files.get(DEFAULT_PROJECT_ID, store_id, file_id).status == "completed"
    with pytest.raises(Conflict):
        service.store_files.attach(DEFAULT_PROJECT_ID, store_id, file_id, None, None)


def test_the_transitions_cover_every_status() -> None:
    assert set(STATUSES) == {s.value for s in FileStatus} == set(TRANSITIONS) - {None}
    assert all(targets <= set(STATUSES) for targets in TRANSITIONS.values())
    assert TRANSITIONS[FileStatus.COMPLETED.value] == frozenset()  # completed is final (detach deletes it)
