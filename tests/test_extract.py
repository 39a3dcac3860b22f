"""Tests for vectorhouse.ingest.extract: real files of each format in, expected words out; failure codes."""

from __future__ import annotations

import io
import random
import socket
import zipfile
from typing import Any

import docx
import openpyxl
import pptx
import pytest
import requests

from vectorhouse.ingest import extract
from vectorhouse.ingest.extract import ExtractionError, extract_text


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise OSError("network access attempted during extraction")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs with DNS and socket connections failing: extraction must be offline."""
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)


# ---------------------------------------------------------------- builders for real files


def make_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF (Helvetica text object) with a correct xref table."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    return pdf_from_objects(objects)


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A PDF of these numbered objects (the first is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly zebra report", level=1)
    document.add_paragraph("The migration of the herd happened in March.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "region"
    table.cell(1, 0).text = "Serengeti"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def make_pptx() -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "Launch the narwhal feature"
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def make_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Inventory"
    sheet.append(["item", "quantity"])
    sheet.append(["pelican", 7])
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in entries.items():
            zf.writestr(name, body)
    return buf.getvalue()


# ---------------------------------------------------------------- formats that work


def test_pdf_text_is_extracted_by_pdfminer() -> None:
    text = extract_text(make_pdf("Hello vectorhouse platypus"), "paper.pdf")
    assert "Hello vectorhouse platypus" in text


def test_pdf_detected_by_content_without_a_name() -> None:
    assert "platypus" in extract_text(make_pdf("platypus"), None)


def test_docx() -> None:
    text = extract_text(make_docx(), "report.docx")
    for word in ("Quarterly", "zebra", "migration", "March", "Serengeti"):
        assert word in text


def test_pptx() -> None:
    text = extract_text(make_pptx(), "deck.pptx")
    assert "Roadmap" in text and "narwhal" in text


def test_xlsx() -> None:
    text = extract_text(make_xlsx(), "stock.xlsx")
    for word in ("Inventory", "item", "pelican", "7"):
        assert word in text


def test_office_kind_comes_from_the_zip_contents_not_the_name() -> None:
    assert "narwhal" in extract_text(make_pptx(), "misnamed.docx")
    assert "zebra" in extract_text(make_docx(), "upload.bin")
    assert "pelican" in extract_text(make_xlsx(), None)


def test_html_drops_markup_and_scripts() -> None:
    page = (
        b"<html><head><title>t</title><script>var secret = 1;</script><style>p{}</style></head>"
        b"<body><h1>Heading</h1><p>Paragraph about <b>otters</b>.</p></body></html>"
    )
    text = extract_text(page, "page.html")
    assert "Heading" in text and "otters" in text
    assert "<p>" not in text and "secret" not in text


def test_html_sniffed_without_extension() -> None:
    text = extract_text(b"<!DOCTYPE html><html><body><p>sniffed walrus</p></body></html>", None)
    assert text.strip() == "sniffed walrus"
    assert "walrus" in extract_text(b"<p>walrus</p>", "upload", "text/html; charset=utf-8")


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("data.csv", b"name,score\nalice,3\nbob,5\n"),
        ("data.json", b'{"animal": "ocelot", "count": 2}'),
        ("notes.md", b"# Title\n\nSome *markdown* about lemurs.\n"),
        ("notes.txt", b"plain text about tapirs\n"),
        ("script.py", b"def greet(name: str) -> str:\n    return f'hi {name}'\n"),
        ("app.ts", b"export const kiwi: number = 1;\n"),
        ("main.go", b"package main\n\nfunc main() {}\n"),
        ("lib.rs", b'fn main() { println!("quokka"); }\n'),
        ("q.sql", b"SELECT * FROM wombats;\n"),
        ("conf.yaml", b"key: value\n"),
        ("Makefile", b"all:\n\techo build\n"),
    ],
)
def test_plain_text_and_code_come_back_verbatim(name: str, body: bytes) -> None:
    assert extract_text(body, name) == body.decode()


def test_utf8_bom_is_stripped() -> None:
    assert extract_text("\ufeffcaf\u00e9 au lait".encode(), "bom.txt") == "caf\u00e9 au lait"


def test_latin1_fallback() -> None:
    text = "na\u00efve caf\u00e9 \u00fcber"
    assert extract_text(text.encode("latin-1"), "old.txt") == text


def test_cp1252_smart_quotes() -> None:
    text = extract_text("\u201cquoted\u201d \u2013 dash".encode("cp1252"), "win.txt")
    assert text == "\u201cquoted\u201d \u2013 dash"


def test_utf16_with_bom() -> None:
    assert extract_text("utf sixteen \u00e9".encode("utf-16"), "u16.txt") == "utf sixteen \u00e9"


def test_crlf_normalised() -> None:
    assert extract_text(b"one\r\ntwo\rthree\n", "a.txt") == "one\ntwo\nthree\n"


def test_large_text_skips_markitdown(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("plain text must not go through markitdown")

    monkeypatch.setattr(extract, "_convert_rich", boom)
    body = ("lorem ipsum dolor sit amet\n" * 200_000).encode()  # ~5.4 MB
    assert len(extract_text(body, "big.txt")) == len(body)


def test_text_mentioning_pdf_magic_is_still_text() -> None:
    body = b"Notes: a PDF file starts with %PDF-1.7 followed by objects.\n"
    assert extract_text(body, "notes.txt") == body.decode()


# ---------------------------------------------------------------- failures


def _corrupt_docx() -> bytes:
    """A well-formed zip with the right parts, but word/document.xml is not XML."""
    src = zipfile.ZipFile(io.BytesIO(make_docx()))
    return make_zip({n: (b"<not xml" if n == "word/document.xml" else src.read(n)) for n in src.namelist()})


_RANDOM = random.Random(1234).randbytes(4096)
_PDF = make_pdf("truncated")

FAILURES: list[tuple[str, bytes, str | None, str]] = [
    ("empty", b"", "a.txt", "invalid_file"),
    ("empty-no-name", b"", None, "invalid_file"),
    ("whitespace", b"  \n\t\r\n  ", "blank.txt", "invalid_file"),
    ("empty-html", b"<html><body>  </body></html>", "e.html", "invalid_file"),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50), "image.png", "unsupported_file"),
    ("png-named-txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50), "image.txt", "unsupported_file"),
    ("random-bin", _RANDOM, "blob.bin", "unsupported_file"),
    ("random-unnamed", _RANDOM, None, "unsupported_file"),
    ("random-named-txt", _RANDOM, "x.txt", "unsupported_file"),
    ("exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(100), "setup.exe", "unsupported_file"),
    ("exe-ext-only", b"just some text", "setup.exe", "unsupported_file"),
    ("nul-in-text", b"text with a \x00 NUL", "a.txt", "unsupported_file"),
    ("legacy-doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.doc", "unsupported_file"),
    ("gzip", b"\x1f\x8b\x08\x00" + bytes(20), "x.gz", "unsupported_file"),
    ("truncated-pdf", _PDF[: len(_PDF) // 2], "cut.pdf", "invalid_file"),
    ("garbage-pdf", b"%PDF-1.4\nthis is not really a pdf at all", "g.pdf", "invalid_file"),
    ("pdf-without-header", b"hello there", "fake.pdf", "invalid_file"),
    ("pdf-by-mime", b"hello there", None, "invalid_file"),
    ("docx-not-zip", b"this is not a zip archive", "report.docx", "invalid_file"),
    ("docx-truncated", make_docx()[:300], "report.docx", "invalid_file"),
    ("docx-bad-xml", _corrupt_docx(), "report.docx", "invalid_file"),
    ("xlsx-not-zip", b"a,b\n1,2", "sheet.xlsx", "invalid_file"),
    ("zip-named-docx", make_zip({"readme.txt": b"hello"}), "report.docx", "invalid_file"),
    ("plain-zip", make_zip({"readme.txt": b"hello"}), "archive.zip", "unsupported_file"),
    ("plain-zip-unnamed", make_zip({"readme.txt": b"hello"}), None, "unsupported_file"),
    ("epub-like-zip", make_zip({"mimetype": b"application/epub+zip"}), "book.epub", "unsupported_file"),
]


@pytest.mark.parametrize(("case", "data", "filename", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_table(case: str, data: bytes, filename: str | None, code: str) -> None:
    content_type = "application/pdf" if case == "pdf-by-mime" else None
    with pytest.raises(ExtractionError) as info:
        extract_text(data, filename, content_type)
    err = info.value
    assert err.code == code, err.message
    assert err.message and err.message == str(err)
    assert "Traceback" not in err.message and "\n" not in err.message
    assert len(err.message) < 400


def test_messages_name_the_problem() -> None:
    cases = [
        (b"", "a.txt", "file is empty"),
        (b"   \n", "a.txt", "no text could be extracted"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "p.png", "PNG"),
        (_RANDOM, "blob.bin", ".bin"),
        (b"nope", "report.docx", ".docx"),
        (make_zip({"a.txt": b"x"}), "a.zip", "zip"),
        (_PDF[:100], "cut.pdf", "PDF"),
    ]
    for data, name, needle in cases:
        with pytest.raises(ExtractionError) as info:
            extract_text(data, name)
        assert needle in info.value.message


def test_markitdown_cannot_reach_the_network() -> None:
    md = extract._get_markitdown()
    with pytest.raises(requests.ConnectionError, match="disabled"):
        md._requests_session.get("https://example.com/")
    # Only local-file converters are registered: nothing that fetches URLs or calls an LLM.
    names = {type(reg.converter).__name__ for reg in md._converters}
    assert names == {"HtmlConverter", "PdfConverter", "DocxConverter", "PptxConverter", "XlsxConverter"}


def test_the_server_does_not_import_markitdown_until_a_rich_file_is_converted() -> None:
    import subprocess
    import sys

    code = ("import sys, vectorhouse.api; assert 'markitdown' not in sys.modules and 'pandas' not in sys.modules; "
            "from vectorhouse.ingest import extract; extract._get_markitdown(); assert 'markitdown' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
