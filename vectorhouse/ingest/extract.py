"""Uploaded bytes to plain text: format detection, direct text decoding, and offline markitdown."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from vectorhouse.config import Settings

if TYPE_CHECKING:
    from markitdown import FileConversionException, MarkItDown

UNSUPPORTED_FILE = "unsupported_file"
INVALID_FILE = "invalid_file"


class ExtractionError(Exception):
    """A file that cannot become text: code is "unsupported_file" or "invalid_file"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
}
_MIME_TO_KIND = {mime: kind for kind, mime in _MIME.items()} | {
    "application/x-pdf": "pdf",
    "application/xhtml+xml": "html",
}
_OFFICE_KINDS = ("docx", "pptx", "xlsx")
_HTML_EXTS = frozenset({"html", "htm", "xhtml"})
# The part each OOXML flavour must contain; [Content_Types].xml marks the zip as OOXML at all.
_OFFICE_MAIN_PART = {"docx": "word/", "pptx": "ppt/", "xlsx": "xl/"}
_DEFAULTS = Settings()


@dataclass(frozen=True)
class ExtractLimits:
    """What one file's extraction may produce and use; the defaults are the settings' defaults."""

    max_extracted_bytes: int = _DEFAULTS.max_extracted_bytes
    max_inflation_ratio: int = _DEFAULTS.max_inflation_ratio
    # Enforced by the sandbox (ingest/sandbox.py) that runs the rich parsers, not in this module.
    timeout_seconds: float = _DEFAULTS.extract_timeout_seconds
    max_memory_bytes: int = _DEFAULTS.extract_max_memory_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractLimits:
        return cls(settings.max_extracted_bytes, settings.max_inflation_ratio,
                   settings.extract_timeout_seconds, settings.extract_max_memory_bytes)


# Turns bytes identified as a rich kind ("pdf", "docx", ...) into text: markitdown here, or in a sandbox.
Converter = Callable[[bytes, str], str]
DEFAULT_LIMITS = ExtractLimits()

# Extensions that are never text, whatever the bytes look like. Ambiguous ones (.key, .obj, .ts, .m)
# are left out on purpose: they are often text, and binary content is caught by the byte checks anyway.
_BINARY_EXTS = frozenset(
    """png jpg jpeg gif bmp tif tiff webp ico heic heif avif psd svgz
    mp3 wav flac ogg oga opus m4a aac wma mp4 m4v mov avi mkv webm wmv flv mpg mpeg
    zip gz tgz bz2 xz zst 7z rar tar lz4 cab iso dmg
    exe dll so dylib bin class jar war apk msi deb rpm pyc pyd wasm
    doc xls ppt odt ods odp epub mobi
    sqlite sqlite3 mdb accdb ttf otf woff woff2 eot pkl pickle npy npz parquet avro h5 hdf5
    onnx pth safetensors ckpt""".split()
)

# (signature, offset, description) for common binary formats, to name them in the error.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG image"),
    (b"\xff\xd8\xff", 0, "JPEG image"),
    (b"GIF87a", 0, "GIF image"),
    (b"GIF89a", 0, "GIF image"),
    (b"II*\x00", 0, "TIFF image"),
    (b"MM\x00*", 0, "TIFF image"),
    (b"RIFF", 0, "RIFF media (WAV/AVI/WebP)"),
    (b"ftyp", 4, "MP4/QuickTime media"),
    (b"OggS", 0, "Ogg media"),
    (b"fLaC", 0, "FLAC audio"),
    (b"\x1a\x45\xdf\xa3", 0, "Matroska/WebM video"),
    (b"\x1f\x8b", 0, "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"Rar!\x1a\x07", 0, "RAR archive"),
    (b"\xfd7zXZ\x00", 0, "xz archive"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd archive"),
    (b"ustar", 257, "tar archive"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"\xcf\xfa\xed\xfe", 0, "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", 0, "Mach-O or Java class file"),
    (b"\x00asm", 0, "WebAssembly module"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"wOFF", 0, "WOFF font"),
    (b"wOF2", 0, "WOFF2 font"),
    (b"PAR1", 0, "Parquet file"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        0,
        "legacy Microsoft Office (OLE2) document; save it as .docx, .xlsx or .pptx",
    ),
)

# C0 controls other than \t \n \v \f \r, DEL, and C1 controls: many of these mean "not text".
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\x80-\x9f]")
_SAMPLE_CHARS = 65536
_HTML_START = re.compile(r"\s*(<!doctype\s+html|<html[\s>])", re.IGNORECASE)


