"""The /vector_stores routes through the SDK: CRUD, pagination, counts, usage, metadata validation."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import upload


def test_create_retrieve_update_delete(client: OpenAI) -> None:
    vs = client.vector_stores.create(
        name="kb", metadata={"team": "docs"}, description="all the docs",
        expires_after={"anchor": "last_active_at", "days": 7},
    )
    assert vs.id.startswith("vs_") and vs.object == "vector_store"
    assert vs.name == "kb" and vs.metadata == {"team": "docs"}
    assert vs.status == "completed"
    assert vs.file_counts.total == 0 and vs.usage_bytes == 0
    assert vs.expires_after is not None and vs.expires_after.days == 7
    assert vs.expires_at == vs.last_active_at + 7 * 86400
    got = client.vector_stores.retrieve(vs.id)
    assert got.id == vs.id and got.name == "kb"
    updated = client.vector_stores.update(vs.id, name="kb2", metadata={"team": "eng", "tier": "1"})
    assert updated.name == "kb2" and updated.metadata == {"team": "eng", "tier": "1"}
    assert updated.expires_after is not None  # not sent: unchanged
    cleared = client.vector_stores.update(vs.id, expires_after=None)
    assert cleared.expires_after is None and cleared.expires_at is None and cleared.name == "kb2"
    deleted = client.vector_stores.delete(vs.id)
    assert deleted.deleted is True and deleted.object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.retrieve(vs.id)
    assert info.value.code == "vector_store_not_found"


def test_unnamed_store_has_empty_name(client: OpenAI) -> None:
    assert client.vector_stores.create().name == ""


def test_list_pagination_after_and_before(client: OpenAI) -> None:
    ids = [client.vector_stores.create(name=f"page-{i}").id for i in range(7)]
    asc = [s.id for s in client.vector_stores.list(order="asc", limit=3)]  # auto-paginates
    assert [i for i in asc if i in ids] == ids
    assert len(asc) == len(set(asc))
    page = client.vector_stores.list(order="asc", limit=2, after=ids[1])
    assert [s.id for s in page.data] == ids[2:4] and page.has_more is True
    assert page.first_id == ids[2] and page.last_id == ids[3]
    before = client.vector_stores.list(order="asc", limit=2, before=ids[4])
    assert [s.id for s in before.data] == ids[2:4]
    desc = client.vector_stores.list(order="desc", limit=100)
    newest = [s.id for s in desc.data if s.id in ids]
    assert newest == list(reversed(ids))
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.list(limit=101)
    assert info.value.param == "limit"
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.list(order="sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata_too_large"),
        ({"k" * 65: "v"}, "metadata_key_too_long"),
        ({"k": "v" * 513}, "metadata_value_too_long"),
        ({"k": 5}, "invalid_metadata"),
    ],
)
def test_metadata_limits(client: OpenAI, metadata: dict, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(name="bad", metadata=metadata)
    assert info.value.param == "metadata" and info.value.code == code
    # The limits are inclusive: exactly 16 keys of 64 chars with 512-char values is fine.
    ok = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    assert client.vector_stores.create(metadata=ok).metadata == ok


def test_create_with_file_ids_counts_and_usage(client: OpenAI) -> None:
    ids = [upload(client, f"doc{i}.txt", f"Document number {i} talks about gardening and tomatoes.") for i in range(3)]
    vs = client.vector_stores.create(name="with-files", file_ids=ids)
    assert vs.file_counts.total == 3
    for file_id in ids:
        done = client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=50)
        assert done.status == "completed"
    vs = client.vector_stores.retrieve(vs.id)
    assert vs.status == "completed"
    assert vs.file_counts.completed == 3 and vs.file_counts.in_progress == 0 and vs.file_counts.total == 3
    files = client.vector_stores.files.list(vs.id).data
    assert vs.usage_bytes == sum(f.usage_bytes for f in files) > 0


def test_create_with_unknown_file_writes_nothing(client: OpenAI) -> None:
    before = {s.id for s in client.vector_stores.list(limit=100)}
    good = upload(client, "good.txt", "good file")
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.create(name="half", file_ids=[good, "file-missing"])
    assert info.value.param == "file_ids[1]"
    after = {s.id for s in client.vector_stores.list(limit=100)}
    assert after == before


def test_unknown_and_malformed_store_ids(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.delete("vs_doesnotexist")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.update("vs_doesnotexist", name="x")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.retrieve("not-a-store")
    assert info.value.code == "invalid_vector_store_id"


def test_create_rejects_unknown_fields_and_bad_expiry(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(name="x", extra_body={"colour": "blue"})
    assert info.value.param == "colour"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 366})
    assert info.value.param == "expires_after.days"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(expires_after={"anchor": "created_at", "days": 3})  # type: ignore[typeddict-item]
    assert info.value.param == "expires_after.anchor"


async def test_async_client_vector_stores(aclient: AsyncOpenAI) -> None:
    vs = await aclient.vector_stores.create(name="async")
    assert (await aclient.vector_stores.retrieve(vs.id)).name == "async"
    ids = [s.id async for s in aclient.vector_stores.list(limit=2)]
    assert vs.id in ids
    assert (await aclient.vector_stores.delete(vs.id)).deleted


def test_backend_chosen_per_store(client: OpenAI, backend: str) -> None:
    # The server's default backend, and the embedded one beside it, each hold their own stores.
    stores = [client.vector_stores.create(name="default-backend"),
              client.vector_stores.create(name="embedded", extra_body={"backend": "embedded"})]
    for vs in stores:
        file_id = upload(client, "b.txt", f"Store {vs.name} keeps meerkat facts.")
        done = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=vs.id, poll_interval_ms=50)
        assert done.status == "completed"
        hits = client.vector_stores.search(vs.id, query="meerkat")
        assert [h.file_id for h in hits.data] == [file_id]
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(name="x", extra_body={"backend": "nosuch"})
    assert info.value.param == "backend"
    if backend == "embedded":
        with pytest.raises(openai.BadRequestError):  # no database configured on this server
            client.vector_stores.create(name="x", extra_body={"backend": "pgvector"})
