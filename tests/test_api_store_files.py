"""Vector store files through the SDK: attach and poll, list, attributes, detach, content, failures."""

from __future__ import annotations

import io
import zipfile

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import upload

LONG_TEXT = " ".join(f"Paragraph {i} explains how to rotate encryption keys safely." for i in range(400))


@pytest.fixture
def store(client: OpenAI) -> str:
    return client.vector_stores.create(name="files-test").id


def test_attach_in_progress_then_completed(client: OpenAI, store: str) -> None:
    file_id = upload(client, "keys.md", LONG_TEXT)
    raw = client.vector_stores.files.with_raw_response.create(vector_store_id=store, file_id=file_id,
                                                             attributes={"year": 2024, "team": "sec"})
    first = raw.parse()
    assert first.id == file_id and first.object == "vector_store.file"
    assert first.vector_store_id == store
    assert first.status == "in_progress"
    assert raw.headers.get("openai-poll-after-ms", "").isdigit()
    assert first.chunking_strategy.type == "static"
    assert first.chunking_strategy.static.max_chunk_size_tokens == 800  # type: ignore[union-attr]
    assert first.chunking_strategy.static.chunk_overlap_tokens == 400  # type: ignore[union-attr]
    done = client.vector_stores.files.poll(file_id, vector_store_id=store, poll_interval_ms=50)
    assert done.status == "completed" and done.last_error is None
    assert done.attributes == {"year": 2024, "team": "sec"}
    raw = client.vector_stores.files.with_raw_response.retrieve(file_id, vector_store_id=store).http_response.json()
    assert raw["attributes"] == {"year": 2024, "team": "sec"} and isinstance(raw["attributes"]["year"], int)
    assert done.usage_bytes > 0
    content = client.vector_stores.files.content(file_id, vector_store_id=store)
    texts = [part.text for part in content]
    assert len(texts) > 1
    assert "Paragraph 0 " in texts[0] and "Paragraph 399 " in texts[-1]


def test_create_and_poll_static_chunking(client: OpenAI, store: str) -> None:
    file_id = upload(client, "static.txt", LONG_TEXT)
    done = client.vector_stores.files.create_and_poll(
        file_id=file_id, vector_store_id=store, poll_interval_ms=50,
        chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}},
    )
    assert done.status == "completed"
    assert done.chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]
    parts = list(client.vector_stores.files.content(file_id, vector_store_id=store))
    assert len(parts) >= 10


def test_upload_and_poll_helper(client: OpenAI, store: str) -> None:
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=store, file=("helper.txt", b"uploaded by the helper"), attributes={"via": "helper"},
        poll_interval_ms=50,
    )
    assert done.status == "completed" and done.attributes == {"via": "helper"}


@pytest.mark.parametrize(
    ("strategy", "param", "code"),
    [
        ({"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
         "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
         "chunking_strategy.static.max_chunk_size_tokens", "chunk_size_invalid"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}},
         "chunking_strategy.static.chunk_overlap_tokens", "chunk_overlap_invalid"),
        ({"type": "static"}, "chunking_strategy.static", "invalid_chunking_strategy"),
        ({"type": "fancy"}, "chunking_strategy.type", "invalid_chunking_strategy"),
    ],
)
def test_bad_chunking_is_400_and_writes_nothing(client: OpenAI, store: str, strategy: dict, param: str,
                                                code: str) -> None:
    file_id = upload(client, "c.txt", "chunk me")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.create(vector_store_id=store, file_id=file_id, chunking_strategy=strategy)  # type: ignore[arg-type]
    assert info.value.param == param and info.value.code == code
    assert client.vector_stores.files.list(store).data == []