def extract_text(data: bytes, filename: str | None, content_type: str | None = None,
                 limits: ExtractLimits = DEFAULT_LIMITS, convert: Converter | None = None) -> str:
    """Return the text of an uploaded file, or raise ExtractionError saying why there is none.

    Rich formats go through `convert` (the service passes a sandbox's); without one, markitdown runs
    in this thread, which only trusted input should get. Plain text is always decoded here.
    """
    return extract_document(data, filename, content_type, limits, convert)[0]


def extract_document(data: bytes, filename: str | None, content_type: str | None = None,
                     limits: ExtractLimits = DEFAULT_LIMITS, convert: Converter | None = None) -> tuple[str, str]:
    """`extract_text`'s text, and the kind it was read as ("pdf", "docx", "html", "md", "text", ...)."""
    text, kind = _extract(data, filename, content_type, limits, convert or _convert_rich)
    check_text_size(text, limits.max_extracted_bytes)
    return text, kind


def _extract(data: bytes, filename: str | None, content_type: str | None, limits: ExtractLimits,
             convert: Converter) -> tuple[str, str]:
    if not data:
        raise ExtractionError(INVALID_FILE, "file is empty")
    ext = _extension(filename)
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    # What the client says it is: the extension first, the content type when the name has none we know.
    claimed = ext if ext in _MIME else _MIME_TO_KIND.get(mime)

    # Content decides first: magic bytes beat names.
    if _is_pdf(data, claimed):
        return _nonempty(convert(data, "pdf"), "pdf"), "pdf"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        kind = _office_kind(data, claimed, limits)
        return _nonempty(convert(data, kind), kind), kind
    binary = _magic_label(data)
    if binary is not None:
        uploaded_as = f" (uploaded as .{ext})" if ext else ""
        raise ExtractionError(UNSUPPORTED_FILE, f"unsupported file type: {binary}{uploaded_as}")

    if claimed == "pdf":
        raise ExtractionError(INVALID_FILE, "invalid PDF file: it has no %PDF header")
    if claimed in _OFFICE_KINDS:
        raise ExtractionError(INVALID_FILE, f"invalid .{claimed} file: it is not a zip archive")
    if ext in _BINARY_EXTS:
        raise ExtractionError(UNSUPPORTED_FILE, f"unsupported file type: .{ext}")

    text = _decode_text(data)
    if text is None:
        detected = f".{ext} with binary content" if ext else "unrecognised binary content"
        raise ExtractionError(UNSUPPORTED_FILE, f"unsupported file type: {detected}, not text")
    if ext in _HTML_EXTS or (not ext and (claimed == "html" or _HTML_START.match(text, 0, 1024))):
        # Re-encode the text we decoded so markitdown needs no charset guessing of its own.
        return _nonempty(convert(text.encode("utf-8"), "html"), "html"), "html"
    return _nonempty(text, ext or "text"), ext or "text"


def check_text_size(text: str, max_bytes: int) -> None:
    """Raise invalid_file when the UTF-8 form of `text` is longer than max_bytes."""
    # len(text) <= UTF-8 length <= 4 * len(text): most texts are decided without encoding them.
    if len(text) > max_bytes or (len(text) > max_bytes // 4 and utf8_size(text) > max_bytes):
        raise ExtractionError(
            INVALID_FILE, f"the extracted text is larger than the limit of {_mib(max_bytes)} per file"
        )


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8; ASCII text (str.isascii is O(1) in CPython) is not encoded to know."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _mib(size: int) -> str:
    if size < 1 << 20:
        return f"{size:,} bytes"
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size / (1 << 20):.1f} MiB"


