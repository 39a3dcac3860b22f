"""Hostile requests against a real server: odd filenames, slow clients, and a disk that fills mid-upload."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Server, start_server, upload

NAMES = [
    "../../../etc/passwd",
    "..\\..\\windows\\system32\\config",
    "/absolute/path.txt",
    "quote\"and'semicolon;.txt",
    "line\r\nbreak: injected-header.txt",
    "日本語のファイル名" * 150 + ".txt",  # ~4 KB of UTF-8
    "emoji 🦦🌋.md",
]


def _as_sent(name: str) -> str:
    """The name as the SDK's multipart encoding carries it (HTML5's escapes of quote, CR and LF)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_filenames_are_stored_and_returned_safely(client: openai.OpenAI, server: Server, name: str) -> None:
    file_id = upload(client, name, "the content of an oddly named file")
    assert client.files.retrieve(file_id).filename == _as_sent(name)
    response = httpx.get(f"{server.api}/files/{file_id}/content", headers={"Authorization": "Bearer local"})
    assert response.status_code == 200 and response.content == b"the content of an oddly named file"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
    # Nothing was written outside the blob store, whatever the name said.
    assert not list(server.data_dir.parent.glob("**/passwd"))
    assert not list(server.data_dir.rglob("*.txt"))


def test_nul_in_a_filename_is_refused_by_name(server: Server) -> None:
    boundary = "vhboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00b.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    response = httpx.post(f"{server.api}/files", content=body, headers={
        "Authorization": "Bearer local", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "file"


def _slow_upload(server: Server) -> socket.socket:
    """A client that announces a 10 MB upload and then sends it a few bytes at a time."""
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer local\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n"
                 b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\n\r\n")
    return sock


def _slow_headers(server: Server) -> socket.socket:
    """Slowloris proper: a request whose headers never end."""
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n")
    return sock


def test_slow_clients_do_not_block_others(client: openai.OpenAI, server: Server) -> None:
    slow = [_slow_upload(server) for _ in range(20)] + [_slow_headers(server) for _ in range(20)]
    try:
        for round_ in range(5):
            for sock in slow:
                sock.sendall(b"x" * 10 if slow.index(sock) < 20 else f"X-Slow-{round_}: 1\r\n".encode())
            started = time.monotonic()
            file_id = upload(client, "quick.txt", "a quick upload beside slow ones")
            client.files.retrieve(file_id)
            client.vector_stores.list()
            assert time.monotonic() - started < 5
            time.sleep(0.2)
    finally:
        for sock in slow:
            sock.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_mid_upload(small_disk: Path) -> None:
    server = start_server(small_disk / "data")
    try:
        client = server.client()
        kept = upload(client, "small.txt", "a file that fits")
        with pytest.raises(openai.APIStatusError) as caught:
            upload(client, "big.bin.txt", b"z" * (48 * 1024 * 1024))
        assert caught.value.status_code in (507, 413)
        assert caught.value.code in ("insufficient_storage", "file_too_large")
        # Nothing half-written: no partial blob, no catalog row, and the server keeps serving.
        assert not list((small_disk / "data" / "blobs").glob(".upload-*"))
        assert [f.id for f in client.files.list()] == [kept]
        again = upload(client, "after.txt", "space was freed when the partial upload was dropped")
        store = client.vector_stores.create(name="after")
        done = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=again,
                                                          poll_interval_ms=100)
        assert done.status == "completed"
    finally:
        server.stop()