def test_attach_errors(client: OpenAI, store: str) -> None:
    file_id = upload(client, "dup.txt", "attach me twice")
    client.vector_stores.files.create(vector_store_id=store, file_id=file_id)
    with pytest.raises(openai.ConflictError) as info:
        client.vector_stores.files.create(vector_store_id=store, file_id=file_id)
    assert info.value.code == "file_already_attached"
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.files.create(vector_store_id=store, file_id="file-nothere")
    assert info.value.code == "file_not_found"
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.files.create(vector_store_id="vs_nothere", file_id=file_id)
    assert info.value.code == "vector_store_not_found"
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.files.retrieve("file-nothere", vector_store_id=store)
    assert info.value.code == "file_not_in_vector_store"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.list("vs_nothere")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.create(vector_store_id=store, file_id=file_id, attributes={"k": [1, 2]})  # type: ignore[dict-item]
    assert info.value.param == "attributes"


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({f"k{i}": i for i in range(17)}, "metadata_too_large"),
        ({"k" * 65: 1}, "metadata_key_too_long"),
        ({"k": "v" * 513}, "metadata_value_too_long"),
        ({"k": {"nested": 1}}, "invalid_attributes"),
    ],
)
def test_attribute_limits(client: OpenAI, store: str, attributes: dict, code: str) -> None:
    file_id = upload(client, "a.txt", "attributes")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.create(vector_store_id=store, file_id=file_id, attributes=attributes)
    assert info.value.param == "attributes" and info.value.code == code


def test_list_status_filter_and_pagination(client: OpenAI, store: str) -> None:
    good = [upload(client, f"g{i}.txt", f"good file {i}") for i in range(4)]
    bad = upload(client, "bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    for file_id in [*good, bad]:
        client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store, poll_interval_ms=50)
    completed = [f.id for f in client.vector_stores.files.list(store, filter="completed", limit=2)]
    assert sorted(completed) == sorted(good)
    failed = client.vector_stores.files.list(store, filter="failed").data
    assert [f.id for f in failed] == [bad]
    assert failed[0].last_error is not None and failed[0].last_error.code == "unsupported_file"
    assert failed[0].last_error.message
    asc = [f.id for f in client.vector_stores.files.list(store, order="asc", limit=2)]
    assert asc == [*good, bad]
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.list(store, filter="weird")  # type: ignore[arg-type]
    assert info.value.param == "filter"
    vs = client.vector_stores.retrieve(store)
    assert vs.file_counts.completed == 4 and vs.file_counts.failed == 1 and vs.file_counts.total == 5


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.txt", b"", "invalid_file"),
        ("blank.md", b"   \n\t  ", "invalid_file"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "invalid_file"),
        ("fake.docx", b"this is not a zip file at all", "invalid_file"),
        ("random.bin", bytes(range(256)) * 40, "unsupported_file"),
    ],
)
def test_bad_files_fail_with_last_error(client: OpenAI, store: str, name: str, content: bytes, code: str) -> None:
    file_id = upload(client, name, content)
    done = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store, poll_interval_ms=50)
    assert done.status == "failed"
    assert done.last_error is not None and done.last_error.code == code and done.last_error.message


def test_real_office_and_web_formats_are_searchable(client: OpenAI, store: str) -> None:
    import docx  # python-docx, from the test extras

    document = docx.Document()
    document.add_paragraph("The quarterly zebra migration report is stored in this document.")
    buffer = io.BytesIO()
    document.save(buffer)
    sources = {
        "report.docx": buffer.getvalue(),
        "page.html": b"<html><body><h1>Aardvark</h1><p>Aardvarks dig burrows at night.</p></body></html>",
        "table.csv": b"animal,habitat\nplatypus,river banks\n",
        "data.json": b'{"bird": "kookaburra", "sound": "laughing"}',
        "code.py": b"def capybara_speed():\n    return 'capybaras swim well'\n",
    }
    ids = {name: upload(client, name, data) for name, data in sources.items()}
    for file_id in ids.values():
        done = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store,
                                                         poll_interval_ms=50)
        assert done.status == "completed", done.last_error
    for name, word in [("report.docx", "zebra"), ("page.html", "Aardvarks"), ("table.csv", "platypus"),
                       ("data.json", "kookaburra"), ("code.py", "capybaras")]:
        text = " ".join(p.text for p in client.vector_stores.files.content(ids[name], vector_store_id=store))
        assert word in text