def _is_pdf(data: bytes, claimed: str | None) -> bool:
    if data[:1024].lstrip()[:5] == b"%PDF-":
        return True
    # PDF readers accept junk before %PDF- in the first 1 KiB; only trust that when the client says
    # PDF, so a text file that merely mentions "%PDF-" near its top is still read as text.
    return claimed == "pdf" and b"%PDF-" in data[:1024]


def _extension(filename: str | None) -> str:
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""  # "Makefile", ".bashrc"
    return base.rsplit(".", 1)[-1].lower()


def _nonempty(text: str, kind: str) -> str:
    if not text.strip():
        hint = " (it may contain only scanned images)" if kind == "pdf" else ""
        raise ExtractionError(INVALID_FILE, f"no text could be extracted{hint}")
    return text


def _magic_label(data: bytes) -> str | None:
    # A signature of printable ASCII could also start a text file; real binaries have a NUL early on.
    nul_early = b"\x00" in data[:1024]
    for signature, offset, description in _MAGIC:
        if data[offset : offset + len(signature)] == signature and (nul_early or not _printable(signature)):
            return description
    if data.startswith(b"MZ") and b"\x00" in data[:1024]:  # "MZ" alone could start a text file
        return "Windows executable"
    return None


def _printable(signature: bytes) -> bool:
    return all(0x20 <= b < 0x7F for b in signature)


def _office_kind(data: bytes, claimed: str | None, limits: ExtractLimits) -> str:
    """Classify a zip as docx/pptx/xlsx by its parts, or raise: invalid if it claimed to be one."""
    claims_office = claimed in _OFFICE_KINDS
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        if claims_office:
            raise ExtractionError(
                INVALID_FILE, f"invalid .{claimed} file: corrupt zip archive ({exc})"
            ) from exc
        raise ExtractionError(
            UNSUPPORTED_FILE, "unsupported file type: zip archive (and it is corrupt)"
        ) from exc
    names = {info.filename for info in infos}
    kind = None
    if "[Content_Types].xml" in names:
        found = [k for k in _OFFICE_KINDS if any(n.startswith(_OFFICE_MAIN_PART[k]) for n in names)]
        # A generic Office zip holding several flavours is rare; prefer what the client claimed.
        kind = claimed if claimed in found else (found[0] if found else None)
    if kind is None:
        if claims_office:
            raise ExtractionError(
                INVALID_FILE,
                f"invalid .{claimed} file: the zip has no {_OFFICE_MAIN_PART[claimed]} part",
            )
        raise ExtractionError(
            UNSUPPORTED_FILE,
            "unsupported file type: zip archive; only .docx, .pptx and .xlsx archives are read",
        )
    # Zip bombs, refused before any parser touches them. The declared sizes may lie (Python's zipfile
    # stops at them and fails the CRC); the sandbox's memory limit covers what gets past.
    unzipped = sum(info.file_size for info in infos)
    if unzipped > limits.max_extracted_bytes:
        raise ExtractionError(
            INVALID_FILE,
            f"invalid .{kind} file: it expands to {_mib(unzipped)} when unzipped, more than the limit "
            f"of {_mib(limits.max_extracted_bytes)}",
        )
    # The ratio only counts past a floor: a small, very regular document may compress that well.
    if unzipped > _RATIO_FLOOR_BYTES and unzipped > limits.max_inflation_ratio * len(data):
        raise ExtractionError(
            INVALID_FILE,
            f"invalid .{kind} file: it expands {unzipped // len(data):,} times its size when unzipped, "
            f"more than the limit of {limits.max_inflation_ratio} (a zip bomb?)",
        )
    return kind


_RATIO_FLOOR_BYTES = 8 * 1024 * 1024


