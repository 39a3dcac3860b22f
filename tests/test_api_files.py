"""The /files routes through the official SDK (sync and async)."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import Server, start_server, upload


def test_upload_retrieve_content_roundtrip(client: OpenAI) -> None:
    payload = b"\x00binary\xffbytes" * 1000
    created = client.files.create(file=("blob.bin", payload), purpose="assistants")
    assert created.id.startswith("file-")
    assert created.object == "file"
    assert created.bytes == len(payload)
    assert created.filename == "blob.bin"
    assert created.purpose == "assistants"
    assert created.status == "processed"
    assert created.expires_at is None
    fetched = client.files.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert client.files.content(created.id).content == payload


def test_upload_with_expiry(client: OpenAI) -> None:
    created = client.files.create(
        file=("e.txt", b"expiring"), purpose="batch", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    assert created.expires_at == created.created_at + 3600


def test_list_filters_orders_and_pages(client: OpenAI) -> None:
    ids = [upload(client, f"p{i}.txt", f"page {i}", purpose="user_data") for i in range(5)]
    listed = client.files.list(purpose="user_data", order="asc")
    got = [f.id for f in listed.data if f.id in ids]
    assert got == ids
    assert all(f.purpose == "user_data" for f in listed.data)
    first = client.files.list(purpose="user_data", limit=2, order="desc")
    assert first.has_more is True and len(first.data) == 2
    walked = [f.id for f in client.files.list(purpose="user_data", limit=2, order="desc")]
    assert [i for i in walked if i in ids] == list(reversed(ids))
    assert len(walked) == len(set(walked))


def test_delete_file(client: OpenAI) -> None:
    file_id = upload(client, "d.txt", "delete me")
    deleted = client.files.delete(file_id)
    assert deleted.id == file_id and deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as info:
        client.files.retrieve(file_id)
    assert info.value.body["code"] == "file_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.files.content(file_id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(file_id)


def test_upload_errors(client: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("x.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    assert info.value.param == "purpose"
    response = http.post("/files", data={"purpose": "assistants"}, files={})
    assert response.status_code == 400
    missing_file = http.post("/files", files={"purpose": (None, "assistants")})
    assert missing_file.status_code == 400 and missing_file.json()["error"]["param"] == "file"
    missing_purpose = http.post("/files", files={"file": ("a.txt", b"a")})
    assert missing_purpose.status_code == 400 and missing_purpose.json()["error"]["param"] == "purpose"
    bad_expiry = http.post(
        "/files",
        files={"file": ("a.txt", b"a")},
        data={"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "5"},
    )
    assert bad_expiry.status_code == 400 and bad_expiry.json()["error"]["param"] == "expires_after.seconds"
    not_multipart = http.post("/files", json={"purpose": "assistants"})
    assert not_multipart.status_code == 400


def test_unknown_file_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-doesnotexist")


async def test_async_client_files(aclient: AsyncOpenAI) -> None:
    created = await aclient.files.create(file=("async.txt", b"async bytes"), purpose="assistants")
    assert (await aclient.files.retrieve(created.id)).bytes == len(b"async bytes")
    assert (await aclient.files.content(created.id)).content == b"async bytes"
    assert (await aclient.files.delete(created.id)).deleted is True


def test_upload_too_large_is_413_and_connection_survives(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv: Server = start_server(tmp_path / "small", {"VECTORHOUSE_MAX_UPLOAD_BYTES": "1000"})
    try:
        with httpx.Client(base_url=srv.api) as http:
            big = http.post("/files", files={"file": ("big.txt", b"a" * 200_000)}, data={"purpose": "assistants"})
            assert big.status_code == 413
            assert big.json()["error"]["code"] == "file_too_large"
            # Just over the limit, below the early header check: caught while streaming.
            edge = http.post("/files", files={"file": ("edge.txt", b"a" * 1001)}, data={"purpose": "assistants"})
            assert edge.status_code == 413
            ok = http.post("/files", files={"file": ("ok.txt", b"a" * 1000)}, data={"purpose": "assistants"})
            assert ok.status_code == 200
        client = srv.client()
        with pytest.raises(openai.APIStatusError) as info:
            client.files.create(file=("big.txt", b"b" * 5000), purpose="assistants")
        assert info.value.status_code == 413
        assert client.files.list().data[0].filename == "ok.txt"
    finally:
        srv.stop()


@pytest.mark.parametrize("query", ["purpose=%00", "after=file-%00", "purpose=assistants&order=desc&after=x%00y"])
def test_nul_in_a_query_parameter_is_a_400_naming_it(http: httpx.Client, query: str) -> None:
    # PostgreSQL text cannot hold NUL: it must never reach a query as a 500.
    response = http.get(f"/files?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] in ("purpose", "after")
    assert http.get("/vector_stores?after=vs_%00").status_code == 400
