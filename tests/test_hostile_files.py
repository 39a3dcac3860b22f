"""Hostile files end `failed` with invalid_file in bounded time and memory, and never starve the queue."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from tests.conftest import Server, start_server, upload
from tests.test_extract import make_docx, make_pdf, pdf_from_objects
from vectorhouse.blobs.local import BlobStorageFull, LocalBlobStore
from vectorhouse.index.base import FileWrite
from vectorhouse.ingest.chunking import TextChunk
from vectorhouse.ingest.extract import ExtractionError, ExtractLimits, extract_text
from vectorhouse.ingest.sandbox import ExtractSandbox, SandboxClosed
from vectorhouse.ingest.tokenizer import get_encoding
from vectorhouse.service import ingestion
from vectorhouse.service.jobs import ClaimedJob
from vectorhouse.service.lifecycle import Outcome

MIB = 1 << 20
TIMEOUT_S = 3
MEMORY_BYTES = 768 * MIB  # the child starts at ~450 MB of address space: a bomb reaches this in ~1 s
MAX_TOKENS = 2000
HOSTILE_ENV = {
    "VECTORHOUSE_EXTRACT_TIMEOUT_SECONDS": str(TIMEOUT_S),
    "VECTORHOUSE_EXTRACT_MAX_MEMORY_BYTES": str(MEMORY_BYTES),
    "VECTORHOUSE_MAX_EXTRACTED_BYTES": str(32 * MIB),
    "VECTORHOUSE_MAX_FILE_TOKENS": str(MAX_TOKENS),
}


# ---------------------------------------------------------------- hostile files, built here


def office_bomb(kind: str, inflated: int) -> bytes:
    """A docx/xlsx whose main part is `inflated` bytes of repeated XML: a few hundred KB zipped."""
    part, element = {
        "docx": ("word/document.xml", b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>"),
        "xlsx": ("xl/worksheets/sheet1.xml", b"<row><c t=\"inlineStr\"><is><t>bomb</t></is></c></row>"),
    }[kind]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with zf.open(part, "w") as out:
            block = element * (MIB // len(element))
            for _ in range(inflated // len(block)):
                out.write(block)
    return buf.getvalue()


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def flate_bomb_pdf(inflated: int) -> bytes:
    """One page whose content stream is `inflated` bytes of spaces, FlateDecode'd into ~1/1000 of that."""
    # Full flushes make every 1 MiB segment identical, so the stream is built without compressing it all.
    block = b" " * MIB
    deflate = zlib.compressobj(9)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    count = inflated // MIB
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    stream = first + segment * (count - 1) + b"\x03\x00" + adler.to_bytes(4, "big")
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        _FONT,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ])


def many_pages_pdf(pages: int) -> bytes:
    """`pages` pages sharing one tiny content stream: small to send, slow to parse (~1 ms a page)."""
    content = b"BT /F1 12 Tf 72 720 Td (page) Tj ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 4 0 R >>")
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        _FONT,
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *[page] * pages,
    ])


def text_of_tokens(count: int) -> str:
    """English-ish text of exactly `count` o200k_base tokens."""
    enc = get_encoding("o200k_base")
    words = random.Random(7).choices(["otter", "river", "stone", "kelp", "shell", "tide"], k=count * 2)
    text = enc.decode(enc.encode_ordinary(" ".join(words))[:count])
    assert len(enc.encode_ordinary(text)) == count
    return text


# ---------------------------------------------------------------- through the server and the SDK


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("hostile") / "data", HOSTILE_ENV)
    try:
        yield server
    finally:
        server.stop()


def wait_done(client: OpenAI, store_id: str, file_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        vsf = client.vector_stores.files.retrieve(file_id=file_id, vector_store_id=store_id)
        if vsf.status != "in_progress" or time.monotonic() > deadline:
            return vsf
        time.sleep(0.05)


def attach_batch(client: OpenAI, files: dict[str, bytes | str], **options: object) -> tuple[str, dict[str, str]]:
    ids = {name: upload(client, name, body) for name, body in files.items()}
    store = client.vector_stores.create(name="hostile")
    client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=list(ids.values()),
                                             **options)  # type: ignore[arg-type]
    return store.id, ids


@pytest.mark.parametrize(("kind", "inflated", "why"), [
    ("docx", 64 * MIB, "expands to 64.0 MiB when unzipped, more than the limit of 32 MiB"),
    ("xlsx", 16 * MIB, "times its size when unzipped, more than the limit of 200"),
])
def test_a_zip_bomb_fails_at_once_and_the_file_beside_it_completes(hostile: Server, kind: str, inflated: int,
                                                                    why: str) -> None:
    client = hostile.client()
    bomb = office_bomb(kind, inflated)
    assert len(bomb) < 400_000
    started = time.monotonic()
    store_id, ids = attach_batch(client, {f"bomb.{kind}": bomb, "report.docx": make_docx()})
    failed = wait_done(client, store_id, ids[f"bomb.{kind}"])
    assert failed.status == "failed" and failed.last_error.code == "invalid_file"
    assert why in failed.last_error.message
    assert time.monotonic() - started < 10  # refused before parsing: markitdown would take minutes
    assert wait_done(client, store_id, ids["report.docx"]).status == "completed"