def _decode_text(data: bytes) -> str | None:
    """Decode bytes that are text; None for binary. Newlines are normalised to \\n."""
    text: str | None = None
    max_controls = 0.05
    if data.startswith(b"\xef\xbb\xbf"):
        text = _try_decode(data, "utf-8-sig")
    elif data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        text = _try_decode(data, "utf-32")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _try_decode(data, "utf-16")
    elif b"\x00" in data:
        return None  # NUL never occurs in 8-bit or UTF-8 text
    else:
        text = _try_decode(data, "utf-8")
        if text is None:
            # Legacy 8-bit text: cp1252 is what "latin-1" files usually are; latin-1 decodes anything,
            # so demand it look clearly like text.
            text = _try_decode(data, "cp1252") or data.decode("latin-1")
            max_controls = 0.01
    if text is None or "\x00" in text:
        return None
    sample = text[:_SAMPLE_CHARS]
    if len(_CONTROL_CHARS.findall(sample)) > max_controls * len(sample):
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


class _OfflineAdapter(requests.adapters.BaseAdapter):
    """Refuses every HTTP request, so nothing inside markitdown can reach the network."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError(f"network access is disabled during extraction ({request.url})")

    def close(self) -> None:
        pass


_markitdown_lock = threading.Lock()
_markitdown: MarkItDown | None = None


def _get_markitdown() -> MarkItDown:
    """One shared converter (loading magika's model is not free); built on first use.

    markitdown is imported here, not at the top: with pandas and the parsers it is 70 MB and half a
    second that a server whose rich files go to the sandbox (or that never gets one) does not need.
    """
    global _markitdown
    with _markitdown_lock:
        if _markitdown is None:
            from markitdown import MarkItDown
            from markitdown.converters import DocxConverter, HtmlConverter, PdfConverter, PptxConverter, XlsxConverter

            session = requests.Session()
            session.mount("http://", _OfflineAdapter())
            session.mount("https://", _OfflineAdapter())
            # Builtins off: register only the local-file converters we route to, so no URL-based
            # converter (YouTube, Wikipedia, Document Intelligence), LLM captioning or exiftool
            # subprocess can ever be selected. Plugins off: no third-party code runs.
            md = MarkItDown(enable_builtins=False, enable_plugins=False, requests_session=session)
            for converter in (
                HtmlConverter(),
                PdfConverter(),
                DocxConverter(),
                PptxConverter(),
                XlsxConverter(),
            ):
                md.register_converter(converter)
            _markitdown = md
        return _markitdown


def _convert_rich(data: bytes, kind: str) -> str:
    """Run markitdown on bytes already identified as `kind`; its failures become invalid_file."""
    from markitdown import FileConversionException, StreamInfo

    info = StreamInfo(
        extension=f".{kind}",
        mimetype=_MIME[kind],
        charset="utf-8" if kind == "html" else None,
        filename=f"upload.{kind}",
    )
    name = kind_name(kind)
    try:
        result = _get_markitdown().convert_stream(io.BytesIO(data), stream_info=info)
    except FileConversionException as exc:
        if any(a.exc_info is not None and isinstance(a.exc_info[1], MemoryError) for a in exc.attempts or []):
            # Out of memory is not "corrupt": the sandbox reports it against its memory limit.
            raise MemoryError(f"reading the {name} file ran out of memory") from exc
        raise ExtractionError(INVALID_FILE, f"could not read the {name} file: {_reason(exc)}") from exc
    except MemoryError:
        raise
    # Parsers raise anything on hostile input; never let it escape raw. The cause stays chained for
    # logs, while the message stays one readable line for the API.
    except Exception as exc:
        raise ExtractionError(INVALID_FILE, f"could not read the {name} file: {_describe(exc)}") from exc
    return result.markdown or ""


def kind_name(kind: str) -> str:
    """How messages name a rich kind: "PDF", "HTML", ".docx"."""
    return "PDF" if kind == "pdf" else "HTML" if kind == "html" else f".{kind}"


def _reason(exc: FileConversionException) -> str:
    for attempt in exc.attempts or []:
        if attempt.exc_info is not None and attempt.exc_info[1] is not None:
            return _describe(attempt.exc_info[1])
    return "the file appears to be corrupt"


def _describe(exc: BaseException) -> str:
    """One readable line from a parser exception: its type and the first line of its text, truncated."""
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else ""
    if len(detail) > 200:
        detail = detail[:197] + "..."
    name = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"the file appears to be corrupt ({name})"