def test_update_attributes_changes_search(client: OpenAI, store: str) -> None:
    file_id = upload(client, "attr.txt", "Bananas are yellow fruit rich in potassium.")
    client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store,
                                               attributes={"colour": "yellow"}, poll_interval_ms=50)
    green = {"key": "colour", "type": "eq", "value": "green"}
    hits = client.vector_stores.search(store, query="bananas", filters=green)
    assert hits.data == []
    updated = client.vector_stores.files.update(file_id, vector_store_id=store, attributes={"colour": "green"})
    assert updated.attributes == {"colour": "green"}
    hits = client.vector_stores.search(store, query="bananas", filters=green)
    assert [h.file_id for h in hits.data] == [file_id]
    assert hits.data[0].attributes == {"colour": "green"}


def test_detach_removes_from_search_keeps_file(client: OpenAI, store: str) -> None:
    file_id = upload(client, "detach.txt", "Quokkas are small marsupials found on Rottnest Island.")
    client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store, poll_interval_ms=50)
    assert client.vector_stores.search(store, query="quokka marsupial").data
    deleted = client.vector_stores.files.delete(file_id, vector_store_id=store)
    assert deleted.deleted and deleted.object == "vector_store.file.deleted"
    assert client.vector_stores.search(store, query="quokka marsupial").data == []
    assert client.files.retrieve(file_id).id == file_id
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id, vector_store_id=store)
    # Re-attaching after a detach works and is searchable again.
    client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store, poll_interval_ms=50)
    assert client.vector_stores.search(store, query="quokka marsupial").data


def test_deleting_file_detaches_everywhere(client: OpenAI) -> None:
    file_id = upload(client, "everywhere.txt", "Narwhals have a long spiral tusk.")
    stores = [client.vector_stores.create(name=f"ev{i}").id for i in range(2)]
    for s in stores:
        client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=s, poll_interval_ms=50)
        assert client.vector_stores.search(s, query="narwhal tusk").data
    client.files.delete(file_id)
    for s in stores:
        assert client.vector_stores.search(s, query="narwhal tusk").data == []
        assert client.vector_stores.files.list(s).data == []
        vs = client.vector_stores.retrieve(s)
        assert vs.file_counts.total == 0 and vs.usage_bytes == 0


def test_deleting_store_keeps_files(client: OpenAI) -> None:
    file_id = upload(client, "keep.txt", "Wombats produce cube-shaped droppings.")
    vs = client.vector_stores.create(name="tmp", file_ids=[file_id])
    client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=50)
    client.vector_stores.delete(vs.id)
    assert client.files.retrieve(file_id).id == file_id
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search(vs.id, query="wombat")


def test_zip_that_is_not_office_is_rejected(client: OpenAI, store: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.bin", b"\x00\x01\x02")
    file_id = upload(client, "archive.zip", buffer.getvalue())
    done = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store, poll_interval_ms=50)
    assert done.status == "failed" and done.last_error is not None


async def test_async_attach_and_poll(aclient: AsyncOpenAI) -> None:
    vs = await aclient.vector_stores.create(name="async-files")
    f = await aclient.files.create(file=("a.txt", b"Async pelicans scoop fish."), purpose="assistants")
    done = await aclient.vector_stores.files.create_and_poll(file_id=f.id, vector_store_id=vs.id,
                                                             poll_interval_ms=50)
    assert done.status == "completed"
    page = await aclient.vector_stores.search(vs.id, query="pelican")
    assert page.data and page.data[0].file_id == f.id


def test_attaching_a_failed_file_again_retries_it(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="retry")
    file_id = upload(client, "empty.txt", "")
    failed = client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=vs.id, poll_interval_ms=50)
    assert failed.status == "failed" and failed.last_error is not None
    retried = client.vector_stores.files.create(file_id=file_id, vector_store_id=vs.id, attributes={"try": 2})
    assert retried.status == "in_progress" and retried.last_error is None and retried.attributes == {"try": 2}
    again = client.vector_stores.files.poll(file_id, vector_store_id=vs.id, poll_interval_ms=50)
    assert again.status == "failed" and again.last_error is not None  # an empty file stays unusable
    assert client.vector_stores.retrieve(vs.id).file_counts.failed == 1