def test_a_pdf_that_parses_too_long_is_stopped_and_starves_nothing(hostile: Server) -> None:
    client = hostile.client()
    started = time.monotonic()
    store_id, ids = attach_batch(client, {"pages.pdf": many_pages_pdf(30_000),
                                          "after.pdf": make_pdf("Pelicans nest on the island")})
    time.sleep(0.5)  # one worker has claimed the batch; a file attached now is another claim
    other = upload(client, "meanwhile.txt", "Flamingos stand on one leg.")
    client.vector_stores.files.create(vector_store_id=store_id, file_id=other)
    assert wait_done(client, store_id, other).status == "completed"
    assert client.vector_stores.files.retrieve(file_id=ids["pages.pdf"], vector_store_id=store_id).status \
        == "in_progress"
    failed = wait_done(client, store_id, ids["pages.pdf"])
    assert failed.status == "failed" and failed.last_error.code == "invalid_file"
    assert f"took longer than {TIMEOUT_S} s" in failed.last_error.message
    assert time.monotonic() - started < TIMEOUT_S + 15
    # The same worker's next file goes to a fresh process; the server still answers searches.
    assert wait_done(client, store_id, ids["after.pdf"]).status == "completed"
    hits = client.vector_stores.search(store_id, query="pelicans nesting").data
    assert hits and hits[0].file_id == ids["after.pdf"]


def test_a_pdf_flate_bomb_hits_the_memory_limit(hostile: Server) -> None:
    client = hostile.client()
    bomb = flate_bomb_pdf(1 << 30)
    assert len(bomb) < 2 * MIB
    store_id, ids = attach_batch(client, {"bomb.pdf": bomb, "fine.txt": "Puffins dive for sand eels."})
    failed = wait_done(client, store_id, ids["bomb.pdf"])
    assert failed.status == "failed" and failed.last_error.code == "invalid_file"
    assert f"needed more than {MEMORY_BYTES >> 20} MiB of memory" in failed.last_error.message
    assert wait_done(client, store_id, ids["fine.txt"]).status == "completed"
    assert client.vector_stores.search(store_id, query="puffins").data


def test_text_past_max_file_tokens_fails_naming_the_count(hostile: Server) -> None:
    client = hostile.client()
    over = text_of_tokens(MAX_TOKENS + 345)
    store_id, ids = attach_batch(client, {"long.txt": over, "huge.txt": "otter " * (40 * MAX_TOKENS),
                                          "short.txt": text_of_tokens(MAX_TOKENS)})
    failed = wait_done(client, store_id, ids["long.txt"])
    assert failed.status == "failed" and failed.last_error.code == "invalid_file"
    assert (f"has {MAX_TOKENS + 345:,} tokens of text, more than the limit of {MAX_TOKENS:,} tokens"
            in failed.last_error.message)
    huge = wait_done(client, store_id, ids["huge.txt"])
    assert huge.last_error.code == "invalid_file"
    assert f"far more than {MAX_TOKENS:,} tokens" in huge.last_error.message
    assert wait_done(client, store_id, ids["short.txt"]).status == "completed"


def test_a_file_past_its_time_budget_fails_and_frees_its_worker(tmp_path: Path) -> None:
    # The budget is shorter than the extraction timeout (120 s): it is what stops the slow parse.
    server = start_server(tmp_path / "data", {"VECTORHOUSE_FILE_TIME_BUDGET_SECONDS": "2"})
    try:
        client = server.client()
        started = time.monotonic()
        store_id, ids = attach_batch(client, {"slow.pdf": many_pages_pdf(30_000), "small.txt": "Walruses haul out."})
        failed = wait_done(client, store_id, ids["slow.pdf"])
        assert failed.status == "failed" and failed.last_error.code == "invalid_file"
        assert "exceeded the time budget of 2 s" in failed.last_error.message
        assert time.monotonic() - started < 15
        assert wait_done(client, store_id, ids["small.txt"]).status == "completed"
    finally:
        server.stop()


