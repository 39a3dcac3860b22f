"""Chunk provenance: offsets in the extracted text and the page, slide, sheet or heading path of real PDF,
pptx, xlsx, docx and Markdown files, opted into on search and on the content page (and absent otherwise)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from docx import Document
from openai import OpenAI
from openpyxl import Workbook
from pptx import Presentation

from tests.conftest import Server, upload
from tests.test_extract import pdf_from_objects
from vectorhouse.ingest.chunking import ChunkingParams, chunk_text
from vectorhouse.ingest.provenance import Locator

SMALL = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
PAGES = [" ".join([f"Page one talks about volcanoes and lava number {i}." for i in range(12)]),
         " ".join([f"Page two is all about sourdough bread and flour {i}." for i in range(12)]),
         " ".join([f"Page three covers chess openings like the Sicilian {i}." for i in range(12)])]


RULES = " ".join(f"Key rule {i} applies to every project." for i in range(30))
README = f"# Setup\n\nInstall it.\n\n## Keys\n\n{RULES} Rotate keys monthly.\n\n# Other\n\nNothing.\n"


def pages_pdf(texts: list[str]) -> bytes:
    """A real PDF with one page per text (each a line of Helvetica)."""
    n = len(texts)
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(texts):
        stream = b"BT /F1 6 Tf 10 700 Td (" + text.encode() + b") Tj ET"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                       b"/Contents %d 0 R >>" % (5 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return pdf_from_objects(objects)


def guide_docx() -> bytes:
    doc = Document()
    doc.add_heading("Installation", 1)
    doc.add_paragraph("Download the package from the releases page first.")
    doc.add_heading("Linux", 2)
    # Long enough that the passage naming apt-get starts inside this section (chunks are 100 tokens).
    doc.add_paragraph(" ".join(f"Step {i}: keep the system packages current." for i in range(30))
                      + " Finally run apt-get install vectorhouse on Debian and Ubuntu machines.")
    doc.add_heading("Usage", 1)
    doc.add_paragraph("Start the server with vectorhouse serve and open the console.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def deck_pptx() -> bytes:
    deck = Presentation()
    for title in ("Welcome to the kickoff", "Quarterly revenue grew strongly", "Roadmap for the next year"):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = " ".join(f"{title}, point {i}." for i in range(20))  # a chunk or more each
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def book_xlsx() -> bytes:
    book = Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["region", "total"])
    for i in range(40):  # long enough that the staff sheet starts a chunk of its own
        sales.append([f"region {i}", i])
    staff = book.create_sheet("Staff")
    staff.append(["name", "role"])
    for i in range(40):
        staff.append([f"person {i}", "analyst"])
    staff.append(["Ada", "principal engineer"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_locator_reads_each_formats_marks() -> None:
    pdf = "one\n\n\fpage two\n\n\fthree"
    assert Locator(pdf, "pdf").span(0, 3) == {"start": 0, "end": 3, "page": 1}
    assert Locator(pdf, "pdf").span(pdf.index("two"), len(pdf)) == {"start": 11, "end": len(pdf), "page": 2,
                                                                     "page_end": 3}
    md = "intro\n# A\ntext a\n## B\ntext b\n### C\nc\n## D\ntext d\n# E\ne"
    loc = Locator(md, "md")
    assert loc.span(0, 2) == {"start": 0, "end": 2}  # before any heading
    assert loc.span(md.index("text b"), md.index("text b") + 1)["headings"] == ["A", "B"]
    assert loc.span(md.index("c\n##"), md.index("c\n##") + 1)["headings"] == ["A", "B", "C"]
    assert loc.span(md.index("text d"), md.index("text d") + 1)["headings"] == ["A", "D"]
    assert loc.span(len(md) - 1, len(md))["headings"] == ["E"]
    assert Locator("# not a heading in plain text", "text").span(0, 5) == {"start": 0, "end": 5}


def test_chunk_offsets_are_exact_in_any_script() -> None:
    text = " ".join(["naïve café 東京の桜 🌸 lava\n"] * 800)
    chunks = chunk_text(text, ChunkingParams(100, 30))
    assert len(chunks) > 10
    assert all(text[c.start:c.start + len(c.text)] == c.text for c in chunks)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def _store(client: OpenAI, files: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    store = client.vector_stores.create(name="provenance")
    ids = {}
    for name, data in files.items():
        ids[name] = upload(client, name, data)
        done = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=ids[name],
                                                          chunking_strategy=SMALL, poll_interval_ms=100)  # type: ignore[arg-type]
        assert done.status == "completed", done.last_error
    return store.id, ids


def _top(client: OpenAI, store_id: str, query: str) -> tuple[str, dict[str, Any]]:
    page = client.vector_stores.search(store_id, query=query, max_num_results=1,
                                       extra_body={"include": ["provenance"], "search_mode": "full_text"})
    content = page.data[0].content[0]
    return page.data[0].file_id, content.provenance  # type: ignore[attr-defined]


def test_search_and_content_carry_provenance_when_asked(client: OpenAI, server: Server) -> None:
    notes = "Plain notes.\n" + " ".join(f"Line {i} of the kitchen notes mentions basil." for i in range(60))
    store_id, ids = _store(client, {"atlas.pdf": pages_pdf(PAGES), "guide.docx": guide_docx(),
                                    "deck.pptx": deck_pptx(), "book.xlsx": book_xlsx(), "notes.txt": notes.encode(),
                                    "readme.md": README.encode()})
    file_id, where = _top(client, store_id, "Sicilian chess openings")
    assert file_id == ids["atlas.pdf"] and where["page"] == 3 and "page_end" not in where
    assert _top(client, store_id, "sourdough bread")[1]["page"] == 2
    assert _top(client, store_id, "apt-get Debian Ubuntu")[1]["headings"] == ["Installation", "Linux"]
    assert _top(client, store_id, "Quarterly revenue grew strongly, point 19")[1]["slide"] == 2
    assert _top(client, store_id, "principal engineer")[1]["sheet"] == "Staff"
    assert _top(client, store_id, "Rotate keys monthly")[1]["headings"] == ["Setup", "Keys"]

    with httpx.Client(base_url=server.api, headers={"Authorization": "Bearer local"}, timeout=60) as http:
        # Without asking, OpenAI's objects are exactly as they are: no provenance key anywhere.
        plain = http.post(f"/vector_stores/{store_id}/search", json={"query": "Sicilian"}).json()
        assert all(set(c) == {"type", "text"} for r in plain["data"] for c in r["content"])
        url = f"/vector_stores/{store_id}/files/{ids['notes.txt']}/content"
        assert all(set(c) == {"type", "text"} for c in http.get(url).json()["data"])
        pages = http.get(url, params={"include": "provenance"}).json()["data"]
        assert len(pages) > 2
        for chunk in pages:  # a text file's extracted text is the file itself
            where = chunk["provenance"]
            assert notes[where["start"]:where["end"]] == chunk["text"]
        atlas = http.get(f"/vector_stores/{store_id}/files/{ids['atlas.pdf']}/content",
                         params={"include": "provenance"}).json()["data"]
        assert [c["provenance"]["page"] for c in atlas] == sorted(c["provenance"]["page"] for c in atlas)
        assert {c["provenance"]["page"] for c in atlas} == {1, 2, 3}
        bad = http.get(url, params={"include": "everything"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "include[0]"