class _Recorder:
    """Stands in for the models, the index, the lifecycle and the events of an IngestionService."""

    def __init__(self) -> None:
        self.calls: list[int] = []  # the size of each embedding call, each taking 0.2 s
        self.finished: dict[str, tuple[str, object]] = {}
        self.indexed: list[str] = []

    def get(self, model: str) -> _Recorder:
        return self

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        time.sleep(0.2)
        return np.zeros((len(texts), 4), dtype=np.float32)

    def upsert_files(self, writes: list[FileWrite]) -> list[Exception | None]:
        self.indexed += [write.file_id for write in writes]
        return [None] * len(writes)

    def finish_all(self, outcomes: list[Outcome]) -> list[bool]:
        for job, _, status, values in outcomes:
            self.finished[job.file_id] = (str(getattr(status, "value", status)), values.get("last_error"))
        return [False] * len(outcomes)

    def changed(self) -> None:
        pass


def test_the_budget_is_checked_between_a_large_files_embedding_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingestion, "EMBED_CALL_CHUNKS", 4)
    fake = _Recorder()
    service = ingestion.IngestionService(None, None, fake, fake, fake, "o200k_base", fake,  # type: ignore[arg-type]
                                         time_budget_seconds=0.3)

    def prepared(name: str, chunks: int) -> ingestion._Prepared:
        job = ClaimedJob(1, "vs_1", name, 1, "w")
        return ingestion._Prepared(job, 1, None, [TextChunk(i, f"t{i}", 1) for i in range(chunks)], "m", 0.0)

    files = [prepared("big", 10), prepared("small-1", 1), prepared("small-2", 2)]
    calls = ingestion._embedding_calls(files)
    assert [[p.job.file_id for p in call] for call in calls] == [["small-1", "small-2"], ["big"]]
    for call in calls:
        service._embed_and_index("m", call)
    # Small files in one call; the big one in calls of 4, the third skipped once 0.4 s > 0.3 s were spent.
    assert fake.calls == [3, 4, 4]
    assert fake.indexed == ["small-1", "small-2"]
    status, error = fake.finished["big"]
    assert status == "failed" and error == {
        "code": "invalid_file", "message": "processing the file exceeded the time budget of 0.3 s per file"}
    assert fake.finished["small-1"][0] == fake.finished["small-2"][0] == "completed"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _children(pid: int) -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and (_stat(int(e)) or ("", 0))[1] == pid]


def _gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while any((_stat(p) or ("Z", 0))[0] != "Z" for p in pids):  # a zombie is dead, only not yet reaped
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_a_server_stop_leaves_no_extraction_process(tmp_path: Path, how: str) -> None:
    server = start_server(tmp_path / "data", {"VECTORHOUSE_WORKERS": "1"})
    try:
        client = server.client()
        store_id, ids = attach_batch(client, {"r.docx": make_docx()})
        assert wait_done(client, store_id, ids["r.docx"]).status == "completed"
        children = _children(server.process.pid)
        assert children, "the docx was parsed in a child process"
        # Stopped while the child is busy on a ~30 s parse (the timeout is the default 120 s).
        client.vector_stores.files.create(vector_store_id=store_id, file_id=upload(client, "slow.pdf",
                                                                                   many_pages_pdf(30_000)))
        time.sleep(1.5)
        stopped = time.monotonic()
        if how == "terminate":
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(30)
            # close() killed the parse instead of waiting for it: the shutdown was prompt.
            assert time.monotonic() - stopped < 8
        else:  # no shutdown code runs: the kernel's parent-death signal must take the child down
            server.kill()
        assert _gone(children), f"left behind: {children}"
    finally:
        server.stop()


# ---------------------------------------------------------------- units: limits, the sandbox, blobs


def test_zip_limits_are_checked_before_any_parser() -> None:
    def parse(data: bytes, kind: str) -> str:
        raise AssertionError("a zip past the limits must not reach a parser")

    # Random bytes barely compress: past the size limit with an inflation ratio near 1.
    noise = random.Random(3).randbytes(3 * MIB)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/media/noise.bin", noise)
    with pytest.raises(ExtractionError, match=r"expands to 3.0 MiB when unzipped, more than the limit of 2 MiB"):
        extract_text(buf.getvalue(), "a.docx", limits=ExtractLimits(max_extracted_bytes=2 * MIB), convert=parse)
    bomb = office_bomb("docx", 12 * MIB)  # the ratio counts past 8 MiB inflated
    with pytest.raises(ExtractionError, match=r"times its size when unzipped, more than the limit of 50"):
        extract_text(bomb, "b.docx", limits=ExtractLimits(max_inflation_ratio=50), convert=parse)
    small = office_bomb("docx", 4 * MIB)  # as regular, but small: the parser gets it
    with pytest.raises(AssertionError, match="must not reach a parser"):
        extract_text(small, "c.docx", limits=ExtractLimits(max_inflation_ratio=50), convert=parse)
    assert "zebra" in extract_text(make_docx(), "ok.docx", limits=ExtractLimits(max_inflation_ratio=50))


def test_extracted_text_past_max_extracted_bytes_fails() -> None:
    limits = ExtractLimits(max_extracted_bytes=1000)
    assert extract_text(b"x" * 1000, "a.txt", limits=limits)
    for body in (b"x" * 1001, ("\u00e9" * 501).encode()):  # 1002 bytes of UTF-8 in 501 characters
        with pytest.raises(ExtractionError, match="larger than the limit of 1,000 bytes") as info:
            extract_text(body, "a.txt", limits=limits)
        assert info.value.code == "invalid_file"
    page = b"<html><body><p>" + b"heron " * 300 + b"</p></body></html>"  # 1,800 bytes of text
    assert "heron" in extract_text(page, "p.html", limits=ExtractLimits(max_extracted_bytes=2000))
    with pytest.raises(ExtractionError, match="larger than the limit of 1,500 bytes"):
        extract_text(page, "p.html", limits=ExtractLimits(max_extracted_bytes=1500))


def test_token_counting_in_slices_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    pieces = ["otter", "Kelp", "42", "  ", " ", "\n", "\n\n", "\t", "...", "é", "数据", "'s", "-", "1999", "\r\n"]
    text = "".join(rng.choice(pieces) for _ in range(20_000))
    for name in ("o200k_base", "cl100k_base"):
        enc = get_encoding(name)
        monkeypatch.setattr(ingestion, "_COUNT_SLICE_CHARS", 200)  # small, yet every cut found is exact
        assert ingestion.count_tokens(text, enc) == len(enc.encode_ordinary(text))


@pytest.fixture
def sandbox() -> Iterator[ExtractSandbox]:
    box = ExtractSandbox(ExtractLimits(timeout_seconds=2, max_memory_bytes=MEMORY_BYTES, max_extracted_bytes=MIB))
    try:
        yield box
    finally:
        box.close()


def test_the_sandbox_kills_a_slow_parse_and_replaces_its_process(sandbox: ExtractSandbox) -> None:
    assert "first" in sandbox.convert(make_pdf("first"), "pdf")
    first_pid = sandbox.pid
    assert "second" in sandbox.convert(make_pdf("second"), "pdf")
    assert sandbox.pid == first_pid  # long-lived: a normal file costs no process start
    page = b"<html><body><p>" + b"heron " * 200_000 + b"</p></body></html>"
    with pytest.raises(ExtractionError, match="larger than the limit of 1 MiB"):  # checked before it is sent back
        sandbox.convert(page, "html")
    assert sandbox.pid == first_pid
    with pytest.raises(ExtractionError, match="took longer than 2 s") as info:
        sandbox.convert(many_pages_pdf(30_000), "pdf")
    assert info.value.code == "invalid_file"
    assert sandbox.pid is None and not Path(f"/proc/{first_pid}").exists()
    assert "third" in sandbox.convert(make_pdf("third"), "pdf")
    assert sandbox.pid != first_pid


def test_a_child_that_dies_mid_parse_gives_invalid_file(sandbox: ExtractSandbox) -> None:
    sandbox.convert(make_pdf("warm"), "pdf")
    pid = sandbox.pid
    assert pid is not None
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))  # what the kernel does past a limit
    killer.start()
    with pytest.raises(ExtractionError, match=r"crashed the parser \(signal 9\)") as info:
        sandbox.convert(many_pages_pdf(30_000), "pdf")
    killer.join()
    assert info.value.code == "invalid_file"
    assert "again" in sandbox.convert(make_pdf("again"), "pdf")


def test_close_kills_the_child_and_frees_its_waiting_thread(sandbox: ExtractSandbox) -> None:
    sandbox.convert(make_pdf("warm"), "pdf")
    pid = sandbox.pid
    closer = threading.Timer(0.5, sandbox.close)  # as the service's close() does, from another thread
    closer.start()
    started = time.monotonic()
    with pytest.raises(SandboxClosed):
        sandbox.convert(many_pages_pdf(30_000), "pdf")
    assert time.monotonic() - started < 3  # not the 30 s the parse would take
    closer.join()
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped by the time close() returns
    with pytest.raises(SandboxClosed):
        sandbox.convert(make_pdf("late"), "pdf")


def test_a_full_disk_raises_blob_storage_full_and_leaves_no_temp_file(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        store = LocalBlobStore(mount / "blobs")
        with pytest.raises(BlobStorageFull, match="no space left"):
            store.put_stream(io.BytesIO(b"z" * (3 * MIB)), max_bytes=10 * MIB)
        assert list((mount / "blobs").iterdir()) == []
        sha, size = store.put_stream(io.BytesIO(b"fits"), max_bytes=10 * MIB)  # the space came back
        assert size == 4 and store.read(sha) == b"fits"
    finally:
        subprocess.run(["umount", str(mount)], check=True)
